#!/bin/sh
# The auditor's commands on the logs of a real run, and a node killed right
# after a privacy charge. A coordinator and four hospital nodes train for 3
# rounds over mutual TLS on loopback; node 2 runs with the test-only
# FEDTWIN_TEST_CRASH_AFTER_CHARGE=2 and dies (exit 137) once its round-2
# charge is durable, before its masked update leaves; it is restarted and
# the run finishes. Then:
# - every log verifies with its party's public key, each node's against the
#   coordinator's, with anchors from every round checked both ways;
# - the report of a node's log holds its ledger, one entry per round;
# - export --jsonl works; a flipped payload byte or a deleted row in a copy
#   of a node's log makes verify fail and name the entry;
# - node 2's ledger and audit log include the charge of the attempt it died
#   in, and the retry (every round needs all four sites, so the attempt it
#   died in is aborted and round 2 is tried again) trained and was charged
#   again; the other sites re-sent their saved updates at no new cost.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-audit.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
ACCEPT_MS=3000
net_setup 4

RUN=$(ft coordinator run create --db "$WORK/coord.db" --name heart --features 10 --rounds 3 \
	--epsilon 1 --lr 0.5 --min-sites 4)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in 1 3 4; do start_node "$i"; done
export FEDTWIN_TEST_CRASH_AFTER_CHARGE=2
start_node 2
unset FEDTWIN_TEST_CRASH_AFTER_CHARGE

# ---- The crash after the charge, and the restart --------------------------
wait_for 60 grep -q "dying after the privacy charge of round 2" "$WORK/site-2.log" ||
	fail "node 2 did not reach the crash point after its round-2 charge"
rc=0
wait "$NODE_PID_2" || rc=$?
[ "$rc" = 137 ] || fail "node 2 exited with $rc, not 137"
crash_attempt=$(sed -n 's/.*dying after the privacy charge of round 2 attempt \([0-9]*\).*/\1/p' \
	"$WORK/site-2.log")
crash_key=$((2000 + crash_attempt))
n=$(sqlite3 "$WORK/site-2/store.db" "SELECT COUNT(*) FROM privacy_ledger WHERE round=$crash_key")
[ "$n" = 1 ] || fail "the ledger lacks the charge made before the crash (round key $crash_key)"
echo "--- node 2 restarted ---" >>"$WORK/site-2.log"
start_node 2

wait_for 90 run_is "$RUN" complete || fail "the run did not complete"
final=$(model_hash "$RUN" 3)
for i in 1 2 3 4; do
	wait_for 15 test -f "$WORK/site-$i/models/run-$RUN-v3.ftm" || fail "site $i lacks the final model"
done
sed -n '/node 2 restarted/,$p' "$WORK/site-2.log" | grep -q "dying after" &&
	fail "node 2 crashed again without the variable"
stop_all

# ---- verify: each log, its key, and the anchors both ways -----------------
out=$(ft audit verify "$WORK/coordinator.audit" --key "$WORK/keys/coordinator.key.pub") ||
	fail "the coordinator's audit log does not verify"
for i in 1 2 3 4; do
	log="$WORK/site-$i/audit.log"
	ft audit verify "$log" --key "$WORK/keys/site-$i.key.pub" >/dev/null ||
		fail "site $i's audit log does not verify with its key"
	# Another party's key is refused.
	if ft audit verify "$log" --key "$WORK/keys/coordinator.key.pub" >/dev/null 2>&1; then
		fail "site $i's log verified with the coordinator's key"
	fi
	out=$(ft audit verify "$log" --against "$WORK/coordinator.audit") ||
		fail "site $i's log does not verify against the coordinator's"
	ab=$(echo "$out" | sed -n 's/^anchors: \([0-9]*\) in .* and \([0-9]*\) in .*/\1/p')
	ba=$(echo "$out" | sed -n 's/^anchors: \([0-9]*\) in .* and \([0-9]*\) in .*/\2/p')
	# Per round: the site anchors each ROUND_RESULT (3 rounds + WELCOME);
	# the coordinator anchors each of the site's ACCEPTs and uploads.
	[ "${ab:-0}" -ge 4 ] || fail "site $i: only ${ab:-0} anchors of the coordinator checked: $out"
	[ "${ba:-0}" -ge 6 ] || fail "site $i: only ${ba:-0} anchors of site $i checked: $out"
	ft audit export "$log" --jsonl >"$WORK/site-$i.jsonl" || fail "site $i: export failed"
