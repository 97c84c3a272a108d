#!/bin/bash
# SPDX-License-Identifier: MIT
# wgfleet-agent keygen, pubkey and validate as a user runs them: exit codes 0/1/2, the messages
# on stderr, the files on disk.
set -uo pipefail
B=${WGFLEET_BUILD:?set WGFLEET_BUILD}
agent=$B/agent/wgfleet-agent
sign=$B/tests/wgfleet-sign
t=$(mktemp -d /tmp/wff-cli-XXXXXX)
trap 'rm -rf "$t"' EXIT
fails=0 n=0

# run WANT_RC GREP_STDOUT_OR_STDERR ARGS...: the exit code must match and the output contain the text
run() {
  local want=$1 text=$2 rc
  shift 2
  n=$((n + 1))
  # On a machine that runs the agent, its configuration must not leak into these cases.
  if [ -e /etc/wgfleet/agent.conf ] && [[ " $* " != *" --config "* ]]; then
    set -- --config "$t/empty.conf" "$@"
  fi
  "$agent" "$@" >"$t/out" 2>"$t/err"
  rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qF -- "$text" "$t/out" "$t/err"; then
    echo "not ok $n - wgfleet-agent $*: rc=$rc (want $want), want text: $text"
    sed 's/^/  out: /' "$t/out"; sed 's/^/  err: /' "$t/err"
    fails=$((fails + 1))
  else
    echo "ok $n - rc=$rc: $* -> $(cat "$t/err" "$t/out" | tail -1)"
  fi
}

: > "$t/empty.conf"
cat > "$t/agent.conf" <<CONF
[agent]
node = n1
state_dir = $t/state
CONF

# keygen: creates the key with mode 0600, prints the public key last, is idempotent
run 0 "created" --config "$t/agent.conf" keygen
pub=$(tail -1 "$t/out")
[ "$(stat -c %a "$t/state/private.key")" = 600 ] || { echo "not ok - private.key mode $(stat -c %a "$t/state/private.key")"; fails=$((fails + 1)); }
[ "$(stat -c %a "$t/state")" = 700 ] || { echo "not ok - state dir mode"; fails=$((fails + 1)); }
priv=$(cat "$t/state/private.key")
if grep -qF -- "$priv" "$t/out" "$t/err"; then echo "not ok - keygen printed the private key"; fails=$((fails + 1)); fi
run 0 "kept existing" --config "$t/agent.conf" keygen
[ "$(tail -1 "$t/out")" = "$pub" ] || { echo "not ok - second keygen changed the key"; fails=$((fails + 1)); }
[ "$(cat "$t/state/private.key")" = "$priv" ] || { echo "not ok - private.key rewritten"; fails=$((fails + 1)); }
run 0 "$pub" --config "$t/agent.conf" pubkey
if command -v wg >/dev/null; then
  [ "$(wg pubkey < "$t/state/private.key")" = "$pub" ] || { echo "not ok - wg pubkey disagrees"; fails=$((fails + 1)); }
fi
printf '[agent]\nstate_dir = %s/nokey\n' "$t" > "$t/nokey.conf"
run 1 "run wgfleet-agent keygen first" --config "$t/nokey.conf" pubkey

# documents
"$sign" genkey "$t/signer.key" > "$t/trust.pub"
"$sign" genkey "$t/other.key" > "$t/other.pub"
doc() { # doc NODE EXPIRES ALLOWED_IP
  cat <<JSON
{"schema": "wgfleet/desired-state/v1", "node": "$1", "revision": 3,
 "issued_at": "2026-01-01T00:00:00Z", "expires_at": "$2",
 "interfaces": [{"name": "wff0", "listen_port": 51820, "addresses": ["10.0.0.1/24"], "public_key": "$pub",
   "peers": [{"name": "a", "public_key": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "endpoint": "192.0.2.1:51820",
              "allowed_ips": ["$3"]}]}]}
JSON
}
doc n1 2099-01-01T00:00:00Z 10.0.0.2/32 | "$sign" sign "$t/signer.key" - > "$t/good.env"
doc n1 2020-01-01T00:00:00Z 10.0.0.2/32 > "$t/expired.json"
sed -i 's/2026-01-01/2019-01-01/' "$t/expired.json"
"$sign" sign "$t/signer.key" "$t/expired.json" > "$t/expired.env"
doc n1 2099-01-01T00:00:00Z 10.0.0.300/32 | "$sign" sign "$t/signer.key" - > "$t/badcidr.env"
doc n1 2099-01-01T00:00:00Z 10.0.0.2/32 | "$sign" sign "$t/other.key" - > "$t/untrusted.env"
# tamper: re-encode the payload with another revision, keep the signature
jq --arg p "$(jq -r .payload "$t/good.env" | base64 -d | sed 's/"revision": 3/"revision": 4/' | base64 -w0)" \
   '.payload = $p' "$t/good.env" > "$t/tampered.env"
jq '.payloadType = "text/plain"' "$t/good.env" > "$t/type.env"
jq '.signatures = []' "$t/good.env" > "$t/nosig.env"
cat "$t/trust.pub" "$t/other.pub" > "$t/rotation.pub"

