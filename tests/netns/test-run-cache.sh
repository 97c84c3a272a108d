#!/bin/bash
# SPDX-License-Identifier: MIT
# `run` between full observations (docs/operations.md, "Observation in run"), on wireguard-go in
# one namespace with 300 peers: an idle poll sends and reads nothing beyond the 304; one changed
# peer is one UAPI set and no get, and leaves the node exactly the document (wf-compare); a route
# deleted by hand comes back at once through the rtnetlink monitor; a peer removed with `wg set`
# (which the kernel does not announce) comes back at the next resync_interval. Counts come from
# the agent's metrics (wgfleet_netlink_messages_total), state from wg(8) and ip(8).
set -eu
NETNS_TAG=wfc
. "$(dirname "$0")/lib.sh"
need_root wireguard-go wg openssl jq curl
AGENT=${WFD_AGENT:?} SRV=${WFD_TESTSRV:?}
N=300
IF=wfc${ID}
dump() {
  set +e
  echo "--- agent log"; tail -n 30 "$T/agent.log"
  echo "--- metrics"; inns a curl -s http://127.0.0.1:9587/metrics | grep -E 'netlink|resync|cycle'
}

ns_add a
wg_start a "$IF"
cd "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.pem -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
"$SRV" keygen signing.key trust.pub
mkdir -p docs posts state
for i in $(seq 1 $N); do wg genkey | wg pubkey; done >keys
NODE=wfc-node
# publish REV PORT_OF_PEER_1
publish() {
  awk -v iface="$IF" -v rev="$1" -v p1="$2" -v expiry="$(date -u -d '+1 day' +%FT%TZ)" -v iat="$(date -u +%FT%TZ)" '
    BEGIN { printf "{\"schema\":\"wgfleet/desired-state/v1\",\"node\":\"wfc-node\",\"revision\":%d,\"issued_at\":\"%s\",", rev, iat
            printf "\"expires_at\":\"%s\",\"interfaces\":[{\"name\":\"%s\",\"listen_port\":51820,\"addresses\":[\"10.66.0.1/16\"],\"peers\":[", expiry, iface }
    { printf "%s{\"name\":\"p%d\",\"public_key\":\"%s\",\"endpoint\":\"192.0.2.%d:%d\",\"allowed_ips\":[\"10.66.%d.%d/32\"]}",
        (NR > 1 ? "," : ""), NR, $1, NR % 250 + 1, NR == 1 ? p1 : 20000 + NR, int((NR + 1) / 256), (NR + 1) % 256 }
    END { print "]}]}" }' keys >"payload-$1.json"
  "$SRV" sign signing.key "payload-$1.json" "docs/$NODE.env"
}
cat >agent.conf <<EOF
[agent]
node = $NODE
state_dir = $T/state
backend = uapi
metrics_listen = 127.0.0.1:9587
report_interval = 60
resync_interval = 6
[controller]
url = https://127.0.0.1:8443/v1/nodes/$NODE/desired-state
trust_key = $T/trust.pub
ca_file = $T/srv.pem
poll_interval = 1
EOF
publish 1 30001
ip netns exec "$NS-a" "$SRV" serve --listen 127.0.0.1:8443 --cert srv.pem --key srv.key --docs docs \
  --log access.log --posts posts 2>>server.err &
PIDS+=($!)
wait_for 10 inns a curl -sk -o /dev/null https://127.0.0.1:8443/ || die "test server did not start"
ip netns exec "$NS-a" "$AGENT" --config agent.conf run >>agent.log 2>&1 &
PIDS+=($!)
wait_for 30 grep -q "revision 1 applied" agent.log || die "revision 1 not applied"
check "revision 1: the node is exactly the document" compare a payload-1.json

