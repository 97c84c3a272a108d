#!/bin/bash
# SPDX-License-Identifier: MIT
# Gateways on RouterOS (docs/gateways.md): forward accepts, no-masquerade, netmap, a service
# and an exit masquerade, placed before the router's own drop and NAT rules; what a new
# connection meets is asked of the simulator's rule evaluation (/wgfleet-sim/evaluate, first
# match wins in menu order). Drift (moved, edited, deleted, disabled rules) is put back with
# the smallest command; foreign rules stay byte for byte; clear leaves every firewall menu as
# it was before the first apply.
. "$(dirname "$0")/lib.sh"
start_sim --defconf
FW_MENUS="/ip/firewall/filter /ip/firewall/nat /ipv6/firewall/filter /ipv6/firewall/nat"
fw_dump() { for m in $FW_MENUS; do echo "== $m"; cli "$m/print"; done; }
foreign() { fw_dump | grep -v "comment=wgfleet:"; }
# comments of one chain, in order ("-" for a rule without one)
order() { val comment "$1/print" "?chain=$2" | sed 's/^$/-/' | paste -sd' '; }
rule() { cli "$1/print" "?comment=$2" "=.proplist=${3:-chain,action,protocol,src-address,dst-address,dst-port,in-interface,out-interface,to-addresses,to-ports,disabled}"; }
idof() { val .id "$1/print" "?comment=$2"; }
# evaluate KEY=VALUE...: where a new connection goes, as "key=value" tab-separated
evaluate() { local a=(); for kv in "$@"; do a+=("=$kv"); done; cli /wgfleet-sim/evaluate "${a[@]}"; }

# the site's own configuration, there before the agent: an uplink address, a port forward, a
# catch-all masquerade and a drop at the end of forward
cli /ip/address/add =address=203.0.113.2/24 =interface=ether1 >/dev/null
cli /ip/firewall/nat/add =chain=dstnat =action=dst-nat =in-interface=ether1 =protocol=tcp =dst-port=80 \
  =to-addresses=192.168.88.10 "=comment=site: web" >/dev/null
cli /ip/firewall/nat/add =chain=srcnat =action=masquerade "=comment=site: masquerade all" >/dev/null
drop=$(cli /ip/firewall/filter/add =chain=forward =action=drop "=comment=site: drop the rest")
before=$(fw_dump)

REV=2 EXTRA_ADDR=', "fd99::1/64"' ROUTES=', "forwarding": true, "masquerade": {"out_interface": "ether1"},
    "netmap": [{"local": "192.168.1.0/24", "overlay": "172.16.1.0/24"}],
    "services": [{"name": "nas-web", "address": "10.0.5.7", "protocol": "tcp", "port": 443,
                  "target": "192.168.1.10:8443"}]' write_doc "$T/doc.json"
write_doc "$T/plain.json"

drive apply "$T/plain.json" >/dev/null || fail "apply without gateway fields"
assert_eq "$(fw_dump | grep -c 'chain=forward.*comment=wgfleet:\|comment=wgfleet:.*chain=\(src\|dst\)nat' || true)" 0 "gateway rules without gateway fields"
r=$(evaluate in-interface=wfr0 out-interface=bridge src-address=10.99.0.2 dst-address=192.168.1.10)
assert_eq "$(grep -o 'forward=[a-z]*.forward-rule=[^\t]*' <<<"$r")" "forward=drop	forward-rule=$drop" "before: tunnel to LAN"
ok "without gateway fields: no rule of ours in forward or NAT; the tunnel's traffic meets the site's drop ($drop)"

drive plan "$T/doc.json" > "$T/plan.txt"
grep -q "^wfr0: add /ip/firewall/nat dstnat rule: service nas-web: from wfr0 to 10.0.5.7 tcp/443: dst-nat to 192.168.1.10 port 8443$" "$T/plan.txt" ||
  fail "plan: $(cat "$T/plan.txt")"
assert_eq "$(grep -c ' rule: ' "$T/plan.txt")" 14 "planned rules: $(cat "$T/plan.txt")"
ok "plan shows 14 rule additions, e.g. $(grep nas-web "$T/plan.txt")"
drive apply "$T/doc.json" >/dev/null || fail "apply"

