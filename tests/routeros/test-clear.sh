#!/bin/bash
# SPDX-License-Identifier: MIT
# clear removes every wgfleet: resource of the interface and nothing else: foreign peers,
# addresses, routes and the default firewall stay byte for byte; another managed interface
# keeps its resources.
. "$(dirname "$0")/lib.sh"
start_sim --defconf
# foreign configuration, made by hand before the agent arrives
cli /interface/wireguard/add =name=hand0 =listen-port=13231 >/dev/null
mkpeer hand
cli /interface/wireguard/peers/add =interface=hand0 "=public-key=$(pub hand)" =allowed-address=10.200.0.0/24 >/dev/null
cli /ip/address/add =address=10.200.0.1/24 =interface=hand0 =comment=mine >/dev/null
cli /ip/route/add =dst-address=10.201.0.0/24 =gateway=hand0 =distance=2 >/dev/null
cli /ip/firewall/filter/add =chain=forward =action=accept =comment=mine >/dev/null
snapshot() {
  for m in /interface/wireguard /interface/wireguard/peers /ip/address /ip/route /ip/firewall/filter; do
    cli "$m/print" | grep -v "comment=wgfleet:" | sort
  done
}
before=$(snapshot)

write_doc "$T/doc.json"
# a second managed interface, for scope
jq '.interfaces += [{"name": "wfr1", "listen_port": 51821, "addresses": ["10.98.0.1/24"],
     "peers": [{"name": "far", "public_key": "'"$(pub hand)"'", "endpoint": "192.0.2.99:51820",
                "allowed_ips": ["10.98.0.2/32", "10.97.0.0/24"]}]}]' "$T/doc.json" > "$T/two.json"
drive apply "$T/two.json" >/dev/null 2>&1 || fail "apply"
managed() { for m in /interface/wireguard /interface/wireguard/peers /ip/address /ip/route /ip/firewall/filter; do
  cli "$m/print" | grep -c "comment=$1" || true; done | awk "{ s += \$1 } END { print s }"; }
n0=$(managed "wgfleet:wfr0")
n1=$(managed "wgfleet:wfr1")
[ "$n0" -eq 11 ] && [ "$n1" -eq 6 ] || fail "managed resources: wfr0 $n0, wfr1 $n1"
ok "deployed: $n0 resources for wfr0, $n1 for wfr1"

agent clear wfr0 >/dev/null || fail "clear wfr0"
assert_eq "$(managed "wgfleet:wfr0")" 0 "wfr0 resources after clear"
assert_eq "$(managed "wgfleet:wfr1")" "$n1" "wfr1 resources after clearing wfr0"
ok "clear wfr0 removed its $n0 resources, wfr1 kept its $n1"

agent clear wfr1 >/dev/null || fail "clear wfr1"
assert_eq "$(managed "wgfleet:")" 0 "wgfleet resources after clearing both"
assert_eq "$(snapshot)" "$before" "foreign configuration changed"
ok "everything wgfleet: gone; foreign interface, peer, address, route and rules unchanged"

m=$(log_mark)
agent clear wfr0 >/dev/null || fail "clear on a clean router"
assert_eq "$(changes_since "$m" | wc -l)" 0 "clear on a clean router changed something"
ok "clear is idempotent"
