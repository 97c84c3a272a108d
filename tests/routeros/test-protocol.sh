#!/bin/bash
# SPDX-License-Identifier: MIT
# The simulator speaks RouterOS: .tag on every reply, add -> !done =ret=*ID, print with
# queries and .proplist, set/remove by .id or numbers, RouterOS-style traps, read-only
# properties, dynamic connected routes, and !fatal before login.
. "$(dirname "$0")/lib.sh"
start_sim --defconf

raw() { cli --raw "$@"; }
trap_of() { local out; if out=$(cli "$@" 2>&1 >/dev/null); then fail "expected a trap from: $*"; fi; printf '%s' "$out"; }

# tags: every reply sentence of a tagged command carries it
out=$(raw /ip/firewall/filter/print ?chain=input .tag=t42)
n_re=$(grep -c '^!re' <<<"$out")
assert_eq "$n_re" 4 "defconf input rules"
assert_eq "$(grep -c $'\t.tag=t42' <<<"$out")" 5 "sentences tagged t42 (4 !re + !done): $out"
out=$(raw /nope/print .tag=x1)
grep -q $'^!trap\t=message=no such command prefix\t.tag=x1$' <<<"$out" || fail "trap: $out"
grep -q $'^!done\t.tag=x1$' <<<"$out" || fail "done after trap: $out"
ok "tag echoed on !re, !done and !trap"

# add answers !done =ret=*ID
out=$(raw /interface/wireguard/add =name=wfr9 =listen-port=13231 .tag=a)
grep -qE $'^!done\t=ret=\\*[0-9A-F]+\t.tag=a$' <<<"$out" || fail "add reply: $out"
wid=$(cut -f2 <<<"$out" | sed 's/=ret=//')
ok "add -> !done =ret=$wid"

# traps with RouterOS messages
assert_eq "$(trap_of /interface/wireguard/peers/add =interface=nope "=public-key=$(pub a)")" \
  "input does not match any value of interface" "missing interface"
cli /interface/wireguard/peers/add =interface=wfr9 "=public-key=$(pub a)" >/dev/null
assert_eq "$(trap_of /interface/wireguard/peers/add =interface=wfr9 "=public-key=$(pub a)")" \
  "failure: peer with such public key already exists" "duplicate key"
assert_eq "$(trap_of /interface/wireguard/set "=.id=$wid" =listen-port=70000)" \
  "value of listen-port out of range (1..65535)" "bad port"
assert_eq "$(trap_of /ip/address/add =address=10.0.0.300/24 =interface=ether1)" \
  "invalid value for argument address" "bad address"
assert_eq "$(trap_of /interface/wireguard/peers/set =numbers=*1 =rx=1)" "unknown parameter rx" "read-only rx"
assert_eq "$(trap_of /interface/wireguard/set "=.id=$wid" =public-key=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=)" \
  "unknown parameter public-key" "read-only public-key"
assert_eq "$(trap_of /ip/route/set =.id=*FFFF =distance=3)" "no such item" "unknown .id"
assert_eq "$(trap_of /ip/route/frobnicate)" "no such command" "unknown verb"
ok "traps: unknown command, missing interface, duplicate key, bad values, read-only, no such item"

# added without private-key, the interface has a generated key (RouterOS 7), shown with its
# public key to a full-rights user
priv=$(val private-key /interface/wireguard/print ?name=wfr9)
[ -n "$priv" ] || fail "no generated private-key for wfr9"
assert_eq "$(val public-key /interface/wireguard/print ?name=wfr9)" "$(wg pubkey <<<"$priv")" "derived public key"
# a private-key over this plain connection: the client refuses it, nothing reaches the router
# (setting one over verified TLS: test-secrets.sh)
m=$(log_mark)
assert_eq "$(trap_of /interface/wireguard/set "=numbers=wfr9" "=private-key=$(wg genkey)")" \
  "routeros: /interface/wireguard/set: refusing to send private-key over an unauthenticated API connection (insecure_plaintext = yes): use tls with ca_file" \
  "private-key over plaintext"
