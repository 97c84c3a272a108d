#!/bin/bash
# SPDX-License-Identifier: MIT
# The agent as it ships: systemd/wgfleet-agent.service's ExecStart (`run`) under the unit's own
# restrictions (its user wgfleet-agent, not root: a uid without a passwd entry here unless the
# user exists; CAP_NET_ADMIN as the only capability, no_new_privs, read-only file system, private
# /tmp and /dev, syscall filter, address families, W^X) and its secrets as the unit's
# LoadCredential= copies, applied by tests/tools/unit-sandbox from the unit file itself; no
# systemd needed. The token and a preshared key stay root-owned 0600 in etc/, unreadable by the
# agent: it gets them only as credentials. wireguard-go runs as the agent's user too, as
# contrib/wireguard-go@.service does (its socket is mode 0700). One full cycle against the
# HTTPS controller double in a namespace: fetch, verify, apply (wf-compare: the node is the
# document), report (the status POST). The sandbox is checked from outside too
# (/proc/PID/status). Then `wgfleet-agent once` as root (docs/operations.md's first start)
# must leave the state directory the agent user's.
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

# the uid and gid unit-sandbox gives the agent (User=/Group=: the user's when it exists here)
AUID=61234 AGID=61234
getent passwd wgfleet-agent >/dev/null && AUID=$(id -u wgfleet-agent) AGID=$(id -g wgfleet-agent)

ns_add n
# wireguard-go as the agent's user with CAP_NET_ADMIN (contrib/wireguard-go@.service; there
# systemd's RuntimeDirectory= gives it /run/wireguard, here CAP_DAC_OVERRIDE stands in for that on
# the host's root-owned directory): its socket (mode 0700) is then the agent's to connect to
mkdir -p /var/run/wireguard
ip netns exec "$NS-n" env WG_PROCESS_FOREGROUND=1 setpriv --reuid "$AUID" --regid "$AGID" --clear-groups \
  --inh-caps -all,+net_admin,+dac_override --ambient-caps -all,+net_admin,+dac_override \
  wireguard-go "$IF" >>"$T/wg-$IF.log" 2>&1 &
WG_PID[$IF]=$!
wait_for 10 inns n wg show "$IF" || die "wireguard-go $IF did not start: $(tail -n 5 "$T/wg-$IF.log")"
check "wireguard-go's UAPI socket belongs to the agent's user ($(stat -c '%u:%g %a' "/var/run/wireguard/$IF.sock"))" \
  [ "$(stat -c '%u %a' "/var/run/wireguard/$IF.sock")" = "$AUID 700" ]
cd "$T" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 2 -subj /CN=wfu-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
  -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 \
  -extfile san.ext 2>/dev/null || die "cannot make a test certificate"
TOKEN=wfu-token-$RANDOM$RANDOM
mkdir -p etc/secrets state docs posts creds
chmod 755 . etc; chmod 700 state creds etc/secrets
"$SRV" keygen signing.key etc/trust.pub >/dev/null
cp ca.pem etc/ca.pem
chmod 644 etc/trust.pub etc/ca.pem
# the secrets: root's, 0600, as /etc/wgfleet/token and /etc/wgfleet/secrets/ (the unit's
# LoadCredential= sources); no client.key: its credential is the unit's blank default
PSK=$(wg genpsk)
(umask 077; printf '%s\n' "$TOKEN" >etc/token; printf '%s\n' "$PSK" >etc/secrets/hub.psk)
# the configuration as /etc/wgfleet/agent.conf would hold it, with the test's paths
cat >etc/agent.conf <<EOF
[agent]
node = $NODE
state_dir = $T/state
backend = uapi
report_interval = 1
secrets_dir = $T/etc/secrets
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
  '.interfaces[0] += {route_metric: 40} | .interfaces[0].peers[0] += {preshared_key_ref: "hub.psk"}' >doc-1.json
HUB_PUB=$(jq -r '.interfaces[0].peers[0].public_key' doc-1.json)
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
  --credential-dir "$T/creds" --uid "$AUID" --print >agent.log 2>&1 &
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
check "the unit names its user: User=wgfleet-agent, Group=wgfleet-agent" \
  eval 'grep -qx User=wgfleet-agent "$UNIT" && grep -qx Group=wgfleet-agent "$UNIT"'
