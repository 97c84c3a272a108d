#!/bin/bash
# SPDX-License-Identifier: MIT
# Three nodes on wireguard-go, each in its own network namespace behind a router namespace,
# configured only by `wgfleet-agent apply` from signed documents (uapi backend). Asserts what
# `wg show`, `ip route` and ping observe: reachability through the agent's explicit routes
# (node addresses are /32), a routed subnet behind a peer, a rollout that leaves another peer's
# session untouched, peer removal taking its routes along, a foreign route surviving and being
# reported, an empty `plan --json` after apply, a bad preshared key file failing only its peer,
# and an unresolvable endpoint name not holding anything up. WFL_BULK extra peers (default 1000)
# on node a have endpoints in an unrouted range, so every send fails at once.
set -uo pipefail

BUILD=${WGFLEET_BUILD:?WGFLEET_BUILD not set}
AGENT=$BUILD/agent/wgfleet-agent
SIGN=$BUILD/tests/wgfleet-sign
BULK=${WFL_BULK:-1000}

skip() { echo "skip: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"
for t in wireguard-go wg ip ping jq base64; do
  command -v "$t" >/dev/null || skip "$t is not installed"
done
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
[ -x "$AGENT" ] && [ -x "$SIGN" ] || { echo "missing $AGENT or $SIGN"; exit 1; }

TMP=$(mktemp -d /tmp/wfl-netns.XXXXXX)
# Unique per run: wireguard-go's sockets in /var/run/wireguard are shared by all namespaces.
ID=$(($$ % 100000))
NS=wfl$ID
NODES=(a b c)
cleanup() {
  for n in "${NODES[@]}"; do
    [ -f "$TMP/wg-$n.pid" ] && kill "$(cat "$TMP/wg-$n.pid")" 2>/dev/null
  done
  for n in "${NODES[@]}" r; do ip netns del "$NS-$n" 2>/dev/null; done
  for n in "${NODES[@]}"; do rm -f "/var/run/wireguard/wfl${ID}${n}.sock"; done
  rm -rf /etc/netns/$NS-a "$TMP"
}
trap cleanup EXIT

failures=0
ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; failures=$((failures + 1)); }
# check DESCRIPTION COMMAND...: passes when the command succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
not() { ! "$@"; }
ms() { date +%s%3N; }
inns() { local n=$1; shift; ip netns exec "$NS-$n" "$@"; }

# ---- underlay: node X at 192.168.8I.2, router at .1, nothing routes 172.31.0.0/16 ----
ip netns add $NS-r || skip "cannot create network namespaces"
ip -n $NS-r link set lo up
inns r sysctl -qw net.ipv4.ip_forward=1
inns r sysctl -qw net.ipv6.conf.all.forwarding=1
i=1
for n in "${NODES[@]}"; do
  ip netns add "$NS-$n"
  ip -n "$NS-$n" link set lo up
  ip link add "wfl-v$n" netns "$NS-$n" type veth peer name "wfl-r$n" netns $NS-r
  ip -n "$NS-$n" addr add "192.168.8$i.2/24" dev "wfl-v$n"
  ip -n "$NS-$n" link set "wfl-v$n" up
  ip -n $NS-r addr add "192.168.8$i.1/24" dev "wfl-r$n"
  ip -n $NS-r link set "wfl-r$n" up
  ip -n "$NS-$n" route add default via "192.168.8$i.1"
  # IPv6 underlay too: node c reaches b over it (an IPv6 endpoint)
  ip -n "$NS-$n" addr add "fd89:$i::2/64" dev "wfl-v$n" nodad
  ip -n $NS-r addr add "fd89:$i::1/64" dev "wfl-r$n" nodad
  ip -n "$NS-$n" -6 route add default via "fd89:$i::1"
  i=$((i + 1))
done
# The subnet routed behind node c.
ip -n $NS-c addr add 10.89.3.1/32 dev lo
# Node a's resolver answers nothing (no server on 127.0.0.1:53): names fail at once.
mkdir -p /etc/netns/$NS-a
echo "nameserver 127.0.0.1" > /etc/netns/$NS-a/resolv.conf

# ---- wireguard-go, agent configuration and node keys ----
mkdir -p /var/run/wireguard
declare -A PUB
for n in "${NODES[@]}"; do
  mkdir -p "$TMP/$n/state" "$TMP/$n/secrets"
  chmod 700 "$TMP/$n/secrets"
  cat > "$TMP/$n.conf" <<EOF
