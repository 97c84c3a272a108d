#!/bin/bash
# SPDX-License-Identifier: MIT
# Prometheus: a running agent's /metrics passes `promtool check metrics` (format and naming
# lint), the alert rules in contrib/prometheus pass `promtool check rules` and their unit tests
# (`promtool test rules`), and every series the rules use is one the agent exports.
set -uo pipefail
build=${WGFLEET_BUILD:?run through meson test}
src=${WGFLEET_SRC:?run through meson test}
agent=$build/agent/wgfleet-agent
rules=$src/contrib/prometheus/wgfleet.rules.yml
fails=0
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }
ok() { echo "ok - $*"; }
command -v promtool >/dev/null || { echo "SKIP: promtool is not installed (scripts/deps installs prometheus)"; exit 77; }
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

out=$(promtool check rules "$rules" 2>&1) && ok "promtool check rules: $(grep -o 'SUCCESS.*' <<<"$out")" ||
  fail "promtool check rules: $out"
out=$(cd "$src/contrib/prometheus" && promtool test rules wgfleet.rules.test.yml 2>&1) &&
  ok "promtool test rules: every alert fires when and where it should" || fail "promtool test rules: $out"

# A running agent (userspace backend, no controller reachable: no root needed) serving metrics.
"$build/controller-stub/wgfleet-controller" keygen --out "$tmp/keys" >/dev/null
metrics=
for try in 1 2 3; do
  port=$((20000 + (RANDOM % 30000)))
  cat > "$tmp/agent.conf" <<CONF
[agent]
node = n1
state_dir = $tmp/state
backend = uapi
uapi_dir = $tmp/uapi
metrics_listen = 127.0.0.1:$port
[controller]
url = https://127.0.0.1:1/v1/nodes/n1/desired-state
trust_key = $tmp/keys/signing.pub
CONF
  "$agent" --config "$tmp/agent.conf" run > "$tmp/agent.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do
    metrics=$(curl -sf "http://127.0.0.1:$port/metrics") && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$metrics" ] && break
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
done
[ -n "$metrics" ] || { fail "the agent serves no metrics: $(cat "$tmp/agent.log")"; exit 1; }
out=$(promtool check metrics <<<"$metrics" 2>&1) && [ -z "$out" ] &&
  ok "promtool check metrics: the agent's $(grep -c '^# TYPE' <<<"$metrics") metric families pass" ||
  fail "promtool check metrics on the agent's /metrics: $out"
# the check itself can fail: a counter without _total is refused
out=$(printf '# HELP wgfleet_x_count x\n# TYPE wgfleet_x_count counter\nwgfleet_x_count 1\n' | promtool check metrics 2>&1)
[ -n "$out" ] && ok "promtool check metrics refuses a misnamed counter ($out)" ||
  fail "promtool check metrics accepted a counter named wgfleet_x_count"

for m in $(grep -oE 'wgfleet_[a-z_]+' "$rules" | sort -u); do
  grep -q "^# TYPE $m " <<<"$metrics" || fail "the rules use $m, which the agent does not export"
done
ok "the rules use only series the agent exports ($(grep -oE 'wgfleet_[a-z_]+' "$rules" | sort -u | wc -l) of them)"
[ "$fails" -eq 0 ]