ids() { awk -v f="$1" '$1 == f ":" {print $2, $3, $4, $5}' "$st"; }
check "sandboxed agent: real, effective, saved and fs uid are $AUID, not 0 ($(ids Uid))" [ "$(ids Uid)" = "$AUID $AUID $AUID $AUID" ]
check "sandboxed agent: every gid is $AGID ($(ids Gid)), no supplementary groups" \
  eval '[ "$(ids Gid)" = "$AGID $AGID $AGID $AGID" ] && [ "$(awk "/^Groups:/ {print NF - 1}" "$st")" = 0 ]'
check "sandboxed agent: ambient set is CAP_NET_ADMIN ($(awk '/^CapAmb/ {print $2}' "$st"))" \
  [ "$(awk '/^CapAmb/ {print $2}' "$st")" = 0000000000001000 ]
check "the state directory is the agent's ($(stat -c '%u:%g %a' state)) and so is the node key ($(stat -c '%u:%g %a' state/private.key))" \
  eval '[ "$(stat -c "%u %g %a" state)" = "$AUID $AGID 700" ] && [ "$(stat -c "%u %g %a" state/private.key)" = "$AUID $AGID 600" ]'
check "credentials: token and psk_hub.psk copies (0400, the agent's), client-key the blank default" \
  eval '[ "$(stat -c "%u %a" creds/token creds/psk_hub.psk | sort -u)" = "$AUID 400" ] &&
        cmp -s creds/token etc/token && [ -z "$(tr -d "\n" <creds/client-key)" ]'
root_opts() { awk '$5 == "/" {o = $6} END {print o}' "/proc/$APID/mountinfo"; }
check "sandboxed agent: / is read-only for it (ProtectSystem=strict: $(root_opts))" eval '[[ "$(root_opts)" == ro* ]]'
in_agent_mnt() { nsenter -t "$APID" -m -r "$@"; }
check "sandboxed agent's view: the state directory is writable, /etc and the build are not" \
  eval 'in_agent_mnt touch "$T/state/.probe" && in_agent_mnt rm "$T/state/.probe" &&
        ! in_agent_mnt touch /etc/wfu-probe 2>/dev/null && ! in_agent_mnt touch "$AGENT" 2>/dev/null'
check "sandboxed agent's view: a private /tmp (the test's directory is not in it)" \
  eval '! in_agent_mnt test -e "$T/access.log"'
as_agent() { nsenter -t "$APID" -m -r setpriv --reuid "$AUID" --regid "$AGID" --clear-groups "$@"; }
check "as the agent's user: etc/token and etc/secrets/hub.psk (root's, 0600) are unreadable, the credential is not" \
  eval '! as_agent cat "$T/etc/token" >/dev/null 2>&1 && ! as_agent cat "$T/etc/secrets/hub.psk" >/dev/null 2>&1 &&
        as_agent cat "$T/creds/token" >/dev/null'

# ---- one full cycle: fetch, apply, report ----
reported() { jq -e '.state == "converged" and .applied_revision == 1' posts/latest.json; }
check "cycle: the report says converged on revision 1" wait_for 20 reported
check "cycle: fetched with the token (GET 200) and reported (POST 200)" \
  eval 'grep -q "^GET /v1/nodes/$NODE/desired-state 200 auth=Bearer $TOKEN" access.log &&
        grep -q "^POST /v1/nodes/$NODE/status 200 auth=Bearer $TOKEN" access.log'
check "cycle: wf-compare: the node is exactly revision 1 (route_metric 40)" compare n doc-1.json
psk_live() { inns n wg show "$IF" preshared-keys | awk -v k="$HUB_PUB" '$1 == k {print $2}'; }
check "cycle: the hub's preshared key is the one from the credential" [ "$(psk_live)" = "$PSK" ]
check "cycle: the route is in the kernel (10.86.10.0/24 dev $IF proto 211 metric 40)" \
  eval 'inns n ip route show dev "$IF" | grep -q "^10.86.10.0/24 proto 211 .*metric 40"'
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

# docs/operations.md: `wgfleet-agent once` by hand, as root, on a node whose service has run;
# what it writes (state, report, lock) must stay readable and replaceable by the service's user
rm -f state/agent.lock
inns n "$AGENT" --config etc/agent.conf once >once.log 2>&1; rc=$?
check "once as root: exit 0 (got $rc)" [ "$rc" = 0 ]
foreign() { find state \( ! -uid "$AUID" -o ! -gid "$AGID" \) -printf '%p '; }
check "once as root: every file in the state directory is still $AUID:$AGID's (others: '$(foreign)')" [ -z "$(foreign)" ]
check "once as root: the lock it created is among them" [ -e state/agent.lock ]
[ "$failures" -eq 0 ] || { echo "--- agent log"; tail -n 30 agent.log; }
finish
