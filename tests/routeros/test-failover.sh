#!/bin/bash
# SPDX-License-Identifier: MIT
# Endpoint failover through the RouterOS sidecar (docs/routeros.md, "Liveness and endpoint
# failover"): `wgfleet-agent run` from a cached signed document (no controller), failover_after
# 6, against a simulator whose remotes send no keepalives (--quiet-peers), so the received
# bytes move only with handshakes and echo replies and the router's own /ping is the signal.
# Peer p has a primary and an alternate endpoint; the test makes the primary's host unreachable
# and reachable again (/wgfleet-sim/reach) and asserts what the router holds (p's
# endpoint-address/port) and what the status shows:
#  - a healthy idle p is not moved (its pings answer; without them it would look dead in 6 s);
#  - the primary dies: p moves to the alternate within 15 s (bound: failover_after + a probe
#    interval + 1 s + the 0.5 s echo wait = 9.5 s); status failover.peers[] shows the switch;
#  - the primary answers again: p returns (underlay /ping of the primary's host) within 15 s,
#    and does not move again for 25 s; exactly two endpoint changes reached the router.
# A second simulator refusing /ping (--no-ping): the sidecar says so once and keeps judging
# by rx and handshakes, without a false switch. Prints the measured switch times.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "SKIP: jq is needed"; exit 77; }
T0=$(date +%s)
PRIM=198.18.1.1 ALT=198.18.2.1
ms() { date +%s%3N; }

# the daemon's knobs on lib.sh's configuration (start_sim rewrites it)
conf() {
  sed -i "s|^backend = routeros|backend = routeros\nfailover_after = 6\nconfirm_timeout = 0\nreport_interval = 1|; s|^\[controller\]|[controller]\nurl = https://127.0.0.1:9/v1/nodes/router1/desired-state\npoll_interval = 30|" "$T/agent.conf"
}
start_sim --quiet-peers
conf
cat > "$T/doc.json" <<EOF
{
  "schema": "wgfleet/desired-state/v1", "node": "router1", "revision": 1,
  "issued_at": "2026-11-22T00:00:00Z", "expires_at": "2030-01-01T00:00:00Z",
  "interfaces": [{
    "name": "wfr0", "listen_port": 51820, "addresses": ["10.99.0.1/24"],
    "peers": [
      {"name": "p", "public_key": "$(pub a)", "endpoint": "$PRIM:51820", "endpoint_alt": ["$ALT:51821"],
       "allowed_ips": ["10.99.0.2/32", "10.1.0.0/24"], "persistent_keepalive": 5},
      {"name": "site-b", "public_key": "$(pub b)", "endpoint": "192.0.2.20:51820",
       "allowed_ips": ["10.99.0.3/32"], "persistent_keepalive": 25}
    ]
  }]
}
EOF
"$SIGN" sign "$T/sign.key" "$T/doc.json" > "$T/state/current.env" || fail "sign"

APID=
run_agent() {
  ${AGENT_WRAPPER:-} "$AGENT" --config "$T/agent.conf" run >> "$T/run.log" 2>&1 &
  APID=$!
}
stop_agent() { [ -z "$APID" ] || { kill "$APID" 2>/dev/null || true; wait "$APID" 2>/dev/null || true; }; APID=; }
trap 'stop_agent; cleanup' EXIT
fail_dump() { fail "$*: $(tail -n 15 "$T/run.log"; jq -c .failover "$T/state/status.json" 2>/dev/null)"; }

ep_of_p() { echo "$(val endpoint-address /interface/wireguard/peers/print "?public-key=$(pub a)"):$(val endpoint-port /interface/wireguard/peers/print "?public-key=$(pub a)")"; }
p_on() { [ "$(ep_of_p)" = "$1" ]; }
pstat() { jq -c '[.failover.peers[] | select(.name == "p")][0]' "$T/state/status.json" 2>/dev/null; }
p_alive() { [ "$(pstat | jq -r .state)" = alive ]; }
reach() { cli /wgfleet-sim/reach "=address=$1" "=reachable=$2" >/dev/null || fail "reach $1 $2"; }
p_sets() { grep -c "^/interface/wireguard/peers/set .*endpoint-address=" "$T/sim.log" || true; }

