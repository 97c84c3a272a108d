#!/bin/bash
# SPDX-License-Identifier: MIT
# Rollout waves, history, revert and wg-quick configurations through `serve`'s API, with the
# agents' status reports posted by the test (the gate's decisions under exact control; the
# netns test runs the same with real agents). Asserts on what the controller serves.
set -uo pipefail
. "$(dirname "$0")/lib-ctl.sh"
enter_netns "$@"

tmp=$(mktemp -d "$build/tests/ctl/rollout-api.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

make_cert "$tmp" || skip "openssl cannot create a test certificate"
"$ctl" keygen --out "$tmp/keys" >/dev/null || { fail "keygen"; finish; exit 1; }
echo "agent-token-0123456789abcdef" > "$tmp/token"; chmod 600 "$tmp/token"
echo "operator-token-0123456789abcdef" > "$tmp/admin"; chmod 600 "$tmp/admin"
declare -A key
for n in hub s1 s2 s3 phone; do key[$n]=$(wg genkey | wg pubkey); done
bad_key=$(wg genkey | wg pubkey)

# write_inventory [mtu] [s1 key] [s2 extra subnet]
write_inventory() {
  local mtu=${1:-} k1=${2:-${key[s1]}} sub2=${3:-}
  cat > "$tmp/inventory.json" <<JSON
{"wan": {"name": "rollfleet", "tunnel_cidr": "10.78.0.0/24", "topology": "hub-spoke", "poll_interval": 2${mtu:+, \"mtu\": $mtu}},
 "rollout": {"waves": [["hub"], ["s1"], ["*"]], "settle": 2, "deadline": 30},
 "nodes": [
  {"name": "hub", "role": "hub", "endpoint": "192.0.2.1:51820", "public_key": "${key[hub]}"},
  {"name": "s1", "endpoint": "192.0.2.11", "public_key": "$k1"},
  {"name": "s2", "endpoint": "192.0.2.12", "public_key": "${key[s2]}", "subnets": ["172.16.2.0/24"$sub2]},
  {"name": "s3", "endpoint": "192.0.2.13", "public_key": "${key[s3]}"},
  {"name": "phone", "public_key": "${key[phone]}", "agent": false}
 ]}
JSON
}
write_inventory

port=8445
base=https://127.0.0.1:$port
state=$tmp/state
"$ctl" serve --inventory "$tmp/inventory.json" --key "$tmp/keys/signing.key" --listen 127.0.0.1:$port \
  --tls-cert "$tmp/tls.crt" --tls-key "$tmp/tls.key" --state "$state" --token-file "$tmp/token" --admin-token-file "$tmp/admin" 2>>"$tmp/ctl.log" &
pid=$!
check "serve starts" wait_for_https "$base/v1/fleet"
C=(curl -s --cacert "$tmp/tls.crt" --max-time 20)
AUTH=(-H "Authorization: Bearer $(cat "$tmp/token")")

served() { req "${AUTH[@]}" "$base/v1/nodes/$1/desired-state" >/dev/null; payload "$tmp/body" | jq -r "${2:-.revision}"; }
# report NODE REVISION STATE [PEER:HEALTHY...]
report() {
  local node=$1 rev=$2 st=$3 peers="" sep=""
  shift 3
  for p in "$@"; do
    peers+="$sep{\"public_key\": \"${key[${p%%:*}]}\", \"name\": \"${p%%:*}\", \"healthy\": ${p#*:}}"; sep=,
  done
  "${C[@]}" "${AUTH[@]}" -o /dev/null -w '%{http_code}' -d "{\"schema\": \"wgfleet/status/v1\", \"node\": \"$node\", \"state\": \"$st\",
    \"applied_revision\": $rev, \"interfaces\": [{\"name\": \"wg0\", \"peers\": [$peers]}]}" "$base/v1/nodes/$node/status"
}
rollout() { "${C[@]}" "$base/v1/rollout" | jq -r "$1"; }
# wait_rollout JQ WANT: up to 15 s
wait_rollout() { for _ in $(seq 150); do [ "$(rollout "$1")" = "$2" ] && return 0; sleep 0.1; done; return 1; }
report_all() { # every agent node converged at what it is served, all peers healthy
  report hub "$(served hub)" converged s1:true s2:true s3:true >/dev/null
  for n in s1 s2 s3; do report $n "$(served $n)" converged hub:true >/dev/null; done
}

# ---- a first render is served at once: nothing to roll out ----
expect_eq "first render: no rollout" "$(rollout .state)" idle
declare -A r0
for n in hub s1 s2 s3; do r0[$n]=$(served $n); done
report_all
expect_eq "history of hub: one revision, served" "$("${C[@]}" "$base/v1/nodes/hub/history" | jq -c '[.revisions[] | [.revision == '"${r0[hub]}"', .served]]')" '[[true,true]]'
expect_eq "history of an unknown node is 404" "$(req "$base/v1/nodes/ghost/history")" 404

# ---- three waves: an MTU change reaches hub, then s1, then the rest ----
write_inventory 1400
kill -HUP "$pid"
check "the change starts a rollout" wait_rollout .state rolling
expect_eq "wave 1 of 3" "$(rollout .wave)" 1
expect_eq "hub (wave 1) is served the change" "$(served hub .interfaces[0].mtu)" 1400
expect_eq "s1 (wave 2) still gets its old revision" "$(served s1)" "${r0[s1]}"
expect_eq "s3 (wave 3) still gets its old revision" "$(served s3)" "${r0[s3]}"
"${C[@]}" -o "$tmp/fleet1.json" "$base/v1/fleet"
expect_eq "fleet view: s1 served its old revision, target newer" \
  "$(jq -r '.nodes[] | select(.name == "s1") | (.current_revision == '"${r0[s1]}"') and (.target_revision > .current_revision)' "$tmp/fleet1.json")" true
expect_eq "fleet view: the rollout is rolling at wave 1" "$(jq -r '"\(.rollout.state) \(.rollout.wave)"' "$tmp/fleet1.json")" "rolling 1"
expect_eq "fleet view: hub holds the wave (not applied yet)" "$(rollout '.holding[0].node')" hub
sleep 3
expect_eq "without hub's report the wave does not advance" "$(rollout .wave)" 1
r1_hub=$(served hub)
report hub "$r1_hub" converged s1:true s2:true s3:true >/dev/null
check "hub applied and settled: wave 2 starts" wait_rollout .wave 2
expect_eq "s1 is served the change in wave 2" "$(served s1 .interfaces[0].mtu)" 1400
expect_eq "s2 (wave 3) still old" "$(served s2)" "${r0[s2]}"
report s1 "$(served s1)" converged hub:true >/dev/null
check "wave 3 starts" wait_rollout .wave 3
expect_eq "s2 and s3 are served the change" "$(served s2 .interfaces[0].mtu) $(served s3 .interfaces[0].mtu)" "1400 1400"
report s2 "$(served s2)" converged hub:true >/dev/null
report s3 "$(served s3)" converged hub:true >/dev/null
check "the rollout is done" wait_rollout .state done
report_all

# ---- a change breaking hub's peer s1 halts at wave 1; later waves never see it ----
r_s1=$(served s1)
r_hub_good=$(served hub)
write_inventory 1400 "$bad_key"
kill -HUP "$pid"
check "rolling again" wait_rollout .state rolling
r_bad=$(served hub)
expect_eq "hub is served the bad key for s1" "$(served hub '.interfaces[0].peers[] | select(.name == "s1") | .public_key')" "$bad_key"
report hub "$r_bad" converged s1:false s2:true s3:true >/dev/null
check "s1 unhealthy on the hub: the rollout halts" wait_rollout .state halted
expect_eq "the reason names the peer" "$(rollout .reason)" "node hub: peer s1 was healthy before the change and is not now"
expect_eq "hub is rolled back: its old peer key again" "$(served hub '.interfaces[0].peers[] | select(.name == "s1") | .public_key')" "${key[s1]}"
rb=$(served hub)
check "under a new, higher revision ($rb > $r_bad)" [ "$rb" -gt "$r_bad" ]
expect_eq "s1 never received the change" "$(served s1)" "$r_s1"
"${C[@]}" -o "$tmp/fleet2.json" "$base/v1/fleet"
expect_eq "fleet view: halted with the reason" "$(jq -r .rollout.state "$tmp/fleet2.json")" halted
report hub "$rb" converged s1:true s2:true s3:true >/dev/null
sleep 2
expect_eq "a halted rollout stays halted" "$(rollout .state)" halted
expect_eq "and still serves s1 its old revision" "$(served s1)" "$r_s1"

# ---- the operator: status, resume (halts again), abort ----
check "rollout status names the reason" bash -c "'$ctl' rollout --state '$state' status | grep -q 'halted, wave 1: node hub: peer s1'"
out=$("$ctl" rollout --state "$state" resume)
expect_eq "rollout resume is taken by serve" "$out" "rollout resumed at wave 1"
check "resumed" wait_rollout .state rolling
r_bad2=$(served hub)
expect_eq "hub is served the bad key again" "$(served hub '.interfaces[0].peers[] | select(.name == "s1") | .public_key')" "$bad_key"
report hub "$r_bad2" converged s1:false s2:true s3:true >/dev/null
check "halts again" wait_rollout .state halted
# the same over HTTP, with the operator's credential only
ADMIN=(-H "Authorization: Bearer $(cat "$tmp/admin")")
expect_eq "POST /v1/rollout/resume without a token: 401" "$(req -X POST "$base/v1/rollout/resume")" 401
expect_eq "with the agents' fleet token: 403" "$(req "${AUTH[@]}" -X POST "$base/v1/rollout/resume") $(jq -r .error "$tmp/body")" \
  "403 an agent's credential cannot act as the operator"
expect_eq "with a wrong token: 401" "$(req -H "Authorization: Bearer not-the-operator-token-0000" -X POST "$base/v1/rollout/resume")" 401
expect_eq "GET is not allowed" "$(req "${ADMIN[@]}" "$base/v1/rollout/resume")" 405
expect_eq "the refused requests changed nothing" "$(rollout .state)" halted
expect_eq "POST /v1/rollout/resume with the operator's token" \
  "$(req "${ADMIN[@]}" -X POST "$base/v1/rollout/resume") $(jq -c . "$tmp/body")" \
  '200 {"ok":true,"message":"rollout resumed at wave 1","state":"rolling"}'
expect_eq "GET /v1/rollout: rolling again at wave 1" "$(rollout '"\(.state) \(.wave)"')" "rolling 1"
r_bad3=$(served hub)
expect_eq "hub is served the bad key a third time" "$(served hub '.interfaces[0].peers[] | select(.name == "s1") | .public_key')" "$bad_key"
report hub "$r_bad3" converged s1:false s2:true s3:true >/dev/null
check "halts a third time" wait_rollout .state halted
expect_eq "resumed right after a halt (s1 still unhealthy in hub's last report), s1 stays expected healthy: rolled back again" \
  "$(served hub '.interfaces[0].peers[] | select(.name == "s1") | .public_key')" "${key[s1]}"
expect_eq "POST /v1/rollout/abort with the operator's token" \
  "$(req "${ADMIN[@]}" -X POST "$base/v1/rollout/abort") $(jq -c . "$tmp/body")" \
  '200 {"ok":true,"message":"rollout aborted","state":"aborted"}'
expect_eq "an HTTP abort of an aborted rollout: 409" "$(req "${ADMIN[@]}" -X POST "$base/v1/rollout/abort") $(jq -r .message "$tmp/body")" \
  "409 rollout: nothing to abort (state aborted)"
check "the operator's requests are in the log" grep -q 'operator request (HTTP) rollout abort: rollout aborted' "$tmp/ctl.log"
expect_eq "aborted" "$(rollout .state)" aborted
expect_eq "after abort hub keeps its good peer key" "$(served hub '.interfaces[0].peers[] | select(.name == "s1") | .public_key')" "${key[s1]}"
expect_eq "after abort s1 keeps its content (its own key, MTU 1400)" "$(served s1 '"\(.interfaces[0].public_key) \(.interfaces[0].mtu)"')" "${key[s1]} 1400"
"$ctl" rollout --state "$state" abort > "$tmp/abort2" 2>&1
expect_eq "a second abort is refused" "$? $(cat "$tmp/abort2")" \
  "1 wgfleet-controller: rollout: nothing to abort (state aborted)"
# the inventory is fixed: nothing to roll out (every node already runs that content)
r_s1=$(served s1)
write_inventory 1400
kill -HUP "$pid"
sleep 1.5
expect_eq "fixing the inventory after an abort changes nothing" "$(rollout .state) $(served s1)" "aborted $r_s1"
report_all

# ---- revert: the old content under a new, higher revision, through the waves ----
before=$(served hub)
out=$("$ctl" revert --state "$state" hub --to "${r0[hub]}")
check "revert hub --to ${r0[hub]}: $out" grep -q "node hub: the content of revision ${r0[hub]} is published under a new revision" <<<"$out"
out=$("$ctl" revert --state "$state" s1)
check "revert s1 (the content served before): $out" grep -q "node s1: the content of revision ${r0[s1]} is published" <<<"$out"
check "the revert rolls out" wait_rollout .state rolling
rv=$(served hub)
check "reverted hub revision $rv is above $before" [ "$rv" -gt "$before" ]
expect_eq "hub's MTU is the old one again (none)" "$(served hub .interfaces[0].mtu)" null
expect_eq "hub's peers are the old ones" "$(served hub '[.interfaces[0].peers[].public_key] | sort | join(",")')" \
  "$(printf '%s\n' "${key[s1]}" "${key[s2]}" "${key[s3]}" "${key[phone]}" | sort | paste -sd,)"
report hub "$rv" converged s1:true s2:true s3:true >/dev/null
check "wave 2 has the revert of s1" wait_rollout .wave 2
expect_eq "s1's MTU is the old one again (none)" "$(served s1 .interfaces[0].mtu)" null
report s1 "$(served s1)" converged hub:true >/dev/null
check "nothing else changed: the revert is done after wave 2" wait_rollout .state done
expect_eq "history of hub lists the reverted revision first" "$("${C[@]}" "$base/v1/nodes/hub/history" | jq -r '.revisions[0] | "\(.revision) \(.served) \(.current)"')" "$rv true true"
"$ctl" revert --state "$state" hub --to 12345 > "$tmp/revert2" 2>&1
expect_eq "reverting to a revision not kept is refused" "$? $(cat "$tmp/revert2")" \
  "1 wgfleet-controller: node hub: revision 12345 is not in the history (No such file or directory)"

# ---- the phone: wg-quick configuration, QR code, stale flag ----
expect_eq "wg-quick.conf without the token is 401" "$(req "$base/v1/nodes/phone/wg-quick.conf")" 401
expect_eq "a node with an agent has no wg-quick.conf" "$(req "${AUTH[@]}" "$base/v1/nodes/hub/wg-quick.conf")" 404
expect_eq "fleet: phone never downloaded: config stale" "$("${C[@]}" "$base/v1/fleet" | jq -r '.nodes[] | select(.name == "phone") | .config_stale')" true
expect_eq "fleet: the phone's row is stale, no agent, no state" \
  "$("${C[@]}" "$base/v1/fleet" | jq -c '.nodes[] | select(.name == "phone") | [.stale, .agent, .state]')" '[true,false,null]'
expect_eq "fleet: hub's row has an agent" "$("${C[@]}" "$base/v1/fleet" | jq -c '.nodes[] | select(.name == "hub") | .agent')" true
"${C[@]}" -o "$tmp/page0.html" "$base/"
check "fleet table: the phone is config stale (never downloaded)" grep -q \
  '<tr class="stale" data-node="phone"><td class="name">phone</td>.*<td class="state">no agent (wg-quick)</td>.*<td class="stale">config stale (never downloaded)</td>' "$tmp/page0.html"
expect_eq "phone's wg-quick.conf" "$(req "${AUTH[@]}" "$base/v1/nodes/phone/wg-quick.conf")" 200
cp "$tmp/body" "$tmp/phone.conf"
check "it has the private key placeholder" grep -qx 'PrivateKey = <fill in: this node.s private key>' "$tmp/phone.conf"
check "its address" grep -qx "Address = $(jq -r '.allocations.phone' "$state/state.json")/32" "$tmp/phone.conf"
check "the hub as its peer, with keepalive (no endpoint of its own)" \
  bash -c "grep -A5 '^PublicKey = ${key[hub]}' '$tmp/phone.conf' | grep -q 'PersistentKeepalive = 25'"
expect_eq "after the download: not stale" "$("${C[@]}" "$base/v1/fleet" | jq -r '.nodes[] | select(.name == "phone") | "\(.config_stale) \(.stale)"')" "false false"
"${C[@]}" -o "$tmp/page1.html" "$base/"
check "fleet table: the phone's row is ok" grep -q \
  '<tr class="ok" data-node="phone">.*<td class="stale">no</td>' "$tmp/page1.html"
write_inventory 1400 "${key[s1]}" ', "172.16.22.0/24"'
kill -HUP "$pid"
sleep 1.5
expect_eq "s2's new subnet changes the phone's config: stale" "$("${C[@]}" "$base/v1/fleet" | jq -r '.nodes[] | select(.name == "phone") | "\(.config_stale) \(.stale)"')" "true true"
"${C[@]}" -o "$tmp/page2.html" "$base/"
check "fleet table: the phone's row says config stale" grep -q \
  '<tr class="stale" data-node="phone">.*<td class="stale">config stale</td>' "$tmp/page2.html"
expect_eq "QR code of the config" "$(req "${AUTH[@]}" "$base/v1/nodes/phone/wg-quick.conf?format=qr")" 200
check "as SVG" bash -c "grep -qi '^content-type: image/svg+xml' '$tmp/hdr' && grep -q '<svg' '$tmp/body'"
expect_eq "the download cleared the flag" "$("${C[@]}" "$base/v1/fleet" | jq -r '.nodes[] | select(.name == "phone") | .config_stale')" false
req "${AUTH[@]}" "$base/v1/nodes/phone/wg-quick.conf" >/dev/null
check "the new config routes 172.16.22.0/24" grep -q '172.16.22.0/24' "$tmp/body"

# ---- the fleet page in headless Chromium, with a screenshot kept in the test output ----
if command -v chromium >/dev/null; then
  profile=$(mktemp -d "$tmp/chromium.XXXXXX")
  shot=$build/tests/ctl/fleet-rollout.png
  opts=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
        --disable-sync --no-first-run --ignore-certificate-errors --user-data-dir="$profile")
  timeout 60 chromium "${opts[@]}" --dump-dom "$base/" > "$tmp/dom.html" 2>"$tmp/chromium.log"
  check "page: rollout section with its state" grep -q '<p id="rollout" class="rolling">' "$tmp/dom.html"
  check "page: waves table, hub in wave 1" grep -q '<tr class="[a-z]*" data-node="hub"><td>hub</td><td class="wave">1</td>' "$tmp/dom.html"
  check "page: s2 held back in wave 3" grep -q 'data-node="s2"><td>s2</td><td class="wave">3</td>' "$tmp/dom.html"
  check "page: history of hub lists revision $rv" grep -q "$rv" "$tmp/dom.html"
  check "page: the phone's config is up to date" grep -q 'data-node="phone"><td>phone</td><td class="revisions">[0-9 <>/b]*</td><td class="wgquick">up to date' "$tmp/dom.html"
  timeout 60 chromium "${opts[@]}" --window-size=1200,1400 --screenshot="$shot" "$base/" >/dev/null 2>>"$tmp/chromium.log"
  check "screenshot kept: $shot" [ -s "$shot" ]
else
  fail "chromium is not installed (scripts/deps installs it)"
fi

# ---- bad rollout values refuse the inventory, naming the field ----
bad_rollout() { # ROLLOUT_JSON: the error line of render
  jq --argjson r "$1" '.rollout = $r' "$tmp/inventory.json" > "$tmp/bad.json"
  "$ctl" render --inventory "$tmp/bad.json" --key "$tmp/keys/signing.key" --out "$tmp/badout" --state "$tmp/badstate" 2>&1 >/dev/null | grep -v warning
  echo "rc=${PIPESTATUS[0]}"
}
expect_eq "a bad wave member" "$(bad_rollout '{"waves": [["hub"], ["bad name!"]]}')" \
  $'wgfleet-controller: rollout.waves[1][0]: "bad name!" is not a node name or a pattern (* ? [])\nrc=1'
expect_eq "no waves" "$(bad_rollout '{"waves": []}')" $'wgfleet-controller: rollout.waves: must name at least one wave\nrc=1'
expect_eq "deadline below settle" "$(bad_rollout '{"waves": [["*"]], "settle": 60, "deadline": 30}')" \
  $'wgfleet-controller: rollout.deadline: 30 must be longer than settle (60)\nrc=1'
jq '.rollout.setle = 3' "$tmp/inventory.json" > "$tmp/typo.json"
check "a misspelt rollout field is warned about" bash -c "'$ctl' render --inventory '$tmp/typo.json' --key '$tmp/keys/signing.key' \
  --out '$tmp/badout' --state '$tmp/badstate' 2>&1 | grep -qF 'rollout: unknown field \"setle\" ignored'"

# ---- render: NODE.conf for nodes without an agent; a queued revert is taken ----
kill "$pid"; wait "$pid" 2>/dev/null; pid=
"$ctl" render --inventory "$tmp/inventory.json" --key "$tmp/keys/signing.key" --out "$tmp/out" --state "$tmp/rstate" >/dev/null 2>"$tmp/render.log"
expect_eq "render writes phone.conf" "$(grep -c '^PrivateKey = <fill in' "$tmp/out/phone.conf")" 1
check "and no .conf for nodes with an agent" [ ! -e "$tmp/out/hub.conf" ]
check "render says the waves need serve" grep -q 'rollout: waves need serve' "$tmp/render.log"
write_inventory 1400 "${key[s1]}"
"$ctl" render --inventory "$tmp/inventory.json" --key "$tmp/keys/signing.key" --out "$tmp/out" --state "$tmp/rstate" >/dev/null 2>&1
r_before=$(payload "$tmp/out/hub.env" | jq -r .revision)
timeout 20 "$ctl" revert --state "$tmp/rstate" hub > "$tmp/revert.out" 2>&1
check "revert without a serve stays queued" grep -q 'queued' "$tmp/revert.out"
"$ctl" render --inventory "$tmp/inventory.json" --key "$tmp/keys/signing.key" --out "$tmp/out" --state "$tmp/rstate" >/dev/null 2>&1
expect_eq "the next render reverts hub: s2's extra subnet is back, under a higher revision" \
  "$(payload "$tmp/out/hub.env" | jq -c '[.revision > '"$r_before"', ([.interfaces[0].peers[] | select(.name == "s2") | .allowed_ips[]] | index("172.16.22.0/24") != null)]')" '[true,true]'
finish
