#!/bin/bash
# SPDX-License-Identifier: MIT
# The agent as it ships: systemd/wgfleet-agent.service's ExecStart (`run`) under the unit's own
# restrictions (capabilities, no_new_privs, user, read-only file system, private /tmp and /dev,
# syscall filter, address families, W^X), applied by tests/tools/unit-sandbox from the unit
# file itself; no systemd needed. One full cycle against the HTTPS controller double in a
# namespace with wireguard-go: fetch, verify, apply (wf-compare: the node is the document),
# report (the status POST). The sandbox is checked from outside too (/proc/PID/status).
set -uo pipefail
NETNS_TAG=wfu
. "$(dirname "$0")/lib.sh"
need_root wireguard-go wg ip jq openssl curl bwrap setpriv systemd-analyze
SRV=${WFU_TESTSRV:?} SANDBOX=$SRC/tests/tools/unit-sandbox UNIT=$SRC/systemd/wgfleet-agent.service
[ -x "${WF_SECCOMP_EXEC:-}" ] || skip "tests/tools/wf-seccomp-exec not built (libseccomp-dev, scripts/deps)"
IF=wfu${ID}
NODE=wfu-node
APID=
cleanup_local() { [ -n "$APID" ] && kill "$APID" 2>/dev/null; }

ns_add n
wg_start n "$IF"
cd "$T" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 2 -subj /CN=wfu-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
  -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 \
  -extfile san.ext 2>/dev/null || die "cannot make a test certificate"
