#!/bin/bash
# SPDX-License-Identifier: MIT
# A fresh router (default configuration): one apply creates the interface, peers, addresses,
# routes at distance 10 and the firewall accept; a second run sends no change at all.
. "$(dirname "$0")/lib.sh"
start_sim --defconf
write_doc "$T/doc.json"

drive plan "$T/doc.json" > "$T/plan.txt" || fail "plan failed"
grep -q "create" "$T/plan.txt" || fail "plan does not create the interface: $(cat "$T/plan.txt")"
assert_eq "$(changes_since 0 | wc -l)" 0 "plan changed the router"

drive apply "$T/doc.json" > "$T/apply.txt" || fail "apply failed"
grep -q "wfr0: converged\|wfr0: no changes" "$T/apply.txt" || fail "apply did not converge: $(cat "$T/apply.txt")"

# interface
assert_eq "$(val comment /interface/wireguard/print ?name=wfr0)" "wgfleet:wfr0" "interface comment"
assert_eq "$(val listen-port /interface/wireguard/print ?name=wfr0)" 51820 "listen-port"
[ -n "$(val public-key /interface/wireguard/print ?name=wfr0)" ] || fail "the router has no key for wfr0"
log_since 0 | grep -q 'private-key' && fail "a private key was sent: $(log_since 0 | grep private-key)"
ok "interface wfr0 with the router's own key (no private-key sent) and port"

# peers, matched by key
assert_eq "$(val .id /interface/wireguard/peers/print ?interface=wfr0 | wc -l)" 3 "peer count"
assert_eq "$(val allowed-address /interface/wireguard/peers/print "?public-key=$(pub a)")" "10.99.0.2/32,10.1.0.0/24" "site-a allowed-address"
assert_eq "$(val endpoint-address /interface/wireguard/peers/print "?public-key=$(pub a)")" 192.0.2.10 "site-a endpoint-address"
assert_eq "$(val endpoint-port /interface/wireguard/peers/print "?public-key=$(pub a)")" 51820 "site-a endpoint-port"
assert_eq "$(val persistent-keepalive /interface/wireguard/peers/print "?public-key=$(pub a)")" 25s "keepalive"
assert_eq "$(val endpoint-address /interface/wireguard/peers/print "?public-key=$(pub c)")" "" "laptop has no endpoint"
assert_eq "$(val comment /interface/wireguard/peers/print "?public-key=$(pub b)")" "wgfleet:wfr0 peer site-b" "peer comment"
ok "three peers with RouterOS attribute values"

# address and its dynamic connected route
assert_eq "$(val comment /ip/address/print ?address=10.99.0.1/24)" "wgfleet:wfr0 address" "address"
assert_eq "$(val dynamic /ip/route/print ?dst-address=10.99.0.0/24)" true "connected route is dynamic"
ok "address 10.99.0.1/24 and its DAC route"

# explicit routes for every allowed IP at distance 10 via the interface
for dst in 10.99.0.2/32 10.1.0.0/24 10.99.0.3/32 10.2.0.0/24 10.99.0.4/32; do
  assert_eq "$(val distance /ip/route/print "?dst-address=$dst" ?gateway=wfr0)" 10 "route $dst distance"
  assert_eq "$(val comment /ip/route/print "?dst-address=$dst")" "wgfleet:wfr0 route" "route $dst comment"
done
ok "five explicit routes at distance 10"

# the firewall accept sits before the first drop of the input chain
order=$(val comment /ip/firewall/filter/print ?chain=input)
acc=$(grep -n "wgfleet:wfr0 allow udp" <<<"$order" | cut -d: -f1)
drop=$(val action /ip/firewall/filter/print ?chain=input | grep -n '^drop$' | head -1 | cut -d: -f1)
[ -n "$acc" ] && [ -n "$drop" ] && [ "$acc" -lt "$drop" ] || fail "accept (line $acc) not before the first drop (line $drop): $order"
assert_eq "$(val dst-port /ip/firewall/filter/print "?comment=wgfleet:wfr0 allow udp")" 51820 "accept port"
assert_eq "$(val protocol /ip/firewall/filter/print "?comment=wgfleet:wfr0 allow udp")" udp "accept protocol"
ok "input accept udp/51820 before the first drop"
d=$(compare_ros "$T/doc.json") || fail "wf-compare: the router differs from the document: $d"
ok "$d"