[agent]
node = $n
state_dir = $TMP/$n/state
secrets_dir = $TMP/$n/secrets
backend = uapi
EOF
  inns "$n" env WG_PROCESS_FOREGROUND=1 wireguard-go "wfl${ID}${n}" >"$TMP/wg-$n.log" 2>&1 &
  echo $! > "$TMP/wg-$n.pid"
  PUB[$n]=$("$AGENT" --config "$TMP/$n.conf" keygen | tail -n1)
  [ ${#PUB[$n]} -eq 44 ] || { echo "keygen for $n printed '${PUB[$n]}'"; exit 1; }
done
for n in "${NODES[@]}"; do
  for _ in $(seq 50); do [ -S "/var/run/wireguard/wfl${ID}${n}.sock" ] && break; sleep 0.1; done
  [ -S "/var/run/wireguard/wfl${ID}${n}.sock" ] || { echo "wireguard-go for $n did not start"; cat "$TMP/wg-$n.log"; exit 1; }
done
# a and b share a preshared key
head -c 32 /dev/urandom | base64 > "$TMP/a/secrets/ab.psk"
cp "$TMP/a/secrets/ab.psk" "$TMP/b/secrets/ab.psk"
chmod 600 "$TMP/a/secrets/ab.psk" "$TMP/b/secrets/ab.psk"

"$SIGN" genkey "$TMP/signing.key" > "$TMP/trust.pub" || { echo "wgfleet-sign genkey failed"; exit 1; }

# Bulk peers for node a: random keys, endpoints nobody routes.
: > "$TMP/bulk.json"
for ((k = 0; k < BULK; k++)); do
  key=$(head -c 32 /dev/urandom | base64)
  printf '{"name":"bulk%d","public_key":"%s","endpoint":"172.31.%d.%d:51820","allowed_ips":["10.100.%d.%d/32"]}\n' \
    "$k" "$key" $((k / 250)) $((k % 250 + 1)) $((k / 250)) $((k % 250 + 1)) >> "$TMP/bulk.json"
done

NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EXP=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)

# peer NAME [keepalive] [extra allowed ips...]: one peer object for the mesh nodes
peer() {
  local n=$1 ka=${2:-0} i extra=""
  shift 2 2>/dev/null || shift
  case $n in a) i=1 ;; b) i=2 ;; c) i=3 ;; esac
  local ips="\"10.88.0.$i/32\",\"fd88::$i/128\""
  [ "$n" = c ] && ips="$ips,\"10.89.3.0/24\""
  for x in "$@"; do ips="$ips,\"$x\""; done
  [ "$ka" != 0 ] && extra=",\"persistent_keepalive\":$ka"
  printf '{"name":"%s","public_key":"%s","endpoint":"192.168.8%d.2:51820","allowed_ips":[%s]%s}' \
    "$n" "${PUB[$n]}" "$i" "$ips" "$extra"
}

# doc NODE REVISION PEERS_JSON_LINES_FILE: writes and signs $TMP/NODE-REV.env
doc() {
  local n=$1 rev=$2 peers=$3 i
  case $n in a) i=1 ;; b) i=2 ;; c) i=3 ;; esac
  jq -n --arg node "$n" --argjson rev "$rev" --arg now "$NOW" --arg exp "$EXP" \
    --arg name "wfl${ID}${n}" --arg addr "10.88.0.$i/32" --arg addr6 "fd88::$i/128" --arg pub "${PUB[$n]}" \
    --slurpfile peers "$peers" \
    '{schema: "wgfleet/desired-state/v1", node: $node, revision: $rev, issued_at: $now,
      expires_at: $exp, interfaces: [{name: $name, listen_port: 51820, addresses: [$addr, $addr6], mtu: 1380, fwmark: 81,
      public_key: $pub, peers: $peers}]}' > "$TMP/$n-$rev.json"
  "$SIGN" sign "$TMP/signing.key" "$TMP/$n-$rev.json" > "$TMP/$n-$rev.env"
}

