#!/bin/bash
# SPDX-License-Identifier: MIT
# The man pages render without a warning from man(1)/groff, and they cannot drift from the
# programs: every command and option that `--help` prints, every configuration key that
# common/config.c accepts and every exit status appears in the rendered page.
set -uo pipefail
build=${WGFLEET_BUILD:?run through meson test}
src=${WGFLEET_SRC:?run through meson test}
agent=$build/agent/wgfleet-agent
ctl=$build/controller-stub/wgfleet-controller
fails=0
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }
ok() { echo "ok - $*"; }

command -v man >/dev/null || { echo "SKIP: man (man-db) is not installed"; exit 77; }
for p in wgfleet-agent.8 wgfleet-controller.8 wgfleet-agent.conf.5; do
  [ -f "$build/man/$p" ] || { echo "SKIP: $p was not built (scdoc is not installed: scripts/deps installs it)"; exit 77; }
  w=$(MANWIDTH=80 man --warnings -l "$build/man/$p" 2>&1 >/dev/null)
  [ -z "$w" ] && ok "$p renders without warnings" || fail "$p: man --warnings says: $w"
done

# page text, one long line per paragraph so that nothing is hyphenated at a line end
declare -A page_text
for p in wgfleet-agent.8 wgfleet-controller.8 wgfleet-agent.conf.5; do
  page_text[$p]=$(MANWIDTH=1000 LC_ALL=C man -l "$build/man/$p" 2>/dev/null)
done
text() { printf '%s\n' "${page_text[$1]}"; }
# documented PAGE WORD...: each word is in the page as a whole word
documented() {
  local page=$1 t n=0 w
  shift
  t=$(text "$page")
  for w in "$@"; do
    n=$((n + 1))
    grep -qE -- "(^|[^A-Za-z0-9_-])$w([^A-Za-z0-9_-]|$)" <<<"$t" || fail "$page does not document $w"
  done
  echo "$n"
}
# entry PAGE WORD: the word starts an entry (a line of its own indented 7 columns, in bold)
entry() { text "$1" | grep -qE "^ {7}$2( |$)" || fail "$1 has no entry for $2"; }

# ---- wgfleet-agent: the commands listed by --help, and every --option it prints
help=$("$agent" --help)
cmds=$(sed -n '/^commands:/,/^$/p' <<<"$help" | awk '/^  [a-z]/ { print $1 }')
[ "$(wc -w <<<"$cmds")" -ge 10 ] || fail "found only these commands in --help: $cmds"
for c in $cmds; do entry wgfleet-agent.8 "$c"; done
opts=$( { echo "$help"; "$agent" validate --help; } | grep -oE -- '--[a-z][a-z-]+' | sort -u)
n=$(documented wgfleet-agent.8 $opts)
ok "wgfleet-agent.8 has an entry for each of $(wc -w <<<"$cmds") commands and names $n options"
for s in 0 1 2; do entry wgfleet-agent.8 "$s"; done
grep -q 'exit status: 0 ok, 1 rejected or failed, 2 usage' <<<"$help" ||
  fail "wgfleet-agent --help changed its exit statuses: update the man page and this test"

# ---- wgfleet-controller
help=$("$ctl" --help)
cmds=$(awk '/^  [a-z]/ { print $1 }' <<<"$help")
[ "$(wc -w <<<"$cmds")" -ge 3 ] || fail "found only these commands in --help: $cmds"
for c in $cmds; do entry wgfleet-controller.8 "$c"; done
opts=$(grep -oE -- '--[a-z][a-z-]+' <<<"$help" | sort -u)
n=$(documented wgfleet-controller.8 $opts)
ok "wgfleet-controller.8 has an entry for each of $(wc -w <<<"$cmds") commands and names $n options"
for s in 0 1 2; do entry wgfleet-controller.8 "$s"; done

# ---- wgfleet-agent.conf: every key of the table in common/config.c, in its section
keys=$(sed -nE 's/^ *KEY\("([a-z]+)", "([a-z_]+)".*/\1 \2/p' "$src/common/config.c")
[ "$(wc -l <<<"$keys")" -ge 20 ] || fail "found only these keys in common/config.c: $keys"
t=$(text wgfleet-agent.conf.5)
while read -r section key; do
  # the key's entry must come after its section's heading and before the next heading
  sed -n "/^SECTION \[$section\]/,/^[A-Z]/p" <<<"$t" | grep -qE "^ {7}(.*, )?$key = " ||
    fail "wgfleet-agent.conf.5 documents no key $key in [$section]"
done <<<"$keys"
ok "wgfleet-agent.conf.5 documents $(wc -l <<<"$keys") keys in their sections"
[ "$fails" -eq 0 ]
