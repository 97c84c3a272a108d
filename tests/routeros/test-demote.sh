#!/bin/bash
# SPDX-License-Identifier: MIT
# Foreign static routes to our destinations: distance < 10 is demoted to 11 (remembered outside
# the router), >= 10 is left alone; clear restores the original distance.
. "$(dirname "$0")/lib.sh"
start_sim --defconf
f1=$(cli /ip/route/add =dst-address=10.2.0.0/24 =gateway=192.168.88.254 =distance=1)
f2=$(cli /ip/route/add =dst-address=10.1.0.0/24 =gateway=192.168.88.253 =distance=20 =comment=backup)
f3=$(cli /ip/route/add =dst-address=10.50.0.0/16 =gateway=192.168.88.252 =distance=1)
write_doc "$T/doc.json"
drive apply "$T/doc.json" >/dev/null || fail "apply"

assert_eq "$(val distance /ip/route/print "?.id=$f1")" 11 "foreign 10.2.0.0/24 demoted"
assert_eq "$(val gateway /ip/route/print "?.id=$f1")" 192.168.88.254 "foreign gateway unchanged"
[ -z "$(val comment /ip/route/print "?.id=$f1")" ] || fail "the foreign route got a comment"
assert_eq "$(val distance /ip/route/print "?.id=$f2")" 20 "foreign route above ours untouched"
assert_eq "$(val comment /ip/route/print "?.id=$f2")" backup "its comment untouched"
assert_eq "$(val distance /ip/route/print "?.id=$f3")" 1 "unrelated route untouched"
assert_eq "$(val distance /ip/route/print ?dst-address=10.2.0.0/24 ?gateway=wfr0)" 10 "ours at 10"
grep -q "10.2.0.0/24 192.168.88.254 1" "$T/state/routeros-demoted" || fail "demotion not remembered"
ok "10.2.0.0/24 foreign route demoted 1 -> 11, distance 20 and unrelated routes untouched"

drive plan "$T/doc.json" > "$T/plan.txt"
grep -q "conflict: foreign route 10.2.0.0/24 table 254 metric 11" "$T/plan.txt" || fail "plan does not report the conflict: $(cat "$T/plan.txt")"
m=$(log_mark)
drive apply "$T/doc.json" >/dev/null
assert_eq "$(changes_since "$m" | wc -l)" 0 "re-apply after demotion changed: $(changes_since "$m")"
ok "converged: no further change"

# a foreign route that shows up later with a lower distance is demoted on the next run
f4=$(cli /ip/route/add =dst-address=10.99.0.2/32 =gateway=192.168.88.251 =distance=5)
drive plan "$T/doc.json" | grep -q 10.99.0.2/32 || fail "plan does not see the new foreign route"
rid=$(val .id /ip/route/print ?dst-address=10.99.0.2/32 ?gateway=wfr0)
drive apply "$T/doc.json" > "$T/late.txt" 2>&1
assert_eq "$(val distance /ip/route/print "?.id=$f4")" 11 "late foreign route demoted"
assert_eq "$(val .id /ip/route/print ?dst-address=10.99.0.2/32 ?gateway=wfr0)" "$rid" "our route kept (same .id)"
grep -q "1 apply)" "$T/late.txt" || fail "late demotion took more than one apply: $(cat "$T/late.txt")"
ok "late foreign route (distance 5) demoted in one apply, ours not duplicated"

drive clear "$T/doc.json" || fail "clear"
assert_eq "$(val distance /ip/route/print "?.id=$f1")" 1 "restored to 1"
assert_eq "$(val distance /ip/route/print "?.id=$f4")" 5 "restored to 5"
assert_eq "$(val distance /ip/route/print "?.id=$f2")" 20 "distance 20 unchanged"
[ ! -e "$T/state/routeros-demoted" ] || fail "state file left behind"
ok "clear restored the original distances"
