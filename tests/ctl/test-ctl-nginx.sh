#!/bin/bash
# SPDX-License-Identifier: MIT
# Distribution without the controller: `render` output served as static files by nginx over
# HTTPS on loopback (in a private network namespace). ETag/304 for idle polls, unchanged
# re-renders keep the ETag, a change is served with a new one; and a real agent converges
# from nginx (wireguard-go) and its idle poll is answered 304 (nginx's access log says so).
set -uo pipefail
. "$(dirname "$0")/lib-ctl.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root (private network namespace, nginx, wireguard-go)"
command -v nginx >/dev/null || skip "nginx is not installed (scripts/deps installs nginx-light)"
enter_netns "$@"

tmp=$(mktemp -d "$build/tests/ctl/nginx.XXXXXX")
chmod 755 "$tmp"
iface=wfc-ngx$$
iface=${iface:0:15}
wgpid=
cleanup() {
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
  [ -n "$wgpid" ] && kill "$wgpid" 2>/dev/null
  ip link del "$iface" 2>/dev/null
  rm -f "/var/run/wireguard/$iface.sock"
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "${WFC_KEEP:-}" ] && trap - EXIT

make_cert "$tmp" || skip "openssl cannot create a test certificate"
"$ctl" keygen --out "$tmp/keys" >/dev/null
mkdir -p "$tmp/agent"
k_agent=$(wg genkey | tee "$tmp/agent.key" | wg pubkey)
k_peer=$(wg genkey | wg pubkey)
write_inventory() { # $1: extra routed subnet of the peer
  cat > "$tmp/inventory.json" <<JSON
{"wan": {"name": "static", "tunnel_cidr": "10.78.0.0/24", "interface": "$iface", "listen_port": 51999},
 "nodes": [
  {"name": "edge", "public_key": "$k_agent"},
  {"name": "peer", "endpoint": "127.0.0.1:51998", "public_key": "$k_peer", "subnets": ["172.31.1.0/24"$1]}
 ]}
JSON
}
write_inventory ""
render() { "$ctl" render --inventory "$tmp/inventory.json" --key "$tmp/keys/signing.key" --out "$tmp/www" --state "$tmp/state" >/dev/null; }
check "render to a web root" render
check "state kept outside the web root" [ -f "$tmp/state/state.json" -a ! -e "$tmp/www/state.json" ]

cat > "$tmp/nginx.conf" <<CONF
daemon on;
user root;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log $tmp/access.log;
  client_body_temp_path $tmp/ngx-body; proxy_temp_path $tmp/ngx-proxy; fastcgi_temp_path $tmp/ngx-fcgi;
  uwsgi_temp_path $tmp/ngx-uwsgi; scgi_temp_path $tmp/ngx-scgi;
  server {
    listen 127.0.0.1:8444 ssl;
    ssl_certificate $tmp/tls.crt;
    ssl_certificate_key $tmp/tls.key;
    location ~ ^/v1/nodes/([A-Za-z0-9._-]+)/desired-state\$ {
      default_type application/json;
      etag on;
      alias $tmp/www/\$1.env;
    }
  }
}
CONF
check "nginx starts" nginx -c "$tmp/nginx.conf" -e "$tmp/error.log"
url=https://127.0.0.1:8444/v1/nodes/edge/desired-state
wait_for_https "$url" || fail "nginx does not answer"

C=(curl -s --cacert "$tmp/tls.crt" --max-time 10)

expect_eq "nginx serves the envelope" "$(req "$url")" 200
check "served bytes are the rendered envelope" cmp -s "$tmp/body" "$tmp/www/edge.env"
tag=$(etag)
check "nginx sends an ETag ($tag)" [ -n "$tag" ]
expect_eq "idle poll with If-None-Match is 304" "$(req -H "If-None-Match: $tag" "$url")" 304
check "re-render of an unchanged inventory" render
expect_eq "unchanged re-render keeps the ETag: still 304" "$(req -H "If-None-Match: $tag" "$url")" 304
write_inventory ', "172.31.2.0/24"'
check "re-render with a new subnet" render
expect_eq "changed document: 200" "$(req -H "If-None-Match: $tag" "$url")" 200
check "changed document has a new ETag" [ "$(etag)" != "$tag" ]
expect_eq "new subnet in the served document" \
  "$(payload "$tmp/body" | jq -r '.interfaces[0].peers[0].allowed_ips | join(",")')" 10.78.0.2/32,172.31.1.0/24,172.31.2.0/24
expect_eq "unknown node: 404" "$(req https://127.0.0.1:8444/v1/nodes/ghost/desired-state)" 404

# ---- a real agent converging from nginx ----
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
status_url = https://127.0.0.1:8444/v1/nodes/edge/status
trust_key = $tmp/keys/signing.pub
ca_file = $tmp/tls.crt
poll_interval = 5
CONF
: > "$tmp/access.log"
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
codes=$(awk '$7 ~ /desired-state/ { print $9 }' "$tmp/access.log" | tr '\n' ' ')
expect_eq "nginx access log: first fetch 200, idle poll 304" "$codes" "200 304 "
finish
