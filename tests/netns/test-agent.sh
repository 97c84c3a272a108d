#!/bin/bash
# SPDX-License-Identifier: MIT
# The agent daemon end to end, in two network namespaces joined by a veth pair:
#   wfdN-a: the node (wireguard-go, wgfleet-agent, the HTTPS test controller on 127.0.0.1)
#   wfdN-b: a real WireGuard peer (wireguard-go), so handshakes and health are real.
# Asserts on what wg(8), ip(8), the server's access log and the stored status POSTs show.
# no pipefail: `producer | grep -q` must not fail when grep stops reading early (SIGPIPE)
set -eu

NETNS_TAG=wfd
. "$(dirname "$0")/lib.sh"
need_root wireguard-go wg openssl jq curl
AGENT=${WFD_AGENT:?} SRV=${WFD_TESTSRV:?}

NA=$NS-a NB=$NS-b
IFA=wfd${ID}a IFB=wfd${ID}b    # unique machine-wide: wireguard-go sockets are shared
cleanup_local() { umount "$T/statefull" 2>/dev/null; }

dump() {
  set +e
  echo "--- agent log"; tail -n 40 "$T"/agent*.log 2>/dev/null
  echo "--- server log"; tail -n 20 "$T/access.log" 2>/dev/null
  echo "--- notify"; cat "$T/notify.txt" 2>/dev/null
  echo "--- wg"; ip netns exec "$NA" wg show "$IFA" 2>/dev/null
  echo "--- ip"; ip -n "$NA" addr show dev "$IFA"; ip -n "$NA" route
}

ns_add a b
VA=wfd${ID}va VB=wfd${ID}vb
ip -n "$NA" link add "$VA" type veth peer name "$VB" netns "$NB"
ip -n "$NA" addr add 192.168.77.1/24 dev "$VA"; ip -n "$NA" link set "$VA" up
ip -n "$NB" addr add 192.168.77.2/24 dev "$VB"; ip -n "$NB" link set "$VB" up
ip -n "$NA" addr add 192.168.78.1/24 dev "$VA"; ip -n "$NB" addr add 192.168.78.2/24 dev "$VB"
# names for the node's namespace only: ip netns exec bind-mounts /etc/netns/NS/hosts on /etc/hosts
netns_etc a hosts $'127.0.0.1 localhost\n192.168.77.3 peer-c.wfd.test'
HOSTS=/etc/netns/$NA/hosts

wg_start a "$IFA"
wg_start b "$IFB"

# --- TLS: a test CA and a server certificate for 127.0.0.1; a second, unrelated CA
cd "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 2 -subj /CN=wfd-test-ca 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.pem \
  -days 2 -subj /CN=wfd-other-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
  -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 \
  -extfile san.ext 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -out client.csr \
  -subj /CN=wfd-node 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 \
  -extfile client.ext 2>/dev/null
chmod 600 client.key
TOKEN=wfd-secret-$RANDOM$RANDOM
printf '%s\n' "$TOKEN" >token; chmod 600 token
"$SRV" keygen signing.key trust.pub
mkdir -p docs posts state secrets

# --- the peer in wfdN-b
PB_PRIV=$(wg genkey); PB_PUB=$(printf '%s' "$PB_PRIV" | wg pubkey)
PC_PUB=$(wg genkey | wg pubkey)    # a second peer that never answers
PD_PUB=$(wg genkey | wg pubkey)    # a third one, named by DNS, that never answers either
NODE=wfd-node
URL=https://127.0.0.1:8443/v1/nodes/$NODE/desired-state

cat >agent.conf <<EOF
[agent]
node = $NODE
state_dir = $T/state
backend = uapi
metrics_listen = 127.0.0.1:9586
secrets_dir = $T/secrets
report_interval = 2
resync_interval = 2
confirm_timeout = 6
resolve_interval = 2
[controller]
url = $URL
trust_key = $T/trust.pub
ca_file = $T/ca.pem
token_file = $T/token
poll_interval = 1
EOF

