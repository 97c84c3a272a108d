#!/bin/bash
# SPDX-License-Identifier: MIT
# Foreign static routes to our destinations: distance < 10 is demoted to 11 (a plan operation;
# the original distance and comment are recorded in the route's own comment, nothing on this
# host), >= 10 is left alone; a destination no longer wanted and clear restore the original.
. "$(dirname "$0")/lib.sh"
start_sim --defconf
f1=$(cli /ip/route/add =dst-address=10.2.0.0/24 =gateway=192.168.88.254 =distance=1)
f2=$(cli /ip/route/add =dst-address=10.1.0.0/24 =gateway=192.168.88.253 =distance=20 =comment=backup)
f3=$(cli /ip/route/add =dst-address=10.50.0.0/16 =gateway=192.168.88.252 =distance=1)
f5=$(cli /ip/route/add =dst-address=10.1.0.0/24 =gateway=192.168.88.250 =distance=3 "=comment=isp link")
write_doc "$T/doc.json"
drive apply "$T/doc.json" >/dev/null || fail "apply"

assert_eq "$(val distance /ip/route/print "?.id=$f1")" 11 "foreign 10.2.0.0/24 demoted"
assert_eq "$(val gateway /ip/route/print "?.id=$f1")" 192.168.88.254 "foreign gateway unchanged"
assert_eq "$(val comment /ip/route/print "?.id=$f1")" "wgfleet-demoted:wfr0:1" "demotion recorded in the route's comment"
assert_eq "$(val distance /ip/route/print "?.id=$f5")" 11 "foreign 10.1.0.0/24 (distance 3) demoted"
assert_eq "$(val comment /ip/route/print "?.id=$f5")" "wgfleet-demoted:wfr0:3 isp link" "its comment kept after the record"
assert_eq "$(val distance /ip/route/print "?.id=$f2")" 20 "foreign route above ours untouched"
assert_eq "$(val comment /ip/route/print "?.id=$f2")" backup "its comment untouched"
assert_eq "$(val distance /ip/route/print "?.id=$f3")" 1 "unrelated route untouched"
assert_eq "$(val distance /ip/route/print ?dst-address=10.2.0.0/24 ?gateway=wfr0)" 10 "ours at 10"
[ ! -e "$T/state/routeros-demoted" ] || fail "a demotion was recorded on this host"
ok "10.2.0.0/24 foreign route demoted 1 -> 11 (recorded on the router), distance 20 and unrelated routes untouched"

drive plan "$T/doc.json" > "$T/plan.txt"
grep -q "conflict: foreign route 10.2.0.0/24 table 254 metric 11" "$T/plan.txt" || fail "plan does not report the conflict: $(cat "$T/plan.txt")"
m=$(log_mark)
drive apply "$T/doc.json" >/dev/null
assert_eq "$(changes_since "$m" | wc -l)" 0 "re-apply after demotion changed: $(changes_since "$m")"
ok "converged: no further change"

# a foreign route that shows up later with a lower distance is demoted on the next run
f4=$(cli /ip/route/add =dst-address=10.99.0.2/32 =gateway=192.168.88.251 =distance=5)
drive plan "$T/doc.json" | grep -q "demote foreign route 10.99.0.2/32 table 254 metric 5 -> 11" ||
  fail "plan does not demote the new foreign route: $(cat "$T/agent-plan.out")"
rid=$(val .id /ip/route/print ?dst-address=10.99.0.2/32 ?gateway=wfr0)
drive apply "$T/doc.json" > "$T/late.txt" 2>&1
assert_eq "$(val distance /ip/route/print "?.id=$f4")" 11 "late foreign route demoted"
assert_eq "$(val .id /ip/route/print ?dst-address=10.99.0.2/32 ?gateway=wfr0)" "$rid" "our route kept (same .id)"
grep -q "1 apply)" "$T/late.txt" || fail "late demotion took more than one apply: $(cat "$T/late.txt")"
ok "late foreign route (distance 5) demoted in one apply, ours not duplicated"

# a destination no longer wanted: the route demoted for it goes back (PLAN_ROUTE_RESTORE)
f6=$(cli /ip/route/add =dst-address=10.77.0.0/24 =gateway=192.168.88.249 =distance=2 =comment=lab)
B_EXTRA=', "10.77.0.0/24"' write_doc "$T/doc77.json"
drive apply "$T/doc77.json" >/dev/null || fail "apply with 10.77.0.0/24"
assert_eq "$(val distance /ip/route/print "?.id=$f6")" 11 "10.77.0.0/24 demoted"
drive plan "$T/doc.json" | grep -q "restore foreign route 10.77.0.0/24 table 254 metric 11 -> 2" ||
  fail "plan does not restore 10.77.0.0/24: $(cat "$T/agent-plan.out")"
drive apply "$T/doc.json" >/dev/null || fail "apply without 10.77.0.0/24"
assert_eq "$(val distance /ip/route/print "?.id=$f6")" 2 "10.77.0.0/24 restored to 2"
assert_eq "$(val comment /ip/route/print "?.id=$f6")" lab "its comment restored"
ok "a destination no longer wanted: its foreign route restored to distance 2 and comment \"lab\""

# issue 13.7: the demotion records used to live in state_dir/routeros-demoted, whose reader
# wrote one byte past its buffer when the last record (another interface's) had no newline.
# A file of that shape is now nobody's record: clear leaves it alone and restores from the router.
printf 'wfr9 /ip/route 10.9.0.0/24 192.168.88.1 1' > "$T/state/routeros-demoted"
if ldd "$AGENT" | grep -q libasan; then
  echo "# an AddressSanitizer build: it checks clear's memory itself (valgrind cannot run it)"
  AGENT_WRAPPER=
elif command -v valgrind >/dev/null; then
  AGENT_WRAPPER="valgrind -q --error-exitcode=99 --log-file=$T/vg.log"
else
  echo "# valgrind not installed: clear runs without the memory check"
  AGENT_WRAPPER=
fi
drive clear "$T/doc.json" || fail "clear (exit $?): $(cat "$T/vg.log" 2>/dev/null)"
AGENT_WRAPPER=
assert_eq "$(val distance /ip/route/print "?.id=$f1")" 1 "restored to 1"
assert_eq "$(val distance /ip/route/print "?.id=$f4")" 5 "restored to 5"
assert_eq "$(val distance /ip/route/print "?.id=$f5")" 3 "restored to 3"
assert_eq "$(val distance /ip/route/print "?.id=$f2")" 20 "distance 20 unchanged"
[ -z "$(val comment /ip/route/print "?.id=$f1")" ] || fail "10.2.0.0/24 comment not restored: $(val comment /ip/route/print "?.id=$f1")"
assert_eq "$(val comment /ip/route/print "?.id=$f5")" "isp link" "10.1.0.0/24 comment restored"
assert_eq "$(val comment /ip/route/print "?.id=$f2")" backup "distance-20 route's comment untouched"
assert_eq "$(printf 'wfr9 /ip/route 10.9.0.0/24 192.168.88.1 1')" "$(cat "$T/state/routeros-demoted")" "the old-format file left alone"
ok "clear restored the original distances and comments"
