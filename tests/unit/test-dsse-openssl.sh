#!/bin/bash
# SPDX-License-Identifier: MIT
# The other direction of the DSSE known-answer test: envelopes that wgfleet signs (dsse_sign,
# through wgfleet-sign) verify with OpenSSL over PAE bytes built by printf, and a tampered one
# does not.
set -uo pipefail
B=${WGFLEET_BUILD:?set WGFLEET_BUILD}
sign=$B/tests/wgfleet-sign
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 77; }
t=$(mktemp -d /tmp/wff-ossl-XXXXXX)
trap 'rm -rf "$t"' EXIT
fails=0

"$sign" genkey "$t/k" > "$t/trust.pub"
# ed25519 SubjectPublicKeyInfo = fixed 12-byte DER header + the raw 32-byte key (RFC 8410)
{ printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; base64 -d "$t/trust.pub"; } > "$t/pub.der"
openssl pkey -pubin -inform DER -in "$t/pub.der" -out "$t/pub.pem" || { echo "not ok - openssl cannot read the key"; exit 1; }

for payload in '{"a": 1}' '{}' "$(head -c 3000 /dev/urandom | base64 -w0 | sed 's/^/{"x": "/; s/$/"}/')" \
               "$(printf '{"unicode": "\xc3\xa9\xe2\x82\xac", "nl": "a\\nb"}')"; do
  printf '%s' "$payload" > "$t/payload"
  "$sign" sign "$t/k" "$t/payload" > "$t/env"
  type=$(jq -r .payloadType "$t/env")
  jq -r .payload "$t/env" | base64 -d > "$t/decoded"
  cmp -s "$t/payload" "$t/decoded" || { echo "not ok - payload does not round-trip"; fails=$((fails + 1)); }
  { printf 'DSSEv1 %d %s %d ' "${#type}" "$type" "$(stat -c %s "$t/payload")"; cat "$t/payload"; } > "$t/pae"
  jq -r '.signatures[0].sig' "$t/env" | base64 -d > "$t/sig"
  keyid=$(base64 -d "$t/trust.pub" | openssl dgst -sha256 -binary | head -c 8 | od -An -tx1 | tr -d ' \n')
  if openssl pkeyutl -verify -rawin -pubin -inkey "$t/pub.pem" -in "$t/pae" -sigfile "$t/sig" >/dev/null 2>&1; then
    echo "ok - OpenSSL verifies a $(stat -c %s "$t/payload")-byte payload"
  else
    echo "not ok - OpenSSL rejects our signature over $(stat -c %s "$t/payload") bytes"; fails=$((fails + 1))
  fi
  [ "$(jq -r '.signatures[0].keyid' "$t/env")" = "$keyid" ] || { echo "not ok - keyid differs from SHA-256 prefix $keyid"; fails=$((fails + 1)); }
  printf ' ' >> "$t/pae"
  if openssl pkeyutl -verify -rawin -pubin -inkey "$t/pub.pem" -in "$t/pae" -sigfile "$t/sig" >/dev/null 2>&1; then
    echo "not ok - OpenSSL accepts altered PAE bytes"; fails=$((fails + 1))
  fi
done
[ "$fails" -eq 0 ]
