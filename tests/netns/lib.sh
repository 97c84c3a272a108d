# SPDX-License-Identifier: MIT
# Shared helpers for the netns suite (sourced, like tests/routeros/lib.sh): result counting,
# polling with a deadline, namespaces and the underlay, wireguard-go, document builders, the
# independent comparator (tests/tools/wf-compare) and one cleanup for everything created here.
#
#   NETNS_TAG=wfl; . "$(dirname "$0")/lib.sh"
#
# sets ID (unique per run), NS (namespace prefix: node N lives in "$NS-N"), T (a private
# directory, removed on exit unless KEEP_T is set), SRC, BUILD, AGENT, SIGN, WF_COMPARE.
# A script that starts more processes appends their pids to PIDS, or defines cleanup_local.
# The caller chooses its shell options (set -e / -u / pipefail); nothing here depends on them.

: "${NETNS_TAG:?set NETNS_TAG (a 3-letter prefix) before sourcing tests/netns/lib.sh}"
SRC=${WGFLEET_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${WGFLEET_BUILD:-$SRC/build}
AGENT=${AGENT:-$BUILD/agent/wgfleet-agent}
SIGN=$BUILD/tests/wgfleet-sign
WF_COMPARE=$SRC/tests/tools/wf-compare
ID=$(($$ % 100000))
NS=$NETNS_TAG$ID
PIDS=()
declare -A WG_PID=()
NETNS_LIST=()
NETNS_PATHS=()

# ---- results ----
failures=0
skip() { echo "SKIP: $*"; exit 77; }
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; failures=$((failures + 1)); }
# check DESCRIPTION COMMAND...: passes when the command succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
not() { ! "$@"; }
# die MESSAGE: a failure the rest of the script cannot go on from; runs the script's dump()
die() { echo "FAIL: $*"; declare -F dump >/dev/null && dump; exit 1; }
# finish: the last line of a check()-style script
finish() { echo "# $failures failure(s)"; [ "$failures" -eq 0 ]; }
ms() { date +%s%3N; }

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds or SECONDS (may be
# fractional) have passed; the deadline is wall-clock, however long CMD itself takes.
wait_for() {
  local deadline
  deadline=$(( $(ms) + $(awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }') ))
  shift
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    [ "$(ms)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# need_root TOOL...: skip (with the reason) unless root with every tool and /dev/net/tun
need_root() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
  local t
  for t in "$@"; do command -v "$t" >/dev/null || skip "$t is not installed (scripts/deps)"; done
  [ -c /dev/net/tun ] || skip "no /dev/net/tun"
}

# ---- namespaces ----
inns() { local n=$1; shift; ip netns exec "$NS-$n" "$@"; }
# ns_add NODE...: namespace "$NS-NODE" with lo up; the first failure is a skip (no netns here)
ns_add() {
  local n
  for n in "$@"; do
    ip netns add "$NS-$n" || { [ ${#NETNS_LIST[@]} -eq 0 ] && skip "cannot create network namespaces"; die "ip netns add $NS-$n"; }
    NETNS_LIST+=("$NS-$n")
    ip -n "$NS-$n" link set lo up
  done
}
# underlay [-6 PREFIX] NODE=A.B.C...: router namespace "$NS-r" forwarding between the nodes;
# NODE gets A.B.C.2/24 on veth "$NETNS_TAG-vNODE$ID" (the router A.B.C.1) and a default route
# via the router; with -6, the i-th node also gets PREFIX:i::2/64 (router PREFIX:i::1).
underlay() {
  local v6= arg n net i=1
  [ "$1" = -6 ] && { v6=$2; shift 2; }
  ns_add r
  inns r sysctl -qw net.ipv4.ip_forward=1
  [ -n "$v6" ] && inns r sysctl -qw net.ipv6.conf.all.forwarding=1
  for arg in "$@"; do
    n=${arg%%=*} net=${arg#*=}
    ns_add "$n"
    ip link add "$NETNS_TAG-v$n$ID" netns "$NS-$n" type veth peer name "$NETNS_TAG-r$n$ID" netns "$NS-r"
    ip -n "$NS-$n" addr add "$net.2/24" dev "$NETNS_TAG-v$n$ID"
    ip -n "$NS-$n" link set "$NETNS_TAG-v$n$ID" up
    ip -n "$NS-r" addr add "$net.1/24" dev "$NETNS_TAG-r$n$ID"
    ip -n "$NS-r" link set "$NETNS_TAG-r$n$ID" up
    ip -n "$NS-$n" route add default via "$net.1"
    if [ -n "$v6" ]; then
      ip -n "$NS-$n" addr add "$v6:$i::2/64" dev "$NETNS_TAG-v$n$ID" nodad
      ip -n "$NS-r" addr add "$v6:$i::1/64" dev "$NETNS_TAG-r$n$ID" nodad
      ip -n "$NS-$n" -6 route add default via "$v6:$i::1"
    fi
    i=$((i + 1))
  done
}
# netns_etc NODE FILE CONTENT: /etc/netns/$NS-NODE/FILE (ip netns exec bind-mounts it on /etc)
netns_etc() {
  mkdir -p "/etc/netns/$NS-$1"
  NETNS_PATHS+=("/etc/netns/$NS-$1")
  printf '%s\n' "$3" >"/etc/netns/$NS-$1/$2"
}

# ---- wireguard-go ----
# wg_start NODE IFACE: wireguard-go for IFACE in "$NS-NODE" (an empty device), pid in
# WG_PID[IFACE]; returns once its UAPI socket exists
wg_start() {
  mkdir -p /var/run/wireguard
  # not through inns: $! must be the process itself (a function would add a subshell)
  ip netns exec "$NS-$1" env WG_PROCESS_FOREGROUND=1 wireguard-go "$2" >>"$T/wg-$2.log" 2>&1 &
  WG_PID[$2]=$!
  wait_for 10 ip netns exec "$NS-$1" wg show "$2" || die "wireguard-go $2 did not start: $(tail -n 5 "$T/wg-$2.log")"
}
# wg_stop IFACE [SIGNAL]: stops it and waits for it to exit
wg_stop() {
  local p=${WG_PID[$1]:-}
  [ -n "$p" ] || return 0
  kill "-${2:-TERM}" "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  WG_PID[$1]=
}

# dump_peer IFACE KEY: the peer's `wg show dump` line; session IFACE KEY: "handshake rx tx"
dump_peer() { wg show "$1" dump | awk -v k="$2" '$1 == k'; }
session() { dump_peer "$1" "$2" | awk '{print $5, $6, $7}'; }
# session_kept IFACE KEY "HANDSHAKE RX TX": the same session as before (a handshake happened and
# is unchanged; rx and tx only grew: a removed and re-added peer starts again from 0). Needs no
# quiet period: keepalives may add bytes meanwhile.
session_kept() {
  local now b
  now=$(session "$1" "$2"); b=$3
  [ -n "$b" ] && [ -n "$now" ] && [ "${b%% *}" != 0 ] && [ "${now%% *}" = "${b%% *}" ] &&
    awk -v b="$b" -v n="$now" 'BEGIN { split(b, x, " "); split(n, y, " "); exit !(y[2] >= x[2] && y[3] >= x[3]) }' ||
    { echo "    session of ${2:0:8}... before: $b, now: $now"; return 1; }
}

# ---- documents ----
# peer_json NAME KEY ENDPOINT KEEPALIVE [ALLOWED_IP...]: one peer object on one line
# (ENDPOINT "-": none; KEEPALIVE 0: none)
peer_json() {
  local name=$1 key=$2 ep=$3 ka=$4
  shift 4
  jq -cn --arg name "$name" --arg key "$key" --arg ep "$ep" --argjson ka "$ka" '$ARGS.positional as $ips |
    {name: $name, public_key: $key} + (if $ep == "-" then {} else {endpoint: $ep} end) +
    {allowed_ips: $ips} + (if $ka > 0 then {persistent_keepalive: $ka} else {} end)' --args "$@"
}
# doc_json NODE REV IFACE ADDRESSES_JSON PEERS_JSONL [JQ_FILTER]: a desired-state payload on
# stdout, one interface. DOC_PUB (the interface's public_key), DOC_PORT (listen port, 51820),
# DOC_ISSUED and DOC_EXPIRES (default: a minute ago, a day ahead) override parts of it.
doc_json() {
  jq -n --arg node "$1" --argjson rev "$2" --arg name "$3" --argjson addrs "$4" --slurpfile peers "$5" \
    --arg iat "${DOC_ISSUED:-$(date -u -d '-1 min' +%FT%TZ)}" --arg exp "${DOC_EXPIRES:-$(date -u -d '+1 day' +%FT%TZ)}" \
    --arg pub "${DOC_PUB:-}" --argjson port "${DOC_PORT:-51820}" \
    '{schema: "wgfleet/desired-state/v1", node: $node, revision: $rev, issued_at: $iat, expires_at: $exp,
      interfaces: [{name: $name, listen_port: $port, addresses: $addrs}
        + (if $pub != "" then {public_key: $pub} else {} end) + {peers: $peers}]}' | jq "${6:-.}"
}

# ---- observed state against the document ----
# compare NODE DOC.json [wf-compare options]: the live interface(s) in "$NS-NODE" are exactly
# the document (peers, endpoints, allowed IPs, keepalive, PSK presence, addresses, routes with
# table and metric); prints the differences
compare() {
  local n=$1 doc=$2
  shift 2
  "$WF_COMPARE" --netns "$NS-$n" "$@" "$doc"
}

# ---- cleanup: the script's own first, then processes, wireguard-go, namespaces, files ----
netns_cleanup() {
  set +e
  declare -F cleanup_local >/dev/null && cleanup_local
  local p i
  for p in "${PIDS[@]}" "${WG_PID[@]}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}" "${WG_PID[@]}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
  for i in "${!WG_PID[@]}"; do rm -f "/var/run/wireguard/$i.sock"; done
  for ((i = ${#NETNS_LIST[@]} - 1; i >= 0; i--)); do ip netns del "${NETNS_LIST[$i]}" 2>/dev/null; done
  for p in "${NETNS_PATHS[@]}"; do rm -rf "$p"; done
  if [ -n "${KEEP_T:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
T=$(mktemp -d "/tmp/$NETNS_TAG-netns.XXXXXX")
trap netns_cleanup EXIT

# every process below PID, depth first (a sandbox puts bwrap, its init and setpriv in between)
descendants() {
  local c
  for c in $(ps -o pid= --ppid "$1"); do echo "$c"; descendants "$c"; done
}