apply() { # apply NODE REV -> output in $TMP/out, status returned
  inns "$1" "$AGENT" --config "$TMP/$1.conf" apply --trust-key "$TMP/trust.pub" "$TMP/$1-$2.env" >"$TMP/out" 2>&1
}
plan_ops() { # plan_ops NODE REV -> number of operations in plan --json
  inns "$1" "$AGENT" --config "$TMP/$1.conf" plan --json --trust-key "$TMP/trust.pub" "$TMP/$1-$2.env" >"$TMP/plan.json" 2>"$TMP/plan.err"
  jq '.operations | length' "$TMP/plan.json"
}
dump_peer() { wg show "$1" dump | awk -v k="$2" '$1 == k'; }
# handshake, rx, tx of one peer
session() { dump_peer "$1" "$2" | awk '{print $5, $6, $7}'; }

# ---- revision 1 everywhere ----
{ peer b 0 | sed 's/}$/,"preshared_key_ref":"ab.psk"}/'; echo
  peer c; echo
  echo '{"name":"faraway","public_key":"'"$(head -c 32 /dev/urandom | base64)"'","endpoint":"nowhere.wfl.invalid:51820","allowed_ips":["10.101.0.1/32"]}'
  cat "$TMP/bulk.json"; } > "$TMP/a-peers-1"
{ peer a 0 | sed 's/}$/,"preshared_key_ref":"ab.psk"}/'; echo
  peer c | sed 's/"endpoint":"192.168.83.2:51820"/"endpoint":"[fd89:3::2]:51820"/'; echo; } > "$TMP/b-peers-1"
{ peer a; echo; peer b | sed 's/"endpoint":"192.168.82.2:51820"/"endpoint":"[fd89:2::2]:51820"/'; echo; } > "$TMP/c-peers-1"
for n in "${NODES[@]}"; do doc "$n" 1 "$TMP/$n-peers-1"; done

t0=$(ms); apply a 1; st=$?; t1=$(ms)
cat "$TMP/out" | grep -v "add peer bulk\|add route 10.100\." | head -30
echo "# cold apply on a: $((BULK + 3)) peers, $((t1 - t0)) ms"
check "apply a (rev 1) exits 0" [ $st -eq 0 ]
check "a: unresolvable endpoint name is a note, not a failure" grep -q "faraway: endpoint nowhere.wfl.invalid:51820 .*keeping the live endpoint" "$TMP/out"
for n in b c; do
  t0=$(ms); apply $n 1; st=$?; t1=$(ms)
  echo "# cold apply on $n: 2 peers, $((t1 - t0)) ms"
  check "apply $n (rev 1) exits 0" [ $st -eq 0 ] || cat "$TMP/out"
done

check "a: wg has all $((BULK + 3)) peers" [ "$(wg show wfl${ID}a peers | wc -l)" -eq $((BULK + 3)) ]
check "a: listen port 51820" [ "$(wg show wfl${ID}a listen-port)" = 51820 ]
check "a: fwmark 0x51" [ "$(wg show wfl${ID}a fwmark)" = 0x51 ]
check "a: mtu 1380" grep -q " mtu 1380 " <(ip -n $NS-a link show wfl${ID}a)
check "a: private key is the node key" [ "$(wg show wfl${ID}a public-key)" = "${PUB[a]}" ]
check "a: preshared key for b is set" [ "$(wg show wfl${ID}a preshared-keys | awk -v k="${PUB[b]}" '$1 == k {print $2}')" = "$(cat "$TMP/a/secrets/ab.psk")" ]
check "a: address is a /32" grep -q "inet 10.88.0.1/32 " <(ip -n $NS-a -4 addr show dev wfl${ID}a)
check "a: no connected route covers the mesh" [ -z "$(ip -n $NS-a route show 10.88.0.0/24)" ]
check "a: route to b is ours (proto 211, metric 10)" grep -q "^10.88.0.2 dev wfl${ID}a proto 211 scope link metric 10" <(ip -n $NS-a route show)
check "a: route to c's subnet is ours" grep -q "^10.89.3.0/24 dev wfl${ID}a proto 211" <(ip -n $NS-a route show)
check "a: one route per bulk peer" [ "$(ip -n $NS-a route show | grep -c '^10\.100\..* proto 211 ')" -eq "$BULK" ]
check "a: link is up" grep -q "state UNKNOWN\|,UP" <(ip -n $NS-a link show wfl${ID}a)

