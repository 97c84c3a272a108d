#!/bin/bash
# SPDX-License-Identifier: MIT
# `wgfleet-agent enroll` against a running controller: creates the node key when missing, enrols
# it, stores the node's credential 0600 in state_dir; the controller then accepts only that
# credential for the node; a second run rotates it; refusals are one line and exit 1.
set -uo pipefail
. "$(dirname "$0")/lib-ctl.sh"
enter_netns "$@"

tmp=$(mktemp -d "$build/tests/ctl/enroll.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

make_cert "$tmp" || skip "openssl cannot create a test certificate"
"$ctl" keygen --out "$tmp/keys" >/dev/null || { fail "keygen"; finish; exit 1; }
echo "fleet-token-0123456789abcdef" > "$tmp/token"
echo "enrol-token-0123456789abcdef" > "$tmp/enroll.token"
echo "wrong-token-0123456789abcdef" > "$tmp/wrong.token"
echo "operator-token-0123456789abcdef" > "$tmp/admin.token"
chmod 600 "$tmp/token" "$tmp/enroll.token" "$tmp/wrong.token" "$tmp/admin.token"
cat > "$tmp/inventory.json" <<JSON
{"wan": {"name": "t", "tunnel_cidr": "10.78.0.0/24", "topology": "mesh"},
 "nodes": [{"name": "n1", "endpoint": "192.0.2.1"}, {"name": "n2", "endpoint": "192.0.2.2"}]}
JSON
port=8445
base=https://127.0.0.1:$port
"$ctl" serve --inventory "$tmp/inventory.json" --key "$tmp/keys/signing.key" --listen 127.0.0.1:$port \
  --tls-cert "$tmp/tls.crt" --tls-key "$tmp/tls.key" --state "$tmp/state" --token-file "$tmp/token" \
  --enroll-token-file "$tmp/enroll.token" --admin-token-file "$tmp/admin.token" 2>>"$tmp/ctl.log" &
pid=$!
check "controller up" wait_for_https "$base/v1/fleet"

conf() { # node
  mkdir -p "$tmp/$1"
  cat > "$tmp/$1/agent.conf" <<CONF
[agent]
node = $1
state_dir = $tmp/$1/state
backend = uapi
[controller]
url = $base/v1/nodes/$1/desired-state
trust_key = $tmp/keys/signing.pub
ca_file = $tmp/tls.crt
token_file = $tmp/token
CONF
}
conf n1; conf n2
A1=("$agent" --config "$tmp/n1/agent.conf")
C=(curl -s --cacert "$tmp/tls.crt" --max-time 20)

"${A1[@]}" enroll --token-file "$tmp/wrong.token" > "$tmp/out" 2> "$tmp/err"
expect_eq "a wrong enrolment token: exit 1" "$?" 1
check "one line naming the URL and the controller's answer ($(cat "$tmp/err"))" \
  grep -qx "wgfleet-agent: enroll: $base/v1/nodes/n1/enroll: HTTP 403: enrolment token missing or wrong" "$tmp/err"
check "no credential stored after a refusal" [ ! -e "$tmp/n1/state/credential" ]

"${A1[@]}" enroll --token-file "$tmp/enroll.token" > "$tmp/out" 2> "$tmp/err"
expect_eq "enroll (URL from [controller] url): exit 0" "$?" 0
check "it says where the credential went" grep -q "credential stored in $tmp/n1/state/credential" "$tmp/out"
check "the node key was created" [ -s "$tmp/n1/state/private.key" ]
expect_eq "credential file mode" "$(stat -c %a "$tmp/n1/state/credential")" 600
cred1=$(cat "$tmp/n1/state/credential")
check "credential is 64 hex digits" bash -c "[[ '$cred1' =~ ^[0-9a-f]{64}$ ]]"
"${C[@]}" -o "$tmp/fleet.json" "$base/v1/fleet"
expect_eq "controller enrolled n1's key" "$(jq -r '.enrolled.n1' "$tmp/state/state.json")" "$("${A1[@]}" pubkey)"
code() { "${C[@]}" -o /dev/null -w '%{http_code}' "$@"; }
expect_eq "n1's document opens with the stored credential" \
  "$(code -H "Authorization: Bearer $cred1" "$base/v1/nodes/n1/desired-state")" 200
expect_eq "and no longer with the fleet token" \
  "$(code -H "Authorization: Bearer $(cat "$tmp/token")" "$base/v1/nodes/n1/desired-state")" 403

"${A1[@]}" enroll --url "$base" > "$tmp/out" 2> "$tmp/err"
expect_eq "second enroll (base URL, no enrolment token: the credential suffices): exit 0" "$?" 0
cred2=$(cat "$tmp/n1/state/credential")
check "it rotated the credential" [ "$cred2" != "$cred1" ]
expect_eq "the old credential is refused" "$(code -H "Authorization: Bearer $cred1" "$base/v1/nodes/n1/desired-state")" 401
expect_eq "the new one is taken" "$(code -H "Authorization: Bearer $cred2" "$base/v1/nodes/n1/desired-state")" 200

"$agent" --config "$tmp/n2/agent.conf" enroll --url "$base/some/path" --token-file "$tmp/enroll.token" >/dev/null 2>&1
expect_eq "n2 enrols with a URL whose path is dropped" "$?" 0
expect_eq "n1's credential cannot fetch n2's document" \
  "$(code -H "Authorization: Bearer $cred2" "$base/v1/nodes/n2/desired-state")" 403
"${C[@]}" -o "$tmp/opbody" -w '%{http_code}' -H "Authorization: Bearer $cred2" -X POST "$base/v1/rollout/abort" > "$tmp/opcode"
expect_eq "a node's credential cannot abort a rollout (operator endpoint): 403" "$(cat "$tmp/opcode") $(jq -r .error "$tmp/opbody")" \
  "403 an agent's credential cannot act as the operator"
"${C[@]}" -o "$tmp/opbody" -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/admin.token")" -X POST "$base/v1/rollout/abort" > "$tmp/opcode"
expect_eq "the operator's token is taken (no rollout to abort: 409)" "$(cat "$tmp/opcode") $(jq -r .message "$tmp/opbody")" \
  "409 rollout: nothing to abort (state idle)"
mv "$tmp/n2/state/credential" "$tmp/n2.cred"
"$agent" --config "$tmp/n2/agent.conf" enroll --token-file "$tmp/enroll.token" >/dev/null 2> "$tmp/err"
expect_eq "re-enrolling n2 without its credential (lost state) is refused: exit 1" "$?" 1
check "saying what to do" grep -q 'HTTP 409: node n2: already enrolled; re-enrolling needs its credential' "$tmp/err"

"${A1[@]}" enroll --url http://127.0.0.1:$port > /dev/null 2> "$tmp/err"
expect_eq "a plain http URL: exit 1" "$?" 1
check "naming the URL" grep -q 'enroll: --url "http://127.0.0.1:'"$port"'" is not an https:// URL' "$tmp/err"
"${A1[@]}" enroll --bogus > /dev/null 2>&1
expect_eq "unknown option: exit 2" "$?" 2
chmod 644 "$tmp/enroll.token"
"$agent" --config "$tmp/n2/agent.conf" enroll --token-file "$tmp/enroll.token" > /dev/null 2> "$tmp/err"
expect_eq "a group-readable enrolment token file: exit 1" "$?" 1
check "saying why" grep -q 'readable by group or others' "$tmp/err"
finish
