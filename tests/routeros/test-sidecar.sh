#!/bin/bash
# SPDX-License-Identifier: MIT
# The sidecar end to end: `wgfleet-agent once` fetches the router's signed document over HTTPS,
# applies it to the router through the API, and reports handshake times that came from
# RouterOS durations. Private network namespace: the controller double listens on 127.0.0.1:8443.
if [ -z "${WFR_IN_NETNS:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "SKIP: needs root for a private network namespace (unshare -n)"; exit 77; }
  [ -n "${WFD_TESTSRV:-}" ] && [ -x "$WFD_TESTSRV" ] || { echo "SKIP: wfd-testsrv (controller double) not built"; exit 77; }
  WFR_IN_NETNS=1 exec unshare -n -- "$0" "$@"
fi
ip link set lo up
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "SKIP: openssl is needed"; exit 77; }
SRV=$WFD_TESTSRV
cd "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=wfr-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile san.ext 2>/dev/null
printf 'tok-%s\n' "$RANDOM$RANDOM" > token; chmod 600 token
"$SRV" keygen ctl.key ctl-trust.pub >/dev/null
mkdir -p docs posts

# the connection the daemon keeps is cut once, later on (the 40th command of one connection)
start_sim --defconf --drop-after 40
# the same configuration plus a controller
sed -i "s|^trust_key = .*|trust_key = $T/ctl-trust.pub\nurl = https://127.0.0.1:8443/v1/nodes/router1/desired-state\nca_file = $T/ca.pem\ntoken_file = $T/token\npoll_interval = 1|; s|^backend = routeros|backend = routeros\nreport_interval = 1|" agent.conf
write_doc "$T/payload.json"
"$SRV" sign ctl.key payload.json docs/router1.env
"$SRV" serve --listen 127.0.0.1:8443 --cert srv.pem --key srv.key --docs docs --log access.log --posts posts \
  --token "$(cat token)" 2>>server.err &
SRVPID=$!
trap 'kill $SRVPID 2>/dev/null; wait $SRVPID 2>/dev/null; cleanup' EXIT
for _ in $(seq 50); do grep -q . access.log 2>/dev/null && break; curl -sk -o /dev/null https://127.0.0.1:8443/ && break; sleep 0.1; done

agent once > once.out 2> once.err || fail "once: $(cat once.out once.err)"
assert_eq "$(val .id /interface/wireguard/peers/print ?interface=wfr0 | wc -l)" 3 "peers on the router after once"
ROUTER_PUB=$(val public-key /interface/wireguard/print ?name=wfr0)
[ -n "$ROUTER_PUB" ] || fail "the router generated no key"
grep -q "GET /v1/nodes/router1/desired-state 200" access.log || fail "no document fetch: $(cat access.log)"
ok "once: fetched, verified and applied revision 1 to the router"

[ -s posts/latest.json ] || fail "no status report posted: $(cat once.err)"
st=$(jq -r '.state' posts/latest.json)
rev=$(jq -r '.applied_revision' posts/latest.json)
assert_eq "$(jq -r '.interfaces[0].public_key' posts/latest.json)" "$ROUTER_PUB" "the report carries the router's own key"
assert_eq "$rev" 1 "applied_revision in the report"
age=$(jq -r --arg k "$(pub a)" '.interfaces[0].peers[] | select(.public_key == $k) | .handshake_age_s' posts/latest.json)
lh=$(jq -r --arg k "$(pub a)" '.interfaces[0].peers[] | select(.public_key == $k) | .latest_handshake' posts/latest.json)
[ "$age" != null ] && [ "$age" -ge 0 ] && [ "$age" -le 30 ] && [ "$lh" -gt 1700000000 ] \
  || fail "site-a handshake in the report: age '$age' latest '$lh': $(jq . posts/latest.json)"
ok "report: state $st, revision $rev, site-a handshake $age s ago (latest_handshake $lh, from RouterOS last-handshake)"

# a second cycle with the same document: 304, nothing sent to the router
m=$(log_mark)
agent once > once2.out 2> once2.err || fail "second once: $(cat once2.out once2.err)"
assert_eq "$(changes_since "$m" | wc -l)" 0 "router changes on an unchanged document"
ok "unchanged document: no change on the router"

# the daemon: keeps one API connection across cycles, picks up a new revision, and reconnects
# when the router cuts the connection
# not through the agent() function: $! must be the agent itself, or kill leaves it running
${AGENT_WRAPPER:-} "$AGENT" --config "$T/agent.conf" run > run.log 2>&1 &
APID=$!
trap 'kill $APID $SRVPID 2>/dev/null; wait $APID $SRVPID 2>/dev/null; cleanup' EXIT
idb=$(val .id /interface/wireguard/peers/print "?public-key=$(pub b)")
m=$(log_mark)
REV=2 B_EP=198.51.100.77:51820 write_doc "$T/payload2.json"
"$SRV" sign ctl.key payload2.json docs/router1.env
for _ in $(seq 100); do
  [ "$(val endpoint-address /interface/wireguard/peers/print "?public-key=$(pub b)")" = 198.51.100.77 ] && break
  sleep 0.1
done
assert_eq "$(val endpoint-address /interface/wireguard/peers/print "?public-key=$(pub b)")" 198.51.100.77 "revision 2 applied by the daemon"
ch=$(changes_since "$m")
assert_eq "$ch" "/interface/wireguard/peers/set .id=$idb endpoint-address=198.51.100.77 => done" "daemon changes"
ok "daemon: revision 2 applied as one set on $idb"
for _ in $(seq 100); do grep -q '^DROP' "$T/sim.log" && break; sleep 0.1; done
grep -q '^DROP' "$T/sim.log" || fail "the simulator never cut the daemon's connection: $(tail -5 run.log)"
m=$(log_mark)
cli /interface/wireguard/peers/set "=.id=$idb" =endpoint-port=1111 >/dev/null   # drift while the daemon runs
REV=3 B_EP=198.51.100.78:51820 write_doc "$T/payload3.json"
"$SRV" sign ctl.key payload3.json docs/router1.env
for _ in $(seq 100); do
  [ "$(val endpoint-address /interface/wireguard/peers/print "?public-key=$(pub b)")" = 198.51.100.78 ] && break
  sleep 0.1
done
assert_eq "$(val endpoint-address /interface/wireguard/peers/print "?public-key=$(pub b)")" 198.51.100.78 "revision 3 after the cut"
assert_eq "$(val endpoint-port /interface/wireguard/peers/print "?public-key=$(pub b)")" 51820 "drifted port repaired"
kill -0 $APID || fail "daemon died: $(tail -20 run.log)"
for _ in $(seq 50); do [ "$(jq -r .applied_revision posts/latest.json)" = 3 ] && break; sleep 0.1; done
assert_eq "$(jq -r .applied_revision posts/latest.json)" 3 "reported revision"
ok "daemon: connection cut by the router, reconnected, revision 3 and the drifted port applied, reported"
