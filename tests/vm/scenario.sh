# SPDX-License-Identifier: MIT
# Runs inside the vm (busybox sh, sourced by /init with `ip` bound to iproute2). Three nodes in
# namespaces wfk-a, wfk-b, wfk-c, each pair joined by a veth pair with IPv4 and IPv6; the agent
# applies signed documents on each over netlink; every check reads what the kernel holds.
. /data/env.sh
# the keys as extended regular expressions ('+' is special)
RE_A=$(echo "$PUB_A" | sed 's/+/\\+/g')
RE_B=$(echo "$PUB_B" | sed 's/+/\\+/g')
RE_C=$(echo "$PUB_C" | sed 's/+/\\+/g')
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
bad() { fail=$((fail + 1)); echo "not ok - $*"; }
# check DESC CMD...: one TAP line; a check that took 2 s or more says how long (the suite's time
# under TCG is bounded, so where it goes is printed)
check() {
  desc=$1
  shift
  c0=$(uptime_s)
  if "$@" >/tmp/check.out 2>&1; then r=0; else r=1; fi
  dt=$(awk -v a="$c0" -v b="$(uptime_s)" 'BEGIN{d = b - a; if (d >= 2) printf " (%.1f s)", d}')
  if [ $r = 0 ]; then ok "$desc$dt"; else bad "$desc$dt"; sed 's/^/#   /' /tmp/check.out | head -30; fi
}
ns() { n=$1; shift; /usr/sbin/ip netns exec wfk-$n "$@"; }
# c's agent is not root, as wgfleet-agent.service runs it: uid and gid 65534, CAP_NET_ADMIN as
# its only (bounding, ambient) capability, no_new_privs (setpriv standing in for the unit's User=
# and capability lines). Every kernel call of the linux backend (genetlink, rtnetlink links,
# addresses, routes and rules, nf_tables, the forwarding sysctls) is then made without root.
# (a word list, split on purpose: `ns` executes it)
UNPRIV="setpriv --reuid 65534 --regid 65534 --clear-groups --bounding-set -all,+net_admin
  --inh-caps -all,+net_admin --ambient-caps -all,+net_admin --no-new-privs"