check "ping a -> b over the tunnel" inns a ping -c 3 -i 0.2 -W 3 -q 10.88.0.2
check "ping a -> c over the tunnel" inns a ping -c 3 -i 0.2 -W 3 -q 10.88.0.3
check "ping a -> c's routed subnet" inns a ping -c 3 -i 0.2 -W 3 -q 10.89.3.1
check "c: b's endpoint is the IPv6 one from the document" [ "$(dump_peer "wfl${ID}c" "${PUB[b]}" | awk '{print $3}')" = "[fd89:2::2]:51820" ]
check "ping c -> b over the tunnel (b and c peer over the IPv6 underlay)" inns c ping -c 3 -i 0.2 -W 3 -q 10.88.0.2
check "ping b -> c over the tunnel" inns b ping -c 3 -i 0.2 -W 3 -q 10.88.0.3
check "a: IPv6 route to b is ours" grep -q "^fd88::2 dev wfl${ID}a proto 211 metric 10" <(ip -n $NS-a -6 route show)
check "a: IPv6 address is a /128" grep -q "inet6 fd88::1/128 " <(ip -n $NS-a -6 addr show dev wfl${ID}a)
check "ping -6 a -> c over the tunnel" inns a ping -6 -c 3 -i 0.2 -W 3 -q fd88::3

for n in "${NODES[@]}"; do
  t0=$(ms); k=$(plan_ops $n 1); t1=$(ms)
  check "plan --json on $n after apply has no operations (got $k, $((t1 - t0)) ms)" [ "$k" = 0 ]
done
t0=$(ms); apply a 1; st=$?; t1=$(ms)
echo "# no-change apply on a: $((BULK + 3)) peers, $((t1 - t0)) ms"
check "a: second apply changes nothing" grep -q "no changes" "$TMP/out"

# Drift: our route deleted behind the agent's back comes back, and ping needs it.
ip -n $NS-a route del 10.88.0.3/32 proto 211
check "without the agent's route, c is unreachable" not inns a ping -c 1 -W 1 -q 10.88.0.3
check "plan sees the missing route" [ "$(plan_ops a 1)" = 1 ]
apply a 1
check "apply restores it" grep -q "^10.88.0.3 dev wfl${ID}a proto 211" <(ip -n $NS-a route show)
check "ping a -> c again" inns a ping -c 3 -i 0.2 -W 3 -q 10.88.0.3

# A foreign route to one of our destinations: reported, never touched.
ip -n $NS-a route add 10.89.3.0/24 dev wfl${ID}a proto static metric 5
plan_ops a 1 > /dev/null
check "plan --json reports the foreign route as a conflict" \
  [ "$(jq '[.conflicts[] | select(.dst == "10.89.3.0/24" and .protocol == 4)] | length' "$TMP/plan.json")" = 1 ]
check "plan --json operations stay empty with a conflict" [ "$(jq '.operations | length' "$TMP/plan.json")" = 0 ]
apply a 1
check "apply reports the conflict" grep -q "conflict: foreign route 10.89.3.0/24 .*proto 4" "$TMP/out"
check "foreign route survives apply" grep -q "^10.89.3.0/24 dev wfl${ID}a proto static scope link metric 5" <(ip -n $NS-a route show)

# ---- rollout: change c on a; b's session must not be touched ----
# Let passive keepalives from the pings settle first (they fire 10 s after the last packet).
sleep 11
before_b=$(session wfl${ID}a "${PUB[b]}")
{ peer b 0 | sed 's/}$/,"preshared_key_ref":"ab.psk"}/'; echo
  peer c 25 10.89.4.0/24; echo
  cat "$TMP/bulk.json"; } > "$TMP/a-peers-2"
doc a 2 "$TMP/a-peers-2"
t0=$(ms); apply a 2; st=$?; t1=$(ms)
cat "$TMP/out" | grep -v "bulk"
echo "# rollout on a (one peer changed, one removed, among $((BULK + 2))): $((t1 - t0)) ms"
check "apply a (rev 2) exits 0" [ $st -eq 0 ]
after_b=$(session wfl${ID}a "${PUB[b]}")
echo "# b on a before: $before_b / after: $after_b (handshake rx tx)"
check "b's handshake and counters unchanged by the rollout" test -n "$before_b" -a "$before_b" = "$after_b"
check "b's handshake happened at all" [ "${before_b%% *}" != 0 ]
check "exactly one peer update op" [ "$(grep -c 'update peer' "$TMP/out")" = 1 ]
check "and it is c's" grep -q "update peer c " "$TMP/out"
check "c now has keepalive 25" [ "$(dump_peer wfl${ID}a "${PUB[c]}" | awk '{print $8}')" = 25 ]
check "c's new allowed IP is live" grep -q "10.89.4.0/24" <(dump_peer wfl${ID}a "${PUB[c]}")
check "c's new prefix is routed (ours)" grep -q "^10.89.4.0/24 dev wfl${ID}a proto 211" <(ip -n $NS-a route show)
check "the dropped peer 'faraway' is gone with its route" [ -z "$(ip -n $NS-a route show 10.101.0.1)" ]
check "plan --json empty after the rollout" [ "$(plan_ops a 2)" = 0 ]