GAMMA=0
# publish REV [EXTRA_PEER(0/1)] [ALPHA_KEEPALIVE] [EXPIRES]
publish() {
  local rev=$1 extra=${2:-0} ka=${3:-0} exp=${4:-$(date -u -d '+1 day' +%FT%TZ)}
  local peers
  peers=$(jq -n --arg k "$PB_PUB" --argjson ka "$ka" --arg ep "192.168.77.2:51821" \
    '[{name: "alpha", public_key: $k, endpoint: $ep, allowed_ips: ["10.77.0.2/32"]}
      + (if $ka > 0 then {persistent_keepalive: $ka} else {} end)]')
  if [ "$GAMMA" = 1 ]; then
    peers=$(jq --arg k "$PD_PUB" '. + [{name: "gamma", public_key: $k, endpoint: "peer-c.wfd.test:51823",
      allowed_ips: ["10.77.0.4/32"]}]' <<<"$peers")
  fi
  if [ "$extra" = 1 ]; then
    peers=$(jq --arg k "$PC_PUB" '. + [{name: "beta", public_key: $k, endpoint: "192.168.77.3:51822",
      allowed_ips: ["10.77.0.3/32", "10.78.0.0/24"]}]' <<<"$peers")
  fi
  jq -n --arg node "$NODE" --argjson rev "$rev" --arg exp "$exp" --arg iface "$IFA" \
    --argjson peers "$peers" --arg iat "$(date -u +%FT%TZ)" \
    '{schema: "wgfleet/desired-state/v1", node: $node, revision: $rev, issued_at: $iat,
      expires_at: $exp, interfaces: [{name: $iface, listen_port: 51820, addresses: ["10.77.0.1/24"],
      peers: $peers}]}' >"payload-$rev.json"
  "$SRV" sign signing.key "payload-$rev.json" "docs/$NODE.env"
}

start_server() { # extra args
  ip netns exec "$NA" "$SRV" serve --listen 127.0.0.1:8443 --cert srv.pem --key srv.key --docs docs \
    --log access.log --posts posts --token "$TOKEN" "$@" 2>>server.err &
  SRV_PID=$!; PIDS+=($SRV_PID)
  wait_for 10 ip netns exec "$NA" curl -sk -o /dev/null https://127.0.0.1:8443/ || die "test server did not start"
}

start_agent() { # log name
  ip netns exec "$NA" env NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=2000000 \
    "$AGENT" --config agent.conf run >>"$1" 2>&1 &
  AGENT_PID=$!; PIDS+=($AGENT_PID)
}

"$SRV" notify "$T/notify.sock" "$T/notify.txt" &
PIDS+=($!)
wait_for 5 test -S "$T/notify.sock" || die "notify reader did not start"

# the peer side: knows the node's key once the agent created it
publish 1
start_server
start_agent agent.log
wait_for 20 grep -q '^READY=1' notify.txt || die "no READY=1 from the agent"
ok "READY=1 after the first apply"

NODE_PUB=$(wg pubkey <state/private.key 2>/dev/null || true)
[ -n "$NODE_PUB" ] || die "the agent did not create state/private.key"
printf '%s' "$PB_PRIV" >pb.key
ip netns exec "$NB" wg set "$IFB" private-key pb.key listen-port 51821 \
  peer "$NODE_PUB" endpoint 192.168.77.1:51820 allowed-ips 10.77.0.1/32
ip -n "$NB" addr add 10.77.0.2/24 dev "$IFB"; ip -n "$NB" link set "$IFB" up

wg_a() { ip netns exec "$NA" wg show "$IFA" "$@"; }
wait_for 10 sh -c "ip netns exec $NA wg show $IFA peers | grep -qx '$PB_PUB'" || die "peer alpha not configured"
[ "$(wg_a listen-port)" = 51820 ] || die "listen port is $(wg_a listen-port)"
[ "$(wg_a endpoints | awk '{print $2}')" = 192.168.77.2:51821 ] || die "alpha endpoint: $(wg_a endpoints)"
ip -n "$NA" route show proto 211 | grep -q '^10.77.0.2 dev '"$IFA" || die "no proto 211 route for alpha: $(ip -n "$NA" route)"
ip -n "$NA" -o addr show dev "$IFA" | grep -q 10.77.0.1/24 || die "address missing on $IFA"
ok "revision 1 applied (peer, endpoint, listen port, address, owned route)"
# is_rev REV: tests/tools/wf-compare finds the node exactly as payload-REV.json says
is_rev() {
  wait_for 10 compare a "payload-$1.json" || die "the node is not revision $1: $(compare a "payload-$1.json")"
  ok "$(compare a "payload-$1.json")"
}
is_rev 1

