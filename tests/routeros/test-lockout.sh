#!/bin/bash
# SPDX-License-Identifier: MIT
# The management path inside the tunnel range, a peer's allowed IPs or an extra route: the
# router's API address (the configured host) and this host's own address toward it (what the
# router sees as the API peer). Refused before anything is sent to the router. Runs in a private
# network namespace so the router has a non-loopback address (198.18.0.1) and this host reaches
# it from another one (198.18.0.2, the source hint of the local route).
if [ -z "${WFR_IN_NETNS:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "SKIP: needs root for a private network namespace (unshare -n)"; exit 77; }
  WFR_IN_NETNS=1 exec unshare -n -- "$0" "$@"
fi
ip link set lo up
ip addr add 198.18.0.1/32 dev lo
ip addr add 198.18.0.2/32 dev lo
ip route replace local 198.18.0.1 dev lo table local proto kernel scope host src 198.18.0.2
[ "$(ip -o route get 198.18.0.1 | grep -o 'src [^ ]*')" = "src 198.18.0.2" ] || { echo "FAIL: source hint not in effect"; exit 1; }
SIM_ADDR=198.18.0.1
. "$(dirname "$0")/lib.sh"
start_sim --defconf

check_refused() {
  local what=$1 doc=$2 expect=$3
  local m; m=$(log_mark)
  if drive apply "$doc" > "$T/out" 2> "$T/err"; then fail "$what: apply succeeded"; fi
  grep -qF "$expect" "$T/err" || fail "$what: message: $(cat "$T/err")"
  assert_eq "$(log_since "$m" | wc -l)" 0 "$what: the router got traffic: $(log_since "$m")"
  ok "$what: refused, nothing sent"
}

write_doc "$T/doc.json"
# tunnel range 198.18.0.0/24 holds the router's address
jq '.interfaces[0].addresses = ["198.18.0.254/24"]' "$T/doc.json" > "$T/tunnel.json"
check_refused "tunnel range" "$T/tunnel.json" 'interface wfr0: addresses[0]: "198.18.0.254/24" puts the router'"'"'s API address 198.18.0.1/32 on the tunnel (lockout)'

# a peer routing 198.18.0.0/16
jq '.interfaces[0].peers[1].allowed_ips += ["198.18.0.0/16"]' "$T/doc.json" > "$T/peer.json"
check_refused "peer allowed IPs" "$T/peer.json" 'peers[1].allowed_ips[2]: "198.18.0.0/16" covers the router'"'"'s API address 198.18.0.1/32'

# a host route to the router itself through a peer
jq '.interfaces[0].peers[0].allowed_ips += ["198.18.0.1/32"]' "$T/doc.json" > "$T/host.json"
check_refused "host route" "$T/host.json" 'peers[0].allowed_ips[2]: "198.18.0.1/32" covers the router'"'"'s API address'

# this host's own address (the API connection's source, 198.18.0.2) routed into the tunnel: the
# router's replies to the sidecar would go into the tunnel too
jq '.interfaces[0].peers[1].allowed_ips += ["198.18.0.2/32"]' "$T/doc.json" > "$T/local.json"
check_refused "this host's address" "$T/local.json" 'peers[1].allowed_ips[2]: "198.18.0.2/32" covers this host'"'"'s address toward the router 198.18.0.2/32 (lockout)'

# plan refuses the same way
if drive plan "$T/peer.json" >/dev/null 2>"$T/err"; then fail "plan accepted a lockout"; fi
grep -qF 'peers[1].allowed_ips[2]: "198.18.0.0/16" covers the router'"'"'s API address 198.18.0.1/32' "$T/err" || fail "plan message: $(cat "$T/err")"
ok "plan names the peer and the prefix"

# the sane document still deploys, and a later lockout leaves it as it was
drive apply "$T/doc.json" >/dev/null || fail "apply of the sane document"
# the configuration only: handshake age and counters move on their own
peer_config() { cli /interface/wireguard/peers/print =.proplist=.id,interface,public-key,allowed-address,endpoint-address,endpoint-port,persistent-keepalive,preshared-key,comment,disabled | sort; }
before=$(peer_config)
check_refused "lockout after a deploy" "$T/peer.json" 'peers[1].allowed_ips[2]: "198.18.0.0/16" covers the router'"'"'s API address 198.18.0.1/32'
assert_eq "$(peer_config)" "$before" "peers changed by a refused document"
ok "refused document left the deployed state alone"
