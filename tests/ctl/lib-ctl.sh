# SPDX-License-Identifier: MIT
# Shared helpers for the controller suite's shell tests (sourced).
build=${WGFLEET_BUILD:?run through meson test}
src=${WGFLEET_SRC:?run through meson test}
ctl=$build/controller-stub/wgfleet-controller
agent=$build/agent/wgfleet-agent
failures=0
checks=0

ok() { checks=$((checks + 1)); echo "ok - $*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL - $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
# expect_eq DESCRIPTION GOT WANT
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi; }
skip() { echo "SKIP: $*"; exit 77; }
# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds or SECONDS have passed
wait_for() {
  local deadline=$(( $(date +%s%3N) + $1 * 1000 ))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s%3N)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
finish() { echo "$checks checks, $failures failed"; [ "$failures" -eq 0 ]; }

# Self-signed test certificate for 127.0.0.1/localhost, generated at test time.
make_cert() {
  local dir=$1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
}

# Runs the rest of the test in a private network namespace (own loopback, no port clashes with
# parallel runs) when root; otherwise on the shared loopback.
enter_netns() {
  if [ "$(id -u)" -eq 0 ] && [ -z "${WFC_IN_NETNS:-}" ] && unshare --net true 2>/dev/null; then
    WFC_IN_NETNS=1 exec unshare --net -- "$0" "$@"
  fi
  if [ -n "${WFC_IN_NETNS:-}" ]; then ip link set lo up; fi
}

# wait_for_https URL: up to 10 s for a listener
wait_for_https() {
  for _ in $(seq 100); do
    curl -sk -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}

payload() { jq -r .payload "$1" | base64 -d; }

# req URL [curl options]: the status code; body in $tmp/body, headers in $tmp/hdr (curl
# command line in the array C); etag: the ETag of the last answer
req() { rm -f "$tmp/body" "$tmp/hdr"; "${C[@]}" -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' "$@"; }
etag() { sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p' "$tmp/hdr"; }
