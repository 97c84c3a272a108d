#!/bin/bash
# SPDX-License-Identifier: MIT
# The connection dies in the middle of a deploy (the simulator hangs up before command N): the
# agent reconnects, re-observes and converges, with nothing created twice.
. "$(dirname "$0")/lib.sh"
write_doc "$T/doc.json"

check_converged() {
  assert_eq "$(val .id /interface/wireguard/print | wc -l)" 1 "interfaces"
  assert_eq "$(val .id /interface/wireguard/peers/print ?interface=wfr0 | wc -l)" 3 "peers"
  assert_eq "$(val .id /ip/address/print ?interface=wfr0 | wc -l)" 1 "addresses"
  assert_eq "$(val .id /ip/route/print ?gateway=wfr0 ?static=true | wc -l)" 5 "routes"
  assert_eq "$(val .id /ip/firewall/filter/print "?comment=wgfleet:wfr0 allow udp" | wc -l)" 1 "accept rules"
  # the values, not only the counts: every peer, address and route as the document says
  local d; d=$(compare_ros "$T/doc.json") || fail "after the drop the router differs from the document: $d"
  assert_eq "$(val dst-port /ip/firewall/filter/print "?comment=wgfleet:wfr0 allow udp")" 51820 "accept port"
  assert_eq "$(val mtu /interface/wireguard/print ?name=wfr0 | wc -l)" 1 "one interface wfr0"
  local m; m=$(log_mark)
  drive apply "$T/doc.json" >/dev/null 2>&1 || fail "apply after convergence"
  assert_eq "$(changes_since "$m" | wc -l)" 0 "changes on a converged router"
}

# drop points: right after the interface add, in the middle of the peers, among the routes
for n in 3 6 12; do
  start_sim --defconf --drop-after "$n"
  rc=0
  drive apply "$T/doc.json" > "$T/out" 2> "$T/err" || rc=$?
  grep -q "^DROP before command $n" "$T/sim.log" || fail "no drop at $n"
  if [ "$rc" -ne 0 ]; then
    # not converged in this run: the next run must finish the job
    drive apply "$T/doc.json" > "$T/out" 2> "$T/err" || fail "next run after the drop at $n: $(cat "$T/err")"
    how="on the next run"
  else
    how="in the same run ($(grep -o 'converged.*' "$T/out"))"
  fi
  check_converged
  ok "connection dropped before command $n ($(grep "^DROP" "$T/sim.log" | cut -d'(' -f2 | tr -d ')')): converged $how, nothing duplicated"
  rm -f "$T/sim.log"
done

# dropped on every connection of one run (the deploy and the agent's re-observation): that run
# fails and says so; the next run converges
start_sim --defconf --drop-after 3 --drop-times 2
if drive apply "$T/doc.json" > "$T/out" 2> "$T/err"; then fail "a run whose connections all died succeeded"; fi
msg=$(grep -o "routeros: [^:]*: connection lost" "$T/err" | head -1)
[ -n "$msg" ] || fail "failure message: $(cat "$T/err")"
assert_eq "$(grep -c '^DROP' "$T/sim.log")" 2 "drops"
drive apply "$T/doc.json" > "$T/out" 2> "$T/err" || fail "next run: $(cat "$T/err")"
check_converged
ok "run with every connection dropped fails ($msg); the next run converges"
