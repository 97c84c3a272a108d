#!/bin/bash
# SPDX-License-Identifier: MIT
# Rollout waves with real agents on wireguard-go in network namespaces: a hub and two spokes,
# waves [hub] [s1] [*]. An MTU change advances wave by wave (fleet view observed between waves);
# a change that breaks the hub's peer s1 halts at wave 1, the hub is rolled back and the spokes
# never receive it; `revert` publishes old content under a higher revision; a phone without an
# agent comes up with `wg-quick up` from its downloaded config, and its "config stale" flag
# follows a topology change and a download. Run under the root lock (scripts/test does).
set -uo pipefail
. "$(dirname "$0")/lib-ctl.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
command -v wireguard-go >/dev/null || skip "wireguard-go is not installed (scripts/deps installs it)"
command -v wg-quick >/dev/null || skip "wg-quick is not installed (wireguard-tools)"

work=$(mktemp -d /tmp/wfr-test.XXXXXX)
nodes=(hub s1 s2)
declare -A up=([hub]=192.0.2.1 [s1]=192.0.2.11 [s2]=192.0.2.12 [phone]=192.0.2.30)
ctl_ip=192.0.2.254
pids=()
ns() { local n=$1; shift; ip netns exec "wfr-$n" "$@"; }
cleanup() {
  ns phone wg-quick down "$work/wfrphone.conf" >/dev/null 2>&1
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  for p in $(pgrep -f 'wireguard-go wfrphone'); do kill "$p"; done
  # agents whose wrapper pid was all the test held: none may outlive it (they hold its lock fd)
  pkill -f -- "--config $work/" 2>/dev/null
  for n in "${nodes[@]}" phone sw; do ip netns del "wfr-$n" 2>/dev/null; done
  for n in "${nodes[@]}" phone; do rm -f "/var/run/wireguard/wfr-$n.sock" /var/run/wireguard/wfrphone.sock; done
  rm -rf "$work"
}
trap cleanup EXIT
for n in "${nodes[@]}" phone sw; do ip netns del "wfr-$n" 2>/dev/null; done

# ---- underlay: a bridge with the controller, every node on it ----
ip netns add wfr-sw
ns sw ip link set lo up
ns sw ip link add wfr-br type bridge
ns sw ip addr add $ctl_ip/24 dev wfr-br
ns sw ip link set wfr-br up
for n in "${nodes[@]}" phone; do
  ip netns add "wfr-$n"
  ns "$n" ip link set lo up
  ip link add "wfr-$n-u" netns "wfr-$n" type veth peer "wfr-$n-b" netns wfr-sw
  ns "$n" ip addr add "${up[$n]}/24" dev "wfr-$n-u"
  ns "$n" ip link set "wfr-$n-u" up
  ns sw ip link set "wfr-$n-b" master wfr-br up
done
ns hub sysctl -qw net.ipv4.ip_forward=1

# ---- controller ----
mkdir -p "$work/ctl"
"$ctl" keygen --out "$work/ctl" >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=wfr \
  -addext "subjectAltName=IP:$ctl_ip" -keyout "$work/ctl/tls.key" -out "$work/ctl/tls.crt" 2>/dev/null
head -c 24 /dev/urandom | base64 > "$work/ctl/token"; chmod 600 "$work/ctl/token"
declare -A key
for n in "${nodes[@]}"; do
  mkdir -p "$work/$n/state"; chmod 700 "$work/$n/state"
  cat > "$work/$n/agent.conf" <<CONF
[agent]
node = $n
state_dir = $work/$n/state
backend = uapi
report_interval = 1
[controller]
url = https://$ctl_ip:8443/v1/nodes/$n/desired-state
trust_key = $work/ctl/signing.pub
ca_file = $work/ctl/tls.crt
token_file = $work/ctl/token
poll_interval = 1
CONF
  "$agent" --config "$work/$n/agent.conf" keygen >/dev/null
  key[$n]=$("$agent" --config "$work/$n/agent.conf" pubkey)
done
wg genkey > "$work/phone.key"; chmod 600 "$work/phone.key"
key[phone]=$(wg pubkey < "$work/phone.key")
bad_key=$(wg genkey | wg pubkey)

