// Validate a CSAF 2.0 document with BSI's csaf-validator-lib: the strict
// CSAF 2.0 schema test and every mandatory test (section 6.1).
//   node csaf-validate.mjs FILE.json   -> prints JSON, exit 0 when valid
import validateStrict from '@secvisogram/csaf-validator-lib/validateStrict.js'
import * as schema from '@secvisogram/csaf-validator-lib/schemaTests.js'
import * as mandatory from '@secvisogram/csaf-validator-lib/mandatoryTests.js'
import { readFileSync } from 'node:fs'

const doc = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const tests = [schema.csaf_2_0_strict, ...Object.values(mandatory)]
const result = await validateStrict(tests, doc)
const failed = result.tests
  .filter((t) => !t.isValid || (t.errors && t.errors.length))
  .map((t) => ({ name: t.name, errors: t.errors }))
console.log(JSON.stringify({ isValid: result.isValid, testsRun: result.tests.length, failed }))
process.exit(result.isValid ? 0 : 1)
