#!/bin/bash
# SPDX-License-Identifier: MIT
# Memory of the agent at 10 000 peers (issue 12: peak <= 16 MiB applying, in `apply` and in
# `run`; idle `run` <= 12 MiB), whole processes, libraries included, next to the wg tools doing
# the same on the same peers. Host, wireguard-go in a namespace of its own, no VM; as root:
#   meson test -C build --benchmark agent-memory      (or WFD_TESTSRV=... WFD_AGENT=... this)
# Prints one line per measurement:
#   peak_kb (wait4 ru_maxrss, or VmHWM of a running agent), rss_kb / anon_kb (VmRSS, RssAnon)
set -eu
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (network namespace)"; exit 77; }
command -v wireguard-go >/dev/null || { echo "SKIP: wireguard-go is not installed"; exit 77; }
command -v wg >/dev/null || { echo "SKIP: wg (wireguard-tools) is not installed"; exit 77; }
SRV=${WFD_TESTSRV:?} AGENT=${WFD_AGENT:?} BENCH=${WFD_BENCH:?} N=${WFD_BENCH_PEERS:-10000}
NS=wfmb$$ IFW=wfmw$$ IFA=wfma$$ IFR=wfmr$$
T=$(mktemp -d /tmp/wfm-bench.XXXXXX)
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
  rm -f "/var/run/wireguard/$IFW.sock" "/var/run/wireguard/$IFA.sock" "/var/run/wireguard/$IFR.sock"
  rm -rf "$T"
}
trap cleanup EXIT
inns() { ip netns exec "$NS" "$@"; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
wggo() {
  ip netns exec "$NS" env WG_PROCESS_FOREGROUND=1 wireguard-go "$1" >/dev/null 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do [ -S "/var/run/wireguard/$1.sock" ] && break; sleep 0.1; done
}
timed() { # NAME COMMAND...: one line with the whole process's peak RSS
  local out
  out=$(inns "$BENCH" time "$@" 2>&1) || { echo "FAIL: $name: $out"; exit 1; }
  out=$(echo "$out" | tail -1)
  echo "$out" | grep -q maxrss_kb || { echo "FAIL: $1: $out"; exit 1; }
  printf '%-34s peak_kb=%s time_ms=%s\n' "$name" "$(echo "$out" | field maxrss_kb)" "$(echo "$out" | field time_ms)"
}

ip netns add "$NS"
ip -n "$NS" link set lo up
cd "$T"
mkdir -p docs posts state state-run
"$SRV" keygen signing.key trust.pub
port=51820
for i in "$IFA" "$IFR"; do
  port=$((port + 1)) # wireguard-go devices in one namespace: one port each
  "$BENCH" doc "$i" "$N" --port $port >"$i.json"
  "$SRV" sign signing.key "$i.json" "$i.env"
done
"$BENCH" conf "$N" >full.conf
echo "document: $N peers, $(stat -c %s "$IFA.env") bytes signed"

# The wg tools: wg setconf of the same peers (no routes), then again with nothing to change.
wggo "$IFW"
name="wg setconf (cold)" timed wg setconf "$IFW" full.conf
name="wg syncconf (no change)" timed wg syncconf "$IFW" full.conf
awk -v dev="$IFW" '$1 == "AllowedIPs" {for (i = 3; i <= NF; i++) {sub(",", "", $i); print "route add " $i " dev " dev " proto 211"}}' \
  full.conf >routes.batch
inns ip link set "$IFW" up
name="ip -batch ($((2 * N)) routes)" timed ip -batch routes.batch
inns ip link del "$IFW" 2>/dev/null || true

# wgfleet-agent apply: cold (peers + one route per allowed IP), then with nothing to change.
printf '[agent]\nnode = bench\nstate_dir = %s/state\nbackend = uapi\n' "$T" >apply.conf
"$AGENT" --config apply.conf keygen >/dev/null
wggo "$IFA"
name="agent apply (cold)" timed "$AGENT" --config apply.conf apply --trust-key trust.pub "$IFA.env"
name="agent apply (no change)" timed "$AGENT" --config apply.conf apply --trust-key trust.pub "$IFA.env"
name="agent validate" timed "$AGENT" --config apply.conf validate --trust-key trust.pub "$IFA.env"
name="agent --help" timed "$AGENT" --help
[ "$(inns wg show "$IFA" peers | wc -l)" = "$N" ] || { echo "FAIL: apply left $(inns wg show "$IFA" peers | wc -l) peers"; exit 1; }
inns ip link del "$IFA" # the same peers' routes follow in run

# wgfleet-agent run: fetches the same peers over HTTPS from the test double, applies them cold,
# then idles (a 304 every poll_interval, a report every report_interval).
wggo "$IFR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.pem -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
cp "$IFR.env" docs/bench.env
cat >run.conf <<C
[agent]
node = bench
state_dir = $T/state-run
backend = uapi
report_interval = 5
${WFD_BENCH_METRICS:+metrics_listen = 127.0.0.1:9587}
[controller]
url = https://127.0.0.1:8444/v1/nodes/bench/desired-state
trust_key = $T/trust.pub
ca_file = $T/srv.pem
poll_interval = 2
C
"$AGENT" --config run.conf keygen >/dev/null
ip netns exec "$NS" "$SRV" serve --listen 127.0.0.1:8444 --cert srv.pem --key srv.key --docs docs --log access.log \
  --posts posts 2>/dev/null &
PIDS+=($!)
sleep 0.5
ip netns exec "$NS" env ${WFD_AGENT_ENV:-} "$AGENT" --config run.conf run >run.log 2>&1 &
AP=$!
PIDS+=($AP)
for _ in $(seq 1200); do grep -q "revision 1 applied" run.log && break; sleep 0.05; done
grep -q "revision 1 applied" run.log || { echo "FAIL: run did not apply"; tail -5 run.log; exit 1; }
[ "$(inns wg show "$IFR" peers | wc -l)" = "$N" ] || { echo "FAIL: run left $(inns wg show "$IFR" peers | wc -l) peers"; exit 1; }
printf '%-34s peak_kb=%s\n' "agent run (cold apply, VmHWM)" "$(status_kb "$AP" VmHWM)"
sleep "${WFD_BENCH_IDLE:-12}"
[ -z "${WFD_BENCH_SMAPS:-}" ] || python3 "$WFD_BENCH_SMAPS" "$AP"
p304=$(grep -c 'desired-state 304' access.log || true)
printf '%-34s rss_kb=%s anon_kb=%s peak_kb=%s (%s polls answered 304)\n' "agent run (idle)" \
  "$(status_kb "$AP" VmRSS)" "$(status_kb "$AP" RssAnon)" "$(status_kb "$AP" VmHWM)" "$p304"
