#!/bin/bash
# SPDX-License-Identifier: MIT
# Liveness, endpoint failover and exit policies of `wgfleet-agent run` on wireguard-go
# (docs/backends.md, "Liveness", "Endpoint failover", "Exit policies"). Node n runs the agent
# from a cached signed document (no controller: the fetch fails, the liveness watch does not
# care); failover_after 6, keepalive 5. Peer p has a primary and an alternate address (both on
# p's lo, routed by r); exits a and b are reached through a delaying UDP relay in namespace d
# (the host has no netem), whose delays the test changes. Asserts what `wg show` observes:
#  - p's primary vanishes: the endpoint moves to the alternate and 10.70.0.2 answers again; the
#    primary comes back: the endpoint returns to it (underlay probe), and p does not move again
#    for the rest of the test (over a minute);
#  - exit_policy latency (exit b listed first, 100 ms): /0 moves to the faster a (10 ms); a dies: /0 moves to b;
#    a back 5 % faster than b: /0 stays on b; a much faster: /0 moves to a;
#  - `wgfleet-agent exit b` pins the slower b within a few seconds, `exit auto` releases it;
#  - `wgfleet-agent status` and the metrics show the switches.
# Prints the measured switch times.
set -uo pipefail

NETNS_TAG=wfo
. "$(dirname "$0")/lib.sh"
need_root wireguard-go wg ip ping jq python3
[ -x "$AGENT" ] && [ -x "$SIGN" ] || { echo "missing $AGENT or $SIGN"; exit 1; }
RELAY=$SRC/tests/netns/udp-delay-relay.py
T0=$(date +%s)

underlay n=192.168.81 p=192.168.82 d=192.168.83 a=192.168.84 b=192.168.85
# p's two addresses: on its lo, routed by r through p's underlay link
PRIM=198.18.1.1 ALT=198.18.2.1
ip -n $NS-p addr add $PRIM/32 dev lo
ip -n $NS-p addr add $ALT/32 dev lo
ip -n $NS-r route add $PRIM/32 via 192.168.82.2
ip -n $NS-r route add $ALT/32 via 192.168.82.2
# the agent's unprivileged ICMP echo socket (a fresh namespace allows no group)
inns n sysctl -qw net.ipv4.ping_group_range="0 2147483647"
# a LAN behind n (exit_sources): a veth pair inside n (no dummy module needed), n forwards
ip -n $NS-n link add wfoL$ID type veth peer name wfoM$ID
ip -n $NS-n addr add 192.168.50.1/24 dev wfoL$ID
ip -n $NS-n link set wfoL$ID up
ip -n $NS-n link set wfoM$ID up
inns n sysctl -qw net.ipv4.ip_forward=1

WGN=wfo${ID}n
mkdir -p "$T/state"
cat >"$T/agent.conf" <<CONF
[agent]
node = n
state_dir = $T/state
backend = uapi
failover_after = 6
confirm_timeout = 0
report_interval = 2
metrics_listen = 127.0.0.1:9591
[controller]
url = https://127.0.0.1:9/v1/nodes/n/desired-state
trust_key = $T/trust.pub
poll_interval = 30
CONF
NPUB=$("$AGENT" --config "$T/agent.conf" keygen | tail -n1)
"$SIGN" genkey "$T/signing.key" >"$T/trust.pub" || die "wgfleet-sign genkey"

# remote ends, configured with wg directly: NAME TUNNEL_ADDR
declare -A PUB
remote() {
  local n=$1 addr=$2 key
  wg_start "$n" "wfo${ID}$n"
  key=$(wg genkey)
  printf '%s\n' "$key" >"$T/$n.key"
  PUB[$n]=$(wg pubkey <"$T/$n.key")
  inns "$n" wg set "wfo${ID}$n" private-key "$T/$n.key" listen-port 51820 peer "$NPUB" allowed-ips 10.70.0.1/32
  inns "$n" ip addr add "$addr/32" dev "wfo${ID}$n"
  inns "$n" ip link set "wfo${ID}$n" up
  inns "$n" ip route add 10.70.0.1/32 dev "wfo${ID}$n"
}
remote p 10.70.0.2
remote a 10.70.0.3
remote b 10.70.0.4
wg_start n "$WGN"

# relays in d: 5100 -> a, 5101 -> b
echo 10 >"$T/delay-a"; echo 100 >"$T/delay-b"
ip netns exec "$NS-d" python3 "$RELAY" 192.168.83.2:5100 192.168.84.2:51820 "$T/delay-a" 2>>"$T/relay.log" &
PIDS+=($!)
ip netns exec "$NS-d" python3 "$RELAY" 192.168.83.2:5101 192.168.85.2:51820 "$T/delay-b" 2>>"$T/relay.log" &
PIDS+=($!)

