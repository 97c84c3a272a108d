#!/bin/bash
# SPDX-License-Identifier: MIT
# Key material and the API transport (issue 13.1): TLS with verification is the default; a
# plain or unverified connection needs insecure_plaintext = yes and then never carries key
# material (a PSK is refused with one line, nothing sent); the router generates its own
# WireGuard key, the private key never crosses the wire; a document enrolled for another key is
# refused; a reply over 128 MiB is refused. The simulator's log of every received word is the
# capture of what was on the wire.
. "$(dirname "$0")/lib.sh"
tls_router
cd "$T"
mkdir -p secrets; wg genpsk > secrets/psk-a; chmod 600 secrets/psk-a
conf_psk() { sed -i "s|^\[agent\]|&\nsecrets_dir = $T/secrets|" agent.conf; }
write_doc doc.json
jq '.interfaces[0].peers[0].preshared_key_ref = "psk-a"' doc.json > psk.json

# 1. no tls keys at all: TLS on 8729 with verification; tls = no alone is refused before connecting
start_sim --defconf
sed -i '/^tls\|^insecure_plaintext\|^port/d' agent.conf
drive plan doc.json >def.out 2>&1 || true
grep -q "routeros: connect $SIM_ADDR port 8729" def.out || fail "the default is not TLS on 8729: $(cat def.out)"
TLS=no VERIFY=yes write_conf; sed -i '/^insecure_plaintext/d' agent.conf
m=$(log_mark); rc=0
drive plan doc.json >plain.out 2>&1 || rc=$?
assert_eq "$rc" 1 "exit status with tls = no and no insecure_plaintext"
assert_eq "$(wc -l <plain.out)" 1 "lines of the refusal"
grep -q "\[routeros\] tls = no: the API connection would not be authenticated" plain.out || fail "refusal: $(cat plain.out)"
assert_eq "$(log_since "$m" | wc -l)" 0 "simulator lines after the refused configuration"
ok "default TLS on 8729; tls = no without insecure_plaintext refused: $(cut -c1-100 plain.out)..."

# 2. insecure_plaintext: deployed, the router generated its key, no private-key on the wire
TLS=no VERIFY=yes write_conf
m=$(log_mark)
drive apply doc.json >/dev/null 2>err || fail "plaintext apply: $(cat err)"
rpub=$(val public-key /interface/wireguard/print ?name=wfr0)
[ -n "$rpub" ] || fail "the router has no key"
log_since "$m" | grep -q '^/interface/wireguard/add ' || fail "no interface add: $(log_since "$m")"
log_since "$m" | grep -q 'private-key' && fail "a private key crossed the wire: $(log_since "$m" | grep private-key)"
[ ! -e state/private.key ] || fail "the sidecar made a local node key"
ok "plaintext: the router generated its key ${rpub:0:8}..., no private-key word sent"

# 3. a PSK over plaintext: one line, exit 1, nothing about the peer changed, no PSK sent
conf_psk
# the configured fields only: handshake times and counters move on their own
peers_conf() { cli /interface/wireguard/peers/print =.proplist=.id,public-key,preshared-key,allowed-address,endpoint-address,endpoint-port,persistent-keepalive,comment,disabled | sort; }
before=$(peers_conf)
m=$(log_mark); rc=0
drive apply psk.json >psk.out 2>&1 || rc=$?
assert_eq "$rc" 1 "exit status of a PSK over plaintext"
grep -q "refusing to send preshared-key over an unauthenticated API connection (insecure_plaintext = yes): use tls with ca_file" psk.out ||
  fail "PSK refusal: $(cat psk.out)"
log_since "$m" | grep -q 'preshared-key' && fail "a preshared key crossed the wire: $(log_since "$m" | grep preshared-key)"
assert_eq "$(peers_conf)" "$before" "peers after the refused PSK"
ok "PSK over plaintext refused: $(grep -o 'refusing to send preshared-key[^:]*' psk.out)"

# 4. TLS with verification against the test CA: the PSK is deployed, the key stays the router's
start_tls_sim --defconf; conf_psk
drive apply psk.json >/dev/null 2>err || fail "TLS apply with a PSK: $(cat err)"
[ -n "$(val preshared-key /interface/wireguard/peers/print "?public-key=$(pub a)")" ] || fail "no PSK on the router"
grep -q 'private-key' sim.log && fail "a private key was sent over TLS: $(grep private-key sim.log)"
ok "verified TLS: PSK deployed, the router generated its own key"
# over verified TLS a private-key may be set (by hand: the sidecar never does); public-key follows
cli /interface/wireguard/add =name=wfr9 >/dev/null
priv=$(wg genkey)
cli /interface/wireguard/set =numbers=wfr9 "=private-key=$priv" >/dev/null
assert_eq "$(val public-key /interface/wireguard/print ?name=wfr9)" "$(wg pubkey <<<"$priv")" "public-key after a set over TLS"
cli /interface/wireguard/remove =numbers=wfr9 >/dev/null
ok "set by name via numbers over verified TLS; public-key follows private-key"

# 5. a document enrolled for another key: refused, named, nothing changed
rpub=$(val public-key /interface/wireguard/print ?name=wfr0)
mkpeer other; DOC_PUB=$(pub other) write_doc other.json
m=$(log_mark); rc=0
drive apply other.json >other.out 2>&1 || rc=$?
assert_eq "$rc" 1 "exit status for a document with another key"
grep -q "the document's public_key $(pub other) is not the key $rpub the device generated" other.out || fail "key mismatch: $(cat other.out)"
assert_eq "$(changes_since "$m" | wc -l)" 0 "changes after a key mismatch"
DOC_PUB=$rpub write_doc same.json
drive apply same.json >/dev/null 2>err || fail "the router's own key refused: $(cat err)"
ok "document for another key refused; the router's own key accepted"

# 6. replies are bounded by bytes, not only rows: 130 rows of about 1 MB (~135 MB, over 128 MiB),
# far below the row bound, are refused with one line
start_sim --bloat-rows 130
rc=0; cli /system/identity/print >big.out 2>&1 || rc=$?
assert_eq "$rc" 1 "exit status for a 135 MB reply"
grep -q "routeros: /system/identity/print: reply larger than 1000000 rows or 134217728 bytes" big.out || fail "big reply: $(head -c 300 big.out)"
TLS=no write_conf
rc=0; drive plan doc.json >big.out 2>&1 || rc=$?
assert_eq "$rc" 1 "agent on a 135 MB reply: exit status"
# one line per failed read (the interface's observe, the gateway's firewall), each naming the bound
assert_eq "$(grep -vc "routeros: [^ ]*/print: reply larger than 1000000 rows or 134217728 bytes$" big.out)" 0 \
  "agent lines not naming the bound: $(head -c 300 big.out)"
ok "replies bounded by bytes: 130 rows, 135 MB refused ($(head -n1 big.out | cut -c1-80)...)"
