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

BULK=${WFL_BULK:-1000}
NETNS_TAG=wfl
. "$(dirname "$0")/lib.sh"
need_root wireguard-go wg ip ping jq base64
[ -x "$AGENT" ] && [ -x "$SIGN" ] || { echo "missing $AGENT or $SIGN"; exit 1; }
NODES=(a b c)

# ---- underlay: node X at 192.168.8I.2, router at .1, nothing routes 172.31.0.0/16 ----
# IPv6 underlay too (fd89:I::2): node c reaches b over it (an IPv6 endpoint)
underlay -6 fd89 a=192.168.81 b=192.168.82 c=192.168.83
# The subnet routed behind node c.
ip -n $NS-c addr add 10.89.3.1/32 dev lo
# Node a's resolver answers nothing (no server on 127.0.0.1:53): names fail at once.
netns_etc a resolv.conf "nameserver 127.0.0.1"

# ---- wireguard-go, agent configuration and node keys ----
declare -A PUB
for n in "${NODES[@]}"; do
  mkdir -p "$T/$n/state" "$T/$n/secrets"
  chmod 700 "$T/$n/secrets"
  cat > "$T/$n.conf" <<EOF
[agent]
node = $n
state_dir = $T/$n/state
secrets_dir = $T/$n/secrets
backend = uapi
EOF
  wg_start "$n" "wfl${ID}${n}"
  PUB[$n]=$("$AGENT" --config "$T/$n.conf" keygen | tail -n1)
  [ ${#PUB[$n]} -eq 44 ] || { echo "keygen for $n printed '${PUB[$n]}'"; exit 1; }
done
# a and b share a preshared key
head -c 32 /dev/urandom | base64 > "$T/a/secrets/ab.psk"
cp "$T/a/secrets/ab.psk" "$T/b/secrets/ab.psk"
chmod 600 "$T/a/secrets/ab.psk" "$T/b/secrets/ab.psk"

"$SIGN" genkey "$T/signing.key" > "$T/trust.pub" || { echo "wgfleet-sign genkey failed"; exit 1; }

# Bulk peers for node a: random keys, endpoints nobody routes.
: > "$T/bulk.json"
for ((k = 0; k < BULK; k++)); do
  key=$(head -c 32 /dev/urandom | base64)
  printf '{"name":"bulk%d","public_key":"%s","endpoint":"172.31.%d.%d:51820","allowed_ips":["10.100.%d.%d/32"]}\n' \
    "$k" "$key" $((k / 250)) $((k % 250 + 1)) $((k / 250)) $((k % 250 + 1)) >> "$T/bulk.json"
done

# peer NAME [keepalive] [extra allowed ips...]: one peer object for the mesh nodes
peer() {
  local n=$1 ka=${2:-0} i
  shift 2 2>/dev/null || shift
  case $n in a) i=1 ;; b) i=2 ;; c) i=3 ;; esac
  local ips=("10.88.0.$i/32" "fd88::$i/128")
  [ "$n" = c ] && ips+=(10.89.3.0/24)
  peer_json "$n" "${PUB[$n]}" "192.168.8$i.2:51820" "$ka" "${ips[@]}" "$@"
}

# doc NODE REVISION PEERS_JSON_LINES_FILE: writes and signs $T/NODE-REV.env
doc() {
  local n=$1 rev=$2 peers=$3 i
  case $n in a) i=1 ;; b) i=2 ;; c) i=3 ;; esac
  DOC_PUB=${PUB[$n]} doc_json "$n" "$rev" "wfl${ID}${n}" "[\"10.88.0.$i/32\", \"fd88::$i/128\"]" "$peers" \
    '.interfaces[0] += {mtu: 1380, fwmark: 81}' > "$T/$n-$rev.json"
  "$SIGN" sign "$T/signing.key" "$T/$n-$rev.json" > "$T/$n-$rev.env"
}

apply() { # apply NODE REV -> output in $T/out, status returned
  inns "$1" "$AGENT" --config "$T/$1.conf" apply --trust-key "$T/trust.pub" "$T/$1-$2.env" >"$T/out" 2>&1
}
plan_ops() { # plan_ops NODE REV -> number of operations in plan --json
  inns "$1" "$AGENT" --config "$T/$1.conf" plan --json --trust-key "$T/trust.pub" "$T/$1-$2.env" >"$T/plan.json" 2>"$T/plan.err"
  jq '.operations | length' "$T/plan.json"
}

# ---- revision 1 everywhere ----
{ peer b 0 | sed 's/}$/,"preshared_key_ref":"ab.psk"}/'; echo
  peer c; echo
  echo '{"name":"faraway","public_key":"'"$(head -c 32 /dev/urandom | base64)"'","endpoint":"nowhere.wfl.invalid:51820","allowed_ips":["10.101.0.1/32"]}'
  cat "$T/bulk.json"; } > "$T/a-peers-1"
{ peer a 0 | sed 's/}$/,"preshared_key_ref":"ab.psk"}/'; echo
  peer c | sed 's/"endpoint":"192.168.83.2:51820"/"endpoint":"[fd89:3::2]:51820"/'; echo; } > "$T/b-peers-1"
{ peer a; echo; peer b | sed 's/"endpoint":"192.168.82.2:51820"/"endpoint":"[fd89:2::2]:51820"/'; echo; } > "$T/c-peers-1"
for n in "${NODES[@]}"; do doc "$n" 1 "$T/$n-peers-1"; done