agent() {
  n=$1; shift
  if [ "$n" = c ]; then ns c $UNPRIV wgfleet-agent --config /data/c/agent.conf "$@"
  else /usr/sbin/ip netns exec wfk-$n wgfleet-agent --config /data/$n/agent.conf "$@"; fi
}
chmod 755 /data /data/c && chown -R 65534:65534 /data/c/state
apply() { agent "$1" apply --trust-key /data/trust.pub "/data/$1/$2.json"; }
plan_empty() {
  agent "$1" plan --json --trust-key /data/trust.pub "/data/$1/$2.json" >/tmp/plan.json || return 1
  [ "$(jq '.operations | length' /tmp/plan.json)" = 0 ] || { cat /tmp/plan.json; return 1; }
}
# A first packet waits for a handshake; a loaded CI host may slow that down: up to 3 tries.
ping4() { for i in 1 2 3; do ns "$1" ping -c 1 -W 5 "$2" && return 0; done; return 1; }
ping6() { for i in 1 2 3; do ns "$1" ping -6 -c 1 -W 5 "$2" && return 0; done; return 1; }
peer_line() { ns "$1" wg show wfk0 dump | grep "^$2"; }
# same_session "BEFORE" "AFTER" (dump lines): the same handshake, endpoint and allowed IPs, and
# rx/tx only grew (a re-created peer starts from 0); keepalives may add bytes meanwhile
same_session() {
  b=$(echo "$1" | cut -f1-5) a=$(echo "$2" | cut -f1-5)
  [ -n "$1" ] && [ "$b" = "$a" ] || { echo "before: $1"; echo "after:  $2"; return 1; }
  [ "$(echo "$2" | cut -f6)" -ge "$(echo "$1" | cut -f6)" ] && [ "$(echo "$2" | cut -f7)" -ge "$(echo "$1" | cut -f7)" ]
}
# compare NODE REV [wf-compare options]: tests/tools/wf-compare (jq and awk over `wg show dump`,
# `ip -j addr` and `ip -j route`): peers with endpoints, allowed IPs, keepalive and PSK presence,
# addresses, routes with table, metric and device, exactly the signed document's
compare() { n=$1 r=$2; shift 2; bash /data/wf-compare --netns "wfk-$n" "$@" "/data/$n/$r.json"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# has NODE PATTERN CMD...: CMD succeeds in NODE and its output matches PATTERN (grep -E).
has() { n=$1 pat=$2; shift 2; out=$(ns "$n" "$@") || return 1; echo "$out" | grep -qE -e "$pat" || { echo "$out" | head -20; return 1; }; }
# hasf NODE STRING CMD...: CMD succeeds in NODE and some line contains STRING (fixed).
hasf() { n=$1 str=$2; shift 2; out=$(ns "$n" "$@") || return 1; echo "$out" | grep -qF -e "$str" || { echo "$out" | head -20; return 1; }; }
# lacks NODE PATTERN CMD...: CMD succeeds in NODE and no line matches PATTERN.
lacks() {
  n=$1 pat=$2; shift 2
  out=$(ns "$n" "$@") || return 1
  if echo "$out" | grep -E -e "$pat"; then return 1; fi
  return 0
}
# count_is NODE N CMD...: CMD succeeds in NODE and prints N lines.
count_is() {
  n=$1 want=$2; shift 2
  out=$(ns "$n" "$@") || return 1
  got=$(echo "$out" | grep -c .)
  [ "$got" = "$want" ] || { echo "expected $want lines, got $got"; return 1; }
}

echo "# kernel $(uname -r); scenario starts at uptime $(uptime_s) s"
for n in a b c; do ip netns add wfk-$n; done
ip link add wfk-ab netns wfk-a type veth peer name wfk-ba netns wfk-b
ip link add wfk-ac netns wfk-a type veth peer name wfk-ca netns wfk-c
ip link add wfk-bc netns wfk-b type veth peer name wfk-cb netns wfk-c
addr() { ns "$1" ip addr add "$3" dev "$2"; ns "$1" ip addr add "$4" dev "$2" nodad; ns "$1" ip link set "$2" up; }
addr a wfk-ab 192.168.12.1/24 fd12::1/64
addr b wfk-ba 192.168.12.2/24 fd12::2/64
addr a wfk-ac 192.168.13.1/24 fd13::1/64
addr c wfk-ca 192.168.13.3/24 fd13::3/64
addr b wfk-bc 192.168.23.2/24 fd23::2/64
addr c wfk-cb 192.168.23.3/24 fd23::3/64
for n in a b c; do ns $n ip link set lo up; done
# a routed subnet behind c
ns c ip link add wfk-sub type dummy
ns c ip addr add 10.78.3.1/24 dev wfk-sub
ns c ip addr add fd78:3::1/64 dev wfk-sub nodad
ns c ip link set wfk-sub up
# c's document puts its routes in table 1000 (route_table): the operator's rule that uses it
ns c ip rule add pref 1000 lookup 1000
ns c ip -6 rule add pref 1000 lookup 1000
# a foreign route that must survive every apply
ns a ip route add 10.99.0.0/24 dev wfk-ab proto static

# --- round 1: three nodes from signed documents
for n in a b c; do check "apply rev1 on $n" apply $n rev1; done
c_identity() {
  ns c $UNPRIV cat /proc/self/status >/tmp/c.status || return 1
  grep -E '^(Uid|Gid|Cap...):' /tmp/c.status
  grep -Eq '^Uid:.65534.65534.65534.65534$' /tmp/c.status && grep -Eq '^Gid:.65534.65534.65534.65534$' /tmp/c.status &&
    [ "$(grep -Ec '^Cap(Eff|Bnd|Amb):.0000000000001000$' /tmp/c.status)" = 3 ]
}
check "c's agent runs as uid/gid 65534 with CapEff/CapBnd/CapAmb = CAP_NET_ADMIN (0x1000) only" c_identity
check "a: wfk0 is a kernel WireGuard link" has a wireguard ip -d link show wfk0
check "a: 2 peers" count_is a 2 wg show wfk0 peers
check "a: listen port 51820" has a '^51820$' wg show wfk0 listen-port
check "a: public key is the node key" has a "^$RE_A\$" wg show wfk0 public-key
check "a: IPv6 endpoint for b" has a "^$RE_B.\\[fd12::2\\]:51820" wg show wfk0 endpoints
check "a: preshared key for b from secrets_dir" hasf a "$PUB_B	$PSK" wg show wfk0 preshared-keys
check "a: no preshared key for c" hasf a "$PUB_C	(none)" wg show wfk0 preshared-keys
check "a: explicit routes proto 211" has a "^10.78.3.0/24 dev wfk0" ip route show proto 211
check "a: explicit IPv6 routes" has a "^fd78:3::/64 dev wfk0" ip -6 route show proto 211
check "c: fwmark from the document" has c '^0x1234$' wg show wfk0 fwmark
check "c: MTU from the document" has c ' mtu 1380 ' ip link show wfk0
check "c: link is up" has c 'state (UP|UNKNOWN)' ip link show wfk0
check "a: address is /32" has a "inet 10.77.0.1/32" ip -4 addr show wfk0
check "c: routes in route_table 1000 at route_metric 50" has c "^10.77.0.1 dev wfk0 proto 211 scope link metric 50" ip route show table 1000
check "c: IPv6 routes in table 1000 at metric 50" has c "^fd77::2 dev wfk0 proto 211 metric 50" ip -6 route show table 1000
check "c: none of its routes in main" count_is c 0 ip route show proto 211
check "a: keepalive 25 for b" has a "^$RE_B	25\$" wg show wfk0 persistent-keepalive
for n in a b c; do check "$n: wf-compare: the kernel holds exactly rev1" compare $n rev1; done
for n in a b c; do check "plan --json empty on $n after apply" plan_empty $n rev1; done
check "ping a -> b over the tunnel" ping4 a 10.77.0.2
check "ping a -> c over the tunnel" ping4 a 10.77.0.3
check "ping6 a -> b over the tunnel (v6 endpoint)" ping6 a fd77::2
check "ping6 a -> c over the tunnel" ping6 a fd77::3
check "ping b -> c over the tunnel" ping4 b 10.77.0.3
check "ping a -> subnet behind c" ping4 a 10.78.3.1
check "ping6 b -> subnet behind c" ping6 b fd78:3::1

# --- a link with the document's name that is not WireGuard: refused, left alone, wfk0 intact
ns b ip link add wfk1 type dummy
check "b: apply of rev2 fails on a non-WireGuard wfk1" sh -c '! /usr/sbin/ip netns exec wfk-b wgfleet-agent --config /data/b/agent.conf apply --trust-key /data/trust.pub /data/b/rev2.json 2>/tmp/err.b'
check "b: the error names wfk1 as not WireGuard" grep -q "wfk1.*not a WireGuard" /tmp/err.b
check "b: wfk1 is still a dummy without addresses" lacks b "10.88.0.2" ip -d addr show wfk1
check "b: wfk1 kind unchanged" has b "dummy" ip -d link show wfk1
check "b: wfk0 still has its 2 peers" count_is b 2 wg show wfk0 peers

# --- round 2: peer b changes; peer c's session must be untouched (same handshake, endpoint,
# allowed IPs; counters not reset: a passive keepalive may still add bytes, so no quiet wait)
before_c=$(peer_line a "$PUB_C")
before_b=$(peer_line a "$PUB_B")
echo "# before: $before_c"
check "apply rev2 on a (peer b changed)" apply a rev2
after_c=$(peer_line a "$PUB_C")
echo "# after:  $after_c"
check "peer c: same session (handshake, endpoint, allowed IPs; counters not reset)" same_session "$before_c" "$after_c"
check "peer c: had a handshake" sh -c "[ \"\$(echo '$before_c' | cut -f5)\" != 0 ]"
check "peer b: endpoint updated" has a "^$RE_B	192.168.12.2:51820\$" wg show wfk0 endpoints
check "peer b: allowed IP added" has a "^$RE_B.*10.79.2.0/24" wg show wfk0 allowed-ips
check "peer b: handshake kept (updated in place)" has a "^$RE_B	.*	$(echo "$before_b" | cut -f5)	[0-9]*	[0-9]*	25\$" wg show wfk0 dump
check "a: route for the new allowed IP" has a "^10.79.2.0/24 dev wfk0" ip route show proto 211
check "plan --json empty on a after rev2" plan_empty a rev2
check "a: wf-compare: exactly rev2" compare a rev2
check "ping a -> c still works" ping4 a 10.77.0.3

# --- round 3: peer c removed
check "apply rev3 on a (peer c removed)" apply a rev3
check "a: peer c gone" lacks a "$RE_C" wg show wfk0 peers
check "a: routes of peer c gone" lacks a "10\\.77\\.0\\.3|10\\.78\\.3\\.0" ip route show
check "a: IPv6 routes of peer c gone" lacks a "fd77::3|fd78:3::" ip -6 route show
check "a: foreign route survives" has a "^10.99.0.0/24 dev wfk-ab" ip route show proto static
check "ping a -> b still works" ping4 a 10.77.0.2
check "a: wf-compare: exactly rev3" compare a rev3

# --- round 4: $NPEERS more peers and one with 250+ allowed IPs (split SET messages)
before_b=$(peer_line a "$PUB_B")
t0=$(uptime_s)
check "apply rev4 on a ($NPEERS + 2 peers)" /usr/sbin/ip netns exec wfk-a \
  env WGFLEET_WGNL_STATS=/tmp/stats4 wgfleet-agent --config /data/a/agent.conf apply --trust-key /data/trust.pub /data/a/rev4.json
t1=$(uptime_s)
echo "# rev4 apply took $(awk -v a=$t0 -v b=$t1 'BEGIN{print b - a}') s; netlink: $(cat /tmp/stats4 2>/dev/null | tr '\n' ' ')"
total=$((NPEERS + 2))
check "a: wg show dump has $total peers" count_is a $((total + 1)) wg show wfk0 dump
check "a: the big peer has 251 allowed IPs" sh -c "/usr/sbin/ip netns exec wfk-a wg show wfk0 allowed-ips >/tmp/aips && awk '{print NF - 1}' /tmp/aips | grep -qx 251"
check "a: every IPv4 allowed IP has a route" count_is a $((NPEERS + 250 + 2)) ip route show proto 211
check "a: every IPv6 allowed IP has a route" count_is a $((NPEERS + 2)) ip -6 route show proto 211
check "SET split over several messages" sh -c "[ \"\$(sed -n 's/.*set_messages=\([0-9]*\).*/\1/p' /tmp/stats4 | sort -n | tail -1)\" -gt 1 ]"
check "peer b untouched by the big apply (endpoint, allowed IPs, handshake)" hasf a "$(echo "$before_b" | cut -f1-5)	" wg show wfk0 dump
check "plan --json empty on a after rev4 ($total peers)" plan_empty a rev4
check "a: wf-compare: all $total peers value by value (endpoints read back, keepalives, allowed IPs, routes with metric)" compare a rev4
check "ping a -> b still works" ping4 a 10.77.0.2

# --- round 5: the big peer's list shrinks to 241 prefixes (replaced, across two messages)
check "apply rev5 on a (big peer loses 10 prefixes)" /usr/sbin/ip netns exec wfk-a \
  env WGFLEET_WGNL_STATS=/tmp/stats5 wgfleet-agent --config /data/a/agent.conf apply --trust-key /data/trust.pub /data/a/rev5.json
echo "# rev5 netlink: $(cat /tmp/stats5 2>/dev/null | tr '\n' ' ')"
check "a: the big peer has 241 allowed IPs" sh -c "/usr/sbin/ip netns exec wfk-a wg show wfk0 allowed-ips >/tmp/aips && awk '{print NF - 1}' /tmp/aips | grep -qx 241"
check "a: the dropped prefixes are gone from WireGuard" lacks a "10\\.200\\.[0-9]\\.0/24" wg show wfk0 allowed-ips
check "a: the kept prefixes are all there" sh -c "tr ' \\t' '\\n\\n' </tmp/aips | grep -c '^10\\.200\\.' | grep -qx 240"
check "a: their routes are gone too" count_is a $((NPEERS + 240 + 2)) ip route show proto 211
check "still $total peers" count_is a $((total + 1)) wg show wfk0 dump
check "plan --json empty on a after rev5" plan_empty a rev5
check "a: wf-compare: exactly rev5" compare a rev5

# --- round 6: the 1001 peers go again
t0=$(uptime_s)
check "apply rev6 on a (back to 1 peer)" apply a rev6
t1=$(uptime_s)
# The kernel waits for an RCU grace period per removed peer (REMOVE_ME), unlike REPLACE_PEERS.
echo "# rev6 apply (removing $((NPEERS + 1)) peers one by one) took $(awk -v a=$t0 -v b=$t1 'BEGIN{print b - a}') s"
check "a: 1 peer left" count_is a 1 wg show wfk0 peers
check "a: only peer b's IPv4 routes left" count_is a 2 ip route show proto 211
check "a: only peer b's IPv6 route left" count_is a 1 ip -6 route show proto 211
check "plan --json empty on a after rev6" plan_empty a rev6
check "a: wf-compare: exactly rev6" compare a rev6

# --- exit selection on the kernel: one exit holds /0, policy routing like wg-quick, and all of
# it goes when the document drops the exits
check "apply rev7 on a (exits b and c)" apply a rev7
check "a: exactly one peer holds 0.0.0.0/0" count_is a 1 sh -c "wg show wfk0 allowed-ips | grep '0\.0\.0\.0/0'"
check "a: it is b, the first healthy exit" has a "^$RE_B.*0\.0\.0\.0/0" wg show wfk0 allowed-ips
check "a: exactly one peer holds ::/0" count_is a 1 sh -c "wg show wfk0 allowed-ips | grep ' ::/0'"
check "a: and it is b too" has a "^$RE_B.* ::/0" wg show wfk0 allowed-ips
check "a: wf-compare: exactly rev7 with b the active exit (v4 and v6 /0, defaults in table 51820)" compare a rev7 --exit b
check "a: fwmark 51820 for policy routing" has a '^0xca6c$' wg show wfk0 fwmark
check "a: rule: not fwmark -> table 51820, proto 211" has a "^32001:.*not from all fwmark 0xca6c lookup 51820 proto 211" ip rule show
check "a: rule: main without defaults, proto 211" has a "^32000:.*lookup main suppress_prefixlength 0 proto 211" ip -6 rule show
check "a: table 51820: default dev wfk0 proto 211" has a "^default dev wfk0 proto 211" ip route show table 51820
check "a: IPv6 table 51820: default dev wfk0 proto 211" has a "^default dev wfk0 proto 211" ip -6 route show table 51820
check "a: the internet goes into the tunnel" has a "dev wfk0 table 51820" ip route get 203.0.113.9
check "a: the tunnel's own packets do not" lacks a "dev wfk0" ip route get 192.168.12.2 mark 0xca6c
check "plan --json empty on a after rev7" plan_empty a rev7
check "apply rev8 on a (no exits)" apply a rev8
check "a: no rule of ours left" lacks a "proto 211" sh -c "ip rule show; ip -6 rule show"
check "a: no /0 left in WireGuard" lacks a "0\.0\.0\.0/0|::/0" wg show wfk0 allowed-ips
check "a: no default route of ours in any table" lacks a "^default .*proto 211" sh -c "ip route show table all; ip -6 route show table all"
check "a: wf-compare: exactly rev8" compare a rev8

# --- a peer with 3000 allowed IPs (84 KB of attributes): the SET spans many messages and the
# dump splits the peer across parts; wg-netlink's parser must put it back together
check "wfk9: a peer with 3000 allowed IPs applied" ns a wgfleet-bench apply wfk9 3 --big 3000 --no-routes --port 51899
dump=$(ns a wgfleet-bench dump wfk9)
wgtotal=$(ns a wg show wfk9 allowed-ips | awk '{n += NF - 1} END {print n}')
echo "# wg-netlink dump: $dump; wg show: $wgtotal allowed IPs"
check "wfk9: wg show has all 3006 allowed IPs" [ "$wgtotal" = 3006 ]
check "wfk9: wg-netlink parses the same 4 peers and 3006 allowed IPs" sh -c "echo '$dump' | grep -q '^peers=4 allowed_ips=3006 max_per_peer=3000 '"
check "wfk9: the dump came in several parts" sh -c "[ \"\$(echo '$dump' | sed -n 's/.*get_messages=\([0-9]*\).*/\1/p')\" -ge 2 ]"

# --- gateway (docs/gateways.md) on the kernel's nf_tables: c gets rev2 (rev1 plus forwarding,
# masquerade out of wfk-ca, netmap 10.78.3.0/24 <-> 172.16.3.0/24, service 10.0.5.7:443 ->
# 10.78.3.1:8443); b, its peer, is the client. A foreign table on c stays throughout, and
# `clear` must leave `nft list ruleset` and the forwarding sysctls exactly as found.
fwd_sysctls() { ns c sh -c 'grep -H . /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/*/forwarding /proc/sys/net/ipv6/conf/*/forwarding' | grep -v /wfk0/; }
foreign_add() { ns c nft -f - <<'NFT'
table ip foreign {
	chain hostfw {
		type filter hook forward priority 10; policy accept;
		ip daddr 198.18.0.1 drop
	}
}
NFT
}
# observers on b and a: input counters of the source c's packets arrive from
obs_add() { ns "$1" nft -f - <<NFT
table ip wfobs {
	chain in {
		type filter hook input priority 0; policy accept;
		ip saddr $2 icmp type echo-request counter
	}
}
NFT
}
check "c: a foreign table (never to be touched)" foreign_add
check "b: an observer of packets from 172.16.3.1" obs_add b 172.16.3.1
check "a: an observer of packets from 192.168.13.3" obs_add a 192.168.13.3
# seen NODE MIN: the node's observer counted more than MIN packets
seen() { got=$(ns "$1" nft list chain ip wfobs in | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p'); [ "${got:-0}" -gt "$2" ] || { echo "counter: '$got'"; return 1; }; }
ns c nft list ruleset >/tmp/c-before.nft
fwd_sysctls >/tmp/c-before.sysctl
/usr/sbin/ip netns exec wfk-c nc -ll -p 8443 -e /bin/echo web-on-c &
ncpid=$!
# answers NODE ADDR PORT WANT: the first line the TCP server at ADDR:PORT sends is WANT
answers() {
  got=$(ns "$1" timeout 5 bash -c "exec 3<>/dev/tcp/$2/$3 && head -n1 <&3" 2>/dev/null)
  [ "$got" = "$4" ] || { echo "got '$got', want '$4'"; return 1; }
}
check "c: ip_forward off before (the guest's default)" has c '^0$' cat /proc/sys/net/ipv4/ip_forward
check "apply rev2 on c (gateway fields)" apply c rev2
ns c nft list table inet wgfleet >/tmp/c.nft
sed 's/^/# /' /tmp/c.nft
check "c: forward accepts in from wfk0" grep -q 'iifname "wfk0" accept' /tmp/c.nft
check "c: forward accepts out to wfk0" grep -q 'oifname "wfk0" accept' /tmp/c.nft
check "c: netmap in: dnat prefix" grep -q 'iifname "wfk0" ip daddr 172.16.3.0/24 dnat ip prefix to 10.78.3.0/24' /tmp/c.nft
check "c: netmap out: snat prefix" grep -q 'oifname "wfk0" ip saddr 10.78.3.0/24 snat ip prefix to 172.16.3.0/24' /tmp/c.nft
check "c: service: dnat to 10.78.3.1:8443" grep -q 'ip daddr 10.0.5.7 tcp dport 443 dnat ip to 10.78.3.1:8443' /tmp/c.nft
check "c: a masquerade rule per peer prefix out wfk-ca (4)" sh -c '[ "$(grep -c "oifname \"wfk-ca\" .* masquerade" /tmp/c.nft)" = 4 ]'
check "c: ip_forward switched on by the agent" has c '^1$' cat /proc/sys/net/ipv4/ip_forward
check "c: wfk0 forwarding on" has c '^1$' cat /proc/sys/net/ipv4/conf/wfk0/forwarding
check "plan --json empty on c after rev2" plan_empty c rev2
check "c: wf-compare: exactly rev2 (peers, routes in table 1000)" compare c rev2
check "b -> 10.0.5.7:443: the service on c answers (dnat)" answers b 10.0.5.7 443 web-on-c
check "b -> 172.16.3.1: c's LAN host at its overlay address (netmap in)" ping4 b 172.16.3.1
check "c's LAN address 10.78.3.1 -> b answered" ns c ping -c 1 -W 5 -I 10.78.3.1 10.77.0.2
check "b saw it from 172.16.3.1 (netmap out)" seen b 0
check "b -> 192.168.13.1 (a, behind c's wfk-ca) answered through c (forwarding, masquerade)" ping4 b 192.168.13.1
check "a saw b's ping from c's wfk-ca address 192.168.13.3 (masquerade)" seen a 0
# drift: the service rule deleted by hand comes back with the next apply
h=$(ns c nft -a list chain inet wgfleet prerouting | awk '/service:web/ {print $NF}')
check "drift: service rule deleted by hand (handle $h)" ns c nft delete rule inet wgfleet prerouting handle "$h"
check "drift: the service no longer answers" sh -c '! /usr/sbin/ip netns exec wfk-b timeout 3 bash -c "exec 3<>/dev/tcp/10.0.5.7/443 && head -n1 <&3"'
fw_adds() { agent c plan --json --trust-key /data/trust.pub /data/c/rev2.json | jq -e '[.operations[] | select(.op == "firewall_rule_add")] | length == 1'; }
check "drift: plan --json shows one firewall_rule_add" fw_adds
check "drift: apply rev2 again" apply c rev2
check "drift: the service answers again" answers b 10.0.5.7 443 web-on-c
check "clear wfk0 on c" agent c clear wfk0
ns c nft list ruleset >/tmp/c-after.nft
fwd_sysctls >/tmp/c-after.sysctl
check "c: clear leaves nft list ruleset identical (foreign table kept)" cmp /tmp/c-before.nft /tmp/c-after.nft
check "c: clear leaves the forwarding sysctls identical" cmp /tmp/c-before.sysctl /tmp/c-after.sysctl
check "c: the saved sysctl values are gone" sh -c '[ ! -e /data/c/state/gateway-sysctl.saved ]'
check "c: the foreign table is still there" hasf c "ip daddr 198.18.0.1 drop" nft list table ip foreign
check "c: no table of ours left" lacks c wgfleet nft list tables
kill $ncpid 2>/dev/null

# --- clear: the agent removes what it created; the foreign route stays
check "clear wfk0 on a" agent a clear wfk0
check "a: wfk0 gone" lacks a "wfk0" ip link show
check "a: no route of ours left" count_is a 0 ip route show proto 211
check "a: foreign route survives clear" has a "^10.99.0.0/24 dev wfk-ab" ip route show proto static

echo "# scenario ends at uptime $(uptime_s) s"
echo "WFVM RESULT pass=$pass fail=$fail"
