#!/bin/bash
# SPDX-License-Identifier: MIT
# vm suite: the agent on the real WireGuard kernel module, under QEMU. The host writes node
# keys, agent configurations and signed documents (tests/vm/sign-doc) into the initramfs; inside,
# tests/vm/scenario.sh builds three namespaces joined by veth pairs, applies the documents with
# `wgfleet-agent apply` (backend linux: generic netlink + rtnetlink) and checks what `wg show`,
# `ip route` and ping observe. It prints "WFVM RESULT pass=N fail=M", parsed here.
set -euo pipefail
src=${WGFLEET_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${WGFLEET_BUILD:-$src/build}
here=$src/tests/vm
[ "$(id -u)" -eq 0 ] || { echo "SKIP: test-vm needs root (mknod-free initramfs, but cpio of 0600 keys)"; exit 77; }
agent=$build/agent/wgfleet-agent
for t in openssl wg jq nft setpriv cpio qemu-system-x86_64; do
  command -v $t >/dev/null || { echo "SKIP: test-vm: $t not installed (scripts/deps)"; exit 77; }
done

[ -x "$agent" ] && [ -x "$build/bench/wgfleet-bench" ] || { echo "test-vm: $agent or bench/wgfleet-bench not built"; exit 1; }

# work/payload goes into the vm; the signing key stays outside it.
work=$(mktemp -d "${TMPDIR:-/tmp}/wfk-vmtest.XXXXXX")
payload=$work/payload
sk=$work/sk.pem
log=$work.log
trap 'rm -rf "$work"' EXIT
mkdir "$payload"
cd "$payload"

openssl genpkey -algorithm ed25519 -out "$sk" 2>/dev/null
"$here/sign-doc" --trust "$sk" >trust.pub

declare -A priv pub
for n in a b c; do
  mkdir -p $n/state $n/secrets
  chmod 700 $n/state $n/secrets
  priv[$n]=$(wg genkey)
  pub[$n]=$(echo "${priv[$n]}" | wg pubkey)
  echo "${priv[$n]}" >$n/state/private.key
  chmod 600 $n/state/private.key
  cat >$n/agent.conf <<CONF
[agent]
node = wfk-$n
state_dir = /data/$n/state
secrets_dir = /data/$n/secrets
backend = linux
CONF
done

# a preshared key between a and b, in each node's secrets_dir
psk=$(wg genpsk)
for n in a b; do (umask 077; echo "$psk" >$n/secrets/ab.psk); done

now=$(date -u +%s)
issued=$(date -u -d "@$((now - 3600))" +%FT%TZ)
expires=$(date -u -d "@$((now + 86400))" +%FT%TZ)

# doc NODE REVISION ADDR4 ADDR6 PEERS_JSON > file
doc() {
  printf '{"schema":"wgfleet/desired-state/v1","node":"wfk-%s","revision":%s,"issued_at":"%s","expires_at":"%s","interfaces":[{"name":"wfk0","listen_port":51820,"addresses":["%s","%s"],"public_key":"%s","peers":[%s]}]}\n' \
    "$1" "$2" "$issued" "$expires" "$3" "$4" "${pub[$1]}" "$5"
}
# peer NAME KEY ENDPOINT ALLOWED... (endpoint "-" for none)
peer() {
  local name=$1 key=$2 ep=$3 ips="" sep=""
  shift 3
  for ip in "$@"; do ips+="$sep\"$ip\""; sep=,; done
  if [ "$ep" = - ]; then
    printf '{"name":"%s","public_key":"%s","allowed_ips":[%s]}' "$name" "$key" "$ips"
  else
    printf '{"name":"%s","public_key":"%s","endpoint":"%s","allowed_ips":[%s]}' "$name" "$key" "$ep" "$ips"
  fi
}
peer_psk() { peer "$@" | sed 's/}$/,"preshared_key_ref":"ab.psk"}/'; }
sign() { "$here/sign-doc" "$sk" "$1" >"$2"; rm -f "$1"; }

# every field of a peer and an interface is exercised somewhere: keepalive (a's b, every 10th
# generated peer), PSK (a-b), IPv4 and IPv6 endpoints (read back by tests/tools/wf-compare),
# route_table and route_metric (c), mtu and fwmark (c), exits holding 0.0.0.0/0 and ::/0 (rev7)
ka() { sed "s/}\$/,\"persistent_keepalive\":$1}/"; }
pa_b=$(peer_psk b "${pub[b]}" "[fd12::2]:51820" 10.77.0.2/32 fd77::2/128 | ka 25)
pa_c=$(peer c "${pub[c]}" 192.168.13.3:51820 10.77.0.3/32 fd77::3/128 10.78.3.0/24 fd78:3::/64)
# Each pair uses one family both ways (a-b IPv6, a-c IPv4, b-c IPv6): the document's endpoint is
# where the peer's packets come from, so WireGuard's roaming never moves it (docs/backends.md:
# a live endpoint that differs is put back, and `plan` would show it as drift).
pb_a=$(peer_psk a "${pub[a]}" "[fd12::1]:51820" 10.77.0.1/32 fd77::1/128)
# b reaches c's gateway (round "gateway"): c's netmapped LAN 172.16.3.0/24, its service address
# 10.0.5.7, and a's address on the a-c link (192.168.13.1) through c's masquerade
pb_c=$(peer c "${pub[c]}" "[fd23::3]:51820" 10.77.0.3/32 fd77::3/128 10.78.3.0/24 fd78:3::/64 \
  172.16.3.0/24 10.0.5.7/32 192.168.13.1/32)
pc_a=$(peer a "${pub[a]}" 192.168.13.1:51820 10.77.0.1/32 fd77::1/128)
pc_b=$(peer b "${pub[b]}" "[fd23::2]:51820" 10.77.0.2/32 fd77::2/128)

doc a 1 10.77.0.1/32 fd77::1/128 "$pa_b,$pa_c" >t.json && sign t.json a/rev1.json
doc b 1 10.77.0.2/32 fd77::2/128 "$pb_a,$pb_c" >t.json && sign t.json b/rev1.json
doc c 1 10.77.0.3/32 fd77::3/128 "$pc_a,$pc_b" |
  sed 's/"listen_port":51820,/&"mtu":1380,"fwmark":4660,"route_table":1000,"route_metric":50,/' >t.json
grep -q '"route_metric":50' t.json && cp t.json c1.json && sign t.json c/rev1.json
# c rev 2: rev 1 plus every gateway field (docs/gateways.md): forwarding, masquerade out of the
# a-c link, its LAN 10.78.3.0/24 netmapped to 172.16.3.0/24, TCP 10.0.5.7:443 -> 10.78.3.1:8443
sed 's|"peers":\[|"forwarding":true,"masquerade":{"out_interface":"wfk-ca"},"netmap":[{"local":"10.78.3.0/24","overlay":"172.16.3.0/24"}],"services":[{"name":"web","address":"10.0.5.7","protocol":"tcp","port":443,"target":"10.78.3.1:8443"}],&|' c1.json >t.json
rm -f c1.json
grep -q '"services":\[{"name":"web"' t.json && sign t.json c/rev2.json
# b rev 2: a second interface, wfk1, whose name the vm gives to a dummy link: refused, untouched
pb_x=$(peer a "${pub[a]}" 192.168.12.1:51821 10.88.0.1/32)
doc b 2 10.77.0.2/32 fd77::2/128 "$pb_a,$pb_c" |
  sed "s|]}]}\$|]},{\"name\":\"wfk1\",\"listen_port\":51821,\"addresses\":[\"10.88.0.2/32\"],\"peers\":[$pb_x]}]}|" >t.json
grep -q wfk1 t.json && sign t.json b/rev2.json
# rev 2: peer b changes (endpoint to IPv4, one more allowed IP); peer c must not be touched
pa_b2=$(peer_psk b "${pub[b]}" 192.168.12.2:51820 10.77.0.2/32 fd77::2/128 10.79.2.0/24 | ka 25)
doc a 2 10.77.0.1/32 fd77::1/128 "$pa_b2,$pa_c" >t.json && sign t.json a/rev2.json
# rev 3: peer c removed
doc a 3 10.77.0.1/32 fd77::1/128 "$pa_b2" >t.json && sign t.json a/rev3.json
# rev 4: 1000 more peers (v4 and v6 allowed IPs, v4 and v6 endpoints) and one with 250 allowed IPs
npeers=${WFVM_PEERS:-1000}
# The generated peers come from one jq run (1000 `openssl rand` took 38 s on a loaded host);
# their keys are 32 distinct bytes each ("wfk-vm-generated-peer-N" padded), which is all a
# WireGuard peer key has to be.
{
  printf '%s' "$pa_b2"
  jq -nr --argjson n "$npeers" '
    def hex: if . < 16 then "0123456789abcdef"[.:. + 1] else ((. / 16 | floor) | hex) + (. % 16 | hex) end;
    range(1; $n + 1) | . as $i |
    ("wfk-vm-generated-peer-\($i)" | . + ("." * (32 - length))) as $k |
    {name: "gen\($i)", public_key: ($k | @base64),
     endpoint: (if $i % 2 == 0 then "198.51.100.\($i % 250 + 1):\(30000 + $i)" else "[2001:db8::\($i)]:\(30000 + $i)" end),
     allowed_ips: ["10.100.\($i / 256 | floor).\($i % 256)/32", "fd00:100::\($i | hex)/128"]} +
    (if $i % 10 == 0 then {persistent_keepalive: ($i % 60 + 1)} else {} end) | "," + tojson' | tr -d '\n'

  ips=""
  for j in $(seq 0 249); do ips+="${ips:+,}\"10.200.$j.0/24\""; done
  printf ',{"name":"big","public_key":"%s","allowed_ips":[%s,"fd00:200::/64"]}' "$(openssl rand -base64 32)" "$ips"
} >peers4.json
doc a 4 10.77.0.1/32 fd77::1/128 "$(cat peers4.json)" >t.json && sign t.json a/rev4.json
# rev 5: the big peer drops 10 of its prefixes: its 241-prefix list is replaced, which spans
# two SET messages (REPLACE_ALLOWEDIPS must be in the first chunk only, or only the last survives)
doc a 5 10.77.0.1/32 fd77::1/128 "$(sed 's|"10\.200\.[0-9]\.0/24",||g' peers4.json)" >t.json && sign t.json a/rev5.json
rm -f peers4.json
# rev 6: back to one peer
doc a 6 10.77.0.1/32 fd77::1/128 "$pa_b2" >t.json && sign t.json a/rev6.json
# rev 7 (exit selection, kernel backend): b and c both offer 0.0.0.0/0 and ::/0 as exits
dflt() { echo "$1" | sed 's|"allowed_ips":\[|&"0.0.0.0/0","::/0",|'; }
doc a 7 10.77.0.1/32 fd77::1/128 "$(dflt "$pa_b2"),$(dflt "$pa_c")" |
  sed 's|]}]}$|],"exit":["b","c"]}]}|' >t.json
grep -q '"exit":\["b","c"\]' t.json && sign t.json a/rev7.json
# rev 8: the exits leave again
doc a 8 10.77.0.1/32 fd77::1/128 "$pa_b2" >t.json && sign t.json a/rev8.json

printf 'NPEERS=%s\nPUB_A=%s\nPUB_B=%s\nPUB_C=%s\nPSK=%s\n' "$npeers" "${pub[a]}" "${pub[b]}" "${pub[c]}" "$psk" >env.sh
cp "$here/scenario.sh" run.sh
cp "$src/tests/tools/wf-compare" wf-compare   # run by bash inside (copied below with jq)

[ -x "$agent" ] && [ -x "$build/bench/wgfleet-bench" ] || { echo "test-vm: $agent or bench/wgfleet-bench not built"; exit 1; }
set +e
"$here/vm-run" "$payload" "$log" "${WFVM_TIMEOUT:-900}" "$agent" "$build/bench/wgfleet-bench" "$(command -v jq)" \
  "$(command -v bash)" "$(command -v nft)" "$(command -v setpriv)"
status=$?
set -e
[ $status -eq 77 ] && exit 77
tr -d '\r' <"$log" | grep -a -E '^(ok|not ok|#|WFVM)' || true
result=$(tr -d '\r' <"$log" | grep -a '^WFVM RESULT' | tail -1)
if [ -z "$result" ]; then
  echo "test-vm: no result line from the vm (qemu exit $status); console:"
  tr -d '\r' <"$log" | tail -60
  exit 1
fi
rm -f "$log"
case "$result" in
  *" fail=0") exit 0 ;;
  *) exit 1 ;;
esac
