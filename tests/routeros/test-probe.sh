#!/bin/bash
# SPDX-License-Identifier: MIT
# After a deploy the agent waits (bounded) for a managed peer to handshake and warns when none
# does; handshakes the router reports as RouterOS durations become times in observe/status.
. "$(dirname "$0")/lib.sh"
write_doc "$T/doc.json"

HANDSHAKE_AFTER=never start_sim --defconf
PROBE=2 write_conf
start=$(date +%s)
drive apply "$T/doc.json" > "$T/out" 2> "$T/err" || fail "apply without handshakes must still succeed: $(cat "$T/err")"
took=$(( $(date +%s) - start ))
grep -q "warning: routeros: no managed peer of wfr0 completed a handshake within 2 s (3 peers)" "$T/err" \
  || fail "no warning: $(cat "$T/err")"
# the point: it waited its bound, and not much longer
[ "$took" -ge 2 ] && [ "$took" -lt 15 ] || fail "probe took ${took}s for a 2 s bound"
ok "no handshake: warning after the ${took}s probe, apply still succeeds"
m=$(log_mark)
drive apply "$T/doc.json" > "$T/out" 2> "$T/err"
grep -q warning "$T/err" && fail "probe ran without a deploy"
ok "no probe when nothing changed"

HANDSHAKE_AFTER=1 start_sim --defconf
PROBE=30 write_conf
start=$(date +%s)
drive apply "$T/doc.json" > "$T/out" 2> "$T/err" || fail "apply"
took=$(( $(date +%s) - start ))
grep -q warning "$T/err" && fail "warning although peers handshake: $(cat "$T/err")"
# the point: it returned on the handshake, long before its 30 s bound
[ "$took" -lt 20 ] || fail "probe waited ${took}s (bound 30 s) although a peer handshook after 1 s"
ok "handshake after 1 s: no warning, probe returned after ${took}s"

# the router's durations, turned into handshake times: status from the cached document
has_handshake() { [ -n "$(val last-handshake /interface/wireguard/peers/print "?public-key=$(pub a)")" ]; }
wait_for 10 has_handshake || fail "simulator shows no last-handshake for site-a within 10 s"
hs=$(val last-handshake /interface/wireguard/peers/print "?public-key=$(pub a)")
[ -n "$hs" ] || fail "simulator shows no last-handshake"
cp "$T/doc.json.env" "$T/state/current.env"
agent status --json > "$T/status.json" 2> "$T/status.err" || true
ka=$(jq -r --arg k "$(pub a)" '[.. | objects | select(.public_key? == $k)][0].handshake_age_s' "$T/status.json")
kc=$(jq -r --arg k "$(pub c)" '[.. | objects | select(.public_key? == $k)][0].latest_handshake' "$T/status.json")
rx=$(jq -r --arg k "$(pub a)" '[.. | objects | select(.public_key? == $k)][0].rx_bytes' "$T/status.json")
[ "$ka" != null ] && [ "$ka" -ge 0 ] && [ "$ka" -le 10 ] || fail "site-a handshake age '$ka' for last-handshake=$hs: $(cat "$T/status.json" "$T/status.err")"
[ "$rx" -gt 0 ] || fail "rx_bytes '$rx'"
case "$kc" in 0|null) ;; *) fail "laptop (no endpoint, never handshakes) has latest_handshake $kc" ;; esac
ok "status: last-handshake=$hs -> handshake_age_s=$ka, rx=$rx; peer without handshake shows none"