run_agent
wait_for 15 p_on "$PRIM:51820" || fail_dump "p not configured on its primary"
wait_for 10 p_alive || fail_dump "p not alive on its primary"
ok "p on its primary $PRIM:51820, alive (router pings: $(grep -c '^/ping address=10.99.0.2 ' "$T/sim.log"))"

# healthy but idle: only the router's echoes move rx; p must not move
sleep 12
p_on "$PRIM:51820" || fail_dump "healthy idle p moved to $(ep_of_p)"
[ "$(pstat | jq -r .state)" = alive ] || fail_dump "healthy idle p not alive"
ok "healthy idle p stays on its primary for 12 s (answers the router's /ping)"

# the primary dies
sets0=$(p_sets)
t0=$(ms)
reach $PRIM no
wait_for 15 p_on "$ALT:51821" || fail_dump "p did not move to its alternate within 15 s"
t1=$(ms)
M_FAIL=$((t1 - t0))
wait_for 5 sh -c "jq -e '[.failover.peers[] | select(.name == \"p\")][0] | .endpoint == \"$ALT:51821\" and .endpoint_index == 1 and .last_switch.from == \"$PRIM:51820\" and .last_switch.to == \"$ALT:51821\"' '$T/state/status.json'" \
  || fail_dump "status does not show the switch to the alternate"
wait_for 10 p_alive || fail_dump "p not alive on its alternate"
t2=$(ms)
ok "primary unreachable: router holds $ALT:51821 after $M_FAIL ms, alive there after $((t2 - t0)) ms; status: $(pstat | jq -c .last_switch)"

# the primary comes back
t0=$(ms)
reach $PRIM yes
wait_for 15 p_on "$PRIM:51820" || fail_dump "p did not return to its primary within 15 s"
t1=$(ms)
M_RET=$((t1 - t0))
RET_AT=$(date +%s)
wait_for 5 sh -c "jq -e '[.failover.peers[] | select(.name == \"p\")][0] | .endpoint_index == 0 and .last_switch.reason == \"primary answers on the underlay\"' '$T/state/status.json'" \
  || fail_dump "status does not show the return"
ok "primary reachable: router holds $PRIM:51820 again after $M_RET ms ($(pstat | jq -r .last_switch.reason))"

sleep 25
p_on "$PRIM:51820" || fail_dump "p left its primary again: $(ep_of_p)"
assert_eq "$(( $(p_sets) - sets0 ))" 2 "endpoint changes sent to the router (to the alternate, back)"
[ "$(pstat | jq -r .last_switch.time)" -le "$RET_AT" ] || fail_dump "p switched again after its return"
agent status > "$T/status.txt" 2>&1 || true
grep -q "^endpoint wfr0 peer p: $PRIM:51820 (primary), alive" "$T/status.txt" || fail "status: $(cat "$T/status.txt")"
ok "no flapping: p on its primary 25 s after the return, 2 endpoint sets in all; status: $(grep '^endpoint' "$T/status.txt")"
stop_agent

# a router that refuses /ping (an API user without the test policy): rx and handshakes only
start_sim --no-ping
conf
: > "$T/run.log"
run_agent
wait_for 15 p_on "$PRIM:51820" || fail_dump "no-ping: p not configured"
wait_for 10 grep -q "liveness: routeros: /ping refused: not enough permissions" "$T/run.log" \
  || fail_dump "no-ping: no warning"
sleep 8
p_on "$PRIM:51820" || fail_dump "no-ping: healthy p moved"
[ "$(grep -c 'refused' "$T/run.log")" = 1 ] || fail_dump "no-ping: warned more than once"
ok "router refusing /ping: one warning, p judged by rx/handshakes, no false switch ($(pstat | jq -r .state))"

echo "# switch times (ms): primary dead -> alternate $M_FAIL, primary back -> primary $M_RET; total $(( $(date +%s) - T0 )) s"