metric() { inns a curl -sf http://127.0.0.1:9587/metrics | awk -v m="$1" '$1 == m {print $2}'; }
counts() { echo "$(metric 'wgfleet_netlink_messages_total{kind="wg_set"}') $(metric 'wgfleet_netlink_messages_total{kind="wg_get"}') $(metric 'wgfleet_netlink_messages_total{kind="rtnl"}') $(metric 'wgfleet_resync_total{cause="timer"}')"; }
polls() { grep -c 'desired-state 304' access.log || true; }
polls_at_least() { [ "$(polls)" -ge "$1" ]; }

# --- idle: three 304 polls, nothing sent and nothing read (a window without a timer resync)
idle_ok=0
for try in 1 2 3; do
  c0=$(counts); p0=$(polls)
  wait_for 6 polls_at_least $((p0 + 3)) || die "no polls"
  c1=$(counts)
  [ "${c0##* }" = "${c1##* }" ] || continue   # a resync fell in the window: try again
  [ "$c0" = "$c1" ] && idle_ok=1
  break
done
check "idle: 3 polls answered 304 sent no SET and read nothing (set get rtnl resync: $c0 -> $c1)" test $idle_ok = 1

# --- one changed peer: one UAPI set, no get, exactly the document
K1=$(head -n 1 keys)
changed=0
for try in 1 2 3; do
  port=$((40000 + try))
  c0=$(counts)
  publish $((1 + try)) $port
  wait_for 10 sh -c "ip netns exec $NS-a wg show $IF endpoints | grep -q ':$port\$'" || die "changed endpoint not applied"
  wait_for 5 grep -q "revision $((1 + try)) applied (1 change" agent.log || die "revision $((1 + try)) not applied as one change"
  c1=$(counts); rev=$((1 + try))
  [ "${c0##* }" = "${c1##* }" ] || continue
  read -r s0 g0 n0 _ <<<"$c0"; read -r s1 g1 n1 _ <<<"$c1"
  [ $((s1 - s0)) = 1 ] && [ "$g0" = "$g1" ] && changed=1
  break
done
check "one changed peer among $N: exactly one set and no dump (set get rtnl resync: $c0 -> $c1)" test $changed = 1
check "after the change the node is exactly revision $rev" compare a "payload-$rev.json"
cyc=$(metric wgfleet_last_apply_cycle_seconds)
check "wgfleet_last_apply_cycle_seconds is there ($cyc s)" test -n "$cyc"
check "status: last_apply_cycle_seconds ($(inns a curl -sf http://127.0.0.1:9587/status | jq .last_apply_cycle_seconds))" \
  sh -c "ip netns exec $NS-a curl -sf http://127.0.0.1:9587/status | jq -e '.last_apply_cycle_seconds > 0'"

# --- a route of ours deleted by hand: back through the monitor, long before a resync is due
m0=$(metric 'wgfleet_resync_total{cause="monitor"}')
t0=$(ms)
ip -n "$NS-a" route del 10.66.0.5/32 dev "$IF" proto 211
wait_for 3 sh -c "ip -n $NS-a route show proto 211 | grep -q '^10.66.0.5 '" || bad "deleted route not put back within 3 s"
ok "route deleted by hand back after $(( $(ms) - t0 )) ms"
check "that was a monitor resync ($m0 -> $(metric 'wgfleet_resync_total{cause="monitor"}'))" \
  test "$(metric 'wgfleet_resync_total{cause="monitor"}')" -gt "$m0"
check "after the monitor resync the node is exactly revision $rev" compare a "payload-$rev.json"

# --- a peer removed with wg set: nothing announces it; the resync timer (6 s) puts it back
K9=$(sed -n 9p keys)
t0=$(ms)
inns a wg set "$IF" peer "$K9" remove
wait_for 9 sh -c "ip netns exec $NS-a wg show $IF peers | grep -qx '$K9'" || bad "removed peer not put back within 9 s"
ok "peer removed with wg set back after $(( $(ms) - t0 )) ms (resync_interval 6 s)"
check "after the timer resync the node is exactly revision $rev" compare a "payload-$rev.json"
grep -q "drift: the live state changed underneath revision $rev" agent.log || bad "the drift was not logged"
finish
