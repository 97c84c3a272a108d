#!/bin/bash
# SPDX-License-Identifier: MIT
# The sidecar as it ships: systemd/wgfleet-agent@.service (instance router1), its ExecStart
# (`run`) under the unit's own restrictions as tests/tools/unit-sandbox derives them from the
# unit file (a dynamic user, no capabilities at all, no_new_privs, read-only system, private
# /tmp, the syscall filter and address families), with the API password handed over as a
# LoadCredential= copy and the controller credential in the state directory (as `enroll` leaves
# it). One full cycle: fetch over HTTPS, verify, apply to the simulator (wf-compare: the router
# holds the document), report.
if [ -z "${WFR_IN_NETNS:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "SKIP: needs root (a private network namespace, a sandbox user)"; exit 77; }
  WFR_IN_NETNS=1 exec unshare -n -- "$0" "$@"
fi
ip link set lo up
. "$(dirname "$0")/lib.sh"
for t in bwrap setpriv systemd-analyze; do
  command -v $t >/dev/null || { echo "SKIP: $t is not installed (scripts/deps)"; exit 77; }
done
[ -x "${WF_SECCOMP_EXEC:-}" ] || { echo "SKIP: tests/tools/wf-seccomp-exec not built (libseccomp-dev, scripts/deps)"; exit 77; }
SRV=${WFD_TESTSRV:?} UNIT=$WGFLEET_SRC/systemd/wgfleet-agent@.service
cd "$T"
tls_router   # ca.crt, router.crt for 127.0.0.1: the router's API and the controller double
TOKEN=tok-$RANDOM$RANDOM
"$SRV" keygen ctl.key ctl-trust.pub >/dev/null
mkdir -p docs posts etc creds state-router1
chmod 755 etc; chmod 700 state-router1 creds
# the router's API on its default port, TLS (8729; this test has a network namespace of its own)
SIM_PORT=8729 start_tls_sim --defconf
# /etc/wgfleet as docs/routeros.md lays it out: router1.conf, the trust key and CAs (readable),
# the secrets root-owned 0600 and handed to the service as credentials
cp ctl-trust.pub etc/trust.pub; cp ca.crt etc/fleet-ca.crt; cp ca.crt etc/router1-ca.crt
chmod 644 etc/trust.pub etc/fleet-ca.crt etc/router1-ca.crt   # public: readable
(umask 077; printf '%s\n' "$PW" >etc/router1.password)
cred_dir=$T/creds   # stands for /run/credentials/wgfleet-agent@router1.service
creds=$(sed -n 's/^LoadCredential=//p' "$UNIT")
[ -n "$creds" ] || fail "$UNIT has no LoadCredential="
for c in $creds; do   # NAME:/etc/wgfleet/%i.SUFFIX -> a copy of etc/router1.SUFFIX, 0400
  src=${c#*:}; src=$T/etc/$(basename "${src//%i/router1}")
  [ -f "$src" ] || fail "LoadCredential=$c: the test has no $src"
  install -m 0400 "$src" "$cred_dir/${c%%:*}"
done
# router1.conf exactly as docs/routeros.md has it, paths moved under $T, the intervals shortened
sed -n '/^# \/etc\/wgfleet\/router1.conf$/,/^```$/p' "$WGFLEET_SRC/docs/routeros.md" | sed '1d;$d' |
  sed -e "s|/run/credentials/wgfleet-agent@router1.service|$cred_dir|; s|/var/lib/wgfleet-routeros/router1|$T/state-router1|" \
      -e "s|/etc/wgfleet/|$T/etc/|; s|https://fleet.example.net|https://127.0.0.1:8443|; s|^host = .*|host = $SIM_ADDR|" \
      -e 's/^probe_timeout = .*/probe_timeout = 1/; /^\[agent\]/a report_interval = 1' -e '/^\[controller\]/a poll_interval = 1' \
  >etc/router1.conf
grep -q '^password_file' etc/router1.conf || fail "no router1.conf example in docs/routeros.md: $(cat etc/router1.conf)"
# no token_file: `wgfleet-agent enroll` leaves the node's own credential in the state directory
# (docs/routeros.md); the controller double accepts it as the bearer token
(umask 077; printf '%s\n' "$TOKEN" >state-router1/credential)
chmod 644 etc/router1.conf

write_doc "$T/payload.json"
"$SRV" sign ctl.key payload.json docs/router1.env
"$SRV" serve --listen 127.0.0.1:8443 --cert router.crt --key router.key --docs docs --log access.log --posts posts \
  --token "$TOKEN" 2>>server.err &
SRVPID=$!
wait_for 10 curl -sk -o /dev/null https://127.0.0.1:8443/ || fail "controller double did not start: $(cat server.err)"

"$WGFLEET_SRC/tests/tools/unit-sandbox" "$UNIT" --instance router1 --agent "$AGENT" --config-dir "$T/etc" \
  --state-dir "$T/state-router1" --credential-dir "$cred_dir" --print >run.log 2>&1 &
SBPID=$!
trap 'kill $SBPID $SRVPID 2>/dev/null; wait $SBPID $SRVPID 2>/dev/null; cleanup' EXIT
wait_for 10 grep -q '^unit-sandbox:' run.log; grep -m1 '^unit-sandbox:' run.log | sed 's/^/# /' || true

reported() { jq -e '.state == "converged" and .applied_revision == 1' posts/latest.json; }
wait_for 30 reported || fail "the sandboxed sidecar did not report revision 1 converged: $(tail -n 20 run.log; cat posts/latest.json 2>/dev/null)"
grep -q "^GET /v1/nodes/router1/desired-state 200 auth=Bearer $TOKEN" access.log || fail "no fetch with the token: $(cat access.log)"
d=$(compare_ros "$T/payload.json") || fail "the router differs from the document after the sandboxed cycle: $d"
ok "sandboxed sidecar cycle: fetched with the token, applied ($d), reported converged"

# what the kernel says about the sandboxed process (the agent below bwrap's init)
apid=
for p in $(descendants "$SBPID"); do
  [ "/proc/$p/exe" -ef "$AGENT" ] && apid=$p
done
[ -n "$apid" ] || fail "no sandboxed agent process found"
st=/proc/$apid/status
assert_eq "$(awk '/^CapEff/ {print $2}' "$st")" 0000000000000000 "effective capabilities (none)"
assert_eq "$(awk '/^CapBnd/ {print $2}' "$st")" 0000000000000000 "bounding set (empty)"
assert_eq "$(awk '/^NoNewPrivs/ {print $2}' "$st")" 1 "no_new_privs"
assert_eq "$(awk '/^Seccomp:/ {print $2}' "$st")" 2 "seccomp filter mode"
[ "$(awk '/^Uid/ {print $2}' "$st")" != 0 ] || fail "the sidecar runs as root"
assert_eq "$(stat -c %u state-router1/current.env)" "$(awk '/^Uid/ {print $2}' "$st")" "state written by the dynamic user"
ok "the sidecar ran as uid $(awk '/^Uid/ {print $2}' "$st") without capabilities, no_new_privs, seccomp mode 2"
grep -qiE 'operation not permitted|address family not supported|bad system call|permission denied' run.log &&
  fail "something was refused by the sandbox: $(grep -iE 'operation not permitted|not supported|bad system call|permission denied' run.log | head -3)"
kill -TERM "$apid"
wait_for 15 eval '! kill -0 "$apid" 2>/dev/null' || fail "the sidecar did not stop on SIGTERM"
wait "$SBPID"; rc=$?
assert_eq "$rc" 0 "sandbox exit status after SIGTERM"
ok "SIGTERM: the sandboxed sidecar exits 0"