run 0 "valid: node n1, revision 3, 1 interface(s), 1 peer(s), expires 2099-01-01T00:00:00Z" validate --trust-key "$t/trust.pub" "$t/good.env"
run 0 "valid: node n1" --config "$t/agent.conf" validate --trust-key "$t/trust.pub" "$t/good.env"
n=$((n + 1))
if "$agent" --config "$t/empty.conf" validate --trust-key "$t/trust.pub" - < "$t/good.env" | grep -q "valid: node n1"; then
  echo "ok $n - validate reads the envelope from stdin"
else
  echo "not ok $n - validate - < good.env"; fails=$((fails + 1))
fi
run 0 "valid: node n1" validate --trust-key "$t/rotation.pub" "$t/untrusted.env"
run 1 "rejected: $t/tampered.env: envelope: signature by a trusted key does not verify" validate --trust-key "$t/trust.pub" "$t/tampered.env"
run 1 "envelope: no valid signature by a trusted key" validate --trust-key "$t/trust.pub" "$t/untrusted.env"
run 1 "envelope: payloadType \"text/plain\" is not" validate --trust-key "$t/trust.pub" "$t/type.env"
run 1 "envelope: no signature" validate --trust-key "$t/trust.pub" "$t/nosig.env"
run 1 "interfaces[0].peers[0].allowed_ips[0]: \"10.0.0.300/32\" is not a CIDR" validate --trust-key "$t/trust.pub" "$t/badcidr.env"
run 1 "expires_at: \"2020-01-01T00:00:00Z\" has passed" validate --trust-key "$t/trust.pub" "$t/expired.env"
run 1 "node: \"n1\" is not this node (\"n2\")" validate --trust-key "$t/trust.pub" --node n2 "$t/good.env"
printf '[agent]\nnode = n2\n' > "$t/n2.conf"
run 1 "is not this node (\"n2\")" --config "$t/n2.conf" validate --trust-key "$t/trust.pub" "$t/good.env"
run 1 "No such file or directory" validate --trust-key "$t/trust.pub" "$t/absent.env"
run 1 "trust key file $t/good.env: line 1" validate --trust-key "$t/good.env" "$t/good.env"
printf '[controller]\nmax_document_size = 4096\n' > "$t/small.conf"
head -c 5000 /dev/zero > "$t/big.env"
run 1 "larger than the limit of 4096 bytes" --config "$t/small.conf" validate --trust-key "$t/trust.pub" "$t/big.env"
printf '[controller]\nurl = https://10.0.0.2/v1\n' > "$t/ctl.conf"
run 1 "\"10.0.0.2/32\" covers the controller 10.0.0.2/32 (lockout)" --config "$t/ctl.conf" validate --trust-key "$t/trust.pub" "$t/good.env"

printf '{"schema": "wgfleet/desired-state/v1", ' | "$sign" sign "$t/signer.key" - > "$t/truncated.env"
run 1 "rejected: $t/truncated.env: document: not valid JSON (line 1 column 39: string or '}' expected near end of file)" validate --trust-key "$t/trust.pub" "$t/truncated.env"
printf 'hello' | "$sign" sign "$t/signer.key" - > "$t/hello.env"
run 1 "envelope: payload is not a JSON object (does not start with '{')" validate --trust-key "$t/trust.pub" "$t/hello.env"

cp "$t/trust.pub" "$t/open.pub"; chmod 0666 "$t/open.pub"
run 0 "warning: trust key file $t/open.pub: mode 0666 is writable by group or others" validate --trust-key "$t/open.pub" "$t/good.env"

# a document enrolled for another key: refused where the node key is, fine elsewhere
doc n1 2099-01-01T00:00:00Z 10.0.0.2/32 | sed "s|$pub|AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=|" |
  "$sign" sign "$t/signer.key" - > "$t/otherkey.env"
run 1 "interfaces[0].public_key: \"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\" is not this node's key $pub ($t/state/private.key): enrol the node's current key" --config "$t/agent.conf" validate --trust-key "$t/trust.pub" "$t/otherkey.env"
run 0 "valid: node n1" --config "$t/nokey.conf" validate --trust-key "$t/trust.pub" "$t/otherkey.env"

# usage: 2
run 2 "usage: wgfleet-agent" validate --trust-key "$t/trust.pub"
run 2 "usage: wgfleet-agent" validate --trust-key "$t/trust.pub" a b
run 2 "usage: wgfleet-agent" validate --bogus "$t/good.env"
run 2 "no trust key" validate "$t/good.env"
run 2 "usage: wgfleet-agent" 
run 2 "unknown command \"frobnicate\"" frobnicate
run 2 "usage: wgfleet-agent" --nope keygen
run 2 "usage: wgfleet-agent" --config "$t/agent.conf" pubkey extra
run 0 "validate --trust-key FILE" --help
run 0 "wgfleet-agent 0." --version
run 0 "usage: wgfleet-agent" validate --help

# configuration errors: 1, naming the file, section and key
run 1 "$t/absent.conf: No such file or directory" --config "$t/absent.conf" pubkey
printf '[agent]\nbackend = bsd\n' > "$t/bad.conf"
run 1 "$t/bad.conf: [agent] backend: \"bsd\" is not a backend (linux, uapi, routeros)" --config "$t/bad.conf" validate --trust-key "$t/trust.pub" "$t/good.env"
printf '[agent]\nbogus = 1\n' > "$t/warn.conf"
run 0 "warning: [agent] bogus: unknown key, ignored" --config "$t/warn.conf" validate --trust-key "$t/trust.pub" "$t/good.env"

echo "$((n - fails))/$n passed"
[ "$fails" -eq 0 ]