inventory() { # [mtu] [s1 key] [s2 extra subnet]
  local mtu=${1:-} k1=${2:-${key[s1]}} sub2=${3:-}
  cat > "$work/ctl/fleet.json" <<JSON
{"wan": {"name": "wfr", "tunnel_cidr": "10.98.0.0/24", "topology": "hub-spoke", "poll_interval": 1${mtu:+, \"mtu\": $mtu}},
 "rollout": {"waves": [["hub"], ["s1"], ["*"]], "settle": 3, "deadline": 60},
 "nodes": [
  {"name": "hub", "role": "hub", "endpoint": "${up[hub]}", "interface": "wfr-hub", "public_key": "${key[hub]}"},
  {"name": "s1", "endpoint": "${up[s1]}", "interface": "wfr-s1", "public_key": "$k1"},
  {"name": "s2", "endpoint": "${up[s2]}", "interface": "wfr-s2", "public_key": "${key[s2]}", "subnets": ["172.16.2.0/24"$sub2]},
  {"name": "phone", "public_key": "${key[phone]}", "agent": false}
 ]}
JSON
}
inventory
ip netns exec wfr-sw "$ctl" serve --inventory "$work/ctl/fleet.json" --key "$work/ctl/signing.key" --listen $ctl_ip:8443 \
  --tls-cert "$work/ctl/tls.crt" --tls-key "$work/ctl/tls.key" --state "$work/ctl/state" \
  --token-file "$work/ctl/token" 2>"$work/controller.log" &
ctl_pid=$!
pids+=($ctl_pid)
api() { ns sw curl -s --max-time 20 --cacert "$work/ctl/tls.crt" "$@"; }
AUTH=(-H "Authorization: Bearer $(cat "$work/ctl/token")")
for _ in $(seq 100); do api -o /dev/null "https://$ctl_ip:8443/v1/fleet" && break; sleep 0.1; done
base=https://$ctl_ip:8443

for n in "${nodes[@]}"; do
  ip netns exec "wfr-$n" env WG_PROCESS_FOREGROUND=1 wireguard-go "wfr-$n" >"$work/$n/wg.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do [ -S "/var/run/wireguard/wfr-$n.sock" ] && break; sleep 0.1; done
  ns "$n" "$agent" --config "$work/$n/agent.conf" run >"$work/$n/agent.log" 2>&1 &
  pids+=($!)
done

fleet() { api "$base/v1/fleet" | jq -r "$1"; }
node_field() { fleet ".nodes[] | select(.name == \"$1\") | $2"; }
rollout() { api "$base/v1/rollout" | jq -r "$1"; }
served() { api "${AUTH[@]}" "$base/v1/nodes/$1/desired-state" | jq -r .payload | base64 -d | jq -r "${2:-.revision}"; }
# until SECONDS COMMAND...: polls every 0.2 s
until_() { local t=$1; shift; for _ in $(seq $((t * 5))); do "$@" && return 0; sleep 0.2; done; return 1; }
converged() { # every agent node applied what it is served
  [ "$(fleet '[.nodes[] | select(.agent) | (.applied_revision == .current_revision and .state == "converged")] | all')" = true ]
}
is() { [ "$(eval "$1")" = "$2" ]; }
tip() { jq -r --arg n "$1" '.allocations[$n]' "$work/ctl/state/state.json"; }

check "the agents converge" until_ 30 converged
for n in s1 s2; do check "$n pings the hub over the tunnel" ns "$n" ping -c1 -W3 -q "$(tip hub)"; done

# ---- the phone: wg-quick up from its downloaded config, key filled in on "the device" ----
api "${AUTH[@]}" -o "$work/phone.dl" "$base/v1/nodes/phone/wg-quick.conf"
sed "s|^PrivateKey = .*|PrivateKey = $(cat "$work/phone.key")|" "$work/phone.dl" > "$work/wfrphone.conf"
chmod 600 "$work/wfrphone.conf"
check "wg-quick up with the downloaded config (wireguard-go)" \
  ns phone env WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
  wg-quick up "$work/wfrphone.conf"
check "the phone pings the hub over its tunnel" ns phone ping -c1 -W3 -q "$(tip hub)"
check "the phone reaches s1 through the hub" ns phone ping -c1 -W3 -q "$(tip s1)"
expect_eq "the phone's config is not stale after the download" "$(node_field phone .config_stale)" false
check "the hub reports s1, s2 and phone healthy" until_ 10 is "node_field hub .peers_healthy" 3

# ---- three waves ----
declare -A r0
for n in "${nodes[@]}"; do r0[$n]=$(served "$n"); done
inventory 1400
kill -HUP "$ctl_pid"
check "the change starts a rollout at wave 1" until_ 10 is "rollout '\"\(.state) \(.wave)\"'" "rolling 1"
expect_eq "s2 still served its old revision in wave 1" "$(served s2)" "${r0[s2]}"
check "wave 2 starts once the hub applied it and settled" until_ 30 is "rollout .wave" 2
api -o "$work/fleet-w2.json" "$base/v1/fleet"
expect_eq "fleet view at wave 2: hub runs the change" \
  "$(jq -r '.nodes[] | select(.name == "hub") | (.applied_revision == .target_revision)' "$work/fleet-w2.json")" true
expect_eq "fleet view at wave 2: s2 held back on its old revision" \
  "$(jq -r '.nodes[] | select(.name == "s2") | "\(.current_revision) \(.applied_revision) \(.target_revision > .current_revision)"' "$work/fleet-w2.json")" \
  "${r0[s2]} ${r0[s2]} true"
expect_eq "the spokes did not get the new MTU yet (s2)" "$(ns s2 cat /sys/class/net/wfr-s2/mtu)" 1420
check "wave 3 starts" until_ 30 is "rollout .wave" 3
check "the rollout is done" until_ 30 is "rollout .state" done
check "every agent applied it" until_ 10 converged
for n in "${nodes[@]}"; do expect_eq "$n's interface has MTU 1400" "$(ns "$n" cat /sys/class/net/wfr-$n/mtu)" 1400; done

# ---- a change that breaks the hub's peer s1: halts at wave 1 ----
declare -A r1
for n in "${nodes[@]}"; do r1[$n]=$(served "$n"); done
ns s1 ping -c1 -W3 -q "$(tip hub)" >/dev/null
inventory 1400 "$bad_key"
kill -HUP "$ctl_pid"
check "the bad change halts the rollout" until_ 30 is "rollout .state" halted
reason=$(rollout .reason)
expect_eq "the reason names the hub's peer s1" "$reason" "node hub: peer s1 was healthy before the change and is not now"
check "the hub is rolled back: s1's real key on its interface again" \
  until_ 15 bash -c "ip netns exec wfr-hub wg show wfr-hub peers | grep -qxF '${key[s1]}'"
check "the hub does not keep the bad key" bash -c "! ip netns exec wfr-hub wg show wfr-hub peers | grep -qxF '$bad_key'"
check "the hub applied the rollback, a revision above the bad one" \
  until_ 15 is "node_field hub '(.applied_revision == .current_revision) and (.current_revision > ${r1[hub]} + 1)'" true
for n in s1 s2; do
  expect_eq "$n never received the bad change (served, applied)" \
    "$(served "$n") $(node_field "$n" .applied_revision)" "${r1[$n]} ${r1[$n]}"
done
check "s1 reaches the hub again (a new handshake within 40 s)" ns s1 ping -c1 -w40 -q "$(tip hub)"
sleep 2
expect_eq "still halted" "$(rollout .state)" halted
api -o "$work/page.html" "$base/"
check "the fleet page shows the halt and its reason" grep -q "halted.*peer s1 was healthy before the change" "$work/page.html"

# ---- abort, fix the inventory; revert the hub to its first revision ----
expect_eq "rollout abort" "$("$ctl" rollout --state "$work/ctl/state" abort)" "rollout aborted"
inventory 1400
kill -HUP "$ctl_pid"
check "the agents converge after the abort" until_ 20 converged
before=$(served hub)
out=$("$ctl" revert --state "$work/ctl/state" hub --to "${r0[hub]}")
check "revert hub --to ${r0[hub]}: $out" grep -q 'published under a new revision' <<<"$out"
check "the revert rolls out" until_ 10 is "rollout .state" rolling
rv=$(served hub)
check "hub's revert is revision $rv, above $before" [ "$rv" -gt "$before" ]
expect_eq "with the first revision's content (no MTU)" "$(served hub .interfaces[0].mtu)" null
check "the hub applied it and the revert is done" until_ 30 is "rollout .state" done
expect_eq "the hub runs revision $rv" "$(node_field hub .applied_revision)" "$rv"

# ---- the phone's stale flag follows a topology change and a download ----
inventory 1400 "${key[s1]}" ', "172.16.22.0/24"'
kill -HUP "$ctl_pid"
check "s2's new subnet makes the phone's config stale" until_ 10 is "node_field phone .config_stale" true
api "${AUTH[@]}" -o "$work/phone2.dl" "$base/v1/nodes/phone/wg-quick.conf"
check "the new config routes 172.16.22.0/24" grep -q '172.16.22.0/24' "$work/phone2.dl"
expect_eq "the download clears the flag" "$(node_field phone .config_stale)" false

ns phone wg-quick down "$work/wfrphone.conf" >/dev/null 2>&1
finish
