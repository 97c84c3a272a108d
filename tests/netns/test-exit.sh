#!/bin/bash
# SPDX-License-Identifier: MIT
# Exit selection on wireguard-go in network namespaces, configured only by `wgfleet-agent apply`
# from signed documents (uapi backend). A client c has two exit peers a and b (both offering
# 0.0.0.0/0, each with an "internet" address 198.51.100.1 on lo) and a mesh peer m; a controller
# namespace k is reached over the underlay. Asserts what `ip rule`, `ip route`, `wg show` and
# ping observe: wg-quick-style policy routing with protocol 211, only the active exit holding
# /0, traffic reaching exit a; a killed exit a is kept until its handshake is stale (WireGuard
# only renews handshakes every 120 s), then /0 moves to b in place while m's session is not
# touched; a recovered a does not take it back; removing the exits removes rules and route.
set -uo pipefail

NETNS_TAG=wfe
. "$(dirname "$0")/lib.sh"
need_root wireguard-go wg ip ping jq base64
[ -x "$AGENT" ] && [ -x "$SIGN" ] || { echo "missing $AGENT or $SIGN"; exit 1; }
NODES=(c a b m)

# ---- underlay: X at 192.168.7I.2 behind router r (.1); controller k at 192.168.75.2 ----
underlay c=192.168.71 a=192.168.72 b=192.168.73 m=192.168.74 k=192.168.75
# The "internet" behind each exit: the same address, as a real exit would offer.
for n in a b; do
  ip -n $NS-$n addr add 198.51.100.1/32 dev lo
  ip -n $NS-$n addr add 2001:db8:ff::1/128 dev lo
done

start_wg() { wg_start "$1" "wfe${ID}$1"; }
declare -A PUB IP EP
for n in "${NODES[@]}"; do
  mkdir -p "$T/$n/state"
  cat > "$T/$n.conf" <<EOF
