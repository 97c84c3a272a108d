#!/bin/bash
# SPDX-License-Identifier: MIT
# Produces the DSSE known-answer vectors with tools independent of wgfleet (OpenSSL, printf, jq,
# coreutils), so test-dsse checks our PAE, signatures and verification against them. Run once;
# the outputs are committed. Needs OpenSSL >= 3.0 (pkeyutl -rawin for ed25519).
set -euo pipefail
cd "$(dirname "$0")"
type=application/vnd.wgfleet.desired-state+json

openssl genpkey -algorithm ed25519 -out signer.pem 2>/dev/null
# The raw 32-byte seed and public key are the last 32 bytes of the DER encodings.
openssl pkey -in signer.pem -outform DER | tail -c 32 | base64 -w0 > seed.b64
openssl pkey -in signer.pem -pubout -outform DER | tail -c 32 | base64 -w0 > trust.pub
echo >> trust.pub
openssl pkey -in signer.pem -pubout -outform DER | tail -c 32 | openssl dgst -sha256 -binary |
  head -c 8 | od -An -tx1 | tr -d ' \n' > keyid.txt

cat > payload.json <<'JSON'
{"schema": "wgfleet/desired-state/v1", "node": "kat-node", "revision": 42,
 "issued_at": "2026-11-22T00:00:00Z", "expires_at": "2099-01-01T00:00:00Z",
 "interfaces": [{"name": "wg0", "listen_port": 51820, "addresses": ["10.8.0.2/24"],
   "peers": [{"name": "hub", "public_key": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
              "endpoint": "192.0.2.1:51820", "allowed_ips": ["10.8.0.0/24"]}]}]}
JSON

# PAE per DSSE v1: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
{ printf 'DSSEv1 %d %s %d ' "${#type}" "$type" "$(stat -c %s payload.json)"; cat payload.json; } > pae.bin
openssl pkeyutl -sign -rawin -inkey signer.pem -in pae.bin -out sig.bin
base64 -w0 sig.bin > sig.b64

jq -n --arg t "$type" --arg p "$(base64 -w0 payload.json)" --arg k "$(cat keyid.txt)" \
   --arg s "$(cat sig.b64)" '{payloadType: $t, payload: $p, signatures: [{keyid: $k, sig: $s}]}' \
   > envelope.json
# Sanity check with OpenSSL itself.
openssl pkey -in signer.pem -pubout -out signer.pub.pem
openssl pkeyutl -verify -rawin -pubin -inkey signer.pub.pem -in pae.bin -sigfile sig.bin
rm -f sig.bin signer.pub.pem
