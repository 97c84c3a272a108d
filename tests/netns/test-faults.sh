#!/bin/bash
# SPDX-License-Identifier: MIT
# Every fault ends converged or on the last good state, never worse. wireguard-go (uapi backend)
# in one namespace wfxN-n with no route at all to the peers' endpoints (198.18.0.0/15: every send
# fails at once, nothing waits on a silent address), an HTTPS test controller (wfd-testsrv) on the
# namespace's loopback. Every check compares what `wg show`, `ip addr`/`ip route` and state_dir
# hold before and after:
#   A. bad input (bad CIDR, untrusted or broken signature, older revision, other node, expired,
#      not JSON) through `once` and `apply`: wg show / ip addr / ip route byte-identical
#   B. corrupt cache (garbage, truncated, untrusted, tampered, empty current.env; corrupt
#      agent-state.json), controller down then up
#   C. controller down under `run`: last good state kept (drift still repaired), status offline;
#      an expired document is kept running but never applied from the cache
#   D. the device deleted underneath (ip link del; wireguard-go killed and restarted empty)
#   E. kill -9 in the middle of applying 2000 peers, then once/run again: converged, no stray or
#      duplicate proto 211 route, no stray allowed IP
set -u

AGENT=${WFX_AGENT:-${WGFLEET_BUILD:?}/agent/wgfleet-agent}
NETNS_TAG=wfx
. "$(dirname "$0")/lib.sh"
need_root wireguard-go wg ip jq openssl curl perl
perl -MMIME::Base64 -e 1 2>/dev/null || skip "perl without MIME::Base64 (scripts/deps installs perl)"
SRV=${WFX_TESTSRV:-$BUILD/tests/netns/wfd-testsrv}
[ -x "$AGENT" ] && [ -x "$SRV" ] || { echo "missing $AGENT or $SRV"; exit 1; }
BULK=${WFX_BULK:-2000}

IF=wfx$ID           # unique machine-wide: wireguard-go's sockets are shared by all namespaces
NODE=wfx-node
CTL_PID= RUN_PID= NOTIFY_PID=
cleanup_local() { for p in $RUN_PID $CTL_PID $NOTIFY_PID; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }

