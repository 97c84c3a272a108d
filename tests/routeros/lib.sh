# SPDX-License-Identifier: MIT
# Shared helpers for the routeros suite: a private simulator per test (port chosen by the
# kernel), keys, documents, and assertions on what the simulator holds.
set -euo pipefail

B=${WGFLEET_BUILD:?WGFLEET_BUILD not set (run through meson test)}/tests/routeros
SIM=$B/wgfleet-routeros-sim
CLI=$B/wgfleet-ros-cli
AGENT=$WGFLEET_BUILD/agent/wgfleet-agent
SIGN=$WGFLEET_BUILD/tests/wgfleet-sign
SIM_ADDR=${SIM_ADDR:-127.0.0.1}
command -v wg >/dev/null || { echo "SKIP: wg (wireguard-tools) is needed to make keys"; exit 77; }

T=$(mktemp -d /tmp/wfr.XXXXXX)
SIM_PID=
cleanup() {
  stop_sim
  [ -n "${KEEP_T:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [ -f "$T/sim.log" ] && { echo "--- simulator log (tail)"; tail -n 40 "$T/sim.log"; } >&2; exit 1; }
ok() { echo "ok - $*"; }

PW=sim-pw-$$
printf '%s\n' "$PW" > "$T/password"
chmod 600 "$T/password"
umask 077
mkdir -p "$T/state"
"$SIGN" genkey "$T/sign.key" > "$T/trust.pub"

export ROS_HOST=$SIM_ADDR ROS_USER=wgfleet ROS_PASSWORD="$PW"
# agent configuration knobs (write_conf): TLS=yes|no VERIFY=yes|no CA_FILE PROBE
TLS=no VERIFY=yes CA_FILE= PROBE=1

write_conf() {
  {
    echo "[agent]"
    echo "node = router1"
    echo "state_dir = $T/state"
    echo "backend = routeros"
    echo "[controller]"
    echo "trust_key = $T/trust.pub"
    echo "[routeros]"
    echo "host = $SIM_ADDR"
    echo "port = ${ROS_PORT:-8728}"
    echo "tls = $TLS"
    echo "tls_verify = $VERIFY"
    [ "$TLS" = yes ] && [ "$VERIFY" = yes ] || echo "insecure_plaintext = yes"
    [ -n "$CA_FILE" ] && echo "ca_file = $CA_FILE"
    echo "user = wgfleet"
    echo "password_file = $T/password"
    echo "probe_timeout = $PROBE"
  } > "$T/agent.conf"
}
agent() { ${AGENT_WRAPPER:-} "$AGENT" --config "$T/agent.conf" "$@"; }
write_conf

# start_sim [sim options...]; SIM_PORT: a fixed port (in a network namespace of the test's own)
start_sim() {
  stop_sim
  unset ROS_TLS ROS_CA_FILE
  rm -f "$T/port"
  local hs=()
  [ "${HANDSHAKE_AFTER:-0}" = never ] || hs=(--handshake-after "${HANDSHAKE_AFTER:-0}")
  # SIM_WRAPPER: e.g. "valgrind -q --log-file=/tmp/sim-vg.%p" for a memory check of the simulator
  ${SIM_WRAPPER:-} "$SIM" --listen "$SIM_ADDR:${SIM_PORT:-0}" --user wgfleet --password "$PW" --port-file "$T/port" --log "$T/sim.log" "${hs[@]}" "$@" \
    2>>"$T/sim.err" &
  SIM_PID=$!
  for _ in $(seq 200); do [ -s "$T/port" ] && break; sleep 0.05; done
  [ -s "$T/port" ] || fail "simulator did not start: $(cat "$T/sim.err")"
  ROS_PORT=$(cat "$T/port")
  export ROS_PORT
  write_conf
}

stop_sim() {
  [ -n "$SIM_PID" ] || return 0
  kill "$SIM_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$SIM_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SIM_PID" 2>/dev/null || true
  wait "$SIM_PID" 2>/dev/null || true
  SIM_PID=
}

# Certificates in $T (openssl): mkca -> ca.crt, ca.key; mkcert NAME SAN [CA]: NAME.key and
# NAME.crt for SAN (e.g. IP:127.0.0.1), signed by CA (self-signed without); tls_router: the
# test CA and router.crt for $SIM_ADDR, the simulator's TLS identity (start_tls_sim)
need_openssl() { command -v openssl >/dev/null || { echo "SKIP: openssl is needed to make certificates"; exit 77; }; }
ossl() { openssl "$@" 2>/dev/null; }
mkca() { ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" -out "$T/ca.crt" -days 2 -subj /CN=wfr-ca; }
mkcert() {
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" -out "$T/$1.csr" -subj "/CN=$1"
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$2" > "$T/$1.ext"
  if [ -n "${3:-}" ]; then
    ossl x509 -req -in "$T/$1.csr" -CA "$T/$3.crt" -CAkey "$T/$3.key" -CAcreateserial -out "$T/$1.crt" -days 2 -extfile "$T/$1.ext"
  else
    ossl x509 -req -in "$T/$1.csr" -signkey "$T/$1.key" -out "$T/$1.crt" -days 2 -extfile "$T/$1.ext"
  fi
}
tls_router() { need_openssl; mkca; mkcert router "IP:$SIM_ADDR" ca; }
# start_tls_sim [sim options...]: the simulator on TLS with router.crt, the agent verifying it
start_tls_sim() {
  start_sim --tls-cert "$T/router.crt" --tls-key "$T/router.key" "$@"
  TLS=yes VERIFY=yes CA_FILE=$T/ca.crt write_conf
  export ROS_TLS=1 ROS_CA_FILE=$T/ca.crt   # cli, val and compare_ros over verified TLS too
}

cli() { "$CLI" "$@"; }
# compare_ros DOC: tests/tools/wf-compare on the simulator: every peer (key, endpoint, allowed
# addresses, keepalive, PSK presence), address and route (distance) the agent owns is the document's
export WF_ROS_CLI=$CLI
compare_ros() { "${WGFLEET_SRC:?}/tests/tools/wf-compare" --routeros "$@"; }
# val KEY COMMAND [WORDS...]: one value per matching item
val() { local k=$1; shift; "$CLI" --value "$k" "$@"; }

# keys: mkpeer NAME -> $T/NAME.pub
mkpeer() { wg genkey | tee "$T/$1.key" | wg pubkey > "$T/$1.pub"; }
pub() { cat "$T/$1.pub"; }

# Log position helpers: what did the agent send after a point?
log_mark() { wc -l < "$T/sim.log" 2>/dev/null || echo 0; }
log_since() { tail -n +$(( $1 + 1 )) "$T/sim.log"; }
# commands that change something (not print, not login)
changes_since() { log_since "$1" | grep -E '^/[^ ]*/(add|set|remove|move) ' || true; }

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds or SECONDS have passed
wait_for() {
  local deadline=$(( $(date +%s%3N) + $1 * 1000 ))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s%3N)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
assert_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }

# drive plan|apply|clear|status DOC: the agent on a signed copy of DOC. plan prints only the
# operations; apply prints the agent's summary.
drive() {
  local cmd=$1 doc=$2
  case $cmd in
    plan|apply)
      "$SIGN" sign "$T/sign.key" "$doc" > "$doc.env"
      if [ "$cmd" = plan ]; then
        agent plan --trust-key "$T/trust.pub" "$doc.env" > "$T/agent-plan.out" || return 1
        grep -Ev '^[^ ]+: [0-9]+ changes?$' "$T/agent-plan.out" || true
      else
        agent apply --trust-key "$T/trust.pub" "$doc.env"
      fi ;;
    clear) agent clear "$(jq -r '.interfaces[].name' "$doc")" ;;
    *) echo "drive: $cmd?" >&2; return 2 ;;
  esac
}

