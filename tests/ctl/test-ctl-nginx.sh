#!/bin/bash
# SPDX-License-Identifier: MIT
# Distribution without the controller, as an operator runs it: the commands and the nginx site
# of docs/controller.md ("Without the controller"), executed verbatim as root with Debian's own
# /etc/nginx/nginx.conf, whose workers run as www-data. It all happens in a private mount and
# network namespace: /etc and /var/lib are overlays, /srv, /run and /var/log/nginx are tmpfs,
# so the real machine is not touched. Checked: the workers are www-data and read the envelopes
# (a 0750 web root gives 403), state.json stays out of the web root, ETag/304 for idle polls,
# unchanged re-renders keep the ETag, a change is served with a new one, and a real agent
# converges from nginx (wireguard-go) and its idle poll is a 304 in nginx's access log.
set -uo pipefail
. "$(dirname "$0")/lib-ctl.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root (mount and network namespace, nginx, wireguard-go)"
command -v nginx >/dev/null || skip "nginx is not installed (scripts/deps installs nginx-light)"
[ -f /etc/nginx/nginx.conf ] && [ -d /etc/nginx/sites-enabled ] && [ -d /var/log/nginx ] ||
  skip "not Debian's nginx layout (/etc/nginx/sites-enabled, /var/log/nginx)"
getent passwd www-data >/dev/null || skip "no user www-data"
if [ -z "${WFC_IN_NS:-}" ]; then
  unshare --net --mount --propagation private true 2>/dev/null ||
    skip "cannot create a private mount and network namespace here"
  WFC_IN_NS=1 exec unshare --net --mount --propagation private -- "$0" "$@"
fi
ip link set lo up

tmp=$(mktemp -d "$build/tests/ctl/nginx.XXXXXX")
iface=wfc-ngx$$
iface=${iface:0:15}
wgpid=
cleanup() {
  [ -f /run/nginx.pid ] && kill "$(cat /run/nginx.pid)" 2>/dev/null
  [ -n "$wgpid" ] && kill "$wgpid" 2>/dev/null
  wait 2>/dev/null
  for m in /var/log/nginx /run /srv /var/lib /etc; do mountpoint -q "$m" && umount -l "$m"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "${WFC_KEEP:-}" ] && trap - EXIT

# ---- a private /etc, /var/lib, /srv, /run, /var/log/nginx
for d in etc varlib; do mkdir -p "$tmp/ov/$d/up" "$tmp/ov/$d/work"; done
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$tmp/ov/etc/up,workdir=$tmp/ov/etc/work" /etc &&
  mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$tmp/ov/varlib/up,workdir=$tmp/ov/varlib/work" /var/lib &&
  mount -t tmpfs tmpfs /srv && mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/log/nginx ||
  skip "cannot mount overlayfs/tmpfs in the private namespace"
mkdir -p /run/wireguard
rm -rf /var/lib/wgfleet-controller /srv/wgfleet

# ---- what the operator has before the docs' commands: an inventory and a certificate
make_cert "$tmp" || skip "openssl cannot create a test certificate"
install -m 644 "$tmp/tls.crt" /etc/nginx/wgfleet.crt
install -m 600 "$tmp/tls.key" /etc/nginx/wgfleet.key
mkdir -p /etc/wgfleet-controller
k_agent=$(wg genkey | tee "$tmp/agent.key" | wg pubkey)
k_peer=$(wg genkey | wg pubkey)
write_inventory() { # $1: extra routed subnet of the peer
  cat > /etc/wgfleet-controller/fleet.json <<JSON
{"wan": {"name": "static", "tunnel_cidr": "10.78.0.0/24", "interface": "$iface", "listen_port": 51999},
 "nodes": [
  {"name": "edge", "public_key": "$k_agent"},
  {"name": "peer", "endpoint": "127.0.0.1:51998", "public_key": "$k_peer", "subnets": ["172.31.1.0/24"$1]}
 ]}
JSON
}
write_inventory ""

