#!/usr/bin/env bash
# gpg-fixtures.sh OUTDIR: builds OpenPGP interop fixtures with real GnuPG (2.2+).
#
# What it does: generates throwaway keys (team RSA-3072 and Curve25519 keys,
# researcher keys for alice and bob, an unrelated "other" key) and writes
# complete RFC 5322 test messages (PGP/MIME, inline, clear-signed, attachments,
# Autocrypt, tampered and hostile cases) plus OUTDIR/manifest.txt.
# It also leaves OUTDIR/gnupg-alice, a GNUPGHOME holding alice's secret key and
# the team public keys, so tests can check the other direction with gpg.
#
# What it must not do: touch the caller's ~/.gnupg, use any key outside
# OUTDIR, or take long (no repeated RSA key generation). Every signed or
# encrypted plaintext carries a canary `CANARY-<case>-7f3a` so tests can check
# that plaintext never leaks into errors.
set -euo pipefail

OUT=${1:?usage: gpg-fixtures.sh OUTDIR}
command -v gpg >/dev/null || { echo "gpg-fixtures: gpg not found (apt-get install gnupg)" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# Short GNUPGHOME paths keep the agent socket path under the sun_path limit.
GH=$(mktemp -d /tmp/gpgfx.XXXXXX)
ALICE_GH="$OUT/gnupg-alice"
rm -rf "$ALICE_GH"
mkdir -p "$ALICE_GH"
chmod 700 "$GH" "$ALICE_GH"
WORK="$GH/work"
mkdir -p "$WORK"
cleanup() {
    gpgconf --homedir "$GH" --kill gpg-agent >/dev/null 2>&1 || true
    gpgconf --homedir "$ALICE_GH" --kill gpg-agent >/dev/null 2>&1 || true
    rm -rf "$GH"
}
trap cleanup EXIT

g() { gpg --homedir "$GH" --batch --yes --quiet --no-tty --pinentry-mode loopback --passphrase '' --trust-model always "$@"; }
ga() { gpg --homedir "$ALICE_GH" --batch --yes --quiet --no-tty --pinentry-mode loopback --passphrase '' --trust-model always "$@"; }

genkey() { # name, params
    local name=$1
    printf '%s\n' "$2" | g --gen-key 2>/dev/null
    local email=$3
    local fpr
    fpr=$(g --with-colons --list-keys "<$email>" | awk -F: '/^fpr/{print $10; exit}')
    echo "$fpr" >"$OUT/$name.fpr"
    g --with-colons --list-keys "$fpr" | awk -F: '/^(pub|sub)/{want = ($12 ~ /e/)} /^fpr/ && want {print $10}' >"$OUT/$name.enc-subkeys"
    g --armor --export "$fpr" >"$OUT/$name.pub.asc"
    g --armor --export-secret-keys "$fpr" >"$OUT/$name.sec.asc"
}

genkey team-cv25519 "%no-protection
Key-Type: eddsa
Key-Curve: ed25519
Key-Usage: sign,cert
Subkey-Type: ecdh
Subkey-Curve: cv25519
Subkey-Usage: encrypt
Name-Real: Hexon Security
Name-Email: security@hexon.test
Expire-Date: 0
%commit" security@hexon.test

genkey team-rsa "%no-protection
Key-Type: RSA
Key-Length: 3072
Key-Usage: sign,cert
Subkey-Type: RSA
Subkey-Length: 3072
Subkey-Usage: encrypt
Name-Real: Hexon Security (RSA)
Name-Email: security-rsa@hexon.test
Expire-Date: 0
%commit" security-rsa@hexon.test

genkey researcher-cv25519 "%no-protection
Key-Type: eddsa
Key-Curve: ed25519
Key-Usage: sign,cert
Subkey-Type: ecdh
Subkey-Curve: cv25519
Subkey-Usage: encrypt
Name-Real: Alice Researcher
Name-Email: alice@researcher.test
Expire-Date: 2y
%commit" alice@researcher.test

# One RSA key only (primary key signs and encrypts) keeps generation fast.
genkey researcher-rsa "%no-protection
Key-Type: RSA
Key-Length: 3072
Key-Usage: sign,encrypt
Name-Real: Bob Researcher
Name-Email: bob@researcher.test
Expire-Date: 0
%commit" bob@researcher.test

genkey other "%no-protection
Key-Type: eddsa
Key-Curve: ed25519
Key-Usage: sign,cert
Subkey-Type: ecdh
Subkey-Curve: cv25519
Subkey-Usage: encrypt
Name-Real: Unrelated Other
Name-Email: other@elsewhere.test
Expire-Date: 0
%commit" other@elsewhere.test

TEAM=$(cat "$OUT/team-cv25519.fpr")
TEAM_RSA=$(cat "$OUT/team-rsa.fpr")
ALICE=$(cat "$OUT/researcher-cv25519.fpr")
BOB=$(cat "$OUT/researcher-rsa.fpr")
OTHER=$(cat "$OUT/other.fpr")

# gnupg-alice: alice's secret key plus the team's public keys.
ga --import "$OUT/researcher-cv25519.sec.asc" 2>/dev/null
ga --import "$OUT/team-cv25519.pub.asc" "$OUT/team-rsa.pub.asc" 2>/dev/null

: >"$OUT/manifest.txt"
manifest() { printf '%s\t%s\n' "$1" "$2" >>"$OUT/manifest.txt"; }

flip_byte() { # file, offset: xor one byte with 0x5A in place
    local v
    v=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' \n')
    # shellcheck disable=SC2059
    printf "$(printf '\\x%02x' $((v ^ 0x5A)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

headers() { # subject, case, [from]
    local from=${3:-Alice Researcher <alice@researcher.test>}
    printf 'From: %s\nTo: security@hexon.test\nSubject: %s\nDate: Mon, 01 Jan 2024 10:00:00 +0000\nMessage-ID: <%s.fixture@researcher.test>\nMIME-Version: 1.0\n' \
        "$from" "$1" "$2"
}

report_text() { # case
    printf 'CANARY-%s-7f3a\n\nSummary: stored XSS in /admin/search (case %s).\nSteps: open /admin/search?q=<script>alert(1)</script>\nImpact: session theft for administrators.\n' "$1" "$1"
}

pgpmime_encrypted() { # case, file with armored ciphertext
    local b="=-=enc-$1=-="
    printf 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";\n boundary="%s"\n\n' "$b"
    printf 'This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\n'
    printf -- '--%s\nContent-Type: application/pgp-encrypted\nContent-Description: PGP/MIME version identification\n\nVersion: 1\n\n' "$b"
    printf -- '--%s\nContent-Type: application/octet-stream; name="encrypted.asc"\nContent-Description: OpenPGP encrypted message\nContent-Disposition: inline; filename="encrypted.asc"\n\n' "$b"
    cat "$2"
    printf -- '--%s--\n' "$b"
}

inner_plain() { # case
    printf 'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n'
    report_text "$1"
}

# --- pgpmime-encrypted: PGP/MIME to the team Curve25519 key
c=pgpmime-encrypted
inner_plain $c | g --armor --encrypt -r "$TEAM" >"$WORK/$c.asc"
{ headers "Vulnerability report" $c; pgpmime_encrypted $c "$WORK/$c.asc"; } >"$OUT/$c.eml"
manifest $c "PGP/MIME encrypted to team-cv25519"

# --- pgpmime-encrypted-rsa: PGP/MIME to the team RSA key
c=pgpmime-encrypted-rsa
inner_plain $c | g --armor --encrypt -r "$TEAM_RSA" >"$WORK/$c.asc"
{ headers "Vulnerability report (RSA)" $c; pgpmime_encrypted $c "$WORK/$c.asc"; } >"$OUT/$c.eml"
manifest $c "PGP/MIME encrypted to team-rsa"

# --- signed-encrypted: PGP/MIME, signed by alice inside the encryption
c=signed-encrypted
inner_plain $c | g --armor --sign --local-user "$ALICE" --encrypt -r "$TEAM" >"$WORK/$c.asc"
{ headers "Signed and encrypted report" $c; pgpmime_encrypted $c "$WORK/$c.asc"; } >"$OUT/$c.eml"
manifest $c "PGP/MIME signed by alice and encrypted to team-cv25519"

# --- signed-encrypted-bob-rsa: RSA signature inside RSA encryption
c=signed-encrypted-bob-rsa
inner_plain $c | g --armor --sign --local-user "$BOB" --encrypt -r "$TEAM_RSA" >"$WORK/$c.asc"
{ headers "Signed and encrypted report (RSA)" $c "Bob Researcher <bob@researcher.test>"; pgpmime_encrypted $c "$WORK/$c.asc"; } >"$OUT/$c.eml"
manifest $c "PGP/MIME signed by bob (RSA) and encrypted to team-rsa"

# --- inline-encrypted: the whole text/plain body is one armored message
c=inline-encrypted
report_text $c | g --armor --encrypt -r "$TEAM" >"$WORK/$c.asc"
{ headers "Inline encrypted report" $c; printf 'Content-Type: text/plain; charset=us-ascii\n\n'; cat "$WORK/$c.asc"; } >"$OUT/$c.eml"
manifest $c "inline armored message, whole body"

# --- inline-block-in-text: an armored block between plain text lines
c=inline-block-in-text
report_text $c | g --armor --encrypt -r "$TEAM" >"$WORK/$c.asc"
{
    headers "Report with an encrypted block" $c
    printf 'Content-Type: text/plain; charset=utf-8\n\n'
    printf 'Hello security team,\n\nthe details are encrypted below.\n\n'
    cat "$WORK/$c.asc"
    printf '\nThanks, and best regards\nAlice\n'
} >"$OUT/$c.eml"
manifest $c "inline armored block between text lines"

# --- clearsigned: inline clear-signed text by alice (with dash-escaping and trailing spaces)
c=clearsigned
{ report_text $c; printf -- '-- \nAlice (signature separator gets dash-escaped)\ntrailing spaces here   \n'; } >"$WORK/$c.txt"
g --local-user "$ALICE" --clearsign <"$WORK/$c.txt" >"$WORK/$c.asc"
{ headers "Clear-signed report" $c; printf 'Content-Type: text/plain; charset=utf-8\n\n'; cat "$WORK/$c.asc"; } >"$OUT/$c.eml"
manifest $c "inline clear-signed by alice"

# --- bad-signature: clear-signed, then the signed text altered
c=bad-signature
report_text $c >"$WORK/$c.txt"
g --local-user "$ALICE" --clearsign <"$WORK/$c.txt" >"$WORK/$c.asc"
sed -i 's/session theft/full compromise/' "$WORK/$c.asc"
{ headers "Clear-signed report (altered)" $c; printf 'Content-Type: text/plain; charset=utf-8\n\n'; cat "$WORK/$c.asc"; } >"$OUT/$c.eml"
manifest $c "inline clear-signed by alice, text altered afterwards"

# --- pgpmime-signed: multipart/signed by alice. The signed part has a nested
# multipart with several MIME headers and trailing whitespace; the file uses
# LF line endings, the signature is over the CRLF canonical form (RFC 3156).
c=pgpmime-signed
{
    printf 'Content-Type: multipart/mixed; boundary="inner-signed-mixed";\n protected-headers="v1"\n'
    printf 'Content-Language: en-US\n'
    printf 'Subject: Signed report\n'
    printf '\n'
    printf 'This is a multi-part message in MIME format.\n'
    printf -- '--inner-signed-mixed\n'
    printf 'Content-Type: text/plain; charset=UTF-8; format=flowed\n'
    printf 'Content-Transfer-Encoding: quoted-printable\n'
    printf '\n'
    printf 'CANARY-%s-7f3a  \n' $c
    printf 'Line with trailing spaces   \n'
    printf 'Line with a trailing tab\t\n'
    printf 'caf=C3=A9 =3D quoted-printable\n'
    printf '\n'
    printf -- '--inner-signed-mixed\n'
    printf 'Content-Type: text/plain; charset=UTF-8; name="poc.txt"\n'
    printf 'Content-Disposition: attachment; filename="poc.txt"\n'
    printf 'Content-Transfer-Encoding: 7bit\n'
    printf '\n'
    printf 'curl -s https://target.test/?q=%%27%%20OR%%201=1\n'
    printf '\n'
    printf -- '--inner-signed-mixed--\n'
    printf '\n'
} >"$WORK/$c.part"
# The part ends before the line break that precedes the boundary delimiter.
# The part ends with an (empty) epilogue line; the last line break of the
# file belongs to the delimiter, so it is cut off. Every remaining line ends in
# LF, so sed turns the whole part into its CRLF canonical form.
head -c -1 "$WORK/$c.part" >"$WORK/$c.part.body"
sed 's/$/\r/' "$WORK/$c.part.body" >"$WORK/$c.part.crlf"
g --local-user "$ALICE" --armor --detach-sign --digest-algo SHA256 <"$WORK/$c.part.crlf" >"$WORK/$c.sig"
{
    headers "Signed report" $c
    printf 'Content-Type: multipart/signed; micalg=pgp-sha256;\n protocol="application/pgp-signature";\n boundary="=-=signed-=-="\n\n'
    printf 'This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\n'
    printf -- '--=-=signed-=-=\n'
    cat "$WORK/$c.part.body"
    printf '\n--=-=signed-=-=\n'
    printf 'Content-Type: application/pgp-signature; name="signature.asc"\nContent-Description: OpenPGP digital signature\nContent-Disposition: attachment; filename="signature.asc"\n\n'
    cat "$WORK/$c.sig"
    printf -- '--=-=signed-=-=--\n'
} >"$OUT/$c.eml"
cp "$WORK/$c.part.crlf" "$OUT/$c.signed-part.crlf"
manifest $c "multipart/signed by alice over a nested multipart with trailing whitespace"

# --- encrypted-attachment: plain body, binary .gpg attachment (base64)
c=encrypted-attachment
report_text $c | g --encrypt -r "$TEAM" >"$WORK/report.txt.gpg"
{
    headers "Report attached (encrypted)" $c
    printf 'Content-Type: multipart/mixed; boundary="att-boundary"\n\n'
    printf -- '--att-boundary\nContent-Type: text/plain; charset=utf-8\n\nHi, the report is attached, encrypted to your key.\n\n'
    printf -- '--att-boundary\nContent-Type: application/octet-stream; name="report.txt.gpg"\nContent-Disposition: attachment; filename="report.txt.gpg"\nContent-Transfer-Encoding: base64\n\n'
    base64 -w 76 "$WORK/report.txt.gpg"
    printf -- '--att-boundary--\n'
} >"$OUT/$c.eml"
manifest $c "plain body and report.txt.gpg encrypted to team-cv25519"

# --- attached-pubkey: plain body, alice's key as application/pgp-keys
c=attached-pubkey
{
    headers "My public key" $c
    printf 'Content-Type: multipart/mixed; boundary="key-boundary"\n\n'
    printf -- '--key-boundary\nContent-Type: text/plain; charset=utf-8\n\nPlease use the attached key for replies. CANARY-%s-7f3a\n\n' $c
    printf -- '--key-boundary\nContent-Type: application/pgp-keys; name="OpenPGP_0x%s.asc"\nContent-Disposition: attachment; filename="OpenPGP_0x%s.asc"\n\n' "${ALICE: -16}" "${ALICE: -16}"
    cat "$OUT/researcher-cv25519.pub.asc"
    printf -- '--key-boundary--\n'
} >"$OUT/$c.eml"
manifest $c "plain text with alice's key as application/pgp-keys"

# --- autocrypt: Autocrypt header with alice's key; body clear-signed by alice
c=autocrypt
g --export --export-options export-minimal "$ALICE" | base64 -w 0 >"$WORK/$c.keydata"
report_text $c | g --local-user "$ALICE" --clearsign >"$WORK/$c.asc"
{
    headers "Report (Autocrypt)" $c
    printf 'Autocrypt: addr=Alice@Researcher.test; prefer-encrypt=mutual; keydata='
    { fold -w 72 "$WORK/$c.keydata"; echo; } | sed '1!s/^/ /'
    printf 'Content-Type: text/plain; charset=utf-8\n\n'
    cat "$WORK/$c.asc"
} >"$OUT/$c.eml"
manifest $c "Autocrypt header with alice's key, clear-signed body"

# --- protected-subject: PGP/MIME whose inner entity carries the real Subject
c=protected-subject
{
    printf 'Content-Type: multipart/mixed; boundary="ph-inner"; protected-headers="v1"\n'
    printf 'Subject: CANARY-%s-7f3a real subject\n' $c
    printf 'From: Alice Researcher <alice@researcher.test>\nTo: security@hexon.test\nMessage-ID: <%s.fixture@researcher.test>\n\n' $c
    printf -- '--ph-inner\nContent-Type: text/rfc822-headers; protected-headers="v1"\nContent-Disposition: inline\n\nSubject: CANARY-%s-7f3a real subject\n\n' $c
    printf -- '--ph-inner\n'
    inner_plain $c
    printf -- '--ph-inner--\n'
} | g --armor --encrypt -r "$TEAM" >"$WORK/$c.asc"
{ headers "..." $c; pgpmime_encrypted $c "$WORK/$c.asc"; } >"$OUT/$c.eml"
manifest $c "PGP/MIME with protected headers (encrypted Subject)"

# --- hidden-recipient: --throw-keyids (wildcard key id)
c=hidden-recipient
inner_plain $c | g --armor --throw-keyids --encrypt -r "$TEAM" >"$WORK/$c.asc"
{ headers "Report to a hidden recipient" $c; pgpmime_encrypted $c "$WORK/$c.asc"; } >"$OUT/$c.eml"
manifest $c "PGP/MIME with a wildcard recipient (gpg --throw-keyids)"

# --- wrong-recipient: encrypted only to the unrelated key
c=wrong-recipient
inner_plain $c | g --armor --encrypt -r "$OTHER" >"$WORK/$c.asc"
{ headers "Report to the wrong key" $c; pgpmime_encrypted $c "$WORK/$c.asc"; } >"$OUT/$c.eml"
g --with-colons --list-keys "$OTHER" | awk -F: '/^sub/{print $5}' >"$OUT/other.enc-keyids"
manifest $c "PGP/MIME encrypted only to the other key"

# --- corrupt-ciphertext: bytes flipped in the middle of the SEIPD body.
# No compression, so the damage reaches the MDC check rather than inflate.
c=corrupt-ciphertext
{ inner_plain $c; for i in $(seq 1 200); do printf 'padding line %03d so the ciphertext is long enough to flip bytes in\n' "$i"; done; } |
    g --compress-algo none --encrypt -r "$TEAM" >"$WORK/$c.gpg"
size=$(stat -c %s "$WORK/$c.gpg")
mid=$((size / 2))
for off in $mid $((mid + 1)) $((mid + 2)) $((mid + 3)); do flip_byte "$WORK/$c.gpg" "$off"; done
{ printf -- '-----BEGIN PGP MESSAGE-----\n\n'; base64 -w 64 "$WORK/$c.gpg"; printf -- '-----END PGP MESSAGE-----\n'; } >"$WORK/$c.asc"
if g --decrypt "$WORK/$c.asc" >/dev/null 2>"$WORK/$c.gpg-err"; then
    echo "gpg-fixtures: gpg decrypted the corrupt ciphertext without error" >&2
    exit 1
fi
grep -qi -e 'manipulated' -e 'decryption failed' "$WORK/$c.gpg-err" || {
    echo "gpg-fixtures: unexpected gpg failure for corrupt ciphertext:" >&2
    cat "$WORK/$c.gpg-err" >&2
    exit 1
}
{ headers "Corrupt report" $c; pgpmime_encrypted $c "$WORK/$c.asc"; } >"$OUT/$c.eml"
manifest $c "PGP/MIME with flipped ciphertext bytes (gpg: decryption failed)"

# --- compression-bomb: 200 MB of zeros, compressed and encrypted to the team
c=compression-bomb
{ printf 'CANARY-%s-7f3a\n' $c; head -c 200M /dev/zero; } | g --armor --encrypt -r "$TEAM" >"$WORK/$c.asc"
{ headers "Large report" $c; pgpmime_encrypted $c "$WORK/$c.asc"; } >"$OUT/$c.eml"
manifest $c "PGP/MIME, 200 MB of zeros compressed and encrypted"

echo "gpg-fixtures: wrote $(wc -l <"$OUT/manifest.txt") cases to $OUT" >&2