# A document with the standard three peers; variables override parts of it.
#   A_EP B_EP (endpoints), B_KA (keepalive of b), EXTRA_ADDR, LISTEN, DOC_PUB (the interface's
#   public_key; none by default: the router generates its key)
write_doc() {
  local out=$1
  cat > "$out" <<EOF
{
  "schema": "wgfleet/desired-state/v1",
  "node": "router1",
  "revision": ${REV:-1},
  "issued_at": "2026-11-22T00:00:00Z",
  "expires_at": "2030-01-01T00:00:00Z",
  "interfaces": [{
    "name": "${IFACE:-wfr0}",
    "listen_port": ${LISTEN:-51820},
    "addresses": ["10.99.0.1/24"${EXTRA_ADDR:-}],
${DOC_PUB:+    \"public_key\": \"$DOC_PUB\",
}    "peers": [
      {"name": "site-a", "public_key": "$(pub a)", "endpoint": "${A_EP:-192.0.2.10:51820}",
       "allowed_ips": ["10.99.0.2/32", "10.1.0.0/24"], "persistent_keepalive": 25},
      {"name": "site-b", "public_key": "$(pub b)", "endpoint": "${B_EP:-192.0.2.20:51820}",
       "allowed_ips": ["10.99.0.3/32", "10.2.0.0/24"${B_EXTRA:-}], "persistent_keepalive": ${B_KA:-25}},
      {"name": "laptop", "public_key": "$(pub c)",
       "allowed_ips": ["10.99.0.4/32"]}
    ]${ROUTES:-}
  }]
}
EOF
}

mkpeer a
mkpeer b
mkpeer c

# every process below PID, depth first (a sandbox puts bwrap, its init and setpriv in between)
descendants() {
  local c
  for c in $(ps -o pid= --ppid "$1"); do echo "$c"; descendants "$c"; done
}