# a real handshake over the tunnel
ip netns exec "$NA" ping -c 1 -W 2 10.77.0.2 >/dev/null || ip netns exec "$NA" ping -c 2 -W 2 10.77.0.2 >/dev/null ||
  die "no ping over the tunnel"
ok "ping over the tunnel"

grep -q "^GET /v1/nodes/$NODE/desired-state 200 auth=Bearer $TOKEN " access.log || die "token not sent"
ok "bearer token sent"
wait_for 10 grep -q "^GET /v1/nodes/$NODE/desired-state 304 auth=Bearer $TOKEN inm=\"" access.log ||
  die "idle poll did not get 304"
# three more polls (poll_interval 1 s), none of them a download
n200=$(grep -c "desired-state 200" access.log) n304=$(grep -c "desired-state 304" access.log)
wait_for 15 eval '[ "$(grep -c "desired-state 304" access.log)" -ge $((n304 + 3)) ]' || die "idle polls stopped"
[ "$(grep -c "desired-state 200" access.log)" = "$n200" ] || die "idle polls downloaded the document again"
ok "idle polls are 304 with If-None-Match ($(grep -c 'desired-state 304' access.log) so far)"

# status report: wait for one that saw the handshake
healthy_report() { jq -e --arg k "$PB_PUB" '.interfaces[0].peers[] | select(.public_key == $k) | .healthy == true' posts/latest.json; }
wait_for 15 healthy_report || die "no status report with a healthy alpha: $(cat posts/latest.json 2>/dev/null)"
jq -e --arg node "$NODE" --arg iface "$IFA" --arg k "$PB_PUB" --arg nk "$NODE_PUB" '
  .schema == "wgfleet/status/v1" and .node == $node and (.agent_version | type == "string") and
  .state == "converged" and .applied_revision == 1 and .seen_revision == 1 and
  (.last_fetch_ok | type == "number") and (.last_apply | type == "number") and
  (.errors | type == "array") and (.drift | type == "array") and
  (.interfaces | length == 1) and .interfaces[0].name == $iface and .interfaces[0].listen_port == 51820 and
  .interfaces[0].public_key == $nk and
  (.interfaces[0].peers[0] | .public_key == $k and .name == "alpha" and .endpoint == "192.168.77.2:51821" and
    (.latest_handshake | type == "number") and .latest_handshake > 0 and (.handshake_age_s | type == "number") and
    .handshake_age_s < 180 and .rx_bytes > 0 and .tx_bytes > 0 and .healthy == true)' posts/latest.json >/dev/null ||
  die "status report does not match the schema: $(jq . posts/latest.json)"
grep -q "^POST /v1/nodes/$NODE/status 200 auth=Bearer $TOKEN" access.log || die "status POST without token"
ok "status report matches wgfleet/status/v1 (handshake, rx/tx, healthy)"

