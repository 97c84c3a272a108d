#!/bin/bash
# SPDX-License-Identifier: MIT
# systemd/wgfleet-agent.service: exposure score at most 2.0 (systemd-analyze security --offline;
# 1.5 since it runs as wgfleet-agent instead of root), while the agent keeps what it needs to
# manage WireGuard, routes and the UAPI socket, and gets root's secrets only as credentials.
set -euo pipefail
unit=${WGFLEET_SRC:?}/systemd/wgfleet-agent.service
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is not installed"; exit 77; }
systemd-analyze security --help 2>&1 | grep -q -- --offline ||
  { echo "SKIP: systemd-analyze has no --offline (systemd < 250)"; exit 77; }

out=$(systemd-analyze security --offline=true "$unit" 2>&1) || true
score=$(sed -n 's/.*Overall exposure level for wgfleet-agent.service: \([0-9.]*\).*/\1/p' <<<"$out")
[ -n "$score" ] || { echo "FAIL: no score in: $out"; exit 1; }
echo "exposure: $score"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || { echo "FAIL: exposure $score > 2.0"; grep '✗' <<<"$out"; exit 1; }

need() { grep -Eq "$1" "$unit" || { echo "FAIL: $unit lacks $1"; exit 1; }; }
need '^User=wgfleet-agent$'
need '^Group=wgfleet-agent$'
grep -Eq '^(DynamicUser=yes|PrivateUsers=yes)' "$unit" && { echo "FAIL: a dynamic user or user namespace would lose the node key's owner or CAP_NET_ADMIN on the host's network"; exit 1; }
need '^LoadCredential=token:/etc/wgfleet/token$'
need '^LoadCredential=psk:/etc/wgfleet/secrets$'
need '^Type=notify$'
need '^WatchdogSec='
need '^Restart=on-failure$'
need '^StateDirectory=wgfleet$'
need '^ConfigurationDirectory=wgfleet$'
need '^CapabilityBoundingSet=CAP_NET_ADMIN$'
need '^AmbientCapabilities=CAP_NET_ADMIN$'
need '^RestrictAddressFamilies=AF_NETLINK AF_UNIX AF_INET AF_INET6$'
need '^ReadWritePaths=-?/run/wireguard$'
need '^ReadWritePaths=-?/proc/sys/net$'
need '^ProtectKernelTunables=yes$'
echo "ok"
