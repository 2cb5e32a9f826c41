#!/bin/sh
# `fedtwin node check`, what site IT runs before the first round: with a
# sealed identity key and an encrypted TLS key opened from passphrase files
# and the coordinator up, every check passes and the coordinator accepts the
# site; the HELLO and WELCOME land in the site's audit log. Each broken
# deployment is named: an identity key the manifest does not list, a store
# without a privacy policy, a tampered audit log, an unreachable
# coordinator, a wrong TLS passphrase, another CA's certificate (the daemon
# does not start with it either); a certificate about to expire is a
# warning; and a running daemon is noticed.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-check.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
SEALED_SECRETS=1 net_setup 3

check() { # check SITE_DIR [ARGS...]: output in $WORK/check.out, status in $st
	d=$1
	shift
	st=0
	"$FEDTWIN" node check --config "$d/node.ini" "$@" >"$WORK/check.out" 2>&1 || st=$?
}
expect() { # expect STATUS PATTERN WHAT
	[ "$st" -eq "$1" ] || fail "$3: exit $st, not $1: $(cat "$WORK/check.out")"
	grep -q -E "$2" "$WORK/check.out" || fail "$3: no '$2' in: $(cat "$WORK/check.out")"
}

# The coordinator is down: everything else passes, the connection fails.
CALL_TIMEOUT_MS=1500 node_ini 1 "$WORK/pki/site-1.crt" "$WORK/pki/site-1.key" \
	"$WORK/keys/site-1.key" >"$WORK/site-1/quick.ini"
"$FEDTWIN" node check --config "$WORK/site-1/quick.ini" >"$WORK/check.out" 2>&1 && st=0 || st=$?
expect 1 "^FAIL +coordinator +no answer" "coordinator down"
grep -q "^FAIL" "$WORK/check.out" && [ "$(grep -c '^FAIL' "$WORK/check.out")" -eq 1 ] ||
	fail "more than the connection failed: $(cat "$WORK/check.out")"

start_coordinator
wait_for 10 grep -q "listening" "$WORK/coordinator.log" || fail "the coordinator did not start"
check "$WORK/site-1"
expect 0 "^ok +coordinator +.* accepted site 1" "a correct deployment"
for w in config state identity manifest tls policy dataset audit; do
	grep -qE "^ok +$w " "$WORK/check.out" || fail "check '$w' did not pass: $(cat "$WORK/check.out")"
done
"$FEDTWIN" audit export "$WORK/site-1/audit.log" --jsonl >"$WORK/export.jsonl"
grep -q '"hello"\|HELLO' "$WORK/export.jsonl" && grep -q '"welcome"\|WELCOME' "$WORK/export.jsonl" ||
	fail "the check's HELLO/WELCOME are not in the site's audit log"
"$FEDTWIN" audit verify "$WORK/site-1/audit.log" --key "$WORK/keys/site-1.key.pub" >/dev/null ||
	fail "the site's audit log does not verify after the check"

# An identity key that is not the manifest's for the site it claims.
ft keygen --out "$WORK/keys/other.key" --no-passphrase >/dev/null
mkdir -p "$WORK/impostor"
cp "$WORK/site-2/store.db" "$WORK/impostor/store.db"
node_ini 2 "$WORK/pki/site-2.crt" "$WORK/pki/site-2.key" "$WORK/keys/other.key" |
	sed "s#site-2/#impostor/#g" >"$WORK/impostor/node.ini"
check "$WORK/impostor"
expect 1 "^FAIL +manifest +.*lists another key for site 2" "wrong identity key"

# A store without a privacy policy: the node would refuse every round.
mkdir -p "$WORK/nopolicy"
ft node import --store "$WORK/nopolicy/store.db" --csv "$WORK/site-3/heart.csv" \
	--target disease --dataset heart >/dev/null
node_ini 3 "$WORK/pki/site-3.crt" "$WORK/pki/site-3.key" "$WORK/keys/site-3.key" |
	sed "s#site-3/#nopolicy/#g" >"$WORK/nopolicy/node.ini"
check "$WORK/nopolicy" --offline
expect 1 "^FAIL +policy +no privacy policy" "no policy"

# A wrong TLS key passphrase.
cp "$WORK/site-1/node.ini" "$WORK/site-1/badpass.ini"
echo "not the passphrase" >"$WORK/wrong.pass"
sed -i "s#^key_passphrase_file = .*#key_passphrase_file = $WORK/wrong.pass#" "$WORK/site-1/badpass.ini"
"$FEDTWIN" node check --config "$WORK/site-1/badpass.ini" --offline >"$WORK/check.out" 2>&1 && st=0 || st=$?
expect 1 "^FAIL +tls +.*site-1.key: cannot open the encrypted key" "wrong TLS passphrase"

# A certificate from another CA: named by the check, and the daemon will
# not start with it (nng would only fail every handshake in silence).
mkdir -p "$WORK/rogue"
"$FT_SOURCE_DIR/deploy/pki" ca "$WORK/rogue" >/dev/null
"$FT_SOURCE_DIR/deploy/pki" site "$WORK/rogue" 3 >/dev/null
node_ini 3 "$WORK/rogue/site-3.crt" "$WORK/rogue/site-3.key" "$WORK/keys/site-3.key" |
	sed "s#site-3/#rogue/#g" >"$WORK/rogue/node.ini"
check "$WORK/rogue" --offline
expect 1 "^FAIL +tls +.*site-3.crt .*was not issued by the CA in" "another CA's certificate"
if timeout 10 "$FEDTWIN" node run --config "$WORK/rogue/node.ini" >"$WORK/rogue.out" 2>&1; then
	fail "a node started with another CA's certificate"
fi
grep -q "was not issued by the CA" "$WORK/rogue.out" || fail "node run did not say why: $(cat "$WORK/rogue.out")"
# A certificate that expires within 30 days: a warning, not a failure.
mkdir -p "$WORK/soon"
cp "$WORK/pki/ca.crt" "$WORK/pki/ca.key" "$WORK/soon/"
FT_PKI_LEAF_DAYS=10 "$FT_SOURCE_DIR/deploy/pki" site "$WORK/soon" 3 >/dev/null
node_ini 3 "$WORK/soon/site-3.crt" "$WORK/soon/site-3.key" "$WORK/keys/site-3.key" >"$WORK/soon/node.ini"
check "$WORK/soon" --offline
expect 0 "^warn +tls +.*expires .*\((9|10) days\): renew it now" "a certificate about to expire"

# A running daemon: noticed, its connection left alone.
start_node 2
wait_for 20 grep -q "connected to the coordinator" "$WORK/site-2.log" || fail "node 2 did not connect"
check "$WORK/site-2"
expect 0 "^warn +state +.*held by another running daemon" "daemon running"
grep -qE "^(ok|FAIL) +coordinator" "$WORK/check.out" && fail "the check connected beside a running daemon"

# A tampered audit log (one byte of a payload changed).
stop_all
python3 - "$WORK/site-1/audit.log" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
    db.execute("DROP TRIGGER " + name)
seq, payload = db.execute("SELECT seq, payload FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
db.execute("UPDATE entries SET payload=? WHERE seq=?", (payload.replace("1", "2", 1) if "1" in payload else payload + " ", seq))
db.commit()
PY
check "$WORK/site-1" --offline
expect 1 "^FAIL +audit +.*does not verify" "tampered audit log"
finish net_check