t0=$(ms); apply a 1; st=$?; t1=$(ms)
cat "$T/out" | grep -v "add peer bulk\|add route 10.100\." | head -30
echo "# cold apply on a: $((BULK + 3)) peers, $((t1 - t0)) ms"
check "apply a (rev 1) exits 0" [ $st -eq 0 ]
check "a: unresolvable endpoint name is a note, not a failure" grep -q "faraway: endpoint nowhere.wfl.invalid:51820 .*keeping the live endpoint" "$T/out"
for n in b c; do
  t0=$(ms); apply $n 1; st=$?; t1=$(ms)
  echo "# cold apply on $n: 2 peers, $((t1 - t0)) ms"
  check "apply $n (rev 1) exits 0" [ $st -eq 0 ] || cat "$T/out"
done

check "a: wg has all $((BULK + 3)) peers" [ "$(wg show wfl${ID}a peers | wc -l)" -eq $((BULK + 3)) ]
check "a: listen port 51820" [ "$(wg show wfl${ID}a listen-port)" = 51820 ]
check "a: fwmark 0x51" [ "$(wg show wfl${ID}a fwmark)" = 0x51 ]
check "a: mtu 1380" grep -q " mtu 1380 " <(ip -n $NS-a link show wfl${ID}a)
check "a: private key is the node key" [ "$(wg show wfl${ID}a public-key)" = "${PUB[a]}" ]
check "a: preshared key for b is set" [ "$(wg show wfl${ID}a preshared-keys | awk -v k="${PUB[b]}" '$1 == k {print $2}')" = "$(cat "$T/a/secrets/ab.psk")" ]
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
  check "$n: wf-compare: live peers, addresses and routes are exactly revision 1" compare $n "$T/$n-1.json"
  t0=$(ms); k=$(plan_ops $n 1); t1=$(ms)
  check "plan --json on $n after apply has no operations (got $k, $((t1 - t0)) ms)" [ "$k" = 0 ]
done
t0=$(ms); apply a 1; st=$?; t1=$(ms)
echo "# no-change apply on a: $((BULK + 3)) peers, $((t1 - t0)) ms"
check "a: second apply changes nothing" grep -q "no changes" "$T/out"

# Drift: our route deleted behind the agent's back comes back, and ping needs it.
ip -n $NS-a route del 10.88.0.3/32 proto 211
check "wf-compare sees the missing route" eval 'not compare a "$T/a-1.json" | grep -q "^wfl${ID}a: missing: route 10.88.0.3/32 table 254 metric 10 dev wfl${ID}a$"'
check "without the agent's route, c is unreachable" not inns a ping -c 1 -W 1 -q 10.88.0.3
check "plan sees the missing route" [ "$(plan_ops a 1)" = 1 ]
apply a 1
check "apply restores it" grep -q "^10.88.0.3 dev wfl${ID}a proto 211" <(ip -n $NS-a route show)
check "ping a -> c again" inns a ping -c 3 -i 0.2 -W 3 -q 10.88.0.3

# A foreign route to one of our destinations: reported, never touched.
ip -n $NS-a route add 10.89.3.0/24 dev wfl${ID}a proto static metric 5
plan_ops a 1 > /dev/null
check "plan --json reports the foreign route as a conflict" \
  [ "$(jq '[.conflicts[] | select(.dst == "10.89.3.0/24" and .protocol == 4)] | length' "$T/plan.json")" = 1 ]
check "plan --json operations stay empty with a conflict" [ "$(jq '.operations | length' "$T/plan.json")" = 0 ]
apply a 1
check "apply reports the conflict" grep -q "conflict: foreign route 10.89.3.0/24 .*proto 4" "$T/out"
check "foreign route survives apply" grep -q "^10.89.3.0/24 dev wfl${ID}a proto static scope link metric 5" <(ip -n $NS-a route show)

# ---- rollout: change c on a; b's session must not be touched ----
before_b=$(session wfl${ID}a "${PUB[b]}")
{ peer b 0 | sed 's/}$/,"preshared_key_ref":"ab.psk"}/'; echo
  peer c 25 10.89.4.0/24; echo
  cat "$T/bulk.json"; } > "$T/a-peers-2"