metrics=$(ip netns exec "$NA" curl -sf http://127.0.0.1:9586/metrics) || die "metrics listener not answering"
for m in 'wgfleet_applied_revision 1' 'wgfleet_fetch_total{result="not_modified"} [1-9]' \
         'wgfleet_fetch_total{result="ok"} 1' 'wgfleet_apply_total{result="changed"} 1' \
         'wgfleet_last_fetch_success_timestamp_seconds [1-9]' \
         "wgfleet_peer_last_handshake_timestamp_seconds{interface=\"$IFA\",peer=\"alpha\",public_key=\"$PB_PUB\"} [1-9]" \
         "wgfleet_peer_receive_bytes_total{interface=\"$IFA\",peer=\"alpha\",public_key=\"$PB_PUB\"} [1-9]" \
         "wgfleet_peer_transmit_bytes_total{interface=\"$IFA\",peer=\"alpha\"" '# TYPE wgfleet_fetch_total counter'; do
  grep -q "^$m" <<<"$metrics" || die "metric missing: $m"
done
ok "metrics present ($(grep -vc '^#' <<<"$metrics") samples)"
if command -v promtool >/dev/null; then
  lint=$(promtool check metrics <<<"$metrics" 2>&1) && [ -z "$lint" ] || die "promtool check metrics (with peers): $lint"
  ok "promtool check metrics passes with per-peer series"
fi

# --- rollout: revision 2 adds beta; alpha's session must survive
hs_before=$(wg_a latest-handshakes | awk -v k="$PB_PUB" '$1 == k {print $2}')
publish 2 1
wait_for 10 sh -c "ip netns exec $NA wg show $IFA peers | grep -qx '$PC_PUB'" || die "beta not added by revision 2"
ip -n "$NA" route show proto 211 | grep -q '^10.78.0.0/24 dev' || die "no route for beta's subnet"
hs_after=$(wg_a latest-handshakes | awk -v k="$PB_PUB" '$1 == k {print $2}')
[ "$hs_before" = "$hs_after" ] || die "alpha's session was touched ($hs_before -> $hs_after)"
ok "revision 2 applied in place (alpha's handshake $hs_before unchanged)"
is_rev 2

# --- drift: remove beta behind the agent's back
ip netns exec "$NA" wg set "$IFA" peer "$PC_PUB" remove
wait_for 10 sh -c "ip netns exec $NA wg show $IFA peers | grep -qx '$PC_PUB'" || die "drift not repaired"
drift_reported() { cat posts/status-*.json | jq -s -e 'any(.[]; .drift | length > 0)'; }
wait_for 10 drift_reported || die "drift not reported"
ip netns exec "$NA" curl -sf http://127.0.0.1:9586/metrics | grep -q '^wgfleet_drift_total 1' || die "drift metric"
is_rev 2
ok "drift repaired and reported: $(cat posts/status-*.json | jq -s -c '[.[].drift[]] | unique')"

# --- replay: revision 1 again must be refused
cp "docs/$NODE.env" rev2.env
"$SRV" sign signing.key payload-1.json "docs/$NODE.env"
wait_for 10 jq -e '.state == "rejected" and (.errors | any(test("older")))' posts/latest.json ||
  die "replayed revision 1 not reported as rejected: $(jq -c '{state,errors}' posts/latest.json)"
wg_a peers | grep -qx "$PC_PUB" || die "replayed revision 1 removed beta"
[ "$(jq .applied_revision state/agent-state.json)" = 2 ] || die "applied revision changed on replay"
n200=$(grep -c "desired-state 200" access.log) n304=$(grep -c "desired-state 304" access.log)
wait_for 15 eval '[ "$(grep -c "desired-state 304" access.log)" -ge $((n304 + 2)) ]' || die "polls of the refused document stopped"
[ "$(grep -c "desired-state 200" access.log)" = "$n200" ] || die "the refused document is downloaded again and again"
jq -e '.state == "rejected"' posts/latest.json >/dev/null || die "refusal forgotten on 304"
ok "older revision refused, node stays on revision 2; idle polls of the refused document are 304"

# --- more documents that must change nothing: an untrusted signer, another node, expired
"$SRV" keygen rogue.key rogue.pub
jq '.revision = 50' payload-1.json >rogue.json
"$SRV" sign rogue.key rogue.json "docs/$NODE.env"
wait_for 10 jq -e '.errors | any(test("no valid signature by a trusted key"))' posts/latest.json ||
  die "untrusted signer not refused: $(jq -c .errors posts/latest.json)"
jq '.revision = 51 | .node = "someone-else"' payload-1.json >other.json
"$SRV" sign signing.key other.json "docs/$NODE.env"
wait_for 10 jq -e '.errors | any(test("someone-else"))' posts/latest.json ||
  die "another node's document not refused: $(jq -c .errors posts/latest.json)"
jq --arg t "$(date -u -d '-1 hour' +%FT%TZ)" '.revision = 52 | .expires_at = $t' payload-1.json >expired.json
"$SRV" sign signing.key expired.json "docs/$NODE.env"
wait_for 10 jq -e '.errors | any(test("expires_at"))' posts/latest.json ||
  die "expired document not refused: $(jq -c .errors posts/latest.json)"
wg_a peers | grep -qx "$PC_PUB" || die "a refused document changed the peers"
jq -e '.applied_revision == 2 and .accepted_revision == 2' state/agent-state.json >/dev/null ||
  die "a refused document moved the revisions: $(cat state/agent-state.json)"
ok "untrusted signer, another node's document and an expired one refused; node stays on revision 2"

# --- revision 3 drops beta and adds gamma, whose endpoint is a DNS name
GAMMA=1 publish 3 0
wait_for 10 sh -c "! ip netns exec $NA wg show $IFA peers | grep -qx '$PC_PUB'" || die "revision 3 did not remove beta"
wait_for 10 jq -e '.state == "converged" and .applied_revision == 3' posts/latest.json || die "not converged on 3"
ep_of() { wg_a endpoints | awk -v k="$1" '$1 == k {print $2}'; }
[ "$(ep_of "$PD_PUB")" = 192.168.77.3:51823 ] || die "gamma's name not resolved: $(wg_a endpoints)"
ok "revision 3 applied, state converged, gamma's endpoint name resolved"
is_rev 3

# --- the name moves: re-resolved in the loop (resolve_interval 2 s), set on that peer only.
# (A peer with a healthy session keeps the endpoint WireGuard roamed to: gamma never answers.)
hs_before=$(wg_a latest-handshakes | awk -v k="$PB_PUB" '$1 == k {print $2}')
printf '127.0.0.1 localhost\n192.168.78.3 peer-c.wfd.test\n' >"$HOSTS"
wait_for 15 sh -c "ip netns exec $NA wg show $IFA endpoints | grep -q '192.168.78.3:51823'" ||
  die "moved name not re-resolved: $(wg_a endpoints)"
[ "$(ep_of "$PB_PUB")" = 192.168.77.2:51821 ] || die "alpha's endpoint changed too: $(wg_a endpoints)"
[ "$(wg_a latest-handshakes | awk -v k="$PB_PUB" '$1 == k {print $2}')" = "$hs_before" ] || die "alpha touched"
ip netns exec "$NA" curl -sf http://127.0.0.1:9586/metrics | grep -q '^wgfleet_endpoint_change_total 1' ||
  die "endpoint change not counted"
ok "endpoint name re-resolved to 192.168.78.3 for gamma only"
# the name disappears: reported, last good address kept
printf '127.0.0.1 localhost\n' >"$HOSTS"
wait_for 15 jq -e '.errors | any(test("peer gamma: endpoint peer-c.wfd.test:51823 does not resolve"))' posts/latest.json ||
  die "failing name not reported: $(jq -c .errors posts/latest.json)"
[ "$(ep_of "$PD_PUB")" = 192.168.78.3:51823 ] || die "last good address not kept: $(wg_a endpoints)"
ok "failing name reported, last good address kept: $(jq -r '.errors[0]' posts/latest.json)"
printf '127.0.0.1 localhost\n192.168.78.3 peer-c.wfd.test\n' >"$HOSTS"
wait_for 15 jq -e '.errors | length == 0' posts/latest.json || die "name error not cleared"

# --- status command
st=$(ip netns exec "$NA" "$AGENT" --config agent.conf status) || die "status failed: $st"
grep -q "alpha" <<<"$st" && grep -q "192.168.77.2:51821" <<<"$st" && grep -q "gamma" <<<"$st" && grep -q "applied revision 3" <<<"$st" ||
  die "status table: $st"
ip netns exec "$NA" "$AGENT" --config agent.conf status --json | jq -e '.applied_revision == 3 and
  (.interfaces[0].peers | length == 2) and any(.interfaces[0].peers[]; .name == "alpha")' >/dev/null ||
  die "status --json"
echo "$st" | sed 's/^/    /'
ok "status table and --json"
rc=0; ip netns exec "$NA" "$AGENT" --config agent.conf once >lock.log 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "another wgfleet-agent run/once is using this state directory" lock.log ||
  die "a second agent on the same state directory was not refused (rc $rc): $(cat lock.log)"
ok "a second agent on the same state directory is refused"

grep -q '^WATCHDOG=1' notify.txt || die "no WATCHDOG=1 with WATCHDOG_USEC set"
grep -q '^STATUS=converged, revision 3 applied' notify.txt || die "no STATUS= line for revision 3"
ok "sd_notify: WATCHDOG=1 ($(grep -c '^WATCHDOG=1' notify.txt) so far) and STATUS= lines"

# --- SIGHUP reloads the configuration: the metrics listener moves to another port
sed -i 's/^metrics_listen = .*/metrics_listen = 127.0.0.1:9587/' agent.conf
kill -HUP "$AGENT_PID"
wait_for 10 grep -q '^RELOADING=1' notify.txt || die "no RELOADING=1 on SIGHUP"
wait_for 10 sh -c "ip netns exec $NA curl -sf http://127.0.0.1:9587/metrics | grep -q '^wgfleet_applied_revision 3'" ||
  die "metrics not on the reloaded port"
kill -0 "$AGENT_PID" || die "agent died on SIGHUP"
ip netns exec "$NA" curl -sf -o /dev/null http://127.0.0.1:9586/metrics && die "old metrics port still open"
ok "SIGHUP: configuration reloaded (metrics moved to :9587)"

RSS=$(ps -o rss= -p "$AGENT_PID" | tr -d ' ')
ANON=$(awk '/^RssAnon/ {print $2}' "/proc/$AGENT_PID/status")
ok "agent RSS during run: ${RSS} KiB (${ANON} KiB of it private: the rest is shared libraries)"

# --- commit-confirmed: the controller vanishes right after serving revision 4
kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true
touch die
start_server --die-file "$T/die"
publish 4 0 25
wait_for 20 grep -q '^EXIT die-file' access.log || die "server did not serve revision 4"
wait_for 5 sh -c "ip netns exec $NA wg show $IFA persistent-keepalive | grep -q '25$'" || die "revision 4 not applied"
t0=$(date +%s)
wait_for 15 sh -c "ip netns exec $NA wg show $IFA persistent-keepalive | grep -q 'off$'" ||
  die "revision 4 not reverted after confirm_timeout"
t1=$(date +%s)
jq -e '.applied_revision == 3 and .reverted_revision == 4 and (.last_error | test("reverted revision 4 to 3"))' \
  state/agent-state.json >/dev/null || die "revert not recorded: $(cat state/agent-state.json)"
ok "commit-confirmed: revision 4 reverted to 3 after $((t1 - t0)) s without the controller"

# the controller comes back still serving 4: stays reverted, and the report says why
rm -f die
start_server
wait_for 15 jq -e '.applied_revision == 3 and (.errors | any(test("reverted revision 4")))' posts/latest.json ||
  die "revert not reported: $(jq -c . posts/latest.json)"
wg_a persistent-keepalive | grep -q 'off$' || die "revision 4 re-applied after the revert"
ok "controller back: revision 4 stays refused, revert reported"

# --- the confirmation window survives a restart: revision 5 cuts the node off, the agent is
# restarted inside confirm_timeout (a reboot), and still reverts
kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true
touch die
start_server --die-file "$T/die"
publish 5 0 30
wait_for 20 sh -c "[ \$(grep -c '^EXIT die-file' access.log) = 2 ]" || die "server did not serve revision 5"
wait_for 5 sh -c "ip netns exec $NA wg show $IFA persistent-keepalive | grep -q '30$'" || die "revision 5 not applied"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || die "agent exit status on SIGTERM"
jq -e '.confirm_revision == 5' state/agent-state.json >/dev/null || die "unconfirmed revision not persisted"
start_agent agent.log
wait_for 15 sh -c "ip netns exec $NA wg show $IFA persistent-keepalive | grep -q 'off$'" ||
  die "revision 5 not reverted after the restart"
jq -e '.applied_revision == 3 and .reverted_revision == 5 and .confirm_revision == 0' state/agent-state.json >/dev/null ||
  die "revert after restart not recorded: $(cat state/agent-state.json)"
rm -f die
is_rev 3
ok "commit-confirmed across a restart: revision 5 reverted to 3"

# --- SIGTERM exits 0 promptly
t0=$(date +%s%N)
kill -TERM "$AGENT_PID"
rc=0; wait "$AGENT_PID" || rc=$?
t1=$(date +%s%N)
[ "$rc" = 0 ] || die "agent exited $rc on SIGTERM"
ok "SIGTERM: exit 0 in $(((t1 - t0) / 1000000)) ms"

# --- offline start from the cache after the interface was reset
kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true
wg_stop "$IFA"
wait_for 5 sh -c "! test -S /var/run/wireguard/$IFA.sock" || true
wg_start a "$IFA"
[ -z "$(wg_a peers)" ] || die "interface not reset"
: >notify.txt
start_agent agent2.log
wait_for 20 grep -q '^READY=1' notify.txt || die "no READY=1 with the controller down"
wg_a peers | grep -qx "$PB_PUB" || die "cached revision not applied with the controller down"
ip -n "$NA" route show proto 211 | grep -q '^10.77.0.2 dev' || die "cached routes not applied"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || die "agent exit status on SIGTERM"
is_rev 3
ok "offline start: cached revision 3 applied before any fetch succeeded"

rc=0; ip netns exec "$NA" "$AGENT" --config agent.conf once >once.log 2>&1 || rc=$?
[ "$rc" = 0 ] || die "once with the controller down exited $rc: $(cat once.log)"
ok "once: exit 0 from the cache with the controller down"

# a corrupt cache is reported and ignored, never fatal
cp -a state state4
printf '{"payloadType": "garbage' >state4/current.env
printf 'not json' >state4/agent-state.json
sed -e "s|$T/state$|$T/state4|" -e '/^metrics_listen/d' agent.conf >agent-corrupt.conf
rc=0; ip netns exec "$NA" "$AGENT" --config agent-corrupt.conf once >corrupt.log 2>&1 || rc=$?
[ "$rc" = 1 ] || die "once with a corrupt cache and no controller exited $rc"
grep -q "cached document ignored" corrupt.log && grep -q "agent-state.json: corrupt" corrupt.log ||
  die "corrupt cache not reported: $(cat corrupt.log)"
jq -e '.errors | any(test("cached document ignored"))' state4/status.json >/dev/null || die "corrupt cache not in the report"
ok "corrupt cache reported and ignored: $(grep -m1 'cached document ignored' corrupt.log)"

# --- an unverifiable server (certificate from another CA) is refused
start_server
mkdir -p state2
sed -e "s|$T/ca.pem|$T/other.pem|" -e "s|$T/state$|$T/state2|" agent.conf >agent-bad.conf
rc=0; ip netns exec "$NA" "$AGENT" --config agent-bad.conf once >bad.log 2>&1 || rc=$?
[ "$rc" = 1 ] || die "once against an unverifiable server exited $rc"
grep -qi "certificate" bad.log || die "no certificate error: $(cat bad.log)"
[ ! -e state2/current.env ] || die "a document from an unverifiable server was stored"
ok "unverifiable server refused: $(grep -i -m1 certificate bad.log)"

# --- a wrong status URL or a document URL without one is an error in the log, not silence
cp -a state state5
STATUS404=${URL%/desired-state}/report
sed -e "s|$T/state$|$T/state5|" -e '/^metrics_listen/d' -e "s|^url = .*|&\nstatus_url = $STATUS404|" agent.conf >agent-404.conf
ip netns exec "$NA" "$AGENT" --config agent-404.conf once >404.log 2>&1
grep -qF "status report to $STATUS404: HTTP 404 (no such endpoint or node: check [controller] status_url)" 404.log ||
  die "a 404 on the status URL is not an error: $(cat 404.log)"
sed -e "s|$T/state$|$T/state5|" -e '/^metrics_listen/d' -e "s|/desired-state$|/document|" agent.conf >agent-doc.conf
ip netns exec "$NA" "$AGENT" --config agent-doc.conf once >doc.log 2>&1
grep -qF "status_url is not set and url ${URL%/desired-state}/document does not end in /desired-state: no status reports will be sent" doc.log ||
  die "a URL without a status URL is silent: $(cat doc.log)"
ok "status URL problems are errors: $(grep -m1 -o 'status report to .*' 404.log)"

# --- revert by hand: revision 6 applied by once, then rolled back to 3; 6 stays refused
publish 6 0 20
rc=0; ip netns exec "$NA" "$AGENT" --config agent.conf once >once6.log 2>&1 || rc=$?
[ "$rc" = 0 ] || die "once on revision 6 exited $rc: $(cat once6.log)"
wg_a persistent-keepalive | grep -q '20$' || die "revision 6 not applied by once"
ip netns exec "$NA" "$AGENT" --config agent.conf revert >revert.log 2>&1 || die "revert failed: $(cat revert.log)"
wg_a persistent-keepalive | grep -q 'off$' || die "revert did not restore revision 3"
jq -e '.applied_revision == 3 and .reverted_revision == 6' state/agent-state.json >/dev/null ||
  die "manual revert not recorded: $(cat state/agent-state.json)"
ip netns exec "$NA" "$AGENT" --config agent.conf once >once7.log 2>&1 || die "once after revert: $(cat once7.log)"
wg_a persistent-keepalive | grep -q 'off$' || die "revision 6 re-applied after a manual revert"
ok "revert: $(head -1 revert.log)"

# --- losing agent-state.json does not make the reverted revision 6 acceptable again
rm -f state/agent-state.json
ip netns exec "$NA" "$AGENT" --config agent.conf once >once8.log 2>&1 || die "once without agent-state.json: $(cat once8.log)"
wg_a persistent-keepalive | grep -q 'off$' || die "revision 6 re-applied after agent-state.json was lost"
jq -e '.reverted_revision == 6' state/agent-state.json >/dev/null ||
  die "reverted revision not rebuilt from reverted.env: $(cat state/agent-state.json)"
ok "agent-state.json lost: revision 6 stays refused (floor rebuilt from reverted.env)"

# --- disk full: state_dir on a tiny tmpfs with no space left; revision 7 is not applied, the
# last good cache stays intact and the error is reported (issue 13, "disk full")
mkdir -p statefull
mount -t tmpfs -o size=256k,mode=0700 wfd-full statefull || die "cannot mount a tmpfs"
cp -a state/. statefull/
dd if=/dev/zero of=statefull/filler bs=4k 2>/dev/null || true
sum_before=$(sha256sum statefull/current.env statefull/agent-state.json)
sed -e "s|$T/state$|$T/statefull|" -e '/^metrics_listen/d' agent.conf >agent-full.conf
publish 7 0 35
rm -f posts/latest.json
rc=0; ip netns exec "$NA" "$AGENT" --config agent-full.conf once >full.log 2>&1 || rc=$?
[ "$rc" = 1 ] || die "once with a full state_dir exited $rc: $(cat full.log)"
grep -qE "(cannot persist revision 7|revision 7 not applied): .*No space left on device" full.log || die "disk full not named: $(cat full.log)"
expect_same=$(sha256sum statefull/current.env statefull/agent-state.json)
[ "$expect_same" = "$sum_before" ] || die "the cache changed on a full disk"
wg_a persistent-keepalive | grep -q 'off$' || die "revision 7 applied although it could not be persisted"
jq -e '.errors | any(test("No space left on device"))' posts/latest.json >/dev/null ||
  die "disk full not in the status report: $(cat posts/latest.json 2>/dev/null)"
umount statefull
ok "disk full: revision 7 refused, cache intact, reported: $(grep -m1 -oE '(cannot persist revision 7|revision 7 not applied): .*' full.log)"

# --- a controller that requires a client certificate (fresh state: nothing cached)
kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true
start_server --client-ca "$T/ca.pem"
rm -rf state3; mkdir state3
sed -e "s|$T/state$|$T/state3|" -e '/^metrics_listen/d' agent.conf >agent-nocert.conf
rc=0; ip netns exec "$NA" "$AGENT" --config agent-nocert.conf once >nocert.log 2>&1 || rc=$?
[ "$rc" = 1 ] || die "once without a client certificate exited $rc"
grep -q "HTTP 403" nocert.log || die "no 403 without a client certificate: $(cat nocert.log)"
printf 'client_cert = %s\nclient_key = %s\n' "$T/client.pem" "$T/client.key" >>agent-nocert.conf
rc=0; ip netns exec "$NA" "$AGENT" --config agent-nocert.conf once >cert.log 2>&1 || rc=$?
[ "$rc" = 0 ] || die "once with a client certificate exited $rc: $(cat cert.log)"
[ "$(jq .applied_revision state3/agent-state.json)" = 7 ] || die "client-cert fetch did not apply revision 7 (the latest published)"
ok "client certificate: refused without (403), applied with"

# --- clear removes what the agent created: peers and its routes
ip netns exec "$NA" "$AGENT" --config agent.conf clear >clear.log 2>&1 || die "clear failed: $(cat clear.log)"
[ -z "$(wg_a peers)" ] || die "clear left peers: $(wg_a peers)"
[ -z "$(ip -n "$NA" route show proto 211)" ] || die "clear left routes: $(ip -n "$NA" route show proto 211)"
ok "clear: no peers, no proto 211 routes left"

# token file readable by others: refused, never sent (a controller that takes any client)
kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true
start_server
chmod 644 token
nlog=$(wc -l <access.log)
rc=0; ip netns exec "$NA" "$AGENT" --config agent.conf once >tok.log 2>&1 || rc=$?
# (exit 0 is right: the node still runs its valid cached revision, docs/operations.md)
grep -q "readable by group or others" tok.log || die "group-readable token accepted: $(cat tok.log)"
tail -n +$((nlog + 1)) access.log >tok-access.log
grep -qF "$TOKEN" tok-access.log && die "the token was sent anyway: $(grep -F "$TOKEN" tok-access.log | head -2)"
chmod 600 token
ok "group-readable token file refused (once exit $rc, from the cache), never sent ($(wc -l <tok-access.log) request(s) logged, none with the token)"

echo "all agent tests passed"
