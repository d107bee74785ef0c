#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what it needs
# (Dovecot, Postfix, GnuPG, swaks, libclang for sequoia's nettle backend),
# starts ONE real mail stack on loopback ports for all integration tests,
# runs fmt/clippy/tests, and stops the stack again.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh e2e        # extra args go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/mailstack.sh install
# The independent CSAF (npm) and CVE (pip) validators of tests/advisory.rs.
bash scripts/validators.sh target/validators >/dev/null

stack_dir=$(mktemp -d /tmp/hexon-triage-test.XXXXXX)
cleanup() { bash scripts/mailstack.sh stop "$stack_dir" >/dev/null 2>&1 || true; rm -rf "$stack_dir"; }
trap cleanup EXIT
bash scripts/mailstack.sh start "$stack_dir" >/dev/null
export MAILSTACK_ENV="$stack_dir/env"

if [[ $# -eq 0 ]]; then
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo test -- --skip kill_dash_nine_loses_nothing_and_never_double_acks
	# The crash test prints its counts (reports, kills, acks per report).
	cargo test --test crash -- --nocapture
else
	cargo test "$@"
fi
if [[ $# -eq 0 ]]; then
	# The post-quantum build: sequoia's pure-Rust backend (ML-KEM-768+X25519, RFC 9580 v6 keys).
	cargo test --no-default-features --features crypto-rust --lib open::
fi