# ---- the docs' commands, verbatim: sh blocks as they are, the nginx block as the site file
section=$(awk '/^## Without the controller/ { on = 1; next } on && /^## / { exit } on' "$src/docs/controller.md")
awk '
  /^```sh$/    { mode = "sh"; next }
  /^```nginx$/ { mode = "nginx"; print "cat > /etc/nginx/sites-available/wgfleet <<'"'"'NGINX_SITE'"'"'"; next }
  /^```$/      { if (mode == "nginx") print "NGINX_SITE"; mode = ""; next }
  mode != ""   { print }
' <<<"$section" > "$tmp/docs.sh"
if grep -q 'sites-available/wgfleet <<' "$tmp/docs.sh" && grep -q '^wgfleet-controller render' "$tmp/docs.sh"; then
  ok "docs/controller.md has the commands and the nginx site ($(grep -c . "$tmp/docs.sh") lines)"
else
  fail "no render command or nginx site found in docs/controller.md"; finish; exit 1
fi
# The test stands in for systemd: `systemctl reload nginx` starts or reloads nginx.
systemctl() {
  [ "$*" = "reload nginx" ] || { echo "systemctl $*: not emulated" >&2; return 1; }
  if [ -f /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then nginx -s reload; else nginx; fi
}
export -f systemctl
PATH=$build/controller-stub:$PATH bash -e "$tmp/docs.sh" > "$tmp/docs.log" 2>&1
rc=$?
expect_eq "the docs' commands run as written (exit 0)" "$rc" 0
[ "$rc" -eq 0 ] || { cat "$tmp/docs.log"; finish; exit 1; }
render() { PATH=$build/controller-stub:$PATH bash -e -c "$(sed -n '/^wgfleet-controller render/,/[^\\]$/p' "$tmp/docs.sh")" >/dev/null; }

url=https://127.0.0.1/v1/nodes/edge/desired-state
wait_for_https "$url" || { fail "nginx does not answer on 443: $(cat /var/log/nginx/error.log)"; finish; exit 1; }
master=$(cat /run/nginx.pid)
expect_eq "nginx's master runs as root" "$(ps -o user= -p "$master")" root
expect_eq "nginx's workers run as www-data (Debian's nginx.conf)" "$(ps -o user= --ppid "$master" | sort -u | tr -d ' ')" www-data
expect_eq "the web root /srv/wgfleet is 0755" "$(stat -c %a /srv/wgfleet)" 755
check "state.json in /var/lib/wgfleet-controller, not in the web root" \
  [ -f /var/lib/wgfleet-controller/state.json -a ! -e /srv/wgfleet/state.json ]

C=(curl -s --cacert /etc/nginx/wgfleet.crt --max-time 10)
expect_eq "nginx (www-data) serves the envelope" "$(req "$url")" 200
check "served bytes are the rendered envelope" cmp -s "$tmp/body" /srv/wgfleet/edge.env
chmod 750 /srv/wgfleet
expect_eq "a web root 0750 root (what render made before) is a 403 for www-data" "$(req "$url")" 403
chmod 755 /srv/wgfleet
tag=$(req "$url" >/dev/null; etag)
check "nginx sends an ETag ($tag)" [ -n "$tag" ]
expect_eq "idle poll with If-None-Match is 304" "$(req -H "If-None-Match: $tag" "$url")" 304
check "re-render of an unchanged inventory (the docs' render command)" render
expect_eq "unchanged re-render keeps the ETag: still 304" "$(req -H "If-None-Match: $tag" "$url")" 304
write_inventory ', "172.31.2.0/24"'
check "re-render with a new subnet" render
expect_eq "changed document: 200" "$(req -H "If-None-Match: $tag" "$url")" 200
check "changed document has a new ETag" [ "$(etag)" != "$tag" ]
expect_eq "new subnet in the served document" \
  "$(payload "$tmp/body" | jq -r '.interfaces[0].peers[0].allowed_ips | join(",")')" 10.78.0.2/32,172.31.1.0/24,172.31.2.0/24
expect_eq "unknown node: 404" "$(req https://127.0.0.1/v1/nodes/ghost/desired-state)" 404

# ---- a real agent converging from nginx
command -v wireguard-go >/dev/null || { fail "wireguard-go is not installed"; finish; exit 1; }
WG_PROCESS_FOREGROUND=1 wireguard-go "$iface" >"$tmp/wg-go.log" 2>&1 &
wgpid=$!
for _ in $(seq 50); do [ -S "/var/run/wireguard/$iface.sock" ] && break; sleep 0.1; done
mkdir -p "$tmp/agent-state"; chmod 700 "$tmp/agent-state"
cp "$tmp/agent.key" "$tmp/agent-state/private.key"; chmod 600 "$tmp/agent-state/private.key"
cat > "$tmp/agent.conf" <<CONF
[agent]
node = edge
state_dir = $tmp/agent-state
backend = uapi
[controller]
url = $url
status_url = https://127.0.0.1/v1/nodes/edge/status
trust_key = /etc/wgfleet-controller/signing.pub
ca_file = /etc/nginx/wgfleet.crt
poll_interval = 5
CONF
: > /var/log/nginx/access.log
"$agent" --config "$tmp/agent.conf" once > "$tmp/once1.log" 2>&1
expect_eq "agent once converges from nginx (exit 0)" "$?" 0
expect_eq "wg show: the agent set the node's key" "$(wg show "$iface" public-key)" "$k_agent"
expect_eq "wg show: the listen port from the document" "$(wg show "$iface" listen-port)" 51999
expect_eq "wg show: the peer from the document" "$(wg show "$iface" peers)" "$k_peer"
expect_eq "wg show: the peer's endpoint" "$(wg show "$iface" endpoints | cut -f2)" 127.0.0.1:51998
expect_eq "ip addr: the tunnel address" "$(ip -o -4 addr show dev "$iface" | awk '{print $4}')" 10.78.0.1/32
expect_eq "wg show: its allowed IPs" "$(wg show "$iface" allowed-ips | cut -f2 | tr ' ' '\n' | sort | tr '\n' ' ')" \
  "10.78.0.2/32 172.31.1.0/24 172.31.2.0/24 "
check "ip route: the peer's subnet goes into the tunnel" bash -c "ip route show dev $iface | grep -q '^172.31.2.0/24'"
"$agent" --config "$tmp/agent.conf" once > "$tmp/once2.log" 2>&1
expect_eq "second agent once (idle) exits 0" "$?" 0
codes=$(awk '$7 ~ /desired-state/ { print $9 }' /var/log/nginx/access.log | tr '\n' ' ')
expect_eq "nginx access log: first fetch 200, idle poll 304" "$codes" "200 304 "
finish
