#!/usr/bin/env bash
# Demo on a fresh Debian machine: installs what it needs, starts a real
# Dovecot + Postfix on loopback ports, mails a few sample reports as
# researchers would (through Postfix, one of them OpenPGP-encrypted with real
# GnuPG), runs the daemon once, and shows the stored reports and the
# acknowledgement the researcher received (read back over IMAPS with curl).
#
#   bash scripts/demo.sh          # everything, then stops the mail stack
#   KEEP=1 bash scripts/demo.sh   # leave the stack and files for poking around
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing Debian packages (if missing) and building"
bash scripts/mailstack.sh install
command -v curl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
cargo build --quiet
bin=$repo/target/debug/hexon-triage

demo=$(mktemp -d /tmp/hexon-triage-demo.XXXXXX)
stack=$demo/stack
cleanup() {
	if [[ -z ${KEEP:-} ]]; then
		bash scripts/mailstack.sh stop "$stack" >/dev/null 2>&1 || true
		rm -rf "$demo"
	else
		echo "left running: mail stack in $stack, config $demo/hexon-triage.toml"
	fi
}
trap cleanup EXIT

say "starting Dovecot + Postfix on loopback"
bash scripts/mailstack.sh start "$stack" >/dev/null
env_get() { grep "^$1=" "$stack/env" | cut -d= -f2-; }
IMAPS=$(env_get IMAPS_PORT)
SUBMISSION=$(env_get SUBMISSION_PORT)
SMTP=$(env_get SMTP_PORT)
CA=$(env_get CA_FILE)
echo "IMAPS 127.0.0.1:$IMAPS  submission 127.0.0.1:$SUBMISSION  SMTP 127.0.0.1:$SMTP"
for user in security@hexon.test alice@researcher.test bob@researcher.test; do
	bash scripts/mailstack.sh adduser "$stack" "$user" demo-password
done
sleep 1.1 # Dovecot re-reads its passwd-file at most once a second

say "team key (GnuPG) and config"
export GNUPGHOME=$demo/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
	--quick-gen-key 'Hexon Security <security@hexon.test>' ed25519 sign,cert never
fpr=$(gpg --batch --with-colons --list-keys security@hexon.test | awk -F: '/^fpr/ {print $10; exit}')
gpg --batch --quiet --pinentry-mode loopback --passphrase '' --quick-add-key "$fpr" cv25519 encr never
gpg --batch --armor --pinentry-mode loopback --passphrase '' --export-secret-keys security@hexon.test >"$demo/team.sec.asc"
printf 'demo-password\n' >"$demo/password"
cat >"$demo/hexon-triage.toml" <<EOF
[imap]
host = "127.0.0.1"
port = $IMAPS
tls = "implicit"
ca_file = "$CA"
user = "security@hexon.test"
password_file = "password"
poll_interval_secs = 30

[smtp]
host = "127.0.0.1"
port = $SUBMISSION
tls = "starttls"
ca_file = "$CA"
user = "security@hexon.test"
password_file = "password"
from = "Hexon Security <security@hexon.test>"

[store]
path = "triage.db"

[ack]
template_dir = "$repo/config/templates"
message_id_domain = "hexon.test"
policy_url = "https://hexon.io/security"
team_address = "security@hexon.test"

[calendar]
time_zone = "Europe/Berlin"

[openpgp]
team_keys = ["team.sec.asc"]
EOF
"$bin" --config "$demo/hexon-triage.toml" check-config

say "researchers mail three reports through Postfix"
send() { swaks --server 127.0.0.1 --port "$SMTP" --from "$1" --to security@hexon.test --data "$2" --hide-all; }
cat >"$demo/r1.eml" <<'EOF'
From: Alice Researcher <alice@researcher.test>
To: security@hexon.test
Subject: Auth bypass in registry.hexon.io token endpoint
Message-ID: <demo-1@researcher.test>
Content-Type: text/plain; charset=utf-8

Hello Hexon security team,

the token endpoint of registry.hexon.io issues pull tokens for private Helm
charts without checking the scope of the presented session.

Steps to reproduce:
1. curl -s https://registry.hexon.io/v2/token?scope=repository:private/chart:pull
2. Use the returned token: curl -H "Authorization: Bearer $T" https://registry.hexon.io/v2/private/chart/manifests/1.0

Impact: authentication bypass; any anonymous user can pull private charts.
CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H

Alice
EOF
cat >"$demo/r2.eml" <<'EOF'
From: bob@researcher.test
To: security@hexon.test
Subject: your SPF record
Message-ID: <demo-2@researcher.test>

Hi, my scanner says hexon.io has no DMARC policy and weak TLS ciphers. Bounty?
EOF
send alice@researcher.test "$demo/r1.eml"
send bob@researcher.test "$demo/r2.eml"
# The third one is PGP/MIME-encrypted to the team key by GnuPG, as Thunderbird/Mutt would send it.
printf 'Content-Type: text/plain; charset=utf-8\n\nThe MCP server leaks its signing key via /debug/vars. Steps: curl https://mcp.hexon.io/debug/vars\n' |
	gpg --batch --quiet --armor --trust-model always --encrypt -r security@hexon.test >"$demo/enc.asc"
{
	printf 'From: Alice Researcher <alice@researcher.test>\nTo: security@hexon.test\nSubject: ...\nMessage-ID: <demo-3@researcher.test>\nMIME-Version: 1.0\n'
	printf 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b1"\n\n'
	printf -- '--b1\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n--b1\nContent-Type: application/octet-stream; name="encrypted.asc"\n\n'
	cat "$demo/enc.asc"
	printf -- '\n--b1--\n'
} >"$demo/r3.eml"
send alice@researcher.test "$demo/r3.eml"

mailbox_count() { curl -s --cacert "$CA" -u "$1:demo-password" "imaps://127.0.0.1:$IMAPS/INBOX" -X 'STATUS INBOX (MESSAGES)' | grep -o 'MESSAGES [0-9]*' | awk '{print $2}'; }
for _ in $(seq 100); do [[ $(mailbox_count security@hexon.test) -ge 3 ]] && break; sleep 0.1; done

say "the daemon: one pass (hexon-triage run --once)"
(cd "$demo" && "$bin" --config hexon-triage.toml run --once)

say "stored reports (hexon-triage reports list)"
"$bin" --config "$demo/hexon-triage.toml" reports list
first=$("$bin" --config "$demo/hexon-triage.toml" reports list --json --sort oldest | grep -o '"tracking_id": "[^"]*"' | head -1 | cut -d'"' -f4)
say "one report in detail (hexon-triage reports show $first)"
"$bin" --config "$demo/hexon-triage.toml" reports show "$first"

say "what alice received (read over IMAPS with curl)"
for _ in $(seq 100); do [[ $(mailbox_count alice@researcher.test) -ge 2 ]] && break; sleep 0.1; done
curl -s --cacert "$CA" -u "alice@researcher.test:demo-password" "imaps://127.0.0.1:$IMAPS/INBOX;UID=1"
echo
say "the ack to alice's encrypted report (no reporter key known: a neutral notice)"
curl -s --cacert "$CA" -u "alice@researcher.test:demo-password" "imaps://127.0.0.1:$IMAPS/INBOX;UID=2" | sed -n '/^Subject/p;/^$/,$p' | head -30
