#!/bin/bash
# SPDX-License-Identifier: MIT
# scripts/demo end to end against this build: five nodes on wireguard-go converge through the
# controller, every tunnel pings, the rollout converges everywhere without resetting a session,
# two overlapping LANs and a published service answer through the gateways, a gated rollout
# halts on a bad key (the hub rolled back, no other node served it), and nothing is left behind.
set -uo pipefail
. "$(dirname "$0")/lib-ctl.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
command -v wireguard-go >/dev/null || skip "wireguard-go is not installed (scripts/deps installs it)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

t0=$(date +%s)
WGFLEET_DEMO_PREBUILT=1 WGFLEET_BUILD_DIR=$build "$src/scripts/demo" > "$out" 2>&1
rc=$?
secs=$(( $(date +%s) - t0 ))
sed 's/\x1b\[[0-9;]*m//g' "$out"
plain=$(sed 's/\x1b\[[0-9;]*m//g' "$out")
expect_eq "demo exits 0" "$rc" 0
# the demo's own waits poll with deadlines; this bound only catches a demo that hangs
check "demo finished (${secs}s; bound 200 s, generous for a loaded 2-core machine)" [ "$secs" -lt 200 ]
for n in hub site1 site2 cgn; do
  check "$n converged before the rollout" grep -q "$n *converged to revision" <<<"$plain"
done
expect_eq "every node converged four times or three (site3)" \
  "$(grep -c 'converged to revision' <<<"$plain")" 19
expect_eq "no failed ping" "$(grep -c FAIL <<<"$plain")" 0
expect_eq "ping matrix cells ok (12 before, 20 after)" "$(grep -E '^  (hub|site[123]|cgn) ' <<<"$plain" | grep -v -- '->' | grep -o ' ok' | wc -l)" 32
expect_eq "gateways: five answers from the expected LAN" "$(grep -cE '^  (cgn|site[13]) -> .* ok ' <<<"$plain")" 5
check "gateways: site3's overlapping LAN is seen at its nat_pool prefix" \
  grep -q 'site3: LAN 172.16.1.0/24 appears as 10.200.0.0/24' <<<"$plain"
check "gateways: the hub forwards (its agent set the sysctl)" grep -q 'hub net.ipv4.ip_forward = 1 ' <<<"$plain"
check "rollout: the bad key halts it" grep -qE '^    rollout [0-9]+: halted' <<<"$plain"
check "rollout: the reason names the hub's peer site1" grep -q 'peer site1 was healthy before the change' <<<"$plain"
check "rollout: the hub is rolled back" grep -q 'hub rolled back .*: true' <<<"$plain"
expect_eq "rollout: no other node was served the bad edit" "$(grep -c 'never saw the bad edit' <<<"$plain")" 4
check "rollout: aborted by the operator" grep -q '^  rollout aborted' <<<"$plain"
check "a stopped agent is marked stale" grep -q "site1 stale: true" <<<"$plain"
check "untouched sessions kept" grep -q ' 6 of 6 sessions kept' <<<"$plain"
check "fleet table after the rollout: site3 converged" grep -Eq '^  site3 +[0-9]+ +[0-9]+ +converged' <<<"$plain"
expect_eq "no namespace left behind" "$(ip netns list | grep -c '^wfc-')" 0
expect_eq "no wireguard-go left behind" "$(pgrep -fc 'wireguard-go wfc-wg-')" 0
expect_eq "no UAPI socket left behind" "$(ls /var/run/wireguard/ 2>/dev/null | grep -c '^wfc-wg-')" 0
finish