[agent]
node = $n
state_dir = $T/$n/state
backend = uapi
failover_after = 5
[controller]
url = https://192.168.75.2:8443/
EOF
  start_wg "$n"
  PUB[$n]=$("$AGENT" --config "$T/$n.conf" keygen | tail -n1)
  [ ${#PUB[$n]} -eq 44 ] || { echo "keygen for $n printed '${PUB[$n]}'"; exit 1; }
done
IP=([c]=10.66.0.1 [a]=10.66.0.2 [b]=10.66.0.3 [m]=10.66.0.4)
declare -A IP6=([c]=fd66::1 [a]=fd66::2 [b]=fd66::3 [m]=fd66::4)
EP=([c]=192.168.71.2 [a]=192.168.72.2 [b]=192.168.73.2 [m]=192.168.74.2)
"$SIGN" genkey "$T/signing.key" > "$T/trust.pub" || { echo "wgfleet-sign genkey failed"; exit 1; }
# peer NAME NAME_IN_DOC KEEPALIVE [extra allowed ips...]
peer() {
  local n=$1 name=$2 ka=$3
  shift 3
  peer_json "$name" "${PUB[$n]}" "${EP[$n]}:51820" "$ka" "${IP[$n]}/32" "${IP6[$n]}/128" "$@"
}
# doc NODE REV PEERS_FILE EXITS_JSON
doc() {
  DOC_PUB=${PUB[$1]} doc_json "$1" "$2" "wfe${ID}$1" "[\"${IP[$1]}/32\", \"${IP6[$1]}/128\"]" "$3" |
    jq --argjson exits "$4" 'if ($exits | length) > 0 then .interfaces[0].exit = $exits else . end' > "$T/$1-$2.json"
  "$SIGN" sign "$T/signing.key" "$T/$1-$2.json" > "$T/$1-$2.env"
}
apply() {
  inns "$1" "$AGENT" --config "$T/$1.conf" apply --trust-key "$T/trust.pub" "$T/$1-$2.env" >"$T/out" 2>&1
}
plan_ops() {
  inns "$1" "$AGENT" --config "$T/$1.conf" plan --json --trust-key "$T/trust.pub" "$T/$1-$2.env" >"$T/plan.json" 2>"$T/plan.err"
  jq '.operations | length' "$T/plan.json"
}
WGC=wfe${ID}c
handshake() { dump_peer "$1" "$2" | awk '{print $5}'; }
allowed() { wg show "$1" allowed-ips | awk -v k="$2" '$1 == k {$1 = ""; print}'; }
rx_of() { wg show "wfe${ID}$1" transfer | awk '{print $2}'; } # each exit has one peer: c
# ping_lands_on EXIT [-6]: 5 big pings to the internet address; the exit's received bytes show it
ping_lands_on() {
  local ra rb dst=198.51.100.1
  [ "${2:-}" = -6 ] && dst=2001:db8:ff::1
  ra=$(rx_of a 2>/dev/null || echo 0); rb=$(rx_of b 2>/dev/null || echo 0)
  inns c ping ${2:-} -c 5 -i 0.2 -W 3 -q -s 1000 $dst >/dev/null || return 1
  ra=$(( $(rx_of a 2>/dev/null || echo "$ra") - ra )); rb=$(( $(rx_of b 2>/dev/null || echo "$rb") - rb ))
  echo "# rx on a +$ra, on b +$rb bytes"
  if [ "$1" = a ]; then [ "$ra" -ge 5000 ] && [ "$rb" -lt 5000 ]; else [ "$rb" -ge 5000 ] && [ "$ra" -lt 5000 ]; fi
}

# ---- revision 1: c has exits a, b (keepalive 1 s, so both keep a session) and mesh peer m ----
{ peer a exit-a 1 0.0.0.0/0 ::/0; peer b exit-b 1 0.0.0.0/0 ::/0; peer m mesh 0; } > "$T/c-peers-1"
doc c 1 "$T/c-peers-1" '["exit-a","exit-b"]'
for n in a b m; do
  peer c client 0 > "$T/$n-peers-1"
  doc $n 1 "$T/$n-peers-1" '[]'
  apply $n 1 || { cat "$T/out"; bad "apply $n"; }
done
apply c 1; st=$?
cat "$T/out"
check "apply c (rev 1) exits 0" [ $st -eq 0 ]
check "c: apply names the active exit" grep -q "exit: peer exit-a carries the default route (table 51820)" "$T/out"
check "c: fwmark is the listen port (0xca6c) for policy routing" [ "$(wg show $WGC fwmark)" = 0xca6c ]
check "c: only exit-a holds 0.0.0.0/0" [ "$(wg show $WGC allowed-ips | grep -c '0\.0\.0\.0/0')" = 1 ] 
check "c: exit-a's allowed IPs" grep -q "0.0.0.0/0" <(allowed $WGC "${PUB[a]}")
check "c: exit-a holds ::/0 too" grep -q "::/0" <(allowed $WGC "${PUB[a]}")
check "c: exit-b has its other allowed IPs only" [ "$(allowed $WGC "${PUB[b]}" | xargs -n1 | sort | xargs)" = "10.66.0.3/32 fd66::3/128" ]
inns c ip rule show > "$T/rules"; cat "$T/rules"
check "c: rule: main without default routes, proto 211" grep -qE "^32000:.*lookup main suppress_prefixlength 0 proto 211" "$T/rules"
check "c: rule: not fwmark 0xca6c -> table 51820, proto 211" grep -qE "^32001:.*not from all fwmark 0xca6c lookup 51820 proto 211" "$T/rules"
check "c: rule: the controller stays on main, proto 211" grep -qE "^31999:.*from all to 192.168.75.2 lookup main proto 211" "$T/rules"
inns c ip -6 rule show > "$T/rules6"; cat "$T/rules6"
check "c: IPv6 rules: suppress and not fwmark, proto 211" [ "$(grep -cE "^3200[01]:.*(suppress_prefixlength 0|not from all fwmark 0xca6c lookup 51820) proto 211" "$T/rules6")" = 2 ]
check "c: table 51820 holds the IPv6 default too" grep -q "^default dev $WGC proto 211" <(ip -n $NS-c -6 route show table 51820)
ip -n $NS-c route show table 51820 > "$T/t"; cat "$T/t"
check "c: table 51820 holds default dev $WGC proto 211" grep -q "^default dev $WGC proto 211 scope link" "$T/t"
check "c: main holds no default route of ours" [ -z "$(ip -n $NS-c route show default proto 211)" ]
check "c: ip route get 198.51.100.1 goes into the tunnel" grep -q "dev $WGC table 51820" <(ip -n $NS-c route get 198.51.100.1)
check "c: the tunnel's own UDP (fwmark) stays on the underlay" grep -q "via 192.168.71.1 dev wfe-vc$ID" <(ip -n $NS-c route get 192.168.72.2 mark 0xca6c)
check "c: the controller stays on the underlay" grep -q "via 192.168.71.1 dev wfe-vc$ID" <(ip -n $NS-c route get 192.168.75.2)
check "c: the mesh stays on its own route" grep -q "^10.66.0.4 dev $WGC" <(ip -n $NS-c route get 10.66.0.4)
both_handshaked() { [ "$(handshake $WGC "${PUB[a]}")" != 0 ] && [ "$(handshake $WGC "${PUB[b]}")" != 0 ]; }
check "c: both exits handshaked" wait_for 10 both_handshaked
check "c: ping 198.51.100.1 lands on exit a" ping_lands_on a
check "c: ping -6 2001:db8:ff::1 lands on exit a" ping_lands_on a -6
ping_q() { inns c ping -c 2 -i 0.2 -W 2 -q "$@" >/dev/null; }
check "c: ping the controller over the underlay" ping_q 192.168.75.2
check "c: ping the mesh peer" ping_q 10.66.0.4
check "plan --json after apply has no operations" [ "$(plan_ops c 1)" = 0 ]
check "c: wf-compare: exactly revision 1 with exit-a active (only it holds /0; default routes in table 51820)" compare c "$T/c-1.json" --exit exit-a
for n in a b m; do check "$n: wf-compare: exactly revision 1" compare $n "$T/$n-1.json"; done
check "plan --json names the active exit and its table" [ "$(jq -c '.exits' "$T/plan.json")" = '[{"interface":"'$WGC'","active":"exit-a","table":51820}]' ]
check "plan --json: no policy-routing change to make" [ "$(jq '.exit_routing_changes' "$T/plan.json")" = 0 ]
apply c 1
nothing_changed() { grep -q "no changes" "$T/out" && ! grep -q "exit policy routing" "$T/out"; }
check "second apply changes nothing (rules, route, peers)" nothing_changed

# Drift: a rule and the default route deleted behind the agent's back come back.
inns c ip rule del priority 32001
ip -n $NS-c route del default table 51820
apply c 1
check "apply restores the rule and the route" grep -q "exit policy routing: 2 rule and default-route changes" "$T/out"
check "the rule is back" grep -q "^32001:.*lookup 51820 proto 211" <(inns c ip rule show)
check "the route is back" grep -q "^default dev $WGC proto 211" <(ip -n $NS-c route show table 51820)

# ---- exit a dies ----
hs_a=$(handshake $WGC "${PUB[a]}")
wg_stop "wfe${ID}a"
link_gone() { ! ip -n $NS-a link show "wfe${ID}a" >/dev/null 2>&1; }
check "exit a's interface is gone with its wireguard-go" link_gone
check "c: with a dead, 198.51.100.1 is unreachable" not ping_q 198.51.100.1
apply c 1
check "a dead for seconds only: exit-a stays (a handshake is only renewed every 120 s)" grep -q "0.0.0.0/0" <(allowed $WGC "${PUB[a]}")
before_m=$(session $WGC "${PUB[m]}")
# Poll on observed state, no computed wait: apply every second (as the daemon's cycle would)
# until the agent judges a stale and moves the default route (today: a's handshake older than
# max(failover_after 5, 120 + keepalive 1 + 10) s), at most 180 s after a's last handshake. The
# checks below read the output of the apply that moved it.
deadline=$((hs_a + 180)) moved=0 polls=0
while :; do
  t0=$(date +%s%3N); apply c 1; st=$?; t1=$(date +%s%3N); polls=$((polls + 1))
  grep -q "note: exit: default route moves" "$T/out" && { moved=1; break; }
  [ $st -eq 0 ] && [ "$(date +%s)" -lt $deadline ] || break
  sleep 1
done
cat "$T/out"
echo "# exit-b's handshake is $(( $(date +%s) - $(handshake $WGC "${PUB[b]}") )) s old (renewed by the keepalive)"
echo "# failover apply: $((t1 - t0)) ms, $(( $(date +%s) - hs_a )) s after a's last handshake, apply number $polls"
check "the default route moved within 180 s of a's last handshake" [ $moved = 1 ]
check "failover apply exits 0" [ $st -eq 0 ]
check "the note says the default route moved" grep -q "note: exit: default route moves from peer exit-a .* to peer exit-b" "$T/out"
one_update_of_b() { [ "$(grep -cE '(add|update|remove) peer' "$T/out")" = 1 ] && grep -q "update peer exit-b" "$T/out"; }
check "exactly one peer operation: an in-place update of exit-b" one_update_of_b
check "c: exit-b now holds 0.0.0.0/0" grep -q "0.0.0.0/0" <(allowed $WGC "${PUB[b]}")
check "c: exit-b holds ::/0 too" grep -q "::/0" <(allowed $WGC "${PUB[b]}")
check "c: wf-compare: exactly revision 1 with exit-b active" compare c "$T/c-1.json" --exit exit-b
check "c: exit-a no longer has a /0" [ "$(allowed $WGC "${PUB[a]}" | xargs -n1 | sort | xargs)" = "10.66.0.2/32 fd66::2/128" ]
check "c: ping 198.51.100.1 lands on exit b" ping_lands_on b
check "c: ping -6 2001:db8:ff::1 lands on exit b" ping_lands_on b -6
check "c: the mesh peer's session is untouched by the failover" session_kept $WGC "${PUB[m]}" "$before_m"
check "c: rules and table unchanged by the failover" grep -q "^default dev $WGC proto 211" <(ip -n $NS-c route show table 51820)
check "c: the controller still routes outside the tunnel" grep -q "via 192.168.71.1 dev wfe-vc$ID" <(ip -n $NS-c route get 192.168.75.2)

# ---- a comes back: healthy again, but b stays (no flap) ----
start_wg a
apply a 1
check "a handshakes again" wait_for 10 eval '[ "$(handshake $WGC "${PUB[a]}")" != "$hs_a" ]' 
apply c 1
check "a recovered: b keeps the default route (sticky)" grep -q "0.0.0.0/0" <(allowed $WGC "${PUB[b]}")
check "a recovered: nothing changes" nothing_changed

# ---- the exits leave the document: rules, route and mark go ----
{ peer a exit-a 1; peer b exit-b 1; peer m mesh 0; } > "$T/c-peers-2"
doc c 2 "$T/c-peers-2" '[]'
apply c 2; st=$?
cat "$T/out"
check "apply c (rev 2, no exits) exits 0" [ $st -eq 0 ]
check "no rule of ours left" [ -z "$(inns c ip rule show | grep 'proto 211')$(inns c ip -6 rule show | grep 'proto 211')" ]
check "table 51820 is empty" [ -z "$(ip -n $NS-c route show table 51820 2>/dev/null)$(ip -n $NS-c -6 route show table 51820 2>/dev/null)" ]
check "no /0 in wg" not grep -qE "0.0.0.0/0|::/0" <(wg show $WGC allowed-ips)
check "fwmark back to off" [ "$(wg show $WGC fwmark)" = off ]
check "c: wf-compare: exactly revision 2 (no exits)" compare c "$T/c-2.json"
check "plan --json empty" [ "$(plan_ops c 2)" = 0 ]

finish