doc a 2 "$T/a-peers-2"
t0=$(ms); apply a 2; st=$?; t1=$(ms)
cat "$T/out" | grep -v "bulk"
echo "# rollout on a (one peer changed, one removed, among $((BULK + 2))): $((t1 - t0)) ms"
check "apply a (rev 2) exits 0" [ $st -eq 0 ]
echo "# b on a before: $before_b / after: $(session wfl${ID}a "${PUB[b]}") (handshake rx tx)"
check "b's session untouched by the rollout (same handshake, counters not reset)" session_kept wfl${ID}a "${PUB[b]}" "$before_b"
check "b's handshake happened at all" [ "${before_b%% *}" != 0 ]
check "exactly one peer update op" [ "$(grep -c 'update peer' "$T/out")" = 1 ]
check "and it is c's" grep -q "update peer c " "$T/out"
check "c now has keepalive 25" [ "$(dump_peer wfl${ID}a "${PUB[c]}" | awk '{print $8}')" = 25 ]
check "c's new allowed IP is live" grep -q "10.89.4.0/24" <(dump_peer wfl${ID}a "${PUB[c]}")
check "c's new prefix is routed (ours)" grep -q "^10.89.4.0/24 dev wfl${ID}a proto 211" <(ip -n $NS-a route show)
check "the dropped peer 'faraway' is gone with its route" [ -z "$(ip -n $NS-a route show 10.101.0.1)" ]
check "plan --json empty after the rollout" [ "$(plan_ops a 2)" = 0 ]
check "a: wf-compare: exactly revision 2" compare a "$T/a-2.json"

# ---- c drops a prefix: its allowed IPs are replaced in one operation, the rest stays ----
{ peer b 0 | sed 's/}$/,"preshared_key_ref":"ab.psk"}/'; echo
  peer c 25; echo
  cat "$T/bulk.json"; } > "$T/a-peers-3"
doc a 3 "$T/a-peers-3"
apply a 3; st=$?
grep -v bulk "$T/out"
check "apply a (rev 3) exits 0" [ $st -eq 0 ]
check "c's allowed IPs were replaced (one op)" grep -q "update peer c .*allowed ips replaced by .*dropping 10.89.4.0/24" "$T/out"
check "c's allowed IPs are exactly the document's" \
  [ "$(dump_peer wfl${ID}a "${PUB[c]}" | awk '{print $4}' | tr ',' '\n' | sort | tr '\n' ' ')" = "10.88.0.3/32 10.89.3.0/24 fd88::3/128 " ]
check "the dropped prefix's route is gone" [ -z "$(ip -n $NS-a route show 10.89.4.0/24 proto 211)" ]
check "ping a -> c's routed subnet after the replace" inns a ping -c 3 -i 0.2 -W 3 -q 10.89.3.1
check "a: wf-compare: exactly revision 3" compare a "$T/a-3.json"

# ---- removal of c from a ----
{ peer b 0 | sed 's/}$/,"preshared_key_ref":"ab.psk"}/'; echo; cat "$T/bulk.json"; } > "$T/a-peers-4"
doc a 4 "$T/a-peers-4"
before_b=$(session wfl${ID}a "${PUB[b]}")
t0=$(ms); apply a 4; st=$?; t1=$(ms)
echo "# removal of one peer on a: $((t1 - t0)) ms"
check "apply a (rev 4) exits 0" [ $st -eq 0 ]
check "c is no longer a peer of a" not grep -qF "${PUB[c]}" <(wg show wfl${ID}a peers)
check "c's routes are gone (ours)" [ -z "$(ip -n $NS-a route show proto 211 | grep -E '^10\.88\.0\.3 |^10\.89\.')$(ip -n $NS-a -6 route show proto 211 | grep '^fd88::3 ')" ]
check "the foreign route to c's subnet survives" grep -q "^10.89.3.0/24 dev wfl${ID}a proto static" <(ip -n $NS-a route show)
check "b's session still untouched" session_kept wfl${ID}a "${PUB[b]}" "$before_b"
check "ping a -> b still works" inns a ping -c 3 -i 0.2 -W 3 -q 10.88.0.2
check "plan --json empty after the removal" [ "$(plan_ops a 4)" = 0 ]
check "a: wf-compare: exactly revision 4" compare a "$T/a-4.json"

# ---- a missing preshared key file fails its peer only ----
{ peer a 15 | sed 's/}$/,"preshared_key_ref":"ab.psk"}/'; echo
  peer c | sed 's/}$/,"preshared_key_ref":"missing.psk"}/'; echo; } > "$T/b-peers-2"
doc b 2 "$T/b-peers-2"
before_c=$(dump_peer wfl${ID}b "${PUB[c]}" | awk '{print $2}')
apply b 2; st=$?
cat "$T/out"
check "apply with a missing psk file exits 1" [ $st -eq 1 ]
check "the error names the file" grep -q "$T/b/secrets/missing.psk" "$T/out"
check "the other peer's change was applied" [ "$(dump_peer wfl${ID}b "${PUB[a]}" | awk '{print $8}')" = 15 ]
check "the peer with the bad key was left as it was" [ "$(dump_peer wfl${ID}b "${PUB[c]}" | awk '{print $2}')" = "$before_c" ]

finish