# value by value
F=/ip/firewall/filter N=/ip/firewall/nat
assert_eq "$(rule $F 'wgfleet:wfr0 forward in')" $'chain=forward\taction=accept\tin-interface=wfr0\tdisabled=false' "forward in"
assert_eq "$(rule $F 'wgfleet:wfr0 forward out')" $'chain=forward\taction=accept\tout-interface=wfr0\tdisabled=false' "forward out"
assert_eq "$(rule /ipv6/firewall/filter 'wgfleet:wfr0 forward in')" $'chain=forward\taction=accept\tin-interface=wfr0\tdisabled=false' "ipv6 forward in"
assert_eq "$(rule /ipv6/firewall/nat 'wgfleet:wfr0 no-masquerade')" $'chain=srcnat\taction=accept\tout-interface=wfr0\tdisabled=false' "ipv6 no-masquerade"
assert_eq "$(rule $N 'wgfleet:wfr0 no-masquerade')" $'chain=srcnat\taction=accept\tout-interface=wfr0\tdisabled=false' "no-masquerade"
assert_eq "$(rule $N 'wgfleet:wfr0 service nas-web')" $'chain=dstnat\taction=dst-nat\tprotocol=tcp\tdst-address=10.0.5.7\tdst-port=443\tin-interface=wfr0\tto-addresses=192.168.1.10\tto-ports=8443\tdisabled=false' "service"
assert_eq "$(rule $N 'wgfleet:wfr0 netmap-in 172.16.1.0/24')" $'chain=dstnat\taction=netmap\tdst-address=172.16.1.0/24\tin-interface=wfr0\tto-addresses=192.168.1.0/24\tdisabled=false' "netmap in"
assert_eq "$(rule $N 'wgfleet:wfr0 netmap-out 172.16.1.0/24')" $'chain=srcnat\taction=netmap\tsrc-address=192.168.1.0/24\tout-interface=wfr0\tto-addresses=172.16.1.0/24\tdisabled=false' "netmap out"
assert_eq "$(rule $N 'wgfleet:wfr0 masquerade 10.1.0.0/24')" $'chain=srcnat\taction=masquerade\tsrc-address=10.1.0.0/24\tout-interface=ether1\tdisabled=false' "masquerade"
assert_eq "$(val src-address $N/print ?action=masquerade ?out-interface=ether1 | paste -sd' ')" "10.99.0.2 10.1.0.0/24 10.99.0.3 10.2.0.0/24 10.99.0.4" "masquerade sources"
ok "every rule's attributes as wanted (filter, nat, ipv6 filter and nat)"

assert_eq "$(order $F forward)" "defconf: fasttrack defconf: accept established,related, untracked wgfleet:wfr0 forward in wgfleet:wfr0 forward out defconf: drop invalid defconf: drop all from WAN not DSTNATed site: drop the rest" "forward order"
assert_eq "$(order $N dstnat)" "wgfleet:wfr0 service nas-web wgfleet:wfr0 netmap-in 172.16.1.0/24 site: web" "dstnat order"
assert_eq "$(order $N srcnat)" "wgfleet:wfr0 netmap-out 172.16.1.0/24 wgfleet:wfr0 no-masquerade wgfleet:wfr0 masquerade 10.99.0.2 wgfleet:wfr0 masquerade 10.1.0.0/24 wgfleet:wfr0 masquerade 10.99.0.3 wgfleet:wfr0 masquerade 10.2.0.0/24 wgfleet:wfr0 masquerade 10.99.0.4 defconf: masquerade site: masquerade all" "srcnat order"
ok "order: forward accepts before the first drop, ours before the site's NAT rules, netmap-out before no-masquerade"

fin=$(idof $F 'wgfleet:wfr0 forward in') svc=$(idof $N 'wgfleet:wfr0 service nas-web')
nmi=$(idof $N 'wgfleet:wfr0 netmap-in 172.16.1.0/24') nmo=$(idof $N 'wgfleet:wfr0 netmap-out 172.16.1.0/24')
nomasq=$(idof $N 'wgfleet:wfr0 no-masquerade') masq=$(idof $N 'wgfleet:wfr0 masquerade 10.1.0.0/24')
siteall=$(idof $N 'site: masquerade all')
assert_eq "$(evaluate in-interface=wfr0 out-interface=bridge src-address=10.99.0.4 dst-address=10.0.5.7 protocol=tcp dst-port=443)" \
  "dstnat-rule=$svc	dst-address=192.168.1.10	dst-port=8443	forward=accept	forward-rule=$fin	srcnat-rule=$siteall	src-address=192.168.88.1" "service"
assert_eq "$(evaluate in-interface=wfr0 out-interface=bridge src-address=10.99.0.2 dst-address=172.16.1.9)" \
  "dstnat-rule=$nmi	dst-address=192.168.1.9	dst-port=-1	forward=accept	forward-rule=$fin	srcnat-rule=$siteall	src-address=192.168.88.1" "netmap in"
assert_eq "$(evaluate in-interface=bridge out-interface=wfr0 src-address=192.168.1.5 dst-address=10.99.0.2 | cut -f5-)" \
  "forward-rule=$(idof $F 'wgfleet:wfr0 forward out')	srcnat-rule=$nmo	src-address=172.16.1.5" "netmap out"
assert_eq "$(evaluate in-interface=bridge out-interface=wfr0 src-address=192.168.88.20 dst-address=10.1.0.9 | cut -f6-)" \
  "srcnat-rule=$nomasq	src-address=192.168.88.20" "no-masquerade"
assert_eq "$(evaluate in-interface=wfr0 out-interface=ether1 src-address=10.1.0.5 dst-address=198.51.100.1 | cut -f4-)" \
  "forward=accept	forward-rule=$fin	srcnat-rule=$masq	src-address=203.0.113.2" "exit"