{
  jq -cn --arg k "${PUB[p]}" '{name: "p", public_key: $k, endpoint: "198.18.1.1:51820",
    endpoint_alt: ["198.18.2.1:51820"], allowed_ips: ["10.70.0.2/32"], persistent_keepalive: 5}'
  jq -cn --arg k "${PUB[b]}" '{name: "b", public_key: $k, endpoint: "192.168.83.2:5101",
    allowed_ips: ["10.70.0.4/32", "0.0.0.0/0"], persistent_keepalive: 5}'
  jq -cn --arg k "${PUB[a]}" '{name: "a", public_key: $k, endpoint: "192.168.83.2:5100",
    allowed_ips: ["10.70.0.3/32", "0.0.0.0/0"], persistent_keepalive: 5}'
} >"$T/peers.jsonl"
DOC_PUB=$NPUB doc_json n 1 "$WGN" '["10.70.0.1/32"]' "$T/peers.jsonl" \
  '.interfaces[0].exit = ["b", "a"] | .interfaces[0].exit_policy = "latency" |
   .interfaces[0].exit_sources = ["192.168.50.0/24"]' >"$T/doc.json"
"$SIGN" sign "$T/signing.key" "$T/doc.json" >"$T/state/current.env" || die "sign"

ip netns exec "$NS-n" "$AGENT" --config "$T/agent.conf" run >>"$T/agent.log" 2>&1 &
AGENT_PID=$!; PIDS+=($AGENT_PID)
dump() { tail -n 40 "$T/agent.log"; jq -c .failover "$T/state/status.json" 2>/dev/null; wg show "$WGN" 2>/dev/null; }
cleanup_local() { [ -n "${KEEP_T:-}" ] && cp "$T/agent.log" /tmp/wfo-agent.log; }

endpoint_of() { inns n wg show "$WGN" endpoints | awk -v k="$1" '$1 == k {print $2}'; }
exit_is() { inns n wg show "$WGN" allowed-ips | awk -v k="${PUB[$1]}" '$1 == k' | grep -q '0\.0\.0\.0/0'; }
p_on() { [ "$(endpoint_of "${PUB[p]}")" = "$1:51820" ]; }
pings() { inns n ping -c 1 -W 1 -q "$1" >/dev/null 2>&1; }

wait_for 15 p_on $PRIM || die "p not configured on its primary endpoint"
wait_for 15 pings 10.70.0.2 || die "p does not answer on its primary"
ok "p answers through its primary endpoint"

# ---- endpoint failover: the primary vanishes ----
t0=$(ms)
ip -n $NS-p addr del $PRIM/32 dev lo
wait_for 25 p_on $ALT || die "p's endpoint did not move to the alternate"
t1=$(ms)
wait_for 15 pings 10.70.0.2 || die "p does not answer through its alternate"
t2=$(ms)
ok "primary gone: endpoint on the alternate after $((t1 - t0)) ms, p answers after $((t2 - t0)) ms"
M_EP_FAIL=$((t1 - t0)) M_EP_REACH=$((t2 - t0))

# ---- the primary is back: return found on the underlay, without dropping the session first ----
t0=$(ms)
ip -n $NS-p addr add $PRIM/32 dev lo
wait_for 25 p_on $PRIM || die "p did not return to its primary"
t1=$(ms)
wait_for 15 pings 10.70.0.2 || die "p does not answer on its primary after the return"
ok "primary back: endpoint returned after $((t1 - t0)) ms"
M_EP_RET=$((t1 - t0))
RET_AT=$(date +%s)

# ---- exit_sources: the LAN goes to the exit, the node's own traffic does not ----
lan_dev() { ip -n $NS-n route get 198.51.100.1 from 192.168.50.7 iif wfoL$ID | grep -o "dev [^ ]*" | head -n1; }
own_dev() { ip -n $NS-n route get 198.51.100.1 | grep -o "dev [^ ]*" | head -n1; }
wait_for 10 sh -c "ip -n $NS-n rule | grep -q 'from 192.168.50.0/24 lookup 51820 proto 211'" || bad "no source rule"
check "exit_sources: LAN traffic to the internet goes into the tunnel ($(lan_dev))" [ "$(lan_dev)" = "dev $WGN" ]
check "exit_sources: the node's own traffic stays on the underlay ($(own_dev))" [ "$(own_dev)" = "dev wfo-vn$ID" ]
check "exit_sources: no fwmark rule to the exit table" not sh -c "ip -n $NS-n rule | grep -q 'not from all fwmark'"

# ---- exits, latency policy: b listed first (40 ms), a faster (10 ms) ----
wait_for 30 exit_is a || die "the default route did not move to the faster exit a"
M_LAT=$(( $(date +%s) - T0 ))
check "latency: /0 only on a (10 ms), not on b (100 ms)" not exit_is b
jq -e '.failover.interfaces[0].exits | map(select(.rtt_ms != null)) | length == 2' "$T/state/status.json" >/dev/null ||
  wait_for 5 jq -e '.failover.interfaces[0].exits | map(select(.rtt_ms != null)) | length == 2' "$T/state/status.json"
check "status: both exits with an RTT" jq -e '.failover.interfaces[0].exits | map(select(.rtt_ms != null)) | length == 2' "$T/state/status.json"

