#!/bin/bash
# SPDX-License-Identifier: MIT
# Seeds tests/fuzz/corpus: documents and envelopes, valid and not. Envelopes are signed with the
# fuzz target's fixed key so that they reach the document parser. Run once (needs a build:
# make-corpus.sh BUILD_DIR); the files are committed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
sign=${1:?usage: make-corpus.sh BUILD_DIR}/tests/wgfleet-sign
c=$here/corpus
mkdir -p "$c"
key=$(mktemp)
trap 'rm -f "$key"' EXIT
printf 'wgfleet fuzz corpus signing key!' | base64 -w0 > "$key"

k1=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=
k2=AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=
k3=AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=
head='"schema": "wgfleet/desired-state/v1", "node": "n1", "revision": 1, "issued_at": "2026-01-01T00:00:00Z", "expires_at": "2099-01-01T00:00:00Z"'

cat > "$c/doc-minimal.json" <<JSON
{$head, "interfaces": []}
JSON
cat > "$c/doc-full.json" <<JSON
{$head, "interfaces": [{"name": "wg0", "listen_port": 51820, "addresses": ["10.0.0.1/24", "fd00::1/64"],
 "mtu": 1420, "fwmark": 51820, "route_table": 1000, "route_metric": 20, "public_key": "$k3",
 "peers": [{"name": "hub", "public_key": "$k1", "endpoint": "192.0.2.1:51820", "endpoint_alt": ["[2001:db8::1]:51820", "hub.example.net:51820"],
            "allowed_ips": ["10.0.0.0/24", "192.168.0.0/16"], "persistent_keepalive": 25, "preshared_key_ref": "hub.psk"},
           {"name": "exit", "public_key": "$k2", "allowed_ips": ["0.0.0.0/0", "::/0"]}],
 "routes": [{"dst": "192.168.7.0/24", "via": "hub"}], "exit": ["exit"], "future": {"x": [1, 2]}}]}
JSON
cat > "$c/doc-two-ifaces.json" <<JSON
{$head, "interfaces": [{"name": "wg0", "listen_port": 51820, "addresses": ["10.0.0.1/24"], "peers": []},
 {"name": "wg1", "listen_port": 51821, "addresses": ["10.1.0.1/24"], "peers": [{"name": "a", "public_key": "$k1", "allowed_ips": ["10.1.0.2/32"]}]}]}
JSON
cat > "$c/doc-bad-cidr.json" <<JSON
{$head, "interfaces": [{"name": "wg0", "listen_port": 51820, "addresses": ["10.0.0.1/24"],
 "peers": [{"name": "a", "public_key": "$k1", "allowed_ips": ["10.0.0.300/32"]}]}]}
JSON
cat > "$c/doc-lockout.json" <<JSON
{$head, "interfaces": [{"name": "wg0", "listen_port": 51820, "addresses": ["10.0.0.1/24"],
 "peers": [{"name": "a", "public_key": "$k1", "endpoint": "10.9.0.1:1", "allowed_ips": ["10.9.0.0/16"]},
           {"name": "b", "public_key": "$k2", "allowed_ips": ["0.0.0.0/0"]}]}]}
JSON
cat > "$c/doc-duplicates.json" <<JSON
{$head, "interfaces": [{"name": "wg0", "listen_port": 51820, "addresses": ["10.0.0.1/24"],
 "peers": [{"name": "a", "public_key": "$k1", "allowed_ips": ["10.0.0.2/32"]}, {"name": "a", "public_key": "$k1", "allowed_ips": ["10.0.0.2/32"]}]}]}
JSON
cat > "$c/doc-types.json" <<JSON
{"schema": 1, "node": [], "revision": "x", "issued_at": null, "expires_at": true, "interfaces": {}}
JSON
printf '{"node": "a", "node": "b"}' > "$c/doc-dupkey.json"
printf '{"revision": 99999999999999999999999}' > "$c/doc-bigint.json"
printf '{"schema": "wgfleet/desired-state/v1", "node": "\\u0000"}' > "$c/doc-nul.json"
printf '%.0s[' $(seq 200) > "$c/deep-200.json"
printf '' > "$c/empty"
printf 'null' > "$c/null.json"
printf '{"interfaces": [{"peers": [{"allowed_ips": ["::ffff:10.0.0.1/128", "1.2.3.4/32x", "/", "::/"]}]}]' > "$c/truncated.json"

"$sign" sign "$key" "$c/doc-full.json" > "$c/env-valid.json"
"$sign" sign "$key" "$c/doc-minimal.json" > "$c/env-minimal.json"
"$sign" sign "$key" "$c/doc-bad-cidr.json" > "$c/env-bad-cidr.json"
printf 'not json at all' | "$sign" sign "$key" - > "$c/env-payload-not-json.json"
jq '.payload |= (@base64d | sub("revision\": 1"; "revision\": 2") | @base64)' "$c/env-valid.json" > "$c/env-tampered.json"
jq '.payloadType = "application/json"' "$c/env-valid.json" > "$c/env-wrong-type.json"
jq '.signatures = []' "$c/env-valid.json" > "$c/env-no-signature.json"
jq '.payload |= (@base64d | @base64 | gsub("\\+"; "-") | gsub("/"; "_") | sub("=+$"; ""))' "$c/env-valid.json" > "$c/env-urlsafe.json"
jq '.signatures[0].sig = "AAAA"' "$c/env-valid.json" > "$c/env-short-sig.json"
jq '.payload = "!!!"' "$c/env-valid.json" > "$c/env-payload-not-b64.json"
ls "$c" | wc -l