ok "a connection to the service reaches 192.168.1.10:8443; 172.16.1.9 maps to 192.168.1.9; the LAN leaves as 172.16.1.0/24; other LAN hosts keep their address despite the site's masquerade; the exit masquerades to ether1's 203.0.113.2"

m=$(log_mark)
drive apply "$T/doc.json" >/dev/null || fail "apply again"
assert_eq "$(changes_since "$m" | wc -l)" 0 "second apply changed something: $(changes_since "$m")"
assert_eq "$(foreign)" "$(grep -v 'comment=wgfleet:' <<<"$before")" "foreign rules after apply"
ok "converged; every foreign rule byte for byte as before"

# drift
cli $F/move "=numbers=$fin" >/dev/null          # to the end, behind the site's drop
cli $N/set "=.id=$svc" =to-ports=9999 >/dev/null
cli $N/remove "=.id=$nmo" >/dev/null
cli $N/set "=.id=$nomasq" =disabled=yes >/dev/null
drive plan "$T/doc.json" > "$T/plan.txt"
dropinv=$(val .id $F/print ?chain=forward "?comment=defconf: drop invalid")
grep -qxF "wfr0: delete /ip/firewall/filter forward rule: wgfleet:wfr0 forward in (after the foreign rule $dropinv)" "$T/plan.txt" ||
  fail "misplaced rule not in the plan: $(cat "$T/plan.txt")"
assert_eq "$(grep -c ' rule: ' "$T/plan.txt")" 7 "drift plan: $(cat "$T/plan.txt")"
m=$(log_mark)
drive apply "$T/doc.json" >/dev/null || fail "repair"
changes_since "$m" | sed 's/\*[0-9A-F]*/*N/g' > "$T/repair.txt"
assert_eq "$(cat "$T/repair.txt")" "/ip/firewall/nat/set .id=*N disabled=no => done
/ip/firewall/nat/set .id=*N to-ports=8443 => done
/ip/firewall/nat/add chain=srcnat action=netmap src-address=192.168.1.0/24 out-interface=wfr0 to-addresses=172.16.1.0/24 comment=wgfleet:wfr0 netmap-out 172.16.1.0/24 place-before=*N => ret *N
/ip/firewall/filter/move numbers=*N destination=*N => done" "repair commands"
assert_eq "$(idof $N 'wgfleet:wfr0 service nas-web')" "$svc" "service kept its .id"
assert_eq "$(idof $F 'wgfleet:wfr0 forward in')" "$fin" "forward accept kept its .id"
assert_eq "$(order $F forward)" "defconf: fasttrack defconf: accept established,related, untracked wgfleet:wfr0 forward out wgfleet:wfr0 forward in defconf: drop invalid defconf: drop all from WAN not DSTNATed site: drop the rest" "forward order after repair (moved to just before the first drop)"
assert_eq "$(order $N srcnat | cut -d' ' -f1-5)" "wgfleet:wfr0 netmap-out 172.16.1.0/24 wgfleet:wfr0 no-masquerade" "srcnat order after repair"
assert_eq "$(rule $N 'wgfleet:wfr0 service nas-web' to-ports,disabled)" $'to-ports=8443\tdisabled=false' "service repaired"
assert_eq "$(rule $N 'wgfleet:wfr0 no-masquerade' disabled)" "disabled=false" "no-masquerade enabled"
m=$(log_mark)
drive apply "$T/doc.json" >/dev/null
assert_eq "$(changes_since "$m" | wc -l)" 0 "converged after repair"
ok "drift repaired in place: one move, two sets, one add before no-masquerade; .ids kept; converged"

# a hand-added matcher cannot be set away: the rule is replaced where it stood
cli $N/set "=.id=$svc" =src-port=1000 >/dev/null
drive apply "$T/doc.json" >/dev/null || fail "repair matcher"
assert_eq "$(rule $N 'wgfleet:wfr0 service nas-web' src-port,dst-port,to-ports)" $'dst-port=443\tto-ports=8443' "service after replace"
assert_eq "$(order $N dstnat)" "wgfleet:wfr0 service nas-web wgfleet:wfr0 netmap-in 172.16.1.0/24 site: web" "dstnat order after replace"
ok "a matcher added by hand: rule replaced, still first in dstnat"

# gateway fields gone: exactly our rules go, the listen port's input accept stays
REV=3 write_doc "$T/plain2.json"
drive apply "$T/plain2.json" >/dev/null || fail "apply without gateway"
assert_eq "$(fw_dump | grep -c 'comment=wgfleet:' || true)" 1 "rules of ours left (the input accept)"
assert_eq "$(foreign)" "$(grep -v 'comment=wgfleet:' <<<"$before")" "foreign rules after removing the gateway"
ok "gateway fields removed: every gateway rule deleted, the input accept and foreign rules kept"

jq '.revision = 4' "$T/doc.json" > "$T/doc4.json"
drive apply "$T/doc4.json" >/dev/null 2>&1 || fail "apply again"
drive clear "$T/doc.json" >/dev/null || fail "clear"
assert_eq "$(fw_dump)" "$before" "firewall after clear"
ok "clear: all four firewall menus byte for byte as before the first apply"