assert_eq "$(log_since "$m" | grep -v '^CONNECT$\|^DISCONNECT$\|^/login ')" "" "simulator log after the refused private-key"
ok "generated key, public-key derived from it; a private-key is never sent in clear"

# dynamic connected route follows the address
aid=$(cli /ip/address/add =address=10.66.0.1/24 =interface=wfr9)
assert_eq "$(val dynamic /ip/route/print ?dst-address=10.66.0.0/24)" true "connected route dynamic"
assert_eq "$(val connect /ip/route/print ?dst-address=10.66.0.0/24)" true "connected route connect flag"
assert_eq "$(trap_of /ip/route/remove "=.id=$(val .id /ip/route/print ?dst-address=10.66.0.0/24)")" \
  "failure: can not remove dynamic" "dynamic route"
cli /ip/address/remove "=numbers=$aid" >/dev/null
assert_eq "$(val .id /ip/route/print ?dst-address=10.66.0.0/24)" "" "connected route gone with the address"
ok "DAC route appears and goes with its address"

# queries: equality, absence, <, >, and the #| operator; proplist; count-only
cli /ip/route/add =dst-address=10.70.0.0/16 =gateway=192.168.88.9 =distance=3 >/dev/null
cli /ip/route/add =dst-address=10.71.0.0/16 =gateway=192.168.88.9 =distance=30 =comment=x >/dev/null
assert_eq "$(val dst-address /ip/route/print '?<distance=10' ?static=true)" 10.70.0.0/16 "?<distance"
assert_eq "$(val dst-address /ip/route/print '?>distance=10')" 10.71.0.0/16 "?>distance"
assert_eq "$(val dst-address /ip/route/print ?static=true ?-comment)" 10.70.0.0/16 "?-comment"
assert_eq "$(val dst-address /ip/route/print ?distance=3 ?distance=30 '?#|' | sort | tr '\n' ' ')" "10.70.0.0/16 10.71.0.0/16 " "?#|"
assert_eq "$(cli /ip/route/print ?dst-address=10.70.0.0/16 =.proplist=gateway,distance)" $'gateway=192.168.88.9\tdistance=3' "proplist"
assert_eq "$(cli /ip/route/print ?static=true =count-only=)" 2 "count-only"
ok "queries (= - < > #|), .proplist, count-only"

# firewall: place-before and move
rid=$(cli /ip/firewall/filter/add =chain=input =action=accept =protocol=tcp =dst-port=22 =place-before=*1)
assert_eq "$(val .id /ip/firewall/filter/print | head -1)" "$rid" "place-before puts the rule first"
cli /ip/firewall/filter/move "=numbers=$rid" >/dev/null
assert_eq "$(val .id /ip/firewall/filter/print | tail -1)" "$rid" "move without destination: last"
ok "place-before and move keep RouterOS order"

# not logged in: !fatal
out=$(cli --raw --no-login /ip/route/print || true)
assert_eq "$out" $'!fatal\tnot logged in' "command before login"
ok "!fatal not logged in"

# any client: several connections in a row work (reconnects)
for _ in 1 2 3; do cli /system/resource/print >/dev/null || fail "reconnect"; done
ok "reconnects accepted"

# RouterOS >= 7.18 answers an empty print with !empty, then !done: the agent copes
start_sim --defconf --empty-reply
out=$(cli --raw /interface/wireguard/print .tag=e1)
assert_eq "$out" $'!empty\t.tag=e1\n!done\t.tag=e1' "empty print"
write_doc "$T/doc.json"
drive apply "$T/doc.json" >/dev/null 2>&1 || fail "apply against a router answering !empty"
assert_eq "$(val .id /interface/wireguard/peers/print ?interface=wfr0 | wc -l)" 3 "peers"
ok "!empty replies (RouterOS 7.18+) handled: deployed"
