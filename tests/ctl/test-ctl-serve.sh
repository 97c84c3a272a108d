#!/bin/bash
# SPDX-License-Identifier: MIT
# wgfleet-controller serve, end to end over HTTPS on loopback: every endpoint (desired-state with
# ETag/304/long-poll, enroll, status, fleet JSON, the HTML page in headless Chromium), bearer and
# enrolment tokens, size limits, SIGHUP reload and restart persistence. Asserts on what the
# controller answers and holds.
set -uo pipefail
. "$(dirname "$0")/lib-ctl.sh"
enter_netns "$@"

tmp=$(mktemp -d "$build/tests/ctl/serve.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

make_cert "$tmp" || skip "openssl cannot create a test certificate"
"$ctl" keygen --out "$tmp/keys" >/dev/null || { fail "keygen"; finish; exit 1; }
check "keygen: signing.key is 0600" [ "$(stat -c %a "$tmp/keys/signing.key")" = 600 ]
check "keygen: refuses to overwrite" bash -c "! '$ctl' keygen --out '$tmp/keys' 2>/dev/null"
echo "agent-token-0123456789abcdef" > "$tmp/token"; chmod 600 "$tmp/token"
printf '# fleet-wide, then one for late only\nenrol-token-0123456789abcdef\nlate  late-token-0123456789abcdef\n' > "$tmp/enroll"
chmod 600 "$tmp/enroll"
TOKEN=$(cat "$tmp/token")
k_hub=$(wg genkey | wg pubkey); k_s1=$(wg genkey | wg pubkey); k_cgn=$(wg genkey | wg pubkey)
k_late=$(wg genkey | wg pubkey)

write_inventory() { # $1: extra subnet for s1
  cat > "$tmp/inventory.json" <<JSON
{"wan": {"name": "testfleet", "tunnel_cidr": "10.77.0.0/24", "topology": "hub-spoke", "poll_interval": 2},
 "nodes": [
  {"name": "hub", "role": "hub", "endpoint": "192.0.2.1:51820", "public_key": "$k_hub"},
  {"name": "s1", "endpoint": "192.0.2.11", "public_key": "$k_s1",
   "subnets": [{"cidr": "172.16.1.0/24", "routed": true}$1]},
  {"name": "cgn", "public_key": "$k_cgn"},
  {"name": "late"}
 ]}
JSON
}
write_inventory ""

printf 'ok-token-0123456789abcdef\nshort\n' > "$tmp/enroll-bad"; chmod 600 "$tmp/enroll-bad"
"$ctl" serve --inventory "$tmp/inventory.json" --key "$tmp/keys/signing.key" --listen 127.0.0.1:8442 \
  --tls-cert "$tmp/tls.crt" --tls-key "$tmp/tls.key" --state "$tmp/state-bad" --enroll-token-file "$tmp/enroll-bad" 2>"$tmp/bad.log"
expect_eq "a malformed enrolment token file: serve exits 1" "$?" 1
check "naming the file and line" grep -q 'enroll-bad: line 2: not "TOKEN" or "NODE TOKEN"' "$tmp/bad.log"
chmod 644 "$tmp/token"
"$ctl" serve --inventory "$tmp/inventory.json" --key "$tmp/keys/signing.key" --listen 127.0.0.1:8442 \
  --tls-cert "$tmp/tls.crt" --tls-key "$tmp/tls.key" --state "$tmp/state-bad" --token-file "$tmp/token" 2>"$tmp/bad.log"
expect_eq "a group/world-readable token file: serve exits 1" "$?" 1
check "saying why" grep -q 'readable by group or others' "$tmp/bad.log"
chmod 600 "$tmp/token"

port=8443
base=https://127.0.0.1:$port
start() {
  "$ctl" serve --inventory "$tmp/inventory.json" --key "$tmp/keys/signing.key" --listen 127.0.0.1:$port \
    --tls-cert "$tmp/tls.crt" --tls-key "$tmp/tls.key" --state "$tmp/state" --token-file "$tmp/token" \
    --enroll-token-file "$tmp/enroll" --max-status-size 4096 2>>"$tmp/ctl.log" &
  pid=$!
  wait_for_https "$base/v1/fleet"
}
check "serve starts and answers over HTTPS" start

C=(curl -s --cacert "$tmp/tls.crt" --max-time 20)
# sent FILE...: until every curl -v log has its request out (a "> GET" line): the long-polls are
# at the server before the change that must wake them
sent() {
  for _ in $(seq 100); do
    local n=0 f
    for f in "$@"; do grep -q '^> GET' "$f" 2>/dev/null && n=$((n + 1)); done
    [ "$n" -eq $# ] && return 0
    sleep 0.1
  done
  return 1
}
AUTH=(-H "Authorization: Bearer $TOKEN")
# req ARGS...: prints the HTTP status; body in $tmp/body, headers in $tmp/hdr

# ---- desired-state ----
expect_eq "desired-state without token is 401" "$(req "$base/v1/nodes/hub/desired-state")" 401
expect_eq "desired-state with a wrong token is 401" "$(req -H 'Authorization: Bearer agent-token-0123456789abcdeX' "$base/v1/nodes/hub/desired-state")" 401
expect_eq "desired-state of hub is 200" "$(req "${AUTH[@]}" "$base/v1/nodes/hub/desired-state")" 200
cp "$tmp/body" "$tmp/hub.env"
tag=$(etag)
rev=$(payload "$tmp/hub.env" | jq -r .revision)
check "ETag is strong and carries the revision ($tag)" bash -c "[[ '$tag' == '\"$rev-'* ]]"
expect_eq "envelope payloadType" "$(jq -r .payloadType "$tmp/hub.env")" application/vnd.wgfleet.desired-state+json
expect_eq "document node" "$(payload "$tmp/hub.env" | jq -r .node)" hub
expect_eq "document schema" "$(payload "$tmp/hub.env" | jq -r .schema)" wgfleet/desired-state/v1
expect_eq "hub peers: enrolled nodes only (late left out)" "$(payload "$tmp/hub.env" | jq -c '[.interfaces[0].peers[].name]')" '["cgn","s1"]'
check "agent validates the served envelope with signing.pub" \
  "$agent" validate --trust-key "$tmp/keys/signing.pub" "$tmp/hub.env"
expect_eq "If-None-Match with the ETag is 304" "$(req "${AUTH[@]}" -H "If-None-Match: $tag" "$base/v1/nodes/hub/desired-state")" 304
expect_eq "304 repeats the ETag" "$(etag)" "$tag"
check "304 has no body" [ ! -s "$tmp/body" ]
expect_eq "If-None-Match with another tag is 200" "$(req "${AUTH[@]}" -H 'If-None-Match: "1-deadbeef"' "$base/v1/nodes/hub/desired-state")" 200
expect_eq "unknown node is 404" "$(req "${AUTH[@]}" "$base/v1/nodes/nosuch/desired-state")" 404
expect_eq "invalid node name is 404" "$(req "${AUTH[@]}" "$base/v1/nodes/..%2f/desired-state")" 404
expect_eq "POST on desired-state is 405" "$(req "${AUTH[@]}" -X POST -d '{}' "$base/v1/nodes/hub/desired-state")" 405
expect_eq "bad wait is 400" "$(req "${AUTH[@]}" "$base/v1/nodes/hub/desired-state?wait=soon")" 400
expect_eq "unknown endpoint is 404" "$(req "$base/v1/nope")" 404

# long-poll that times out: 304 after the wait, not before
t0=$(date +%s%N)
expect_eq "long-poll without change ends in 304" "$(req "${AUTH[@]}" -H "If-None-Match: $tag" "$base/v1/nodes/hub/desired-state?wait=2")" 304
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "long-poll held the request ~2 s (${ms} ms)" [ "$ms" -ge 1900 -a "$ms" -lt 6000 ]

# long-poll woken by a change: enrolling "late" changes the hub's peers
"${C[@]}" "${AUTH[@]}" -H "If-None-Match: $tag" -o "$tmp/lp.body" -D "$tmp/lp.hdr" -w '%{http_code} %{time_total}' \
  -v "$base/v1/nodes/hub/desired-state?wait=30" > "$tmp/lp.out" 2>"$tmp/lp.err" &
lp=$!
check "the long-poll is sent before the enrolment" sent "$tmp/lp.err"

# ---- enroll ----
expect_eq "enroll with a wrong token is 403" \
  "$(req -X POST -d "{\"public_key\": \"$k_late\", \"enrollment_token\": \"nope\"}" "$base/v1/nodes/late/enroll")" 403
expect_eq "enroll without token is 403" "$(req -X POST -d "{\"public_key\": \"$k_late\"}" "$base/v1/nodes/late/enroll")" 403
expect_eq "enroll with bad JSON is 400" "$(req -X POST -d '{"public_key": ' "$base/v1/nodes/late/enroll")" 400
expect_eq "enroll with a bad key is 400" \
  "$(req -X POST -d '{"public_key": "abc", "enrollment_token": "enrol-token-0123456789abcdef"}' "$base/v1/nodes/late/enroll")" 400
expect_eq "enroll of an unknown node is 404" \
  "$(req -X POST -d "{\"public_key\": \"$k_late\", \"enrollment_token\": \"enrol-token-0123456789abcdef\"}" "$base/v1/nodes/ghost/enroll")" 404
expect_eq "enroll with another node's key is 409" \
  "$(req -X POST -d "{\"public_key\": \"$k_s1\", \"enrollment_token\": \"late-token-0123456789abcdef\"}" "$base/v1/nodes/late/enroll")" 409
expect_eq "enroll late with the fleet-wide token is 403 (late has its own)" \
  "$(req -X POST -d "{\"public_key\": \"$k_late\", \"enrollment_token\": \"enrol-token-0123456789abcdef\"}" "$base/v1/nodes/late/enroll")" 403
expect_eq "enroll late with its own token is 200" \
  "$(req -X POST -d "{\"public_key\": \"$k_late\", \"enrollment_token\": \"late-token-0123456789abcdef\"}" "$base/v1/nodes/late/enroll")" 200
expect_eq "enroll answer names the key" "$(jq -r .public_key "$tmp/body")" "$k_late"
cred0=$(jq -r .credential "$tmp/body")
check "enroll answer carries a per-node credential (64 hex digits)" bash -c "[[ '$cred0' =~ ^[0-9a-f]{64}$ ]]"
expect_eq "re-enrolling an enrolled node without its credential is 409" \
  "$(req -X POST -d "{\"public_key\": \"$k_late\", \"enrollment_token\": \"late-token-0123456789abcdef\"}" "$base/v1/nodes/late/enroll")" 409
expect_eq "re-enrolling with its credential is 200 (rotation)" \
  "$(req -H "Authorization: Bearer $cred0" -X POST -d "{\"public_key\": \"$k_late\"}" "$base/v1/nodes/late/enroll")" 200
CRED_LATE=$(jq -r .credential "$tmp/body")
check "rotation issued a new credential" [ "$CRED_LATE" != "$cred0" ]
expect_eq "the rotated-out credential is refused" \
  "$(req -H "Authorization: Bearer $cred0" "$base/v1/nodes/late/desired-state")" 401
expect_eq "enrolling a different key for late (with its credential) is 409" \
  "$(req -H "Authorization: Bearer $CRED_LATE" -X POST -d "{\"public_key\": \"$(wg genkey | wg pubkey)\"}" "$base/v1/nodes/late/enroll")" 409
check "409 names the key conflict" grep -q 'already has a different public key' "$tmp/body"
expect_eq "enrolling a key other than the inventory's is 409" \
  "$(req -X POST -d "{\"public_key\": \"$(wg genkey | wg pubkey)\", \"enrollment_token\": \"enrol-token-0123456789abcdef\"}" "$base/v1/nodes/hub/enroll")" 409

wait $lp
read -r lp_code lp_time < "$tmp/lp.out"
expect_eq "long-poll woken by the enrolment answers 200" "$lp_code" 200
check "long-poll answered promptly after the change (${lp_time}s of a 30 s wait)" \
  awk -v t="$lp_time" 'BEGIN { exit !(t < 5) }'
expect_eq "hub's new document has late as a peer" \
  "$(payload "$tmp/lp.body" | jq -c '[.interfaces[0].peers[].name]')" '["cgn","late","s1"]'
expect_eq "late's allowed IP on the hub" \
  "$(payload "$tmp/lp.body" | jq -r '.interfaces[0].peers[] | select(.name == "late") | .allowed_ips | join(",")')" 10.77.0.4/32
rev2=$(payload "$tmp/lp.body" | jq -r .revision)
check "hub revision increased ($rev -> $rev2)" [ "$rev2" -gt "$rev" ]
LATE=(-H "Authorization: Bearer $CRED_LATE")
expect_eq "late's document carries its enrolled key" \
  "$(req "${LATE[@]}" "$base/v1/nodes/late/desired-state" >/dev/null; payload "$tmp/body" | jq -r .interfaces[0].public_key)" "$k_late"
check "enrolment persisted in the state dir" grep -q "$k_late" "$tmp/state/state.json"
check "the state dir keeps the credential's hash, not the credential" \
  bash -c "jq -e '.credentials.late | test(\"^[0-9a-f]{64}\$\")' '$tmp/state/state.json' >/dev/null && ! grep -rq '$CRED_LATE' '$tmp/state'"

# ---- status ----
status_body() { # node applied healthy
  cat <<JSON
{"schema": "wgfleet/status/v1", "node": "$1", "agent_version": "test", "state": "converged",
 "applied_revision": $2, "seen_revision": $2, "last_fetch_ok": "2026-11-22T00:00:00Z", "last_apply": null,
 "errors": [], "drift": [],
 "interfaces": [{"name": "wg0", "public_key": "$k_hub", "listen_port": 51820, "peers": [
   {"public_key": "$k_s1", "name": "s1", "endpoint": "192.0.2.11:51820", "latest_handshake": 1795000000,
    "handshake_age_s": 3, "rx_bytes": 100, "tx_bytes": 200, "healthy": true},
   {"public_key": "$k_cgn", "name": "cgn", "endpoint": null, "latest_handshake": 0,
    "handshake_age_s": null, "rx_bytes": 0, "tx_bytes": 0, "healthy": $3}]}]}
JSON
}
cur_hub=$(req "${AUTH[@]}" "$base/v1/nodes/hub/desired-state" >/dev/null; payload "$tmp/body" | jq -r .revision)
cur_s1=$(req "${AUTH[@]}" "$base/v1/nodes/s1/desired-state" >/dev/null; payload "$tmp/body" | jq -r .revision)
expect_eq "status without token is 401" "$(req -X POST --data-binary "$(status_body hub "$cur_hub" false)" "$base/v1/nodes/hub/status")" 401
expect_eq "status of hub is 204" "$(req "${AUTH[@]}" -X POST --data-binary "$(status_body hub "$cur_hub" false)" "$base/v1/nodes/hub/status")" 204
expect_eq "status of s1 (behind: applied an older revision) is 204" \
  "$(req "${AUTH[@]}" -X POST --data-binary "$(status_body s1 $((cur_s1 - 1)) true)" "$base/v1/nodes/s1/status")" 204
expect_eq "status with bad JSON is 400" "$(req "${AUTH[@]}" -X POST -d '{"node": "hub",' "$base/v1/nodes/hub/status")" 400
check "bad JSON answer names the problem" grep -q 'invalid JSON' "$tmp/body"
expect_eq "status for another node's URL is 400" \
  "$(req "${AUTH[@]}" -X POST --data-binary "$(status_body hub 1 true)" "$base/v1/nodes/s1/status")" 400
check "node mismatch answer names the field" grep -q '"node: ' "$tmp/body"
expect_eq "status with a bad state is 400" \
  "$(req "${AUTH[@]}" -X POST --data-binary "$(status_body hub 1 true | sed 's/"converged"/"happy"/')" "$base/v1/nodes/hub/status")" 400
check "bad state answer names the field and the value" grep -qF 'state: \"happy\" must be one of' "$tmp/body"
expect_eq "status with a bad peer key is 400" \
  "$(req "${AUTH[@]}" -X POST --data-binary "$(status_body hub 1 true | sed "s|$k_s1|notakey|")" "$base/v1/nodes/hub/status")" 400
check "bad key answer names the path" grep -q 'interfaces\[0\].peers\[0\].public_key' "$tmp/body"
expect_eq "status of an unknown node is 404" \
  "$(req "${AUTH[@]}" -X POST --data-binary "$(status_body ghost 1 true)" "$base/v1/nodes/ghost/status")" 404
head -c 5000 /dev/zero | tr '\0' ' ' > "$tmp/big"
expect_eq "oversize status (Content-Length) is 413" "$(req "${AUTH[@]}" -X POST --data-binary @"$tmp/big" "$base/v1/nodes/hub/status")" 413
expect_eq "oversize status (chunked) is 413" \
  "$(req "${AUTH[@]}" -X POST -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/big" "$base/v1/nodes/hub/status")" 413
expect_eq "GET on status is 405" "$(req "${AUTH[@]}" "$base/v1/nodes/hub/status")" 405
check "report kept in the state dir" jq -e '.node == "hub"' "$tmp/state/status/hub.json" >/dev/null

# ---- per-node identity: an enrolled node's endpoints take only its own credential ----
expect_eq "cgn enrols with the fleet-wide enrolment token and its inventory key" \
  "$(req -X POST -d "{\"public_key\": \"$k_cgn\", \"enrollment_token\": \"enrol-token-0123456789abcdef\"}" "$base/v1/nodes/cgn/enroll")" 200
CGN=(-H "Authorization: Bearer $(jq -r .credential "$tmp/body")")
cur_late=$(req "${LATE[@]}" "$base/v1/nodes/late/desired-state" >/dev/null; payload "$tmp/body" | jq -r .revision)
# (one revision behind, so late stays stale for the fleet page checks below)
expect_eq "late reports with its own credential: 204" \
  "$(req "${LATE[@]}" -X POST --data-binary "$(status_body late $((cur_late - 1)) true)" "$base/v1/nodes/late/status")" 204
late_row() { req "$base/v1/fleet" >/dev/null; jq -c '.nodes[] | select(.name == "late") | [.applied_revision, .state, .peers_healthy, .last_report]' "$tmp/body"; }
row0=$(late_row)
expect_eq "a status for late with cgn's credential is 403" \
  "$(req "${CGN[@]}" -X POST --data-binary "$(status_body late $((cur_late + 5)) false | sed 's/"converged"/"degraded"/')" "$base/v1/nodes/late/status")" 403
expect_eq "a status for late with the fleet token is 403" \
  "$(req "${AUTH[@]}" -X POST --data-binary "$(status_body late $((cur_late + 5)) false)" "$base/v1/nodes/late/status")" 403
expect_eq "late's fleet row is unchanged by the spoofed reports" "$(late_row)" "$row0"
expect_eq "late cannot read cgn's document (403)" "$(req "${LATE[@]}" "$base/v1/nodes/cgn/desired-state")" 403
check "403 does not leak the document" bash -c "! grep -q payload '$tmp/body'"
expect_eq "cgn reads its own document with its credential" "$(req "${CGN[@]}" "$base/v1/nodes/cgn/desired-state")" 200
expect_eq "the fleet token no longer opens late's document (403)" "$(req "${AUTH[@]}" "$base/v1/nodes/late/desired-state")" 403
expect_eq "no token for late's document is 401" "$(req "$base/v1/nodes/late/desired-state")" 401
expect_eq "late's credential does not open hub (not enrolled, fleet token only): 403" \
  "$(req "${LATE[@]}" "$base/v1/nodes/hub/desired-state")" 403

# ---- fleet ----
expect_eq "fleet is 200" "$(req "$base/v1/fleet")" 200
cp "$tmp/body" "$tmp/fleet.json"
f() { jq -c ".nodes[] | select(.name == \"$1\") | $2" "$tmp/fleet.json"; }
expect_eq "fleet lists every node in inventory order" "$(jq -c '[.nodes[].name]' "$tmp/fleet.json")" '["hub","s1","cgn","late"]'
expect_eq "hub: current = applied, fresh report: not stale" "$(f hub '[.current_revision == .applied_revision, .stale]')" '[true,false]'
expect_eq "hub: peers healthy/total from its report" "$(f hub '[.peers_healthy, .peers_total]')" '[1,2]'
expect_eq "hub: last_report is RFC 3339" "$(f hub '.last_report | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")')" true
expect_eq "s1: applied < current: stale" "$(f s1 '[.applied_revision < .current_revision, .stale]')" '[true,true]'
expect_eq "cgn: never reported: stale, null report" "$(f cgn '[.stale, .last_report, .applied_revision]')" '[true,null,null]'

