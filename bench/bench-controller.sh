#!/bin/bash
# SPDX-License-Identifier: MIT
# The controller at scale (issue 12.4): render of a 10 000-node hub-spoke and of a mesh of 100
# (wall time, peak RSS) and their unchanged re-render; then `serve` with the 10 000 nodes, each
# holding its own per-node credential (pre-seeded as enrolment would leave them: state.json
# keeps the SHA-256), and ctl-load posting every node's status once per PERIOD (default 60 s)
# over new TLS connections for DURATION (default 60 s: every node once), with GET /v1/fleet
# once a second. Prints the numbers bench/README.md keeps. Loopback only.
set -euo pipefail
ctl=${WFB_CTL:?}
load=${WFB_LOAD:?}
N=${WFB_NODES:-10000}
PERIOD=${WFB_PERIOD:-60}
DURATION=${WFB_DURATION:-60}
port=${WFB_PORT:-8461}
tmp=$(mktemp -d /tmp/wfb-ctl.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

"$ctl" keygen --out "$tmp/keys" >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$tmp/tls.key" -out "$tmp/tls.crt" 2>/dev/null

# inventories, credentials (node, credential, hub key) and the state that enrolment leaves
python3 - "$tmp" "$N" <<'PY'
import base64, hashlib, json, os, sys
tmp, n = sys.argv[1], int(sys.argv[2])
key = lambda: base64.b64encode(os.urandom(32)).decode()
hub = key()
nodes = [{"name": "hub", "role": "hub", "endpoint": "192.0.2.1:51820", "public_key": hub}]
nodes += [{"name": "s%05d" % i, "public_key": key()} for i in range(1, n)]
json.dump({"wan": {"name": "bench", "tunnel_cidr": "10.64.0.0/16", "topology": "hub-spoke", "poll_interval": 60},
           "nodes": nodes}, open(tmp + "/hubspoke.json", "w"))
mesh = [{"name": "m%03d" % i, "endpoint": "192.0.2.%d:51820" % (i + 1), "public_key": key()} for i in range(100)]
json.dump({"wan": {"name": "mesh", "tunnel_cidr": "10.65.0.0/24", "topology": "mesh"}, "nodes": mesh},
          open(tmp + "/mesh.json", "w"))
creds, hashes = [], {}
for nd in nodes:
    c = os.urandom(32).hex()
    creds.append("%s %s %s\n" % (nd["name"], c, hub))
    hashes[nd["name"]] = hashlib.sha256(c.encode()).hexdigest()
open(tmp + "/creds", "w").writelines(creds)
os.makedirs(tmp + "/serve", exist_ok=True)
json.dump({"credentials": hashes}, open(tmp + "/serve/state.json", "w"))
PY
chmod 600 "$tmp/serve/state.json"

# render NAME INVENTORY: wall s, peak RSS MiB, new documents
render() {
  /usr/bin/time -f '%e %M' -o "$tmp/time" "$ctl" render --inventory "$2" --key "$tmp/keys/signing.key" \
    --out "$tmp/out-$1" --state "$tmp/state-$1" > "$tmp/render.out" 2>/dev/null
  read -r wall kb < "$tmp/time"
  printf '%-34s %6.2f s  %6.1f MiB peak RSS  %5d new documents\n' "$3" "$wall" "$(echo "$kb / 1024" | bc -l)" \
    "$(grep -c '(new)' "$tmp/render.out" || true)"
}
render hs "$tmp/hubspoke.json" "render hub-spoke $N nodes"
render hs "$tmp/hubspoke.json" "re-render hub-spoke, unchanged"
render mesh "$tmp/mesh.json" "render mesh of 100"
render mesh "$tmp/mesh.json" "re-render mesh, unchanged"
echo "hub document: $(stat -c %s "$tmp/out-hs/hub.env") bytes; mesh node document: $(stat -c %s "$tmp/out-mesh/m000.env") bytes"

# status ingestion
"$ctl" serve --inventory "$tmp/hubspoke.json" --key "$tmp/keys/signing.key" --listen 127.0.0.1:$port \
  --tls-cert "$tmp/tls.crt" --tls-key "$tmp/tls.key" --state "$tmp/serve" --max-per-ip 512 2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 600); do curl -s -o /dev/null --cacert "$tmp/tls.crt" "https://127.0.0.1:$port/v1/fleet" && break; sleep 0.1; done
rss() { awk -v k="$1:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }
echo "serve: up with $N nodes, RSS $(rss VmRSS) MiB"
cpu0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
t0=$(date +%s.%N)
rc=0
/usr/bin/time -f '%U %S' -o "$tmp/load.time" "$load" "https://127.0.0.1:$port" "$tmp/tls.crt" "$tmp/creds" "$PERIOD" "$DURATION" 256 | tee "$tmp/load.out" || rc=$?
t1=$(date +%s.%N)
cpu1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
pct() { echo "$1 / ($t1 - $t0) * 100" | bc -l | xargs printf '%.0f'; }
echo "serve under load: RSS $(rss VmRSS) MiB (peak $(rss VmHWM) MiB), CPU $(pct "($cpu1 - $cpu0) / $(getconf CLK_TCK)")% of one core;" \
  "ctl-load $(pct "$(awk 'END { print $1 + $2 }' "$tmp/load.time")")% (both share 2 cores with everything else: a starved generator shows as latency)"
answered=$(awk '/^reports:/ { print $4 }' "$tmp/load.out")
echo "controller CPU per report (the fleet views included): $(echo "($cpu1 - $cpu0) / $(getconf CLK_TCK) * 1000 / ${answered:-1}" | bc -l | xargs printf '%.2f') ms"
t=$(date +%s%N); curl -s -o "$tmp/page.html" --cacert "$tmp/tls.crt" "https://127.0.0.1:$port/"
echo "fleet page (GET /, idle): $(( ($(date +%s%N) - t) / 1000000 )) ms, $(stat -c %s "$tmp/page.html") bytes"
stale=$(curl -s --cacert "$tmp/tls.crt" "https://127.0.0.1:$port/v1/fleet" | jq '[.nodes[] | select(.last_report != null)] | length')
echo "nodes with a report in /v1/fleet: $stale of $N"
exit $rc
