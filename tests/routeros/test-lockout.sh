#!/bin/bash
# SPDX-License-Identifier: MIT
# The router's management address (the configured host) inside the tunnel range, a peer's
# allowed IPs or an extra route: refused before anything is sent to the router.
. "$(dirname "$0")/lib.sh"
start_sim --defconf

check_refused() {
  local what=$1 doc=$2
  local m; m=$(log_mark)
  if drive apply "$doc" > "$T/out" 2> "$T/err"; then fail "$what: apply succeeded"; fi
  grep -q "management address 127.0.0.1" "$T/err" || fail "$what: message: $(cat "$T/err")"
  assert_eq "$(log_since "$m" | wc -l)" 0 "$what: the router got traffic: $(log_since "$m")"
  ok "$what: refused, nothing sent ($(head -1 "$T/err" | cut -c1-110)...)"
}

# tunnel range 127.0.0.0/8 holds the host 127.0.0.1
write_doc "$T/doc.json"
jq '.interfaces[0].addresses = ["127.0.0.2/8"]' "$T/doc.json" > "$T/tunnel.json"
check_refused "tunnel range" "$T/tunnel.json"

# a peer routing 127.0.0.0/24
jq '.interfaces[0].peers[1].allowed_ips += ["127.0.0.0/24"]' "$T/doc.json" > "$T/peer.json"
check_refused "peer allowed IPs" "$T/peer.json"

# an extra route covering it
jq '.interfaces[0].routes = [{"dst": "127.0.0.0/30", "via": "site-a"}]' "$T/doc.json" > "$T/route.json"
check_refused "extra route" "$T/route.json"

# plan refuses the same way
if drive plan "$T/peer.json" >/dev/null 2>"$T/err"; then fail "plan accepted a lockout"; fi
grep -q "inside allowed IP 127.0.0.0/24 of peer site-b" "$T/err" || fail "plan message: $(cat "$T/err")"
ok "plan names the peer and the prefix"

# the sane document still deploys, and a later lockout leaves it as it was
drive apply "$T/doc.json" >/dev/null || fail "apply of the sane document"
before=$(cli /interface/wireguard/peers/print | sort)
check_refused "lockout after a deploy" "$T/peer.json"
assert_eq "$(cli /interface/wireguard/peers/print | sort)" "$before" "peers changed by a refused document"
ok "refused document left the deployed state alone"