# ---- the HTML page in headless Chromium ----
# hub keeps reporting while Chromium starts (it can take longer than the 6 s staleness window)
( while :; do "${C[@]}" "${AUTH[@]}" -o /dev/null --data-binary "$(status_body hub "$cur_hub" false)" \
    "$base/v1/nodes/hub/status"; sleep 1; done ) &
reporter=$!
hub_fresh() { req "$base/v1/fleet" >/dev/null && [ "$(jq -c '.nodes[] | select(.name == "hub") | .stale' "$tmp/body")" = false ]; }
check "hub fresh before Chromium loads the page" wait_for 10 hub_fresh
if command -v chromium >/dev/null; then
  profile=$(mktemp -d "$tmp/chromium.XXXXXX")
  timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --ignore-certificate-errors \
    --user-data-dir="$profile" --dump-dom "$base/" > "$tmp/dom.html" 2>"$tmp/chromium.log"
  check "Chromium rendered the fleet page" grep -q '<table id="fleet"' "$tmp/dom.html"
  for n in hub s1 cgn late; do
    check "page shows node $n" grep -q "data-node=\"$n\"" "$tmp/dom.html"
  done
  check "page marks hub fresh" grep -q '<tr class="ok" data-node="hub">' "$tmp/dom.html"
  check "page marks cgn stale, never reported" \
    grep -q '<tr class="stale" data-node="cgn"><td class="name">cgn</td><td class="current">[0-9]*</td><td class="applied">-</td><td class="state">never reported' "$tmp/dom.html"
  check "page shows hub's peers 1/2" grep -q '<td class="peers">1/2</td>' "$tmp/dom.html"
  check "page summary counts 3 stale of 4" grep -q '4 nodes, 3 stale' "$tmp/dom.html"
