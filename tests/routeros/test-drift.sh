#!/bin/bash
# SPDX-License-Identifier: MIT
# Drift: a managed peer edited by hand is one small operation; a removed route and a moved or
# deleted firewall accept are repaired; foreign additions are never touched.
. "$(dirname "$0")/lib.sh"
start_sim --defconf
write_doc "$T/doc.json"
drive apply "$T/doc.json" >/dev/null || fail "apply"
ida=$(val .id /interface/wireguard/peers/print "?public-key=$(pub a)")

# hand edit: endpoint port and keepalive of site-a
cli /interface/wireguard/peers/set "=.id=$ida" =endpoint-port=4444 =persistent-keepalive=0 >/dev/null
drive plan "$T/doc.json" > "$T/plan.txt"
assert_eq "$(wc -l < "$T/plan.txt")" 1 "drift plan: $(cat "$T/plan.txt")"
grep -q "update peer site-a" "$T/plan.txt" || fail "drift plan: $(cat "$T/plan.txt")"
ok "hand-edited peer shows as one update: $(cat "$T/plan.txt" | cut -c1-100)"
m=$(log_mark)
drive apply "$T/doc.json" >/dev/null || fail "repair"
ch=$(changes_since "$m")
assert_eq "$ch" "/interface/wireguard/peers/set .id=$ida endpoint-port=51820 persistent-keepalive=25s => done" "repair commands"
ok "repaired with one set of the two edited properties"

# a managed route deleted by hand, and a foreign peer added by hand
rid=$(val .id /ip/route/print ?dst-address=10.1.0.0/24 ?gateway=wfr0)
cli /ip/route/remove "=.id=$rid" >/dev/null
mkpeer stranger
sid=$(cli /interface/wireguard/peers/add =interface=wfr0 "=public-key=$(pub stranger)" =allowed-address=10.77.0.0/24)
drive plan "$T/doc.json" > "$T/plan.txt"
assert_eq "$(cat "$T/plan.txt")" "wfr0: add route 10.1.0.0/24 table 254 metric 10 (proto 211)" "plan"
drive apply "$T/doc.json" >/dev/null
assert_eq "$(val distance /ip/route/print ?dst-address=10.1.0.0/24 ?gateway=wfr0)" 10 "route back"
assert_eq "$(val .id /interface/wireguard/peers/print "?public-key=$(pub stranger)")" "$sid" "foreign peer kept"
ok "deleted route re-added; the hand-added peer without wgfleet: comment left alone"

# firewall accept moved behind the drop rule, then deleted
fid=$(val .id /ip/firewall/filter/print "?comment=wgfleet:wfr0 allow udp")
cli /ip/firewall/filter/move "=numbers=$fid" >/dev/null   # to the end: after the drop
drive plan "$T/doc.json" | grep -q "set listen-port" || fail "misplaced accept not seen"
drive apply "$T/doc.json" >/dev/null
order=$(val comment /ip/firewall/filter/print ?chain=input)
acc=$(grep -n "wgfleet:wfr0 allow udp" <<<"$order" | cut -d: -f1)
drop=$(val action /ip/firewall/filter/print ?chain=input | grep -n '^drop$' | head -1 | cut -d: -f1)
[ "$acc" -lt "$drop" ] || fail "accept still after drop: $order"
assert_eq "$(grep -c "wgfleet:wfr0 allow udp" <<<"$order")" 1 "one accept rule"
ok "accept moved behind the drop is put back before it"
fid=$(val .id /ip/firewall/filter/print "?comment=wgfleet:wfr0 allow udp")
cli /ip/firewall/filter/remove "=.id=$fid" >/dev/null
drive apply "$T/doc.json" >/dev/null
assert_eq "$(val dst-port /ip/firewall/filter/print "?comment=wgfleet:wfr0 allow udp")" 51820 "accept re-created"
ok "deleted accept re-created"

m=$(log_mark)
drive apply "$T/doc.json" >/dev/null
assert_eq "$(changes_since "$m" | wc -l)" 0 "converged"
ok "converged again"

# a new listen port moves the interface and its firewall accept together
LISTEN=51999 REV=2 write_doc "$T/doc2.json"
wid=$(val .id /interface/wireguard/print ?name=wfr0)
drive apply "$T/doc2.json" >/dev/null 2>&1 || fail "apply with a new port"
assert_eq "$(val listen-port /interface/wireguard/print ?name=wfr0)" 51999 "listen-port"
assert_eq "$(val .id /interface/wireguard/print ?name=wfr0)" "$wid" "interface kept its .id"
assert_eq "$(val dst-port /ip/firewall/filter/print "?comment=wgfleet:wfr0 allow udp")" 51999 "accept follows the port"
assert_eq "$(val .id /ip/firewall/filter/print ?dst-port=51820 | wc -l)" 0 "no accept left for the old port"
order=$(val comment /ip/firewall/filter/print ?chain=input)
acc=$(grep -n "wgfleet:wfr0 allow udp" <<<"$order" | cut -d: -f1)
drop=$(val action /ip/firewall/filter/print ?chain=input | grep -n '^drop$' | head -1 | cut -d: -f1)
[ "$acc" -lt "$drop" ] || fail "accept for the new port after the drop: $order"
ok "listen port 51820 -> 51999: interface set in place, accept rule moved with it, still before the drop"
