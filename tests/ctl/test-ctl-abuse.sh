#!/bin/bash
# SPDX-License-Identifier: MIT
# wgfleet-controller serve under abusive clients on loopback (issue 13, findings 3 and 4):
# unauthenticated uploads are refused on their headers and buffer nothing (RSS measured);
# 512 idle sockets from one address do not lock out a client from another; slow-loris clients
# (one byte of TLS handshake or of request headers at a time) are dropped within the header
# timeout.
set -uo pipefail
. "$(dirname "$0")/lib-ctl.sh"
enter_netns "$@"
command -v python3 >/dev/null || skip "python3 is not installed (meson needs it)"

tmp=$(mktemp -d "$build/tests/ctl/abuse.XXXXXX")
pid=
holders=()
cleanup() {
  for h in "${holders[@]}"; do kill "$h" 2>/dev/null; done
  [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"
}
trap cleanup EXIT
client=$src/tests/ctl/abuse-client.py

make_cert "$tmp" || skip "openssl cannot create a test certificate"
"$ctl" keygen --out "$tmp/keys" >/dev/null || { fail "keygen"; finish; exit 1; }
echo "fleet-token-0123456789abcdef" > "$tmp/token"; chmod 600 "$tmp/token"
k=$(wg genkey | wg pubkey)
echo "{\"wan\": {\"tunnel_cidr\": \"10.76.0.0/24\"}, \"nodes\": [{\"name\": \"hub\", \"endpoint\": \"192.0.2.1\", \"public_key\": \"$k\"}]}" \
  > "$tmp/inventory.json"
port=8446
base=https://127.0.0.1:$port
timeout_s=3
ulimit -n 4096 2>/dev/null
"$ctl" serve --inventory "$tmp/inventory.json" --key "$tmp/keys/signing.key" --listen 127.0.0.1:$port \
  --tls-cert "$tmp/tls.crt" --tls-key "$tmp/tls.key" --state "$tmp/state" --token-file "$tmp/token" \
  --header-timeout $timeout_s 2>>"$tmp/ctl.log" &
pid=$!
check "controller up" wait_for_https "$base/v1/fleet"
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
legit() { # SRC: status of an authenticated document fetch from that source address
  curl -s --cacert "$tmp/tls.crt" --max-time 10 --interface "$1" -o /dev/null -w '%{http_code}' \
    -H "Authorization: Bearer $(cat "$tmp/token")" "$base/v1/nodes/hub/desired-state"
}
expect_eq "a legitimate fetch works" "$(legit 127.0.0.2)" 200

# ---- 64 unfinished unauthenticated uploads of 1 MiB (the default --max-status-size) ----
rss0=$(rss)
coproc UP { python3 "$client" uploads 127.0.0.1 $port /v1/nodes/hub/status 64 1048576 \
  127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 2>&1; }
holders+=("$UP_PID")
read -r -t 60 line <&"${UP[0]}"
rss1=$(rss)
grow=$(( (rss1 - rss0) / 1024 ))
echo "# RSS before ${rss0} kB, with 64 unfinished uploads ${rss1} kB (+${grow} MB): $line"
expect_eq "all 64 uploads were answered 401 before their body was complete" "$line" "answered=64 401=64"
check "controller RSS grew by less than 8 MB (+${grow} MB)" [ "$grow" -lt 8 ]
kill "$UP_PID" 2>/dev/null; wait "$UP_PID" 2>/dev/null

# ---- 512 idle sockets from 127.0.0.1 ----
coproc IDLE { python3 "$client" idle 127.0.0.1 $port 512 127.0.0.1 2>&1; }
holders+=("$IDLE_PID")
read -r -t 60 line <&"${IDLE[0]}"
expect_eq "512 idle sockets opened" "$line" "open=512"
t0=$(date +%s%N)
expect_eq "a client from 127.0.0.2 still gets its document" "$(legit 127.0.0.2)" 200
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "within 2 s (${ms} ms)" [ "$ms" -lt 2000 ]
kill "$IDLE_PID" 2>/dev/null; wait "$IDLE_PID" 2>/dev/null

# ---- slow loris: one byte per second, of the TLS handshake or of the request headers ----
bound=$((timeout_s + 2))
for tls in 0 1; do
  what=$([ $tls = 1 ] && echo "request headers" || echo "TLS handshake")
  line=$(python3 "$client" loris 127.0.0.1 $port 8 127.0.0.7 1 $tls)
  echo "# slow $what: $line"
  check "8 slow-$what clients were all dropped within ${bound} s ($line)" \
    python3 -c "import sys; r = eval(sys.argv[1].split('=', 1)[1]); sys.exit(not all(0 < x <= $bound for x in r))" "$line"
done
expect_eq "a legitimate fetch still works afterwards" "$(legit 127.0.0.2)" 200
check "the controller is still running" kill -0 "$pid"
finish