done
ft audit export "$WORK/coordinator.audit" --jsonl >"$WORK/coordinator.jsonl" ||
	fail "the coordinator's export failed"
python3 - "$WORK" <<'PY' || fail "anchors are not per round"
import json, sys
w = sys.argv[1]
def load(p):
    return [json.loads(l) for l in open(p)]
def pl(e):
    return e.get("payload", e)
coord = load(w + "/coordinator.jsonl")
for i in (1, 2, 3, 4):
    site = load(w + "/site-%d.jsonl" % i)
    # The node anchored the coordinator's head after each ROUND_RESULT.
    res = [k for k, e in enumerate(site) if e["type"] == "msg.received"
           and pl(e).get("msg_type") == "ROUND_RESULT" and pl(e).get("round", 0) >= 1]
    assert len(res) >= 3, (i, len(res))
    for k in res:
        nxt = site[k + 1]
        assert nxt["type"] == "anchor" and pl(nxt)["peer"] == "coordinator", (i, k, nxt)
    # The coordinator anchored the site's head in each training round's
    # ACCEPT and upload messages, and one of them fixes the round's
    # privacy.spend entry in the coordinator's log.
    actor = site[0]["actor"]
    heads = {pl(e)["peer_seq"]: pl(e)["peer_head"] for e in coord
             if e["type"] == "anchor" and pl(e)["peer"] == actor}
    spends = [e for e in site if e["type"] == "privacy.spend"]
    covered = set()
    for sp in spends:
        if any(s >= sp["seq"] for s in heads):
            covered.add(pl(sp)["round"] // 1000)
    assert covered >= {1, 2, 3}, (i, sorted(covered))
PY

# ---- report: the node's ledger, one entry per round -----------------------
ft audit report "$WORK/site-1/audit.log" --html "$WORK/report.html" --json "$WORK/report.json" \
	>/dev/null || fail "audit report failed"
grep -q "Privacy ledger per site" "$WORK/report.html" || fail "the HTML report lacks the ledger"
python3 - "$WORK/report.json" "$WORK/site-1/store.db" <<'PY' || fail "the report's ledger is wrong"
import json, sqlite3, sys
r = json.load(open(sys.argv[1]))
assert r["logs"][0]["verified"] is True, r["logs"]
sites = r["sites"]
assert len(sites) == 1, sites
rounds = sites[0]["rounds"]
assert sorted(x["round"] // 1000 for x in rounds) == [1, 2, 3], rounds
db = sqlite3.connect(sys.argv[2])
led = sorted(k for (k,) in db.execute("SELECT round FROM privacy_ledger"))
assert led == sorted(x["round"] for x in rounds), (led, rounds)
# cumulative epsilon never decreases and ends at the reported total
tot = [x["eps_total"] for x in rounds]
assert tot == sorted(tot) and abs(tot[-1] - sites[0]["eps_total"]) < 1e-9, tot
PY

# ---- node 2's spend includes the round it died in --------------------------
python3 - "$WORK" "$crash_key" "$RUN" <<'PY' || fail "node 2's ledger under-counts"
import json, sqlite3, sys
w, crash_key, run = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ev = [json.loads(l) for l in open(w + "/site-2.jsonl")]
pl = lambda e: e.get("payload", e)
spends = {pl(e)["round"]: pl(e) for e in ev if e["type"] == "privacy.spend"}
trained = [pl(e)["round"] for e in ev if e["type"] == "train.local"]
led = {k for (k,) in sqlite3.connect(w + "/site-2/store.db").execute(
    "SELECT round FROM privacy_ledger")}
# Every training is charged, in the ledger and in the audit log.
assert crash_key in led and crash_key in spends, (crash_key, led, sorted(spends))
assert set(trained) <= led and set(spends) == led, (trained, led, sorted(spends))
# The later attempt of round 2 included node 2: trained and charged again.
coord = sqlite3.connect(w + "/coord.db")
done2 = [s for (s,) in coord.execute(
    "SELECT survivors FROM rounds WHERE run_id=? AND round=2 AND status='done'", (run,))]
assert len(done2) == 1 and "2" in done2[0].split(","), done2
retry = [k for k in led if k // 1000 == 2 and k != crash_key]
assert len(retry) == 1 and retry[0] > crash_key, sorted(led)
assert sorted(k // 1000 for k in led) == [1, 2, 2, 3], sorted(led)
# The others trained once per round: their saved updates were re-sent.
for i in (1, 3, 4):
    rows = [k for (k,) in sqlite3.connect(w + "/site-%d/store.db" % i).execute(
        "SELECT round FROM privacy_ledger")]
    assert sorted(k // 1000 for k in rows) == [1, 2, 3], (i, rows)
PY
status=$(ft node status --store "$WORK/site-2/store.db")
spent=$(echo "$status" | sed -n 's/^privacy spent: epsilon \([0-9.e+-]*\) .*/\1/p')
last=$(python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
print(max(e.get("payload", e)["eps_total"] for e in ev if e["type"] == "privacy.spend"))
' "$WORK/site-2.jsonl")
# status prints 4 significant digits
python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(a - b) <= 5e-4 * b else 1)' \
	"${spent:-0}" "$last" || fail "node status says epsilon ${spent:-?}, the audit log $last"

# ---- tampering with a copy of a node's log ---------------------------------
tamper_copy() { # tamper_copy NAME: a copy of site 1's log without its triggers
	cp "$WORK/site-1/audit.log" "$WORK/$1"
	sqlite3 "$WORK/$1" "DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete;"
}
seq=$(sqlite3 "$WORK/site-1/audit.log" \
	"SELECT seq FROM entries WHERE type='privacy.spend' ORDER BY seq LIMIT 1")
tamper_copy flipped.log
# One byte of the payload: the first digit 0-8 of eps_round becomes one more.
sqlite3 "$WORK/flipped.log" "UPDATE entries SET payload = (SELECT
	substr(payload, 1, i - 1) || char(unicode(substr(payload, i, 1)) + 1) || substr(payload, i + 1)
	FROM (SELECT instr(payload, '\"eps_round\":') + 12 AS i)) WHERE seq = $seq"
[ "$(sqlite3 "$WORK/flipped.log" "SELECT payload FROM entries WHERE seq=$seq")" != \
	"$(sqlite3 "$WORK/site-1/audit.log" "SELECT payload FROM entries WHERE seq=$seq")" ] ||
	fail "the payload was not changed"
if err=$(ft audit verify "$WORK/flipped.log" 2>&1); then
	fail "a flipped payload byte verified"
fi
echo "$err" | grep -q "entry $seq: hash mismatch" || fail "verify did not name entry $seq: $err"
tamper_copy deleted.log
sqlite3 "$WORK/deleted.log" "DELETE FROM entries WHERE seq = $seq"
if err=$(ft audit verify "$WORK/deleted.log" 2>&1); then
	fail "a log with a deleted entry verified"
fi
echo "$err" | grep -q "entry $seq: missing" || fail "verify did not name the deleted entry $seq: $err"
# The untouched log still verifies (the copies were changed, not it).
ft audit verify "$WORK/site-1/audit.log" --key "$WORK/keys/site-1.key.pub" >/dev/null ||
	fail "the original log no longer verifies"
run_status "$RUN"
finish net_audit