# a dies
t0=$(ms)
wg_stop "wfo${ID}a"
wait_for 25 exit_is b || die "the default route did not leave the dead exit a"
t1=$(ms)
check "a dead: /0 on b only" not exit_is a
ok "exit a dead: default route on b after $((t1 - t0)) ms"
M_EXIT_DEAD=$((t1 - t0))

# a back, 5 % faster than b (95 vs 100 ms; large delays keep the host's jitter well below the 20 % margin): no move
echo 95 >"$T/delay-a"
remote_again() {
  wg_start a "wfo${ID}a"
  inns a wg set "wfo${ID}a" private-key "$T/a.key" listen-port 51820 peer "$NPUB" allowed-ips 10.70.0.1/32
  inns a ip addr add 10.70.0.3/32 dev "wfo${ID}a"
  inns a ip link set "wfo${ID}a" up
  inns a ip route add 10.70.0.1/32 dev "wfo${ID}a"
}
remote_again
a_alive() { jq -e '.failover.interfaces[0].exits[] | select(.name == "a") | .state == "alive" and .rtt_ms != null' "$T/state/status.json"; }
wait_for 20 a_alive || die "exit a not alive again"
sleep 12
check "5 % faster a (95 vs 100 ms): /0 stays on b for 12 s" exit_is b
jq -c '.failover.interfaces[0].exits' "$T/state/status.json"

# a much faster again: moves
t0=$(ms)
echo 5 >"$T/delay-a"
wait_for 30 exit_is a || die "the default route did not return to the faster a"
t1=$(ms)
ok "a 5 ms vs b 100 ms: default route on a after $((t1 - t0)) ms (relay re-reads its delay within 1 s, 3 rounds of hysteresis)"
M_LAT_BACK=$((t1 - t0))

# ---- override: pin the slower b, then auto ----
t0=$(ms)
inns n "$AGENT" --config "$T/agent.conf" exit b >"$T/exit.out" 2>&1 || die "exit b: $(cat "$T/exit.out")"
wait_for 10 exit_is b || die "override: /0 not on b"
t1=$(ms)
ok "exit b: pinned the slower exit after $((t1 - t0)) ms"
M_PIN=$((t1 - t0))
sleep 6
check "exit b: stays pinned over 6 s" exit_is b
check "status shows the override" jq -e '.failover.interfaces[0].exit_override == "b"' "$T/state/status.json"
check "exit nobody: refused" not inns n "$AGENT" --config "$T/agent.conf" exit nobody
t0=$(ms)
inns n "$AGENT" --config "$T/agent.conf" exit auto >/dev/null || bad "exit auto"
wait_for 15 exit_is a || die "exit auto: /0 did not return to the faster a"
t1=$(ms)
ok "exit auto: back on the faster a after $((t1 - t0)) ms"
M_AUTO=$((t1 - t0))

# ---- no flapping of p: over a minute since its return, no further switch ----
left=$(( RET_AT + 60 - $(date +%s) ))
[ "$left" -gt 0 ] && sleep "$left"
check "p: still on its primary $(( $(date +%s) - RET_AT )) s after the return" p_on $PRIM
check "p: exactly two switches (to the alternate, back), the last one the return" \
  jq -e '[.failover.peers[] | select(.name == "p")][0] | .endpoint_index == 0 and .last_switch.reason == "primary answers on the underlay" and .last_switch.time <= '"$RET_AT" "$T/state/status.json"
check "metrics: wgfleet_endpoint_switch_total 2" sh -c "ip netns exec $NS-n curl -s http://127.0.0.1:9591/metrics | grep -qx 'wgfleet_endpoint_switch_total 2'"
check "metrics: exit switches counted" sh -c "ip netns exec $NS-n curl -s http://127.0.0.1:9591/metrics | grep -Eq '^wgfleet_exit_switch_total [4-9]'"
inns n "$AGENT" --config "$T/agent.conf" status >"$T/status.txt" 2>&1
check "status shows the exit line" grep -q "^exit $WGN: policy latency, chosen a:" "$T/status.txt"
check "status shows p's endpoint line" grep -q "^endpoint $WGN peer p: $PRIM:51820 (primary), alive" "$T/status.txt"
cat "$T/status.txt" | grep -E "^(exit|endpoint) "

echo "# switch times (ms): endpoint failover $M_EP_FAIL (reachable $M_EP_REACH), return to primary $M_EP_RET," \
  "exit dead->b $M_EXIT_DEAD, latency back to a $M_LAT_BACK, override pin $M_PIN, auto release $M_AUTO;" \
  "first latency move at ${M_LAT}s after start; total $(( $(date +%s) - T0 )) s"
# clear removes the rules it owns
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
inns n "$AGENT" --config "$T/agent.conf" clear >"$T/clear.out" 2>&1 || bad "clear: $(cat "$T/clear.out")"
check "clear: no rule of protocol 211 left" not sh -c "ip -n $NS-n rule | grep -q 'proto 211'"
check "clear: no route in the exit table" not sh -c "ip -n $NS-n route show table 51820 | grep -q ."
[ "$failures" -eq 0 ] || dump
finish