else
  fail "chromium is not installed (scripts/deps installs it)"
fi

kill $reporter; wait $reporter 2>/dev/null

# ---- staleness by age: no report within 3 poll intervals (2 s here) ----
hub_stale() { req "$base/v1/fleet" >/dev/null && [ "$(jq -c '.nodes[] | select(.name == "hub") | .stale' "$tmp/body")" = true ]; }
check "hub: report older than 3 poll intervals: stale (within 20 s)" wait_for 20 hub_stale

# ---- SIGHUP reload ----
write_inventory ', {"cidr": "172.16.11.0/24", "routed": true}'
kill -HUP "$pid"
s1_routes() { payload "$tmp/body" | jq -r '.interfaces[0].peers[] | select(.name == "s1") | .allowed_ips | join(",")'; }
wait_for 10 eval 'req "${AUTH[@]}" "$base/v1/nodes/hub/desired-state" >/dev/null && [ "$(s1_routes)" = 10.77.0.2/32,172.16.1.0/24,172.16.11.0/24 ]'
req "${AUTH[@]}" "$base/v1/nodes/hub/desired-state" >/dev/null
expect_eq "after SIGHUP the hub routes s1's new subnet" \
  "$(payload "$tmp/body" | jq -r '.interfaces[0].peers[] | select(.name == "s1") | .allowed_ips | join(",")')" \
  10.77.0.2/32,172.16.1.0/24,172.16.11.0/24
