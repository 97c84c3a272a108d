#!/bin/bash
# SPDX-License-Identifier: MIT
# The agent at fleet scale (meson test --benchmark agent-10k): one node with N peers (default
# 10000) on wireguard-go, served over HTTPS by the test double. Prints the cold apply time
# (fetch + verify + parse + apply + routes), resident memory, CPU per idle cycle (304 + drift
# check of every peer), the status report size and the metrics scrape time.
set -eu
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (network namespace)"; exit 77; }
command -v wireguard-go >/dev/null || { echo "SKIP: wireguard-go is not installed"; exit 77; }
SRV=${WFD_TESTSRV:?} AGENT=${WFD_AGENT:?} N=${WFD_BENCH_PEERS:-10000}
NS=wfdb$$ IF=wfdb$$
T=$(mktemp -d /tmp/wfd-bench.XXXXXX)
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
  rm -f "/var/run/wireguard/$IF.sock"
  rm -rf "$T"
}
trap cleanup EXIT
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now() { date +%s%N; }

ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" env WG_PROCESS_FOREGROUND=1 wireguard-go "$IF" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "/var/run/wireguard/$IF.sock" ] && break; sleep 0.1; done
cd "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.pem -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
"$SRV" keygen signing.key trust.pub
mkdir -p docs posts state
# N peers with random keys (the 43rd character carries 4 bits: its low 2 bits must be 0), one /32 each in 10.64.0.0/10, numeric endpoints
head -c $((N * 33)) /dev/urandom | base64 -w 44 | head -n "$N" |
  awk -v iface="$IF" -v expiry="$(date -u -d '+1 day' +%FT%TZ)" -v iat="$(date -u +%FT%TZ)" '
    BEGIN { printf "{\"schema\":\"wgfleet/desired-state/v1\",\"node\":\"bench\",\"revision\":1,\"issued_at\":\"%s\",", iat
            printf "\"expires_at\":\"%s\",\"interfaces\":[{\"name\":\"%s\",\"listen_port\":51820,", expiry, iface
            printf "\"addresses\":[\"10.64.0.1/10\"],\"peers\":[" }
    { a = NR + 1; k = substr($0, 1, 42) substr("AEIMQUYcgkosw048", NR % 16 + 1, 1) "="
      printf "%s{\"name\":\"p%d\",\"public_key\":\"%s\",\"endpoint\":\"192.0.2.%d:%d\",\"allowed_ips\":[\"10.%d.%d.%d/32\"]}",
        (NR > 1 ? "," : ""), NR, k, NR % 250 + 1, 20000 + NR % 40000, 64 + int(a / 65536), int(a / 256) % 256, a % 256 }
    END { print "]}]}" }' >payload.json
"$SRV" sign signing.key payload.json docs/bench.env
cat >agent.conf <<C
[agent]
node = bench
state_dir = $T/state
backend = uapi
metrics_listen = 127.0.0.1:9586
report_interval = 10
[controller]
url = https://127.0.0.1:8443/v1/nodes/bench/desired-state
trust_key = $T/trust.pub
ca_file = $T/srv.pem
poll_interval = 5
C
ip netns exec "$NS" "$SRV" serve --listen 127.0.0.1:8443 --cert srv.pem --key srv.key --docs docs \
  --log access.log --posts posts 2>/dev/null &
PIDS+=($!)
sleep 0.5

t0=$(now)
ip netns exec "$NS" "$AGENT" --config agent.conf run >agent.log 2>&1 &
AP=$!; PIDS+=($AP)
for _ in $(seq 1200); do grep -q "revision 1 applied" agent.log && break; sleep 0.05; done
t1=$(now)
peers=$(ip netns exec "$NS" wg show "$IF" peers | wc -l)
routes=$(ip -n "$NS" route show proto 211 | wc -l)
[ "$peers" = "$N" ] && [ "$routes" = "$N" ] || { echo "FAIL: $peers peers, $routes routes"; tail agent.log; exit 1; }
echo "document: $N peers, $(stat -c %s docs/bench.env) bytes signed"
echo "cold apply (fetch, verify, parse, $N peers + $N routes over UAPI/rtnetlink): $(((t1 - t0) / 1000000)) ms"
sleep 6
c0=$(ticks "$AP"); p0=$(grep -c 'desired-state 304' access.log)
sleep 20
c1=$(ticks "$AP"); p1=$(grep -c 'desired-state 304' access.log)
cycles=$((p1 - p0))
echo "idle: $cycles cycles (304 + drift check of $N peers) in 20 s, $((c1 - c0))0 ms CPU ($(((c1 - c0) * 10 / (cycles > 0 ? cycles : 1))) ms per cycle)"
echo "RSS $(ps -o rss= -p "$AP" | tr -d ' ') KiB ($(awk '/^RssAnon/ {print $2}' "/proc/$AP/status") KiB private)"
echo "status report: $(stat -c %s posts/latest.json) bytes"
t2=$(now); ip netns exec "$NS" curl -sf http://127.0.0.1:9586/metrics >metrics.txt; t3=$(now)
echo "metrics scrape: $(wc -l <metrics.txt) lines, $(((t3 - t2) / 1000000)) ms"