# ---- c drops a prefix: its allowed IPs are replaced in one operation, the rest stays ----
{ peer b 0 | sed 's/}$/,"preshared_key_ref":"ab.psk"}/'; echo
  peer c 25; echo
  cat "$TMP/bulk.json"; } > "$TMP/a-peers-3"
doc a 3 "$TMP/a-peers-3"
apply a 3; st=$?
grep -v bulk "$TMP/out"
check "apply a (rev 3) exits 0" [ $st -eq 0 ]
check "c's allowed IPs were replaced (one op)" grep -q "update peer c .*allowed ips replaced by .*dropping 10.89.4.0/24" "$TMP/out"
check "c's allowed IPs are exactly the document's" \
  [ "$(dump_peer wfl${ID}a "${PUB[c]}" | awk '{print $4}' | tr ',' '\n' | sort | tr '\n' ' ')" = "10.88.0.3/32 10.89.3.0/24 fd88::3/128 " ]
check "the dropped prefix's route is gone" [ -z "$(ip -n $NS-a route show 10.89.4.0/24 proto 211)" ]
check "ping a -> c's routed subnet after the replace" inns a ping -c 3 -i 0.2 -W 3 -q 10.89.3.1

# ---- removal of c from a ----
{ peer b 0 | sed 's/}$/,"preshared_key_ref":"ab.psk"}/'; echo; cat "$TMP/bulk.json"; } > "$TMP/a-peers-4"
doc a 4 "$TMP/a-peers-4"
before_b=$(session wfl${ID}a "${PUB[b]}")
t0=$(ms); apply a 4; st=$?; t1=$(ms)
echo "# removal of one peer on a: $((t1 - t0)) ms"
check "apply a (rev 4) exits 0" [ $st -eq 0 ]
check "c is no longer a peer of a" not grep -qF "${PUB[c]}" <(wg show wfl${ID}a peers)
check "c's routes are gone (ours)" [ -z "$(ip -n $NS-a route show proto 211 | grep -E '^10\.88\.0\.3 |^10\.89\.')$(ip -n $NS-a -6 route show proto 211 | grep '^fd88::3 ')" ]
check "the foreign route to c's subnet survives" grep -q "^10.89.3.0/24 dev wfl${ID}a proto static" <(ip -n $NS-a route show)
check "b's session still untouched" [ "$before_b" = "$(session wfl${ID}a "${PUB[b]}")" ]
check "ping a -> b still works" inns a ping -c 3 -i 0.2 -W 3 -q 10.88.0.2
check "plan --json empty after the removal" [ "$(plan_ops a 4)" = 0 ]

# ---- a missing preshared key file fails its peer only ----
{ peer a 15 | sed 's/}$/,"preshared_key_ref":"ab.psk"}/'; echo
  peer c | sed 's/}$/,"preshared_key_ref":"missing.psk"}/'; echo; } > "$TMP/b-peers-2"
doc b 2 "$TMP/b-peers-2"
before_c=$(dump_peer wfl${ID}b "${PUB[c]}" | awk '{print $2}')
apply b 2; st=$?
cat "$TMP/out"
check "apply with a missing psk file exits 1" [ $st -eq 1 ]
check "the error names the file" grep -q "$TMP/b/secrets/missing.psk" "$TMP/out"
check "the other peer's change was applied" [ "$(dump_peer wfl${ID}b "${PUB[a]}" | awk '{print $8}')" = 15 ]
check "the peer with the bad key was left as it was" [ "$(dump_peer wfl${ID}b "${PUB[c]}" | awk '{print $2}')" = "$before_c" ]

echo "# $failures failure(s)"
[ $failures -eq 0 ]