rev3=$(payload "$tmp/body" | jq -r .revision)
check "hub revision increased on reload" [ "$rev3" -gt "$rev2" ]
req "${AUTH[@]}" "$base/v1/nodes/s1/desired-state" >/dev/null
expect_eq "s1's own document did not change (same revision)" "$(payload "$tmp/body" | jq -r .revision)" "$cur_s1"
tag3=$(req "${AUTH[@]}" "$base/v1/nodes/hub/desired-state" >/dev/null; etag)
echo '{"wan": {"tunnel_cidr": "10.77.0.0/24"}, "nodes": [{"name": "x", "subnets": ["10.77.0.0/25"]}]}' > "$tmp/inventory.json"
kill -HUP "$pid"
check "a bad inventory on reload is logged with node and subnet" wait_for 10 grep -q 'node x: subnet 10.77.0.0/25 overlaps tunnel_cidr' "$tmp/ctl.log"
expect_eq "a bad inventory on reload keeps serving the old one" \
  "$(req "${AUTH[@]}" -H "If-None-Match: $tag3" "$base/v1/nodes/hub/desired-state")" 304

# ---- restart: same documents, same ETags, reports remembered ----
write_inventory ', {"cidr": "172.16.11.0/24", "routed": true}'
kill "$pid"; wait "$pid"; pid=
check "restart" start
expect_eq "after restart the hub's ETag is unchanged" \
  "$(req "${AUTH[@]}" -H "If-None-Match: $tag3" "$base/v1/nodes/hub/desired-state")" 304