dump() {
  echo "--- agent logs"; tail -n 15 "$T"/*.log 2>/dev/null
  echo "--- wg"; inns n wg show "$IF" 2>&1 | head -20
  echo "--- ip"; ip -n "$NS-n" addr show dev "$IF"; ip -n "$NS-n" route show proto 211 | head
}
agent() { inns n "$AGENT" --config "$T/agent.conf" "$@"; }

# ---- namespace: loopback only, so the endpoints (198.18.0.0/15) are unroutable ----
ns_add n

start_wg() { wg_start n "$IF"; }  # an empty device, as the service manager would restart it
stop_wg() { wg_stop "$IF" "$1"; }  # SIGNAL
start_wg

# ---- TLS, signing keys, agent configuration ----
cd "$T" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 2 -subj /CN=wfx-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
  -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 \
  -extfile san.ext 2>/dev/null || die "cannot make a test certificate"
"$SRV" keygen signing.key trust.pub >/dev/null || die "keygen"
"$SRV" keygen other.key other.pub >/dev/null || die "keygen"   # a key nobody trusts
mkdir -p docs posts state
cat >agent.conf <<EOF
[agent]
node = $NODE
state_dir = $T/state
backend = uapi
report_interval = 1
resync_interval = 1
confirm_timeout = 60
resolve_interval = 0
[controller]
url = https://127.0.0.1:8443/v1/nodes/$NODE/desired-state
trust_key = $T/trust.pub
ca_file = $T/ca.pem
poll_interval = 1
EOF
NODE_PUB=$(agent keygen | tail -n1)
[ ${#NODE_PUB} -eq 44 ] || die "keygen printed '$NODE_PUB'"

start_ctl() { # [wfd-testsrv options]
  [ -z "$CTL_PID" ] || return 0
  ip netns exec "$NS-n" "$SRV" serve --listen 127.0.0.1:8443 --cert srv.pem --key srv.key --docs docs \
    --log access.log --posts posts "$@" 2>>ctl.err &
  CTL_PID=$!
  wait_for 10 inns n curl -sk -o /dev/null https://127.0.0.1:8443/ && kill -0 "$CTL_PID" || die "test controller did not start"
}
stop_ctl() { kill "$CTL_PID" 2>/dev/null; wait "$CTL_PID" 2>/dev/null; CTL_PID=; }

# ---- documents ----
EXP=$(date -u -d '+1 day' +%FT%TZ)
# peers N OCTET PREFIX: N peers, endpoints 198.18.X.Y:51820, allowed IP 10.OCTET.X.Y/32
peers() {
  perl -MMIME::Base64 -e 'my ($n, $o, $p) = @ARGV; open(my $r, "<", "/dev/urandom") or die;
    for my $k (0 .. $n - 1) { read($r, my $b, 32) == 32 or die; my ($x, $y) = (int($k / 250), $k % 250 + 1);
      printf("{\"name\":\"%s%d\",\"public_key\":\"%s\",\"endpoint\":\"198.18.%d.%d:51820\",\"allowed_ips\":[\"10.%d.%d.%d/32\"]}\n",
             $p, $k, encode_base64($b, ""), $x, $y, $o, $x, $y) }' "$@"
}
# The small set: p0 carries a subnet, an IPv6 prefix and the extra route.
peers 3 70 p | jq -c 'if .name == "p0" then .allowed_ips += ["10.71.0.0/16", "fd70::/64"] else . end' >small.jsonl
{ cat small.jsonl; peers 1 72 q; } >small2.jsonl

# mkdoc NAME REV PEERS [JQ_FILTER] [SIGNING_KEY]: NAME.json and its envelope NAME.env
mkdoc() {
  local name=$1 rev=$2 peerfile=$3 filter=${4:-.} key=${5:-signing.key}
  DOC_PUB=$NODE_PUB DOC_EXPIRES=$EXP doc_json "$NODE" "$rev" "$IF" '["10.66.0.1/32", "fd66::1/128"]' "$peerfile" \
    '.interfaces[0] += {mtu: 1400, routes: [{dst: "10.71.5.0/24", via: "p0"}]}' | jq "$filter" >"$name.json" ||
    die "mkdoc $name"
  "$SRV" sign "$key" "$name.json" "$name.env" || die "sign $name"
}
publish() { cp "$1.env" docs/.tmp && mv docs/.tmp "docs/$NODE.env"; }

# ---- observations ----
# wg show dump with the peers sorted: wireguard-go lists them in Go map order, which changes
# from one `get` to the next.
wg_dump() { inns n wg show "$IF" dump | { IFS= read -r first; printf '%s\n' "$first"; sort; }; }
# Everything a fault could change, as text: compared byte for byte.
snap() {
  { wg_dump; ip -n "$NS-n" addr show; ip -n "$NS-n" link show "$IF"
    ip -n "$NS-n" -4 route show table all; ip -n "$NS-n" -6 route show table all; } >"$1" 2>&1
}
# The same without what a new link changes by itself (ifindex, link-local, kernel routes).
snap_cfg() {
  { wg_dump; ip -n "$NS-n" -o addr show dev "$IF" scope global | awk '{print $4}'
    ip -n "$NS-n" link show "$IF" | grep -o 'mtu [0-9]*'
    ip -n "$NS-n" -4 route show table all proto 211; ip -n "$NS-n" -6 route show table all proto 211; } >"$1" 2>&1
}
same() { # same A B: identical, else print the difference
  cmp -s "$1" "$2" && return 0
  diff "$1" "$2" | head -8 | sed 's/^/    /'; return 1
}
# dsts of the proto 211 routes as ip(8) prints them (host routes without /32 and /128)
live_routes() {
  { ip -n "$NS-n" -4 route show table all proto 211; ip -n "$NS-n" -6 route show table all proto 211; } |
    awk '{print $1}' | sort
}
plan_ops() {
  agent plan --json --trust-key trust.pub "$1.env" >plan.json 2>plan.err && jq '.operations | length' plan.json
}
# converged NAME: the node is exactly document NAME (prints what differs): an empty plan, and
# tests/tools/wf-compare (peers with endpoints, allowed IPs, keepalive and PSK presence;
# addresses; proto 211 routes with table, metric and device), plus the MTU and the up flag
converged() {
  local name=$1 w ok=0
  w=$(plan_ops "$name")
  [ "$w" = 0 ] || { echo "    plan has ${w:-?} operation(s): $(jq -c '.operations[:2]' plan.json 2>/dev/null) $(head -c 300 plan.err)"; ok=1; }
  w=$(compare n "$name.json") || { echo "$w" | head -8 | sed 's/^/    /'; ok=1; }
  ip -n "$NS-n" link show "$IF" | grep -q 'mtu 1400 .*state UNKNOWN\|mtu 1400 .*state UP' ||
    { echo "    link: $(ip -n "$NS-n" link show "$IF" | head -1)"; ok=1; }
  return $ok
}
npeers() { inns n wg show "$IF" peers 2>/dev/null | wc -l; }
nroutes() { live_routes | wc -l; }
state_field() { jq -r ".$1" state/agent-state.json 2>/dev/null; }
env_revision() { jq -r '.payload | @base64d | fromjson | .revision' "$1" 2>/dev/null; }
valid_env() { agent validate --trust-key trust.pub "$1" >/dev/null 2>&1; }

# ---- start: revision 10 through the controller ----
mkdoc r10 10 small.jsonl
publish r10
start_ctl
agent once >once.log 2>&1 || die "first once failed: $(cat once.log)"
check "revision 10 applied by once: $(npeers) peers, $(nroutes) proto 211 routes" converged r10

# ==== A. bad input changes nothing ====
echo "# A. rejected documents"
mkdoc r11 11 small2.jsonl                                   # the good next revision, not served yet
mkdoc bad-cidr 11 small2.jsonl '.interfaces[0].peers[3].allowed_ips = ["10.72.0.300/32"]'
mkdoc bad-hostbits 11 small2.jsonl '.interfaces[0].peers[3].allowed_ips = ["10.72.0.1/16"]'
mkdoc bad-route 11 small2.jsonl '.interfaces[0].routes[0].dst = "10.71.5.0/40"'
mkdoc untrusted 11 small2.jsonl . other.key
jq --arg p "$(base64 -w0 <r11.json | tr -d '\n')" '.payload = $p' r10.env >tampered.env   # r10's signature, r11's bytes
cp r11.json tampered.json
mkdoc older 9 small2.jsonl
mkdoc other-node 11 small2.jsonl '.node = "wfx-other"'
mkdoc expired 11 small2.jsonl ".issued_at = \"$(date -u -d '-2 hours' +%FT%TZ)\" | .expires_at = \"$(date -u -d '-1 hour' +%FT%TZ)\""
printf '{"payloadType": "application/vnd.wgfleet.desired-state+json", "payload": "eyJ' >notjson.env
snap before-A
cp state/current.env current-A.env
for b in bad-cidr bad-hostbits bad-route untrusted tampered older other-node expired notjson; do
  publish "$b"
  rc=0; agent once >"once-$b.log" 2>&1 || rc=$?
  snap after
  why=$(grep -m1 -o 'rejected: .*' "once-$b.log" | cut -c1-110)
  check "$b via the controller: rejected ($why), once exit $rc (1: a refused document; the node stays on revision 10)" \
    test "$rc" = 1 -a -n "$why"
  check "$b via the controller: wg show, ip addr, ip route byte-identical" same before-A after
  check "$b via the controller: current.env unchanged, accepted revision still 10, report says rejected" \
    eval 'cmp -s state/current.env current-A.env && [ "$(state_field accepted_revision)" = 10 ] &&
          [ "$(jq -r .state state/status.json)" = rejected ]'
  # `apply` is the one-off tool without a replay floor: an older revision is the operator's call
  [ "$b" = older ] && continue
  rc=0; agent apply --trust-key trust.pub "$b.env" >"apply-$b.log" 2>&1 || rc=$?
  snap after
  check "$b via apply: exit $rc, nothing changed" eval '[ "$rc" = 1 ] && same before-A after'
done
# the good document still goes through afterwards
publish r11
agent once >once.log 2>&1
check "then revision 11 (one peer more) is applied: $(npeers) peers" converged r11

# ==== B. corrupt cache ====
echo "# B. corrupt cache"
stop_ctl
snap before-B
cp -a state good-state
restore_state() { rm -rf state && cp -a good-state state; }
head -c 1500 /dev/urandom >garbage.env
head -c "$(($(stat -c %s good-state/current.env) / 2))" good-state/current.env >truncated.env
mkdoc r11-untrusted 11 small2.jsonl . other.key
cp r11.json r11-untrusted.json
jq --arg p "$(base64 -w0 <small.jsonl)" '.payload = $p' good-state/current.env >tampered-cache.env
: >empty.env
for c in garbage truncated r11-untrusted tampered-cache empty; do
  restore_state
  cp "$c.env" state/current.env
  rc=0; agent once >"cache-$c.log" 2>&1 || rc=$?
  snap after
  check "current.env $c, controller down: once exits $rc (1: no valid revision), $(grep -c 'cached document ignored' "cache-$c.log") 'cached document ignored' line(s)" \
    eval '[ "$rc" = 1 ] && grep -q "cached document ignored" "cache-$c.log"'
  check "current.env $c, controller down: node byte-identical" same before-B after
  check "current.env $c: reported in status.json errors" \
    jq -e '.errors | any(test("cached document ignored"))' state/status.json >/dev/null
done
printf 'not json' >state-garbage.json
printf '{"accepted_revision": 11, "applied_revi' >state-truncated.json
printf '{"accepted_revision": "eleven"}' >state-types.json
for c in state-garbage state-truncated state-types; do
  restore_state
  cp "$c.json" state/agent-state.json
  rc=0; agent once >"cache-$c.log" 2>&1 || rc=$?
  snap after
  check "agent-state.json $c, controller down: reported ($(grep -m1 -o 'agent-state.json: corrupt[^,]*' "cache-$c.log")), cached revision applied, exit $rc" \
    eval '[ "$rc" = 0 ] && grep -q "agent-state.json: corrupt" "cache-$c.log"'
  check "agent-state.json $c: node byte-identical" same before-B after
  check "agent-state.json $c: rewritten good (accepted and applied revision 11 from the cached document)" \
    eval '[ "$(state_field accepted_revision)" = 11 ] && [ "$(state_field applied_revision)" = 11 ]'
done
# a damaged node key is never replaced by a new one (that would change the node's identity)
for c in garbage empty; do
  restore_state
  if [ "$c" = garbage ]; then printf 'not a key\n' >state/private.key; else : >state/private.key; fi
  cp state/private.key key-before
  rc=0; agent once >"cache-key-$c.log" 2>&1 || rc=$?
  snap after
  check "private.key $c: once exits $rc ($(grep -m1 -o 'private.key.*' "cache-key-$c.log" | cut -c1-70)), node byte-identical, key file kept" \
    eval '[ "$rc" = 1 ] && same before-B after && cmp -s state/private.key key-before'
done
# controller back: a garbage cache is replaced by what the controller serves
start_ctl
restore_state
cp garbage.env state/current.env
rc=0; agent once >cache-up.log 2>&1 || rc=$?
snap after
check "garbage current.env, controller up (same revision 11): once exits $rc, node byte-identical" \
  eval '[ "$rc" = 0 ] && same before-B after'
check "garbage current.env, controller up: current.env rewritten and verifies (revision $(env_revision state/current.env))" \
  eval 'valid_env state/current.env && [ "$(env_revision state/current.env)" = 11 ]'
check "garbage current.env, controller up: no garbage kept as previous.env" \
  eval '! [ -e state/previous.env ] || valid_env state/previous.env'
restore_state
cp truncated.env state/current.env
cp state-garbage.json state/agent-state.json
mkdoc r12 12 small.jsonl
publish r12
rc=0; agent once >cache-up2.log 2>&1 || rc=$?
check "truncated current.env + garbage agent-state.json, controller serves 12: exit $rc, converged" \
  eval '[ "$rc" = 0 ] && converged r12'
check "cache rewritten good: current.env verifies (revision $(env_revision state/current.env)), agent-state.json accepted $(state_field accepted_revision)" \
  eval 'valid_env state/current.env && [ "$(env_revision state/current.env)" = 12 ] && [ "$(state_field accepted_revision)" = 12 ]'
check "no garbage kept as previous.env" eval '! [ -e state/previous.env ] || valid_env state/previous.env'


# ==== C. controller down ====
echo "# C. controller down"
start_run() { # LOG
  ip netns exec "$NS-n" "$AGENT" --config "$T/agent.conf" run >>"$1" 2>&1 &
  RUN_PID=$!
}
stop_run() { kill -TERM "$RUN_PID"; wait "$RUN_PID"; local rc=$?; RUN_PID=; return $rc; }
report() { jq -e "$1" state/status.json >/dev/null 2>&1; }
start_ctl
start_run run-C.log
wait_for 20 eval 'report ".state == \"converged\" and .applied_revision == 12" && [ "$(state_field confirm_revision)" = 0 ]' ||
  die "run did not settle on revision 12: $(cat state/status.json)"
snap before-C
stop_ctl
t0=$(ms)
wait_for 20 report '.state == "offline"' || bad "status.json never says offline: $(jq -c '{state, errors}' state/status.json)"
t1=$(ms)
st=$(agent status 2>&1)
check "controller down: offline after $((t1 - t0)) ms; status says: $(head -1 <<<"$st")" \
  eval 'grep -q "offline" <<<"$st" && grep -q "last fetch [0-9]*s ago" <<<"$st"'
check "status --json: offline, the failed fetch in errors[]" \
  eval 'agent status --json | jq -e ".state == \"offline\" and .applied_revision == 12 and (.errors | any(test(\"fetch .*127.0.0.1:8443\")))" >/dev/null'
# the running agent still repairs drift from memory while the controller is away
p2=$(jq -r 'select(.name == "p2") | .public_key' small.jsonl)
inns n wg set "$IF" peer "$p2" remove
ip -n "$NS-n" route del 10.71.5.0/24 dev "$IF" proto 211
check "drift while offline (a peer and a route removed by hand): repaired from memory" \
  wait_for 15 eval 'snap after && cmp -s before-C after'
wait_for 15 eval '[ "$(grep -c "fetch https://127.0.0.1:8443/.*: " run-C.log)" -ge 2 ]'
snap after
nfail=$(grep -c "fetch https://127.0.0.1:8443/.*: " run-C.log)
check "controller down for $(($(ms) / 1000 - t0 / 1000)) s ($nfail failed fetches): wg show, ip addr, ip route byte-identical" \
  eval '[ "$nfail" -ge 2 ] && same before-C after'
check "the agent is still running" kill -0 "$RUN_PID"

# a document that expires while the controller is down: kept running, never applied from the cache
start_ctl
EXP_SHORT=$(date -u -d '+10 seconds' +%FT%TZ)
mkdoc r13 13 small2.jsonl ".expires_at = \"$EXP_SHORT\""
publish r13
wait_for 15 eval 'report ".applied_revision == 13" && [ "$(state_field confirm_revision)" = 0 ]' ||
  bad "revision 13 not applied and confirmed: $(jq -c '{state, applied_revision}' state/status.json)"
stop_ctl
snap before-exp
wait_for 15 eval '[ "$(date +%s)" -gt "$(date -d "$EXP_SHORT" +%s)" ]'
wait_for 5 report '.errors | any(test("revision 13 expired"))'
snap after
check "revision 13 expired with the controller down: kept running (byte-identical), report says $(jq -r '.errors[] | select(test("expired"))' state/status.json | cut -c1-60)..." \
  eval 'report ".errors | any(test(\"revision 13 expired\"))" && same before-exp after'
stop_run || bad "run exited non-zero on SIGTERM"
stop_wg KILL
start_wg
rc=0; agent once >once-expired.log 2>&1 || rc=$?
check "restart on an empty device with only the expired cache: once exits $rc, $(grep -o 'expires_at: .* has passed' once-expired.log | head -1)" \
  eval '[ "$rc" = 1 ] && grep -q "cached document ignored: expires_at" once-expired.log'
check "the expired document was not applied: $(npeers) peers, $(nroutes) proto 211 routes, no address" \
  eval '[ "$(npeers)" = 0 ] && [ "$(nroutes)" = 0 ] && [ -z "$(ip -n "$NS-n" -o addr show dev "$IF" scope global)" ]'
start_ctl
rc=0; agent once >once-expired2.log 2>&1 || rc=$?
check "the controller still serving the expired revision: rejected, exit $rc, still nothing applied" \
  eval '[ "$rc" = 1 ] && grep -q "rejected: expires_at" once-expired2.log && [ "$(npeers)" = 0 ]'
mkdoc r14 14 small2.jsonl
publish r14
rc=0; agent once >once.log 2>&1 || rc=$?
check "a newer revision 14 from the controller: exit $rc, converged" eval '[ "$rc" = 0 ] && converged r14'

# ==== D. the device deleted underneath ====
echo "# D. device deleted underneath"
wg_gone() { ! test -S "/var/run/wireguard/$IF.sock"; }
start_run run-D.log
wait_for 20 eval 'report ".state == \"converged\" and .applied_revision == 14"' || bad "run did not settle on 14"
snap_cfg before-D
ip -n "$NS-n" link del "$IF"
wait_for 10 wg_gone || die "wireguard-go did not exit when its link was deleted"
wait "${WG_PID[$IF]}" 2>/dev/null; WG_PID[$IF]=
check "link deleted (wireguard-go exited): the agent keeps running and reports what to start" \
  wait_for 10 eval 'kill -0 "$RUN_PID" && report ".state == \"degraded\" and (.errors | any(test(\"no userspace WireGuard serves\")))"'
st=$(agent status 2>&1); rc=$?
echo "$st" | sed 's/^/    /'
check "status while the device is gone: exit $rc (0: it read and printed the state; the state says degraded and what to start)" \
  eval '[ "$rc" = 0 ] && grep -q "degraded" <<<"$st" && grep -q "no userspace WireGuard serves" <<<"$st"'
start_wg
t0=$(ms)
wait_for 20 eval 'snap_cfg after && cmp -s before-D after'
t1=$(ms)
check "wireguard-go restarted empty: reconfigured by the running agent in $((t1 - t0)) ms (key, port, peers, addresses, mtu, routes identical)" \
  eval 'same before-D after && converged r14'
check "reported as drift, state converged again" \
  wait_for 5 eval 'report ".state == \"converged\"" && grep -q "drift: the live state changed underneath revision 14" run-D.log'
stop_wg KILL
start_wg
t0=$(ms)
wait_for 20 eval 'snap_cfg after && cmp -s before-D after'
t1=$(ms)
check "wireguard-go killed -9 and restarted empty: reconfigured in $((t1 - t0)) ms" eval 'same before-D after && converged r14'
# a new revision arrives while the device is gone: accepted, applied once the device is back
ip -n "$NS-n" link del "$IF"
wait_for 10 wg_gone || die "wireguard-go did not exit"
wait "${WG_PID[$IF]}" 2>/dev/null; WG_PID[$IF]=
mkdoc r15 15 small.jsonl
publish r15
check "revision 15 while the device is gone: accepted, not applied (applied 14, degraded)" \
  wait_for 10 eval '[ "$(state_field accepted_revision)" = 15 ] && report ".state == \"degraded\" and .applied_revision == 14"'
start_wg
t0=$(ms)
wait_for 20 eval 'converged r15 >/dev/null'
t1=$(ms)
check "device back: revision 15 applied in $((t1 - t0)) ms, reported converged on 15" \
  eval 'converged r15 && wait_for 5 report ".state == \"converged\" and .applied_revision == 15"'
stop_run || bad "run exited non-zero on SIGTERM"
snap_cfg before-D
ip -n "$NS-n" link del "$IF"
wait_for 10 wg_gone || die "wireguard-go did not exit"
wait "${WG_PID[$IF]}" 2>/dev/null; WG_PID[$IF]=
start_wg
rc=0; agent once >once-D.log 2>&1 || rc=$?
snap_cfg after
check "link deleted and recreated between runs: once exits $rc, reconfigured fully" \
  eval '[ "$rc" = 0 ] && same before-D after && converged r15'

# ==== commit-confirmed must roll back, but previous.env is corrupt ====
echo "# B2. commit-confirmed rollback onto a corrupt previous.env"
sed 's/^confirm_timeout = .*/confirm_timeout = 3/' agent.conf >agent-confirm.conf
mkdoc r16 16 small2.jsonl
publish r16
stop_ctl
touch die
start_ctl --die-file "$T/die"    # the controller vanishes right after serving revision 16
ip netns exec "$NS-n" "$AGENT" --config "$T/agent-confirm.conf" run >>run-B2.log 2>&1 &
RUN_PID=$!
wait_for 15 eval '[ "$(npeers)" = 4 ]' || bad "revision 16 not applied"
printf 'garbage' >state/previous.env
wait_for 15 grep -q "commit-confirmed: cannot revert revision 16" run-B2.log
snap_cfg after
check "rollback impossible ($(grep -m1 -o 'unusable: .*' run-B2.log | cut -c1-70)): the node stays on revision 16, reported" \
  eval 'converged r16 && wait_for 5 report ".errors | any(test(\"cannot revert revision 16\"))"'
check "and the cache still holds revision 16 (current.env verifies), not the garbage" \
  eval 'valid_env state/current.env && [ "$(env_revision state/current.env)" = 16 ]'
stop_run || bad "run exited non-zero on SIGTERM"
rm -f die
stop_ctl
rc=0; agent once >once-B2.log 2>&1 || rc=$?
snap_cfg after2
check "restart without the controller: once exits $rc from the cached revision 16, node unchanged" \
  eval '[ "$rc" = 0 ] && same after after2'
rc=0; agent revert >revert-B2.log 2>&1 || rc=$?
snap_cfg after2
check "revert by hand onto the corrupt previous.env: refused (exit $rc), node and current.env unchanged" \
  eval '[ "$rc" = 1 ] && grep -q "previous revision unusable" revert-B2.log && same after after2 &&
        [ "$(env_revision state/current.env)" = 16 ]'

# ==== commit-confirmed never goes back to an expired revision (issue 13.5) ====
echo "# B3. commit-confirmed with an expired previous revision"
EXP17=$(date -u -d '+6 seconds' +%FT%TZ)
mkdoc r17 17 small.jsonl ".expires_at = \"$EXP17\""
mkdoc r18 18 small2.jsonl
publish r17
start_ctl
ip netns exec "$NS-n" "$AGENT" --config "$T/agent-confirm.conf" run >>run-B3.log 2>&1 &
RUN_PID=$!
wait_for 15 eval 'converged r17 >/dev/null && [ "$(state_field confirm_revision)" = 0 ]' || bad "revision 17 not applied and confirmed"
wait_for 15 eval '[ "$(date +%s)" -gt "$(date -d "$EXP17" +%s)" ]'
stop_ctl
touch die
publish r18
start_ctl --die-file "$T/die"    # serves revision 18, then vanishes
wait_for 15 eval 'converged r18 >/dev/null' || bad "revision 18 not applied"
sleep 5                          # confirm_timeout is 3 s
check "revision 18 replaced the expired 17 and the controller vanished: no window, still on 18 after 5 s ($(grep -m1 -o 'no commit-confirmed window.*' run-B3.log | cut -c1-80))" \
  eval 'converged r18 && [ "$(state_field confirm_revision)" = 0 ] && [ "$(state_field reverted_revision)" = 0 ] &&
        ! grep -q "reverted revision 18" run-B3.log && grep -q "no commit-confirmed window" run-B3.log'
stop_run || bad "run exited non-zero on SIGTERM"
rm -f die
stop_ctl

# ==== E. kill -9 in the middle of a large apply ====
echo "# E. kill -9 during an apply of $BULK peers"
peers "$BULK" 100 a >bulk-a.jsonl
peers "$BULK" 101 b >bulk-b.jsonl
"$SRV" notify "$T/notify.sock" "$T/notify.txt" &
NOTIFY_PID=$!
wait_for 5 test -S "$T/notify.sock" || die "notify reader did not start"
# who is killed, how long after it said "applying" (apply: after it started), what recovers
victim=(once once once run apply once run)
delays=(0 0.05 0.1 0.1 0.3 0.2 0.25)
recover=(once once-offline once run apply once-offline once)
partial=0
for i in "${!delays[@]}"; do
  rev=$((20 + i)) name=big$i
  set=a; [ $((i % 2)) = 1 ] && set=b
  cat small.jsonl "bulk-$set.jsonl" >"$name.jsonl"
  mkdoc "$name" "$rev" "$name.jsonl"
  start_ctl
  publish "$name"
  : >notify.txt
  if [ "${victim[$i]}" = apply ]; then
    ip netns exec "$NS-n" "$AGENT" --config "$T/agent.conf" apply --trust-key trust.pub "$name.env" >"kill-$i.log" 2>&1 &
    kpid=$!
  else
    ip netns exec "$NS-n" env NOTIFY_SOCKET="$T/notify.sock" "$AGENT" --config "$T/agent.conf" "${victim[$i]}" \
      >"kill-$i.log" 2>&1 &
    kpid=$!
    wait_for 30 grep -q "^STATUS=applying revision $rev" notify.txt || die "round $i: the agent never started applying $rev"
  fi
  t0=$(ms)
  sleep "${delays[$i]}"
  kill -9 "$kpid" 2>/dev/null; wait "$kpid" 2>/dev/null
  t1=$(ms)
  np=$(npeers) nr=$(nroutes)
  if converged "$name" >/dev/null; then what="already complete"; else what="partial"; partial=$((partial + 1)); fi
  echo "# round $i: ${victim[$i]} killed $((t1 - t0)) ms into applying revision $rev (set $set): $np peers, $nr proto 211 routes live ($what; want $((BULK + 3)) and $((BULK + 6)))"
  t0=$(ms)
  case ${recover[$i]} in
    once) rc=0; agent once >"recover-$i.log" 2>&1 || rc=$? ;;
    once-offline) stop_ctl; rc=0; agent once >"recover-$i.log" 2>&1 || rc=$? ;;
    apply) rc=0; agent apply --trust-key trust.pub "$name.env" >"recover-$i.log" 2>&1 || rc=$? ;;
    run) start_run "recover-$i.log"; rc=0
         wait_for 30 eval 'converged "$name" >/dev/null' || rc=1
         stop_run || rc=1 ;;
  esac
  t1=$(ms)
  check "round $i: ${recover[$i]} after the kill converges in $((t1 - t0)) ms (exit $rc): $(npeers) peers, $(nroutes) routes, no duplicate or stray proto 211 route" \
    eval '[ "$rc" = 0 ] && converged "$name"'
  if [ "$i" = 0 ]; then t0=$(ms); compare n "$name.json" >/dev/null; echo "# wf-compare over $((BULK + 3)) peers: $(($(ms) - t0)) ms"; fi
  [ "${victim[$i]}" = apply ] && continue   # a one-off apply keeps no state
  check "round $i: accepted and applied revision $rev on disk" \
    eval '[ "$(state_field accepted_revision)" = "$rev" ] && [ "$(state_field applied_revision)" = "$rev" ] && [ "$(env_revision state/current.env)" = "$rev" ]'
done
check "$partial of ${#delays[@]} kills landed in the middle of the apply (at least one must)" [ "$partial" -ge 1 ]
leftover=$(find state -name '*.tmp*' | wc -l)
check "no temp files left in state_dir after the kills and the recoveries ($leftover: $(find state -name '*.tmp*' -printf '%f ' | cut -c1-100))" \
  [ "$leftover" = 0 ]

finish
