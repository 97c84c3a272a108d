#!/bin/bash
# SPDX-License-Identifier: MIT
# The Debian packages as an operator gets them: dpkg-buildpackage -us -uc -b builds
# wgfleet-agent and wgfleet-controller, lintian finds no error, apt installs them on this
# machine (files, conffile, the wgfleet user, units enabled but nothing started, man pages,
# completion), the installed controller renders with its default state dir and the installed
# agent accepts the result, and remove + purge leave nothing behind.
# Root; run it under /tmp/wgfleet-root.lock like the other root suites.
set -uo pipefail
build=${WGFLEET_BUILD:?run through meson test}
src=${WGFLEET_SRC:?run through meson test}
failures=0 checks=0
ok() { checks=$((checks + 1)); echo "ok - $*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi; }
skip() { echo "SKIP: $*"; exit 77; }
finish() { echo "$checks checks, $failures failed"; [ "$failures" -eq 0 ]; }

[ "$(id -u)" -eq 0 ] || skip "needs root (installs and purges packages)"
for t in dpkg-buildpackage dh lintian apt-get; do
  command -v "$t" >/dev/null || skip "$t is not installed (scripts/deps installs debhelper, lintian, dpkg-dev)"
done
for p in wgfleet-agent wgfleet-controller; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'installed' &&
    skip "$p is already installed on this machine: not replacing the operator's package"
done
[ -e /etc/wgfleet ] || [ -e /etc/wgfleet-controller ] || [ -e /var/lib/wgfleet ] || [ -e /var/lib/wgfleet-controller ] &&
  skip "/etc/wgfleet*, /var/lib/wgfleet* exist (a meson install?): the purge check needs a clean machine"
user_before=$(getent passwd wgfleet) agent_user_before=$(getent passwd wgfleet-agent)

work=$(mktemp -d "$build/tests/package/deb.XXXXXX")
apt_opts=(-y -qq -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef)
cleanup() {
  if dpkg-query -W -f='${Status}' wgfleet-agent wgfleet-controller 2>/dev/null | grep -q installed; then
    apt-get purge "${apt_opts[@]}" wgfleet-agent wgfleet-controller >/dev/null 2>&1
  fi
  [ -n "${WFC_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# ---- build from a copy of the sources (the .debs land beside it, in the build dir)
mkdir "$work/src"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$src" ls-files -z | tar -C "$src" --null -T - -cf - | tar -C "$work/src" -xf -
else
  tar -C "$src" --exclude=./build --exclude='./obj-*' -cf - . | tar -C "$work/src" -xf -
fi
start=$SECONDS
(cd "$work/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1
rc=$?
expect_eq "dpkg-buildpackage -us -uc -b ($((SECONDS - start)) s)" "$rc" 0
[ "$rc" -eq 0 ] || { tail -40 "$work/build.log"; finish; exit 1; }
agent_deb=$(ls "$work"/wgfleet-agent_*.deb) ctl_deb=$(ls "$work"/wgfleet-controller_*.deb)
check "two binary packages" [ -f "$agent_deb" -a -f "$ctl_deb" ]
lintian --fail-on error --suppress-tags package-supports-alternative-init-but-no-init.d-script \
  "$work"/wgfleet_*.changes > "$work/lintian.log" 2>&1
rc=$?
expect_eq "lintian: no error ($(grep -c '^[EWI]:' "$work/lintian.log") tags: $(grep -o '^[EW]: [^ ]* [^ ]*' "$work/lintian.log" | tr '\n' ';'))" "$rc" 0

# ---- install
touch "$work/marker"
apt-get install "${apt_opts[@]}" --no-install-recommends "$agent_deb" "$ctl_deb" > "$work/install.log" 2>&1
rc=$?
expect_eq "apt-get install of both .debs" "$rc" 0
[ "$rc" -eq 0 ] || { cat "$work/install.log"; finish; exit 1; }
check "wgfleet-agent runs from /usr/sbin" bash -c '/usr/sbin/wgfleet-agent --version | grep -q "^wgfleet-agent "'
check "wgfleet-controller runs from /usr/bin" bash -c '/usr/bin/wgfleet-controller --version | grep -q "^wgfleet-controller "'
expect_eq "conffile /etc/wgfleet/agent.conf" \
  "$(dpkg-query -W -f='${Conffiles}' wgfleet-agent | awk '{ print $1 }' | tr -d '\n')" /etc/wgfleet/agent.conf
expect_eq "the user wgfleet: system account, home /var/lib/wgfleet-controller, no login" \
  "$(getent passwd wgfleet | awk -F: '{ print ($3 < 1000), $6, $7 }')" "1 /var/lib/wgfleet-controller /usr/sbin/nologin"
expect_eq "the user wgfleet-agent: system account, home /var/lib/wgfleet, no login" \
  "$(getent passwd wgfleet-agent | awk -F: '{ print ($3 < 1000), $6, $7 }')" "1 /var/lib/wgfleet /usr/sbin/nologin"
check "wgfleet-agent.service runs as wgfleet-agent, not root" \
  grep -qx 'User=wgfleet-agent' /lib/systemd/system/wgfleet-agent.service
expect_eq "/etc/wgfleet-controller: root:wgfleet 0750" "$(stat -c '%U:%G %a' /etc/wgfleet-controller)" "root:wgfleet 750"
for u in wgfleet-agent.service wgfleet-controller.service; do
  check "$u installed" [ -f "/lib/systemd/system/$u" ]
  check "$u enabled (multi-user.target.wants)" [ -L "/etc/systemd/system/multi-user.target.wants/$u" ]
done
check "wgfleet-agent@.service (a template) is not enabled" \
  bash -c '! ls /etc/systemd/system/*.wants/wgfleet-agent@* >/dev/null 2>&1'
check "the units wait for keys (ConditionPathExists)" \
  grep -q '^ConditionPathExists=/var/lib/wgfleet/private.key$' /lib/systemd/system/wgfleet-agent.service
for p in wgfleet-agent wgfleet-controller; do
  check "$p's postinst starts no service" bash -c "! grep -Eq 'deb-systemd-invoke (start|restart)' /var/lib/dpkg/info/$p.postinst"
done
check "no packaged wgfleet process runs" bash -c '! pgrep -f "^/usr/(s?bin)/wgfleet-(agent|controller)" >/dev/null'
if [ -d /run/systemd/system ]; then
  for u in wgfleet-agent wgfleet-controller; do
    expect_eq "systemctl is-active $u" "$(systemctl is-active $u)" inactive
  done
fi
for m in wgfleet-agent.8 wgfleet-controller.8 wgfleet-agent.conf.5; do
  check "man page $m installed and renders" bash -c "man -w ${m%.*} 2>/dev/null | grep -q '/$m.gz' && MANWIDTH=80 man ${m##*.} ${m%.*} 2>/dev/null | grep -q NAME"
done
check "bash completion installed for both" \
  [ -f /usr/share/bash-completion/completions/wgfleet-agent -a -f /usr/share/bash-completion/completions/wgfleet-controller ]

# ---- the installed programs work together: render (default state dir), validate
tmp=$work/run
mkdir -p "$tmp"
check "controller keygen" /usr/bin/wgfleet-controller keygen --out "$tmp/keys"
k=$(/usr/sbin/wgfleet-agent --config /dev/null keygen 2>/dev/null | tail -1)
cat > "$tmp/fleet.json" <<JSON
{"wan": {"tunnel_cidr": "10.79.9.0/24"}, "nodes": [{"name": "n1", "endpoint": "192.0.2.1", "public_key": "$k"}, {"name": "n2", "endpoint": "192.0.2.2"}]}
JSON
check "render without --state" /usr/bin/wgfleet-controller render --inventory "$tmp/fleet.json" --key "$tmp/keys/signing.key" --out "$tmp/www"
check "state.json in /var/lib/wgfleet-controller, not in the web root" \
  [ -f /var/lib/wgfleet-controller/state.json -a ! -e "$tmp/www/state.json" ]
check "the installed agent (with the shipped agent.conf) accepts the envelope" \
  /usr/sbin/wgfleet-agent validate --trust-key "$tmp/keys/signing.pub" --node n1 "$tmp/www/n1.env"
check "the agent's keygen made its state dir" [ -f /var/lib/wgfleet/private.key ]

# ---- remove, then purge
apt-get remove "${apt_opts[@]}" wgfleet-agent wgfleet-controller > "$work/remove.log" 2>&1
expect_eq "apt-get remove" "$?" 0
check "binaries gone after remove" [ ! -e /usr/sbin/wgfleet-agent -a ! -e /usr/bin/wgfleet-controller ]
check "the conffile stays after remove" [ -f /etc/wgfleet/agent.conf ]
apt-get purge "${apt_opts[@]}" wgfleet-agent wgfleet-controller > "$work/purge.log" 2>&1
expect_eq "apt-get purge" "$?" 0
for d in /etc/wgfleet /etc/wgfleet-controller /var/lib/wgfleet /var/lib/wgfleet-controller; do
  check "$d gone after purge" [ ! -e "$d" ]
done
expect_eq "dpkg knows neither package" "$(dpkg-query -W -f='${Status}\n' wgfleet-agent wgfleet-controller 2>/dev/null | grep -c installed)" 0
left=$(find /etc /lib/systemd /usr /var/lib -xdev -newer "$work/marker" -name '*wgfleet*' 2>/dev/null | grep -v "^$build" | tr '\n' ' ')
expect_eq "no file named *wgfleet* created since the install is left" "$left" ""
expect_eq "the user wgfleet is gone again" "$(getent passwd wgfleet)" "$user_before"
expect_eq "the user wgfleet-agent is gone again" "$(getent passwd wgfleet-agent)" "$agent_user_before"
finish