req "$base/v1/fleet" >/dev/null
expect_eq "after restart the hub's report is remembered" \
  "$(jq -c '.nodes[] | select(.name == "hub") | .peers_total' "$tmp/body")" 2
# 20 agents long-polling at once; a change wakes all of them; SIGTERM does not wait for polls
tag4=$(req "${AUTH[@]}" "$base/v1/nodes/hub/desired-state" >/dev/null; etag)
for i in $(seq 20); do
  "${C[@]}" "${AUTH[@]}" -H "If-None-Match: $tag4" -o /dev/null -w '%{http_code}\n' \
    -v "$base/v1/nodes/hub/desired-state?wait=60" >> "$tmp/many.out" 2>"$tmp/many.$i.err" &
done
check "20 long-polls sent before the change" sent "$tmp"/many.*.err
write_inventory ', {"cidr": "172.16.11.0/24", "routed": true}, {"cidr": "172.16.12.0/24", "routed": true}'
kill -HUP "$pid"
t0=$(date +%s%N)
wait $(jobs -p | grep -vx "$pid")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect_eq "20 concurrent long-polls all answered 200 after the change" "$(grep -c '^200$' "$tmp/many.out")" 20
check "all within 3 s of the change (${ms} ms)" [ "$ms" -lt 3000 ]
for i in $(seq 5); do
  "${C[@]}" "${AUTH[@]}" -H "If-None-Match: \"0-x\", W/\"x\"" -o /dev/null "$base/v1/nodes/hub/desired-state" &
