#!/bin/bash
# SPDX-License-Identifier: MIT
# Transport and login: TLS with verification against ca_file (address checked), a wrong CA and
# a wrong name refused before any command, the explicit opt-out for a self-signed router; the
# RouterOS >= 6.43 login, the legacy MD5 challenge, a wrong password, a too-open password file.
. "$(dirname "$0")/lib.sh"
need_openssl
cd "$T"
mkca
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.crt -days 2 -subj /CN=wfr-other
mkcert router "IP:127.0.0.1" ca
mkcert wrongname "IP:127.0.0.2,DNS:router.example" ca
mkcert selfsigned "IP:127.0.0.1"
write_doc "$T/doc.json"

# verified TLS
start_sim --defconf --tls-cert router.crt --tls-key router.key
TLS=yes VERIFY=yes CA_FILE=$T/ca.crt write_conf
drive apply "$T/doc.json" >/dev/null 2>"$T/err" || fail "TLS apply: $(cat "$T/err")"
assert_eq "$(ROS_TLS=1 ROS_CA_FILE=$T/ca.crt val .id /interface/wireguard/peers/print ?interface=wfr0 | wc -l)" 3 "peers over TLS"
ok "TLS with ca_file verification: deployed"
# plain API against the TLS port fails
if cli /system/resource/print >/dev/null 2>&1; then fail "plain client talked to the TLS port"; fi

m=$(log_mark)
CA_FILE=$T/other.crt TLS=yes VERIFY=yes write_conf
if drive plan "$T/doc.json" >/dev/null 2>"$T/err"; then fail "wrong CA accepted"; fi
grep -q "TLS certificate of 127.0.0.1 not accepted" "$T/err" || fail "wrong CA message: $(cat "$T/err")"
assert_eq "$(changes_since "$m" | wc -l)$(log_since "$m" | grep -c '^/' || true)" 00 "commands after a refused certificate"
ok "certificate from another CA refused, no command sent"

start_sim --defconf --tls-cert wrongname.crt --tls-key wrongname.key
CA_FILE=$T/ca.crt TLS=yes VERIFY=yes write_conf
if drive plan "$T/doc.json" >/dev/null 2>"$T/err"; then fail "wrong name accepted"; fi
grep -q "not accepted.*mismatch" "$T/err" || fail "name mismatch message: $(cat "$T/err")"
ok "certificate for another address refused ($(grep -o 'not accepted: .*' "$T/err"))"

start_sim --defconf --tls-cert selfsigned.crt --tls-key selfsigned.key
CA_FILE= TLS=yes VERIFY=yes write_conf
if drive plan "$T/doc.json" >/dev/null 2>"$T/err"; then fail "self-signed accepted with verification on"; fi
CA_FILE= TLS=yes VERIFY=no write_conf
drive apply "$T/doc.json" >/dev/null 2>"$T/err" || fail "opt-out: $(cat "$T/err")"
assert_eq "$(ROS_TLS=1 ROS_INSECURE=1 val .id /interface/wireguard/peers/print ?interface=wfr0 | wc -l)" 3 "peers"
ok "self-signed router: refused with verification, deployed with tls_verify = no"

# logins
TLS=no VERIFY=yes CA_FILE= write_conf
start_sim --defconf
drive plan "$T/doc.json" >/dev/null || fail "plain login"
grep -qx "/login name=wgfleet => done" "$T/sim.log" || fail "login not in one step"
ok "RouterOS >= 6.43 login (name + password, one step)"

start_sim --defconf --legacy-login
m=$(log_mark)
drive apply "$T/doc.json" >/dev/null 2>"$T/err" || fail "legacy login apply: $(cat "$T/err")"
logins=$(log_since "$m" | grep '^/login' | head -2 | tr '\n' '|')
assert_eq "$logins" "/login name=wgfleet => challenge or refused|/login name=wgfleet => done|" "legacy login sequence"
assert_eq "$(val .id /interface/wireguard/peers/print ?interface=wfr0 | wc -l)" 3 "peers via legacy login"
ok "legacy MD5 challenge login: challenge, response, deployed"

printf 'wrong\n' > "$T/password"
if drive plan "$T/doc.json" >/dev/null 2>"$T/err"; then fail "wrong password accepted"; fi
grep -q "login as wgfleet (challenge) refused: cannot log in" "$T/err" || fail "legacy refusal: $(cat "$T/err")"
start_sim --defconf
if drive plan "$T/doc.json" >/dev/null 2>"$T/err"; then fail "wrong password accepted"; fi
grep -q "login as wgfleet refused: invalid user name or password (6)" "$T/err" || fail "refusal: $(cat "$T/err")"
ok "wrong password refused with the router's message (both methods)"

printf '%s\n' "$PW" > "$T/password"
chmod 644 "$T/password"
m=$(log_mark)
if drive plan "$T/doc.json" >/dev/null 2>"$T/err"; then fail "0644 password file accepted"; fi
grep -q "password_file: .*: mode 0644 is readable by group or others" "$T/err" || fail "mode message: $(cat "$T/err")"
assert_eq "$(log_since "$m" | wc -l)" 0 "connection made with a bad password file"
ok "password_file readable by others refused before connecting"
