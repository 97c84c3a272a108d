#!/bin/bash
# SPDX-License-Identifier: MIT
# Bash completion: what a user gets pressing TAB after wgfleet-agent and wgfleet-controller,
# and the commands offered are exactly those the programs' --help lists (so they cannot drift).
set -uo pipefail
build=${WGFLEET_BUILD:?run through meson test}
src=${WGFLEET_SRC:?run through meson test}
fails=0
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }
bc=/usr/share/bash-completion/bash_completion
[ -r "$bc" ] || { echo "SKIP: $bc missing (scripts/deps installs bash-completion)"; exit 77; }
. "$bc"
. "$src/completion/wgfleet-agent"
. "$src/completion/wgfleet-controller"

# complete LINE: the sorted completions bash offers for LINE (the cursor at its end)
complete_line() {
  local fn
  COMP_LINE=$1
  COMP_POINT=${#COMP_LINE}
  read -ra COMP_WORDS <<<"$COMP_LINE"
  [[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  fn=$(complete -p "${COMP_WORDS[0]}" | sed -E 's/.*-F ([^ ]+).*/\1/')
  COMPREPLY=()
  "$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
expect() { # DESCRIPTION LINE WANT
  local got
  got=$(complete_line "$2")
  [ "$got" = "$3" ] && echo "ok - $1" || fail "$1: '$2<TAB>' gives '$got', want '$3'"
}

agent_cmds=$("$build/agent/wgfleet-agent" --help | sed -n '/^commands:/,/^$/p' | awk '/^  [a-z]/ { print $1 }' | sort | tr '\n' ' ')
ctl_cmds=$("$build/controller-stub/wgfleet-controller" --help | awk '/^  [a-z]/ { print $1 }' | sort | tr '\n' ' ')
[ -n "$agent_cmds" ] && [ -n "$ctl_cmds" ] || fail "no commands in --help"
expect "agent: the commands of --help" "wgfleet-agent " "$agent_cmds"
expect "agent: commands after --config FILE" "wgfleet-agent --config /etc/x.conf " "$agent_cmds"
expect "agent: prefix" "wgfleet-agent re" "revert "
expect "agent: global options" "wgfleet-agent --" "--config --help --version "
expect "agent: plan options" "wgfleet-agent plan --" "--json --node --trust-key "
expect "agent: status options" "wgfleet-agent status --" "--json "
expect "agent: clear offers interfaces" "wgfleet-agent clear l" "lo "
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
touch "$tmp/edge-1.env" "$tmp/notes.txt"
cd "$tmp" || exit 1
expect "agent: validate offers envelope files" "wgfleet-agent validate --trust-key t.pub " "edge-1.env "
expect "agent: --trust-key offers files" "wgfleet-agent validate --trust-key no" "notes.txt "
expect "controller: the commands of --help" "wgfleet-controller " "$ctl_cmds"
expect "controller: render options" "wgfleet-controller render --" "--history --inventory --key --out --state "
expect "controller: rollout actions" "wgfleet-controller rollout --state /x " "abort resume status "
expect "controller: serve options" "wgfleet-controller serve --t" "--tls-cert --tls-key --token-file "
expect "controller: --inventory offers files" "wgfleet-controller render --inventory ed" "edge-1.env "
[ "$fails" -eq 0 ]
