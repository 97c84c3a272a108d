#!/bin/bash
# SPDX-License-Identifier: MIT
# Rollout with one changed peer: exactly one set, on that peer's .id, with only the changed
# property; the other peers keep their .id and get no command at all.
. "$(dirname "$0")/lib.sh"
start_sim --defconf
write_doc "$T/doc1.json"
drive apply "$T/doc1.json" >/dev/null || fail "first apply"
ida=$(val .id /interface/wireguard/peers/print "?public-key=$(pub a)")
idb=$(val .id /interface/wireguard/peers/print "?public-key=$(pub b)")
idc=$(val .id /interface/wireguard/peers/print "?public-key=$(pub c)")

REV=2 B_EP=198.51.100.7:51820 write_doc "$T/doc2.json"
drive plan "$T/doc2.json" > "$T/plan.txt"
assert_eq "$(wc -l < "$T/plan.txt")" 1 "plan has one operation: $(cat "$T/plan.txt")"
grep -q "update peer site-b" "$T/plan.txt" || fail "plan: $(cat "$T/plan.txt")"
ok "plan: one update for site-b"

m=$(log_mark)
drive apply "$T/doc2.json" >/dev/null || fail "second apply"
ch=$(changes_since "$m")
assert_eq "$(wc -l <<<"$ch")" 1 "changes sent: $ch"
grep -qxF "/interface/wireguard/peers/set .id=$idb endpoint-address=198.51.100.7 => done" <<<"$ch" \
  || fail "expected one set of endpoint-address on $idb, got: $ch"
ok "one set on $idb with only endpoint-address (the port did not change)"

# the other peers: same .id, not named in any command
assert_eq "$(val .id /interface/wireguard/peers/print "?public-key=$(pub a)")" "$ida" "site-a .id"
assert_eq "$(val .id /interface/wireguard/peers/print "?public-key=$(pub c)")" "$idc" "laptop .id"
assert_eq "$(val .id /interface/wireguard/peers/print "?public-key=$(pub b)")" "$idb" "site-b .id kept"
for id in "$ida" "$idc"; do
  n=$({ grep -F -e "/interface/wireguard/peers/set .id=$id " -e "/interface/wireguard/peers/remove .id=$id " "$T/sim.log" || true; } | wc -l)
  assert_eq "$n" 0 "commands on untouched peer $id"
done
assert_eq "$(val endpoint-address /interface/wireguard/peers/print "?public-key=$(pub b)")" 198.51.100.7 "new endpoint"
ok "site-a ($ida) and laptop ($idc) untouched, site-b updated in place"

# keepalive and an extra allowed IP: still one set, with just those two properties
REV=3 B_EP=198.51.100.7:51820 B_KA=15 B_EXTRA=', "10.22.0.0/24"' write_doc "$T/doc3.json"
m=$(log_mark)
drive apply "$T/doc3.json" >/dev/null || fail "third apply"
sets=$(changes_since "$m" | { grep peers/set || true; })
assert_eq "$(wc -l <<<"$sets")" 1 "peer sets: $sets"
grep -qxF "/interface/wireguard/peers/set .id=$idb persistent-keepalive=15s allowed-address=10.99.0.3/32,10.2.0.0/24,10.22.0.0/24 => done" <<<"$sets" \
  || fail "set: $sets"
assert_eq "$(val distance /ip/route/print ?dst-address=10.22.0.0/24 ?gateway=wfr0)" 10 "route for the new allowed IP"
ok "keepalive + allowed IP change: one set, plus the new route"

# a removed peer goes, with its routes; the rest stays
cat "$T/doc3.json" | jq 'del(.interfaces[0].peers[2]) | .revision = 4' > "$T/doc4.json"
m=$(log_mark)
drive apply "$T/doc4.json" >/dev/null || fail "fourth apply"
ch=$(changes_since "$m")
grep -qxF "/interface/wireguard/peers/remove .id=$idc => done" <<<"$ch" || fail "laptop not removed: $ch"
[ -z "$(val .id /ip/route/print ?dst-address=10.99.0.4/32)" ] || fail "route of the removed peer is still there"
assert_eq "$(grep -c peers/set <<<"$ch" || true)" 0 "sets during the removal"
ok "removed peer and its route gone, no other peer touched"