# second run: nothing to do, nothing sent but prints
m=$(log_mark)
drive apply "$T/doc.json" > "$T/apply2.txt" || fail "second apply failed"
assert_eq "$(changes_since "$m" | wc -l)" 0 "a converged router got changes: $(changes_since "$m")"
drive plan "$T/doc.json" > "$T/plan2.txt"
assert_eq "$(wc -l < "$T/plan2.txt")" 0 "plan on a converged router: $(cat "$T/plan2.txt")"
ok "no-change run sends no add/set/remove"

# interface settings and route metric change in place: mtu, route_metric 20, route_table
jq '.revision = 2 | .interfaces[0].mtu = 1380 | .interfaces[0].route_metric = 20 | .interfaces[0].route_table = 1000' \
  "$T/doc.json" > "$T/doc2.json"
wid=$(val .id /interface/wireguard/print ?name=wfr0)
drive apply "$T/doc2.json" > "$T/apply3.txt" 2>&1 || fail "apply with mtu/metric: $(cat "$T/apply3.txt")"
assert_eq "$(val mtu /interface/wireguard/print ?name=wfr0)" 1380 "mtu"
assert_eq "$(val .id /interface/wireguard/print ?name=wfr0)" "$wid" "interface kept its .id"
assert_eq "$(val distance /ip/route/print ?dst-address=10.1.0.0/24 ?gateway=wfr0)" 20 "route at the new metric"
assert_eq "$(val .id /ip/route/print ?dst-address=10.1.0.0/24 ?gateway=wfr0 | wc -l)" 1 "one route per destination"
m=$(log_mark)
drive apply "$T/doc2.json" >/dev/null 2>&1 || fail "re-apply"
assert_eq "$(changes_since "$m" | wc -l)" 0 "changes after mtu/metric: $(changes_since "$m")"
grep -q "1 apply)" "$T/apply3.txt" || fail "not converged in one apply: $(cat "$T/apply3.txt")"
d=$(compare_ros "$T/doc2.json") || fail "wf-compare: the router differs from doc2: $d"
compare_ros "$T/doc.json" >/dev/null && fail "wf-compare does not see the routes at distance 20 against revision 1"
ok "mtu 1380 set in place, routes moved to distance 20, then converged"

# IPv6: an interface address and a peer prefix go to /ipv6/address and /ipv6/route
jq '.revision = 3 | .interfaces[0].addresses += ["fd99::1/64"] | .interfaces[0].peers[0].allowed_ips += ["fd99:1::/48"]' \
  "$T/doc.json" > "$T/doc6.json"
drive apply "$T/doc6.json" > "$T/apply6.txt" 2>&1 || fail "apply with IPv6: $(cat "$T/apply6.txt")"
assert_eq "$(val comment /ipv6/address/print ?address=fd99::1/64)" "wgfleet:wfr0 address" "IPv6 address"
assert_eq "$(val advertise /ipv6/address/print ?address=fd99::1/64)" false "no router advertisements on the tunnel"
assert_eq "$(val distance /ipv6/route/print ?dst-address=fd99:1::/48 ?gateway=wfr0)" 10 "IPv6 route"
assert_eq "$(val dynamic /ipv6/route/print ?dst-address=fd99::/64)" true "IPv6 connected route"
assert_eq "$(val allowed-address /interface/wireguard/peers/print "?public-key=$(pub a)")" "10.99.0.2/32,10.1.0.0/24,fd99:1::/48" "mixed allowed-address"
m=$(log_mark)
drive apply "$T/doc6.json" >/dev/null 2>&1
assert_eq "$(changes_since "$m" | wc -l)" 0 "changes after the IPv6 deploy"
d=$(compare_ros "$T/doc6.json") || fail "wf-compare: the router differs from doc6: $d"
ok "IPv6 address, route and allowed-address deployed; converged ($d)"
