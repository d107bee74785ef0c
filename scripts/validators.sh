#!/usr/bin/env bash
# Install the independent validators the advisory integration test runs
# (idempotent): the npm package @secvisogram/csaf-validator-lib (CSAF 2.0
# schema + mandatory tests, BSI) and the PyPI package cvelib (CVE JSON 5
# record schema, CVE Project) into DIR (default target/validators).
#   bash scripts/validators.sh [DIR]
# Fails loudly when npm or python3 is missing or an install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-target/validators}
mkdir -p "$dir"
command -v npm >/dev/null || { echo "validators.sh: npm is missing (apt-get install npm)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "validators.sh: python3 is missing" >&2; exit 1; }
if [[ ! -f "$dir/npm/node_modules/@secvisogram/csaf-validator-lib/package.json" ]]; then
	npm install --no-audit --no-fund --loglevel=error --prefix "$dir/npm" @secvisogram/csaf-validator-lib@2.0.10 >&2
fi
cp tests/validators/csaf-validate.mjs "$dir/npm/csaf-validate.mjs"
if [[ ! -x "$dir/py/bin/python" ]] || ! "$dir/py/bin/python" -c 'import cvelib' 2>/dev/null; then
	python3 -m venv "$dir/py" >&2
	"$dir/py/bin/pip" install --quiet --disable-pip-version-check 'cvelib==1.8.0' >&2
fi
cp tests/validators/cve-validate.py "$dir/py/cve-validate.py"
echo "$dir"
