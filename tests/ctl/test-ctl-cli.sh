#!/bin/bash
# SPDX-License-Identifier: MIT
# wgfleet-controller keygen and render as an operator runs them: files, modes, exit codes,
# messages, unchanged files left alone, removed nodes' envelopes deleted, and every envelope
# accepted by `wgfleet-agent validate` with the generated trust key.
set -uo pipefail
. "$(dirname "$0")/lib-ctl.sh"
tmp=$(mktemp -d "$build/tests/ctl/cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$ctl" > /dev/null 2>&1
expect_eq "no command: usage, exit 2" "$?" 2
"$ctl" render --inventory x > /dev/null 2>&1
expect_eq "render without --key/--out: exit 2" "$?" 2
check "--version names the program and version" bash -c "\"$ctl\" --version | grep -Eq '^wgfleet-controller [0-9]+\\.[0-9]+'"
"$ctl" frobnicate > /dev/null 2>&1
expect_eq "unknown command: exit 2" "$?" 2

check "keygen" "$ctl" keygen --out "$tmp/keys"
expect_eq "signing.key mode" "$(stat -c %a "$tmp/keys/signing.key")" 600
expect_eq "signing.pub holds one key line" "$(grep -vc '^#' "$tmp/keys/signing.pub")" 1
"$ctl" keygen --out "$tmp/keys" 2> "$tmp/err"
expect_eq "keygen over an existing key: exit 1" "$?" 1
check "and says why" grep -q 'not overwriting' "$tmp/err"

k1=$(wg genkey | wg pubkey); k2=$(wg genkey | wg pubkey); k3=$(wg genkey | wg pubkey)
inv() { # nodes JSON
  echo "{\"wan\": {\"tunnel_cidr\": \"10.79.0.0/24\", \"topology\": \"mesh\"}, \"nodes\": [$1]}" > "$tmp/inv.json"
}
three="{\"name\": \"a\", \"public_key\": \"$k1\", \"endpoint\": \"192.0.2.1\"},
       {\"name\": \"b\", \"public_key\": \"$k2\", \"endpoint\": \"192.0.2.2\"},
       {\"name\": \"c\", \"public_key\": \"$k3\", \"endpoint\": \"192.0.2.3\"}"
inv "$three"
render() { "$ctl" render --inventory "$tmp/inv.json" --key "$tmp/keys/signing.key" --out "$tmp/out" --state "$tmp/state" "$@"; }
render > "$tmp/r1" 2>&1
expect_eq "render: exit 0" "$?" 0
expect_eq "one envelope per node" "$(cd "$tmp/out" && ls *.env | tr '\n' ' ')" "a.env b.env c.env "
check "render prints each node's revision, new" grep -Eq '^a +revision [0-9]+ \(new\)$' "$tmp/r1"
for n in a b c; do
  check "agent validates $n.env" "$agent" validate --trust-key "$tmp/keys/signing.pub" --node "$n" "$tmp/out/$n.env"
done
check "state.json kept in --state DIR" [ -f "$tmp/state/state.json" ]
check "and not in the output directory (a web root)" [ ! -e "$tmp/out/state.json" ]
expect_eq "the output directory is world-readable (nginx's workers are not root)" "$(stat -c %a "$tmp/out")" 755
expect_eq "so are the envelopes" "$(stat -c %a "$tmp/out/a.env")" 644
# Without --state, render keeps state.json in /var/lib/wgfleet-controller, never in --out.
# Checked as a user who cannot write there (nobody when root), so the machine is left alone.
nb=$tmp/nobody
chmod 711 "$tmp"
mkdir -m 755 "$nb"
cp "$tmp/inv.json" "$nb/inv.json"
install -m 600 "$tmp/keys/signing.key" "$nb/signing.key"
as_nobody=()
if [ "$(id -u)" -eq 0 ]; then
  chown nobody "$nb/signing.key"
  as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
if [ -w /var/lib ] && [ "$(id -u)" -ne 0 ]; then
  echo "skip - the default state dir check: /var/lib is writable by this user"
elif ! "${as_nobody[@]}" test -x "$ctl" -a -r "$nb/inv.json"; then
  echo "skip - the default state dir check: the build directory is not reachable for user nobody"
else
  "${as_nobody[@]}" "$ctl" render --inventory "$nb/inv.json" --key "$nb/signing.key" --out "$nb/www" > /dev/null 2> "$tmp/err"
  expect_eq "render without --state, /var/lib/wgfleet-controller not writable: exit 1" "$?" 1
  check "and it says where state.json goes without --state" \
    grep -q 'without --state DIR, render keeps state.json in /var/lib/wgfleet-controller' "$tmp/err"
  check "no state.json in the output directory" [ ! -e "$nb/www/state.json" ]
fi
m1=$(stat -c %Y "$tmp/out/a.env")
sleep 1.1
render > "$tmp/r2" 2>&1
check "unchanged re-render: no (new) revision" bash -c "! grep -q '(new)' '$tmp/r2'"
expect_eq "unchanged re-render leaves the file alone (mtime)" "$(stat -c %Y "$tmp/out/a.env")" "$m1"

inv "{\"name\": \"a\", \"public_key\": \"$k1\", \"endpoint\": \"192.0.2.1\"},
     {\"name\": \"c\", \"public_key\": \"$k3\", \"endpoint\": \"192.0.2.3\"}"
render > /dev/null 2>&1
check "removed node's envelope deleted" [ ! -e "$tmp/out/b.env" ]
expect_eq "and it is gone from a's peers" "$(payload "$tmp/out/a.env" | jq -c '[.interfaces[0].peers[].name]')" '["c"]'
expect_eq "c keeps its address after b left" "$(payload "$tmp/out/c.env" | jq -r '.interfaces[0].addresses[0]')" 10.79.0.3/32

inv "$three, {\"name\": \"d\", \"subnets\": [{\"cidr\": \"10.79.0.64/26\", \"routed\": true}]}"
cp "$tmp/out/a.env" "$tmp/a.before"
render > /dev/null 2> "$tmp/err"
expect_eq "overlapping subnet: exit 1" "$?" 1
expect_eq "error names node and subnet" "$(cat "$tmp/err")" \
  "wgfleet-controller: node d: subnet 10.79.0.64/26 overlaps tunnel_cidr 10.79.0.0/24"
check "a refused inventory changes no file" cmp -s "$tmp/a.before" "$tmp/out/a.env"

inv "$three"
chmod 644 "$tmp/keys/signing.key"
render > /dev/null 2> "$tmp/err"
expect_eq "a world-readable signing key is refused" "$?" 1
check "with the reason" grep -q 'readable by group or others' "$tmp/err"
chmod 600 "$tmp/keys/signing.key"
echo '{"wan": {"tunnel_cidr": "10.79.0.0/24", "colour": "blue"}, "nodes": []}' > "$tmp/inv.json"
render --state "$tmp/st2" > /dev/null 2> "$tmp/err"
expect_eq "unknown inventory field: still renders" "$?" 0
check "with a warning naming it" grep -q 'wan: unknown field "colour" ignored' "$tmp/err"
finish
