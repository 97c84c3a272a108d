#!/bin/bash
# SPDX-License-Identifier: MIT
# Gateways on wireguard-go in network namespaces, configured only by `wgfleet-agent apply`
# (uapi backend). Hub h (also an exit: masquerade to an "internet" namespace i) and spokes a, b,
# c. Sites a and b both have the LAN 192.168.1.0/24 (namespaces la, lb behind them), mapped to
# 172.16.1.0/24 and 172.16.2.0/24; a publishes la's TCP 8443 at 10.0.5.7:443. Asserts what the
# hosts observe (who answers, from which address), nft and sysctl state: a LAN host reaches the
# other site's host at its overlay address and is seen from its own overlay prefix, each site
# still reaches its own LAN, c reaches the service, c's traffic to i (which has no route back
# but to h's egress) gets answers, the hub forwards spoke to spoke without the test setting any
# sysctl, drift is put back, and `clear` leaves `nft list ruleset` and the forwarding sysctls
# byte-identical with a foreign table present throughout.
set -uo pipefail

BUILD=${WGFLEET_BUILD:?WGFLEET_BUILD not set}
AGENT=$BUILD/agent/wgfleet-agent
SIGN=$BUILD/tests/wgfleet-sign

skip() { echo "skip: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"
for t in wireguard-go wg ip ping jq nft perl timeout; do
  command -v "$t" >/dev/null || skip "$t is not installed"
done
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
[ -x "$AGENT" ] && [ -x "$SIGN" ] || { echo "missing $AGENT or $SIGN"; exit 1; }

TMP=$(mktemp -d /tmp/wfg-netns.XXXXXX)
ID=$(($$ % 100000))
NS=wfg$ID
NODES=(h a b c)
SERVERS=()
cleanup() {
  for p in "${SERVERS[@]}"; do kill "$p" 2>/dev/null; done
  for n in "${NODES[@]}"; do
    [ -f "$TMP/wg-$n.pid" ] && kill "$(cat "$TMP/wg-$n.pid")" 2>/dev/null
  done
  for n in "${NODES[@]}" r la lb i; do ip netns del "$NS-$n" 2>/dev/null; done
  for n in "${NODES[@]}"; do rm -f "/var/run/wireguard/wfg${ID}${n}.sock"; done
  rm -rf "$TMP"
}
trap cleanup EXIT

failures=0
ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; failures=$((failures + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
inns() { local n=$1; shift; ip netns exec "$NS-$n" "$@"; }

# ---- underlay: node X at 10.200.I.2 behind router r (.1) ----
ip netns add $NS-r || skip "cannot create network namespaces"
ip -n $NS-r link set lo up
inns r sysctl -qw net.ipv4.ip_forward=1
i=1
for n in "${NODES[@]}"; do
  ip netns add "$NS-$n"
  ip -n "$NS-$n" link set lo up
  ip link add "wfg-v$n$ID" netns "$NS-$n" type veth peer name "wfg-r$n$ID" netns $NS-r
  ip -n "$NS-$n" addr add "10.200.$i.2/24" dev "wfg-v$n$ID"
  ip -n "$NS-$n" link set "wfg-v$n$ID" up
  ip -n $NS-r addr add "10.200.$i.1/24" dev "wfg-r$n$ID"
  ip -n $NS-r link set "wfg-r$n$ID" up
  ip -n "$NS-$n" route add default via "10.200.$i.1"
  i=$((i + 1))
done
# link NODE NS NODE_ADDR NS_ADDR [gateway]: a veth from a node to a namespace behind it
link() {
  ip netns add "$NS-$2"
  ip -n "$NS-$2" link set lo up
  ip link add "wfg-$2$ID" netns "$NS-$1" type veth peer name "wfg-x$2$ID" netns "$NS-$2"
  ip -n "$NS-$1" addr add "$3/24" dev "wfg-$2$ID"
  ip -n "$NS-$1" link set "wfg-$2$ID" up
  ip -n "$NS-$2" addr add "$4/24" dev "wfg-x$2$ID"
  ip -n "$NS-$2" link set "wfg-x$2$ID" up
  [ -n "${5:-}" ] && ip -n "$NS-$2" route add default via "$5"
}
# Both LANs are 192.168.1.0/24, the host .10 on each; the internet has no route but its subnet.
link a la 192.168.1.1 192.168.1.10 192.168.1.1
link b lb 192.168.1.1 192.168.1.10 192.168.1.1
link h i 203.0.113.2 203.0.113.1
# serve NS PORT: a TCP server that answers "NS PEER-ADDRESS"
serve() {
  ip netns exec "$NS-$1" perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(LocalPort => $ARGV[1], Listen => 8, ReuseAddr => 1) or die "listen: $!";
    while (my $c = $s->accept) { print $c "$ARGV[0] ", $c->peerhost, "\n"; close $c; }' "$1" "$2" &
  SERVERS+=($!)
}
serve la 8080; serve la 8443; serve lb 8080; serve i 8080
# ask NS ADDR PORT: what the server at ADDR:PORT answers
ask() { inns "$1" timeout 5 bash -c "exec 3<>/dev/tcp/$2/$3 && head -n1 <&3" 2>/dev/null; }

# A foreign table, present throughout, never touched.
for n in "${NODES[@]}"; do
  inns "$n" nft -f - <<'EOF'
table ip foreign {
	chain hostfw {
		type filter hook forward priority 10; policy accept;
		ip daddr 198.18.0.1 drop
	}
}
EOF
  # (a chain named "fwd", an nft keyword, made this fail unnoticed: the checks below then
  # compared an absent table with an absent table)
  # read whole, then searched: nft writes its listing in many small writes, and a grep -q that
  # stops at the match leaves nft to die of SIGPIPE, which pipefail reports as a failure
  listing=$(inns "$n" nft list table ip foreign)
  grep -q "ip daddr 198.18.0.1 drop" <<<"$listing" || { echo "$n: the foreign table was not created"; exit 1; }
done

mkdir -p /var/run/wireguard
start_wg() {
  ip netns exec "$NS-$1" env WG_PROCESS_FOREGROUND=1 wireguard-go "wfg${ID}$1" >>"$TMP/wg-$1.log" 2>&1 &
  echo $! > "$TMP/wg-$1.pid"
}
declare -A PUB
for n in "${NODES[@]}"; do
  mkdir -p "$TMP/$n/state"
  printf '[agent]\nnode = %s\nstate_dir = %s\nbackend = uapi\n' "$n" "$TMP/$n/state" > "$TMP/$n.conf"
  start_wg "$n"
  PUB[$n]=$("$AGENT" --config "$TMP/$n.conf" keygen | tail -n1)
  [ ${#PUB[$n]} -eq 44 ] || { echo "keygen for $n printed '${PUB[$n]}'"; exit 1; }
done
for n in "${NODES[@]}"; do
  for _ in $(seq 50); do [ -S "/var/run/wireguard/wfg${ID}${n}.sock" ] && break; sleep 0.1; done
  [ -S "/var/run/wireguard/wfg${ID}${n}.sock" ] || { echo "wireguard-go for $n did not start"; exit 1; }
  # The state before the first apply (wireguard-go's interface included).
  inns "$n" nft list ruleset > "$TMP/$n-before.nft"
  inns "$n" sysctl -a 2>/dev/null | grep forwarding > "$TMP/$n-before.sysctl"
done
"$SIGN" genkey "$TMP/signing.key" > "$TMP/trust.pub" || { echo "wgfleet-sign genkey failed"; exit 1; }
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EXP=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
declare -A IP=([h]=10.66.0.1 [a]=10.66.0.2 [b]=10.66.0.3 [c]=10.66.0.4)
declare -A EP=([h]=10.200.1.2 [a]=10.200.2.2 [b]=10.200.3.2 [c]=10.200.4.2)

# peer NODE NAME ALLOWED_IPS_JSON
peer() {
  jq -nc --arg n "$2" --arg k "${PUB[$1]}" --arg ep "${EP[$1]}:51820" --argjson ips "$3" \
    '{name: $n, public_key: $k, endpoint: $ep, allowed_ips: $ips, persistent_keepalive: 1}'
}
# doc NODE REV PEERS_FILE EXTRA_JSON (gateway fields, exit)
doc() {
  jq -n --arg node "$1" --argjson rev "$2" --arg now "$NOW" --arg exp "$EXP" --arg name "wfg${ID}$1" \
    --arg addr "${IP[$1]}/32" --arg pub "${PUB[$1]}" --slurpfile peers "$3" --argjson extra "$4" \
    '{schema: "wgfleet/desired-state/v1", node: $node, revision: $rev, issued_at: $now, expires_at: $exp,
      interfaces: [{name: $name, listen_port: 51820, addresses: [$addr], public_key: $pub,
      peers: $peers} + $extra]}' > "$TMP/$1-$2.json"
  "$SIGN" sign "$TMP/signing.key" "$TMP/$1-$2.json" > "$TMP/$1-$2.env"
}
agent() { local n=$1 cmd=$2; shift 2; inns "$n" "$AGENT" --config "$TMP/$n.conf" "$cmd" "$@"; }
apply() { agent "$1" apply --trust-key "$TMP/trust.pub" "$TMP/$1-$2.env" >"$TMP/out" 2>&1; }
plan_ops() {
  agent "$1" plan --json --trust-key "$TMP/trust.pub" "$TMP/$1-$2.env" >"$TMP/plan.json" 2>"$TMP/plan.err"
  jq '.operations | length' "$TMP/plan.json"
}

# ---- documents ----
{ peer a site-a '["10.66.0.2/32","172.16.1.0/24","10.0.5.7/32"]'
  peer b site-b '["10.66.0.3/32","172.16.2.0/24"]'
  peer c client '["10.66.0.4/32"]'; } > "$TMP/h-peers"
doc h 1 "$TMP/h-peers" "{\"forwarding\": true, \"masquerade\": {\"out_interface\": \"wfg-i$ID\"}}"
peer h hub '["10.66.0.1/32","10.66.0.3/32","10.66.0.4/32","172.16.2.0/24"]' > "$TMP/a-peers"
doc a 1 "$TMP/a-peers" '{"forwarding": true, "netmap": [{"local": "192.168.1.0/24", "overlay": "172.16.1.0/24"}],
  "services": [{"name": "web", "address": "10.0.5.7", "protocol": "tcp", "port": 443, "target": "192.168.1.10:8443"}]}'
peer h hub '["10.66.0.1/32","10.66.0.2/32","10.66.0.4/32","172.16.1.0/24","10.0.5.7/32"]' > "$TMP/b-peers"
doc b 1 "$TMP/b-peers" '{"forwarding": true, "netmap": [{"local": "192.168.1.0/24", "overlay": "172.16.2.0/24"}]}'
peer h hub '["0.0.0.0/0","10.66.0.1/32","10.66.0.2/32","10.66.0.3/32","172.16.1.0/24","172.16.2.0/24","10.0.5.7/32"]' > "$TMP/c-peers"
doc c 1 "$TMP/c-peers" '{"exit": ["hub"]}'

agent h plan --trust-key "$TMP/trust.pub" "$TMP/h-1.env" > "$TMP/plan.txt" 2>&1; cat "$TMP/plan.txt"
check "h: plan shows the forward accept as an operation" grep -q "wfg${ID}h: add forward rule: accept forwarded traffic in from wfg${ID}h" "$TMP/plan.txt"
check "h: plan shows the masquerade of c's address" grep -q "add postrouting rule: from 10.66.0.4/32 (peer client) out wfg-i$ID: masquerade" "$TMP/plan.txt"
check "h: plan shows the ip_forward change" grep -q "gateway: set sysctl net.ipv4.ip_forward 0 -> 1" "$TMP/plan.txt"
agent a plan --json --trust-key "$TMP/trust.pub" "$TMP/a-1.env" > "$TMP/plan.json" 2>&1
check "a: plan --json lists 5 firewall rules (2 forward, 2 netmap, 1 service)" \
  [ "$(jq '[.operations[] | select(.op == "firewall_rule_add")] | length' "$TMP/plan.json")" = 5 ]
for n in "${NODES[@]}"; do
  apply $n 1 || { cat "$TMP/out"; bad "apply $n"; }
done
inns a nft list table inet wgfleet > "$TMP/a.nft"; cat "$TMP/a.nft"
check "a: netmap in: dnat prefix" grep -q "iifname \"wfg${ID}a\" ip daddr 172.16.1.0/24 dnat ip prefix to 192.168.1.0/24" "$TMP/a.nft"
check "a: netmap out: snat prefix" grep -q "oifname \"wfg${ID}a\" ip saddr 192.168.1.0/24 snat ip prefix to 172.16.1.0/24" "$TMP/a.nft"
check "a: service: dnat to the LAN host" grep -q "ip daddr 10.0.5.7 tcp dport 443 dnat ip to 192.168.1.10:8443" "$TMP/a.nft"
for n in "${NODES[@]}"; do
  check "$n: plan --json after apply has no operations" [ "$(plan_ops $n 1)" = 0 ]
done
check "h: ip_forward was switched on by the agent" [ "$(inns h sysctl -n net.ipv4.ip_forward)" = 1 ]

# Let the handshakes happen (keepalive 1 s).
for _ in $(seq 30); do ask la 172.16.2.10 8080 >/dev/null && break; sleep 0.5; done
check "la reaches lb at its overlay address and is seen from a's overlay prefix" [ "$(ask la 172.16.2.10 8080)" = "lb 172.16.1.10" ]
check "lb reaches la the other way" [ "$(ask lb 172.16.1.10 8080)" = "la 172.16.2.10" ]
check "a still reaches its own LAN host directly" [ "$(ask a 192.168.1.10 8080)" = "la 192.168.1.1" ]
check "b still reaches its own LAN host directly" [ "$(ask b 192.168.1.10 8080)" = "lb 192.168.1.1" ]
check "c reaches the service published by a at 10.0.5.7:443" [ "$(ask c 10.0.5.7 443)" = "la 10.66.0.4" ]
check "i has no route to the tunnel (only its subnet)" [ -z "$(ip -n $NS-i route show default)" ]
check "c's traffic to the internet namespace leaves through the exit h and gets answers" \
  inns c ping -c 2 -i 0.3 -W 3 -q 203.0.113.1
check "i sees c's connection from h's egress address (masquerade)" [ "$(ask c 203.0.113.1 8080)" = "i 203.0.113.2" ]

# ---- drift: a rule deleted by hand, forwarding switched off on the hub ----
h=$(inns a nft -a list chain inet wgfleet prerouting | awk '/service:web/ {print $NF}')
inns a nft delete rule inet wgfleet prerouting handle "$h"
inns h sysctl -qw net.ipv4.ip_forward=0
check "the service is gone with its rule" [ -z "$(ask c 10.0.5.7 443)" ]
apply a 1; cat "$TMP/out"
check "a: apply puts the deleted service rule back" grep -q "add prerouting rule: service web" "$TMP/out"
apply h 1; cat "$TMP/out"
check "h: apply switches forwarding back on" grep -q "gateway: set sysctl net.ipv4.ip_forward 0 -> 1" "$TMP/out"
check "the service answers again" [ "$(ask c 10.0.5.7 443)" = "la 10.66.0.4" ]
check "spoke to spoke through the hub again" [ "$(ask la 172.16.2.10 8080)" = "lb 172.16.1.10" ]
check "the foreign table is untouched" bash -c "[ \"\$(ip netns exec $NS-a nft list table ip foreign)\" = \"\$(sed -n '/^table ip foreign/,/^}/p' '$TMP/a-before.nft')\" ]"

# ---- clear: back to exactly what was found ----
for n in "${NODES[@]}"; do
  agent $n clear "wfg${ID}$n" >"$TMP/out" 2>&1 || { cat "$TMP/out"; bad "$n: clear"; }
  inns "$n" nft list ruleset > "$TMP/$n-after.nft"
  inns "$n" sysctl -a 2>/dev/null | grep forwarding > "$TMP/$n-after.sysctl"
  check "$n: clear leaves nft list ruleset byte-identical (foreign table kept)" cmp -s "$TMP/$n-before.nft" "$TMP/$n-after.nft"
  check "$n: clear leaves the forwarding sysctls byte-identical" cmp -s "$TMP/$n-before.sysctl" "$TMP/$n-after.sysctl"
  check "$n: the saved sysctl values are gone" [ ! -e "$TMP/$n/state/gateway-sysctl.saved" ]
done
diff "$TMP/h-before.sysctl" "$TMP/h-after.sysctl"

echo "$failures failure(s)"
[ "$failures" = 0 ]
