#!/bin/sh
# The systemd units in deploy/systemd: systemd accepts them against an
# installed fedtwin (cmake --install into a temporary prefix), their
# hardening stays at an exposure of at most 2.0, and they start the daemons
# with the subcommands and configs docs/OPERATIONS.md describes. Skips
# (77) where systemd-analyze is not installed.
set -eu
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze missing: skipped"; exit 77; }
WORK=$(mktemp -d /tmp/ft-units.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p "$WORK/bin"
cp "$FEDTWIN" "$WORK/bin/fedtwin"
for u in node coordinator; do
	src="$FT_SOURCE_DIR/deploy/systemd/fedtwin-$u.service"
	grep -q "^ExecStart=/usr/local/bin/fedtwin " "$src" || fail "$u: ExecStart is not the installed binary"
	sed "s#/usr/local/bin/fedtwin#$WORK/bin/fedtwin#" "$src" >"$WORK/fedtwin-$u.service"
	systemd-analyze verify "$WORK/fedtwin-$u.service" >"$WORK/verify.log" 2>&1 ||
		fail "$u: systemd-analyze verify: $(cat "$WORK/verify.log")"
	level=$(systemd-analyze security --offline=yes "$WORK/fedtwin-$u.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	[ -n "$level" ] || fail "$u: no exposure level"
	awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || fail "$u: exposure $level > 2.0"
	echo "ok: fedtwin-$u.service verifies, exposure $level"
done
# The commands the units run exist and take --config.
grep -q "node run --config /etc/fedtwin/node.ini" "$FT_SOURCE_DIR/deploy/systemd/fedtwin-node.service" ||
	fail "node unit command"
grep -q "coordinator serve --config /etc/fedtwin/coordinator.ini" \
	"$FT_SOURCE_DIR/deploy/systemd/fedtwin-coordinator.service" || fail "coordinator unit command"
"$FEDTWIN" node run --config /nonexistent/node.ini 2>&1 | grep -q "/nonexistent/node.ini: cannot read" ||
	fail "node run --config does not name a missing config"
echo "1 passed, 0 failed"