TOKEN=wfu-token-$RANDOM$RANDOM
mkdir -p etc state docs posts
chmod 700 state
"$SRV" keygen signing.key etc/trust.pub >/dev/null
cp ca.pem etc/ca.pem
(umask 077; printf '%s\n' "$TOKEN" >etc/token)
# the configuration as /etc/wgfleet/agent.conf would hold it, with the test's paths
cat >etc/agent.conf <<EOF
[agent]
node = $NODE
state_dir = $T/state
backend = uapi
report_interval = 1
[controller]
url = https://127.0.0.1:8443/v1/nodes/$NODE/desired-state
trust_key = $T/etc/trust.pub
ca_file = $T/etc/ca.pem
token_file = $T/etc/token
poll_interval = 1
EOF
NODE_PUB=$(inns n "$AGENT" --config etc/agent.conf keygen | tail -n 1)
[ ${#NODE_PUB} -eq 44 ] || die "keygen printed '$NODE_PUB'"

peers() {
  peer_json hub "$(wg genkey | wg pubkey)" 192.0.2.1:51820 25 10.86.0.1/32 10.86.10.0/24
  peer_json laptop "$(wg genkey | wg pubkey)" - 0 10.86.0.9/32 fd86::9/128
}
peers >peers.jsonl
DOC_PUB=$NODE_PUB doc_json "$NODE" 1 "$IF" '["10.86.0.2/32", "fd86::2/128"]' peers.jsonl \
  '.interfaces[0] += {route_metric: 40}' >doc-1.json
"$SRV" sign signing.key doc-1.json "docs/$NODE.env"
ip netns exec "$NS-n" "$SRV" serve --listen 127.0.0.1:8443 --cert srv.pem --key srv.key --docs docs \
  --log access.log --posts posts --token "$TOKEN" 2>>srv.err &
PIDS+=($!)
wait_for 10 inns n curl -sk -o /dev/null https://127.0.0.1:8443/ || die "test controller did not start: $(cat srv.err)"

# ---- the unit's ExecStart under the unit's restrictions ----
# As on a Debian host, where systemd's sysctl.d/50-default.conf opens ICMP echo sockets to every
# group (the liveness probes need one); a new namespace starts at "1 0".
inns n sysctl -qw net.ipv4.ping_group_range="0 2147483647"
ip netns exec "$NS-n" "$SANDBOX" "$UNIT" --agent "$AGENT" --config-dir "$T/etc" --state-dir "$T/state" \
  --print >agent.log 2>&1 &
SB_PID=$!
PIDS+=($SB_PID)
# the agent itself: the process running the agent binary below the sandbox
agent_pid() {
  local p
  for p in $(descendants "$SB_PID"); do
    [ "/proc/$p/exe" -ef "$AGENT" ] && { echo "$p"; return 0; }
  done
  return 1
}
wait_for 10 agent_pid || die "the sandboxed agent did not start: $(cat agent.log)"
APID=$(agent_pid)
grep '^unit-sandbox:' agent.log | sed 's/^/# /'

# the restrictions, as the kernel sees them on the running agent
st=/proc/$APID/status
check "sandboxed agent: effective capabilities are CAP_NET_ADMIN only ($(awk '/^CapEff/ {print $2}' "$st"))" \
  [ "$(awk '/^CapEff/ {print $2}' "$st")" = 0000000000001000 ]
check "sandboxed agent: bounding set is CAP_NET_ADMIN only" [ "$(awk '/^CapBnd/ {print $2}' "$st")" = 0000000000001000 ]
check "sandboxed agent: no_new_privs" [ "$(awk '/^NoNewPrivs/ {print $2}' "$st")" = 1 ]
check "sandboxed agent: seccomp filter mode ($(awk '/^Seccomp:/ {print $2}' "$st")) with $(awk '/^Seccomp_filters/ {print $2}' "$st") filter(s)" \
  [ "$(awk '/^Seccomp:/ {print $2}' "$st")" = 2 ]
want_uid=0
grep -Eq '^(User|DynamicUser)=' "$UNIT" && want_uid=$(stat -c %u "$T/state")
check "sandboxed agent: runs as uid $want_uid as the unit says" [ "$(awk '/^Uid/ {print $2}' "$st")" = "$want_uid" ]
root_opts() { awk '$5 == "/" {o = $6} END {print o}' "/proc/$APID/mountinfo"; }
check "sandboxed agent: / is read-only for it (ProtectSystem=strict: $(root_opts))" eval '[[ "$(root_opts)" == ro* ]]'
in_agent_mnt() { nsenter -t "$APID" -m -r "$@"; }
check "sandboxed agent's view: the state directory is writable, /etc and the build are not" \
  eval 'in_agent_mnt touch "$T/state/.probe" && in_agent_mnt rm "$T/state/.probe" &&
        ! in_agent_mnt touch /etc/wfu-probe 2>/dev/null && ! in_agent_mnt touch "$AGENT" 2>/dev/null'
check "sandboxed agent's view: a private /tmp (the test's directory is not in it)" \
  eval '! in_agent_mnt test -e "$T/access.log"' 

# ---- one full cycle: fetch, apply, report ----
reported() { jq -e '.state == "converged" and .applied_revision == 1' posts/latest.json; }
check "cycle: the report says converged on revision 1" wait_for 20 reported
check "cycle: fetched with the token (GET 200) and reported (POST 200)" \
  eval 'grep -q "^GET /v1/nodes/$NODE/desired-state 200 auth=Bearer $TOKEN" access.log &&
        grep -q "^POST /v1/nodes/$NODE/status 200 auth=Bearer $TOKEN" access.log'
check "cycle: wf-compare: the node is exactly revision 1 (route_metric 40)" compare n doc-1.json
check "cycle: state written in the state directory (current.env, agent-state.json)" \
  eval '[ -s state/current.env ] && [ "$(jq .applied_revision state/agent-state.json)" = 1 ]'
check "cycle: the agent is still running" kill -0 "$APID"
check "no denied syscall or refused socket on the way: $(grep -ciE 'operation not permitted|not supported|bad system call|permission denied' agent.log) line(s)" \
  not grep -qiE 'operation not permitted|address family not supported|bad system call|permission denied' agent.log

# a second revision through the running, sandboxed agent
peers >peers2.jsonl   # two other peers
DOC_PUB=$NODE_PUB doc_json "$NODE" 2 "$IF" '["10.86.0.2/32", "fd86::2/128"]' peers2.jsonl >doc-2.json
"$SRV" sign signing.key doc-2.json "docs/$NODE.env"
check "revision 2 applied and reported by the sandboxed agent" \
  wait_for 20 eval 'jq -e ".state == \"converged\" and .applied_revision == 2" posts/latest.json && compare n doc-2.json'

kill -TERM "$APID"
check "SIGTERM: the sandboxed agent exits" wait_for 15 not kill -0 "$APID"
APID=
wait "$SB_PID"; rc=$?
check "and the sandbox exits 0 with it (got $rc)" [ "$rc" = 0 ]
check "no temp files left in the state directory" [ -z "$(find state -name '*.tmp*')" ]
[ "$failures" -eq 0 ] || { echo "--- agent log"; tail -n 30 agent.log; }
finish
