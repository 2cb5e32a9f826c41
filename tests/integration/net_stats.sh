#!/bin/sh
# The DP statistics release of a standardised run (round 0) over the real
# daemons. Three sites, every round needs all three; node 3 runs with the
# test-only FEDTWIN_TEST_CRASH_AFTER_CHARGE=0 and dies (exit 137) once its
# release is charged, before its noisy vector is kept or sent, and is
# restarted. Then:
# - node 3's ledger holds both releases (the lost one stays charged), each
#   one Gaussian step (q = 1) at the announced epsilon;
# - nodes 1 and 2 were charged once: the retried attempt re-sent the noisy
#   vector they kept, so the coordinator got no fresh noise draw;
# - each node's audit log has the release's privacy.spend before any
#   secure-aggregation message of round 0;
# - the final model carries the federation's moments.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-stats.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
ACCEPT_MS=3000
net_setup 3

RUN=$(ft coordinator run create --db "$WORK/coord.db" --name heart --features 10 --rounds 1 \
	--epsilon 1 --min-sites 3 --feature-ranges "$FT_DATA_DIR/heart_disease_uci/feature_ranges.txt" \
	--stats-epsilon 0.5)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in 1 2; do start_node "$i"; done
export FEDTWIN_TEST_CRASH_AFTER_CHARGE=0
start_node 3
unset FEDTWIN_TEST_CRASH_AFTER_CHARGE

wait_for 60 grep -q "dying after the privacy charge of round 0" "$WORK/site-3.log" ||
	fail "node 3 did not reach the crash point after its statistics charge"
rc=0
wait "$NODE_PID_3" || rc=$?
[ "$rc" = 137 ] || fail "node 3 exited with $rc, not 137"
echo "--- node 3 restarted ---" >>"$WORK/site-3.log"
start_node 3

wait_for 90 run_is "$RUN" complete || fail "the run did not complete"
releases() { # releases SITE: the run's statistics charges in the site's ledger
	sqlite3 "$WORK/site-$1/store.db" "SELECT COUNT(*) FROM privacy_ledger WHERE \
		run_id='run-$RUN' AND round<1000 AND q=1.0 AND steps=1"
}
[ "$(releases 3)" = 2 ] || fail "node 3: $(releases 3) statistics charges, expected 2"
for i in 1 2; do
	[ "$(releases "$i")" = 1 ] || fail "site $i: $(releases "$i") statistics charges, expected 1"
	grep -q "statistics of run $RUN: re-sending the noisy vector already released" \
		"$WORK/site-$i.log" || fail "site $i did not re-send its kept vector on the retry"
	e=$(sed -n "s/.*statistics of run $RUN: .*; epsilon \([0-9.]*\) this release.*/\1/p" \
		"$WORK/site-$i.log")
	python3 -c "import sys; sys.exit(0 if 0.45 < float(sys.argv[1]) <= 0.5 else 1)" "${e:-0}" ||
		fail "site $i: the release cost epsilon '$e', not the announced 0.5"
done
n=$(sqlite3 "$WORK/coord.db" "SELECT COUNT(*) FROM rounds WHERE run_id=$RUN AND round=0 AND status='done'")
[ "$n" = 1 ] || fail "$n statistics releases done, expected 1"
stop_all
for i in 1 2 3; do
	ft audit export "$WORK/site-$i/audit.log" --jsonl >"$WORK/site-$i.jsonl"
	python3 - "$WORK/site-$i.jsonl" <<'PY' || fail "site $i: the release's spend was not logged first"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
p = lambda e: e.get("payload", e)
spend = [i for i, e in enumerate(ev) if e.get("type") == "privacy.spend" and p(e).get("q") == 1]
sent = [i for i, e in enumerate(ev) if e.get("type") == "msg.sent"
        and p(e).get("msg_type") == "SECAGG" and p(e).get("round", -1) == 0]
assert spend and sent and spend[0] < sent[0], (spend[:2], sent[:1])
PY
done
python3 - "$WORK/site-1/models/run-$RUN-v1.ftm" <<'PY' || fail "the final model lacks the federation's moments"
import sys
b = open(sys.argv[1], "rb").read()
assert b"standardise.mean" in b and b"standardise.lo" in b and b"epsilon 0.5 per site" in b
PY
finish net_stats