done
"${C[@]}" "${AUTH[@]}" -o /dev/null -H "If-None-Match: $(req "${AUTH[@]}" "$base/v1/nodes/hub/desired-state" >/dev/null; etag)" \
  -v "$base/v1/nodes/hub/desired-state?wait=60" 2>"$tmp/term.err" &
check "a long-poll pending before SIGTERM" sent "$tmp/term.err"
t0=$(date +%s%N)
kill "$pid"; wait "$pid"; rc=$?; pid=
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect_eq "SIGTERM exits 0" "$rc" 0
check "SIGTERM with a long-poll pending exits promptly (${ms} ms)" [ "$ms" -lt 3000 ]
wait

# ---- without --token-file: credentials persist, enrolled nodes still need theirs ----
start_open() {
  "$ctl" serve --inventory "$tmp/inventory.json" --key "$tmp/keys/signing.key" --listen 127.0.0.1:$port \
    --tls-cert "$tmp/tls.crt" --tls-key "$tmp/tls.key" --state "$tmp/state" 2>>"$tmp/ctl.log" &
  pid=$!
  wait_for_https "$base/v1/fleet"
}
check "restart without --token-file" start_open
expect_eq "without --token-file an unenrolled node's document is open" "$(req "$base/v1/nodes/hub/desired-state")" 200
expect_eq "without --token-file late's document still needs its credential (401)" "$(req "$base/v1/nodes/late/desired-state")" 401
expect_eq "late's credential survived the restart" "$(req "${LATE[@]}" "$base/v1/nodes/late/desired-state")" 200
expect_eq "cgn's credential still cannot report for late (403)" \
  "$(req "${CGN[@]}" -X POST --data-binary "$(status_body late 1 true)" "$base/v1/nodes/late/status")" 403
kill "$pid"; wait "$pid"; pid=
finish
