#!/bin/bash
# SPDX-License-Identifier: MIT
# Enrolment of a router that keeps its own key (issue 13.1), against wgfleet-controller and the
# simulator over verified TLS: `wgfleet-agent enroll --interface` creates the interface without a
# key (the router generates one), reads its public-key back and enrols that; the controller
# renders it into the router's document; `once` deploys it (the key check passes) and the
# status report carries the router's live key. No private-key word is ever sent or asked for.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl is needed to reach the controller"; exit 77; }
CTL=$WGFLEET_BUILD/controller-stub/wgfleet-controller
tls_router
cd "$T"
"$CTL" keygen --out keys >/dev/null
printf 'enrol-token-0123456789abcdef\n' > enroll.token
chmod 600 enroll.token
cat > inventory.json <<EOF
{"wan": {"name": "t", "tunnel_cidr": "10.78.0.0/24", "topology": "mesh"},
 "nodes": [{"name": "router1", "endpoint": "192.0.2.1", "interface": "wfr0"},
           {"name": "n2", "endpoint": "192.0.2.2", "public_key": "$(pub a)"}]}
EOF
# a port of its own (the routeros suite runs alone, under the root lock)
CTL_PORT=${CTL_PORT:-18473}
base=https://$SIM_ADDR:$CTL_PORT
"$CTL" serve --inventory inventory.json --key keys/signing.key --listen "$SIM_ADDR:$CTL_PORT" \
  --tls-cert router.crt --tls-key router.key --state ctl --enroll-token-file enroll.token 2>ctl.log &
CTL_PID=$!
stop_ctl() {
  kill "$CTL_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$CTL_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$CTL_PID" 2>/dev/null || true
  wait "$CTL_PID" 2>/dev/null || true
}
trap 'stop_ctl; cleanup' EXIT
for _ in $(seq 100); do curl -s --cacert ca.crt -o /dev/null "$base/v1/fleet" && break; sleep 0.1; done

start_tls_sim --defconf
sed -i "s|^trust_key = .*|trust_key = $T/keys/signing.pub\nurl = $base/v1/nodes/router1/desired-state\nca_file = $T/ca.crt|" agent.conf
rkey() { val public-key /interface/wireguard/print ?name=wfr0 =.proplist=public-key; }

# 1. keygen/pubkey make no local key for a router
rc=0; agent keygen >kg.out 2>&1 || rc=$?
assert_eq "$rc$(wc -l <kg.out)" 11 "keygen with backend routeros: exit status and lines"
grep -q "the router generates and keeps its own key" kg.out || fail "keygen: $(cat kg.out)"
[ ! -e state/private.key ] || fail "keygen made a local key"
ok "keygen refused for routeros: $(cut -d: -f3- kg.out | cut -c1-60)..."

# 2. enrol: the interface is created without a key, its generated key enrolled
m=$(log_mark)
agent enroll --interface wfr0 --token-file enroll.token >enroll.out 2>enroll.err || fail "enroll: $(cat enroll.out enroll.err)"
rpub=$(rkey)
[ -n "$rpub" ] || fail "no interface wfr0 with a key on the router"
grep -q "^routeros: interface wfr0 created (the router generated its key); its own public key: $rpub$" enroll.out ||
  fail "enroll output: $(cat enroll.out)"
assert_eq "$(log_since "$m" | grep -c '^/interface/wireguard/add name=wfr0 comment=wgfleet:wfr0 =>')" 1 "interface adds"
assert_eq "$(jq -r .enrolled.router1 ctl/state.json)" "$rpub" "the key the controller enrolled"
[ -s state/credential ] && [ ! -e state/private.key ] || fail "credential missing or a local key made: $(ls state)"
ok "enroll created wfr0 on the router and enrolled its generated key ${rpub:0:8}..."

# 3. once: the document (rendered with the router's key) is deployed; the report carries the key
agent once >once.out 2>once.err || fail "once: $(cat once.out once.err)"
jq -r .payload ctl/envelopes/router1.env | base64 -d > served.json
assert_eq "$(jq -r '.interfaces[0].public_key' served.json)" "$rpub" "public_key in the served document"
assert_eq "$(rkey)" "$rpub" "the router's key after once"
assert_eq "$(val .id /interface/wireguard/peers/print ?interface=wfr0 | wc -l)" 1 "peers on the router"
assert_eq "$(jq -r '.interfaces[0].public_key' ctl/status/router1.json)" "$rpub" "public_key in the status report"
ok "once deployed the document for the router's key; the report carries it"

# 4. enrol again: the interface exists, same key, nothing added; credential rotated
m=$(log_mark); cred=$(cat state/credential)
agent enroll --interface wfr0 >enroll2.out 2>enroll.err || fail "second enroll: $(cat enroll2.out enroll.err)"
grep -q "^routeros: interface wfr0 exists; its own public key: $rpub$" enroll2.out || fail "second enroll: $(cat enroll2.out)"
assert_eq "$(changes_since "$m" | wc -l)" 0 "changes on the router by a second enroll"
[ "$(cat state/credential)" != "$cred" ] || fail "the credential was not rotated"
ok "second enroll: same key, nothing changed on the router, credential rotated"

# 5. a hand-made interface of the same name is not ours: refused, one line
cli /interface/wireguard/add =name=wfr7 >/dev/null
rc=0; agent enroll --interface wfr7 --token-file enroll.token >e7.out 2>e7.err || rc=$?
assert_eq "$rc$(wc -l <e7.err)" 11 "enroll onto a foreign interface: exit status and lines"
grep -q "routeros: interface wfr7 exists on the router without a \"wgfleet:\" comment" e7.err || fail "foreign: $(cat e7.err)"
ok "foreign interface refused: $(cut -c1-90 e7.err)..."

# nothing asked for or carried a private key (the simulator logs every word it received; print
# replies carry private-key only when asked without .proplist)
grep 'private-key' sim.log && fail "a private-key word in the simulator log"
assert_eq "$(grep -c '^/interface/wireguard/print' sim.log)" "$(grep '^/interface/wireguard/print' sim.log | grep -c '.proplist=')" \
  "wireguard prints without a .proplist"
ok "no private-key word sent; every interface print names its fields"

# 6. clear removes the interface, and the router's key with it: the document for that key is then
# refused before anything is created (the router would generate another key), one line
m=$(log_mark)
agent clear wfr0 >/dev/null || fail "clear"
[ -z "$(rkey)" ] || fail "wfr0 still on the router after clear"
m=$(log_mark); rc=0
agent once >once2.out 2>&1 || rc=$?
assert_eq "$rc" 1 "once for a key the router no longer has: exit status"
grep -q "wfr0: the document's public_key $rpub: the device has no such interface, and would generate another key: wgfleet-agent enroll --interface wfr0 creates it and enrols its key" once2.out ||
  fail "once after clear: $(cat once2.out)"
assert_eq "$(changes_since "$m" | wc -l)" 0 "changes on the router for a key it no longer has"
ok "after clear, the document for the old key is refused, nothing created: $(grep -o 'the device has no such interface[^:]*' once2.out)"
