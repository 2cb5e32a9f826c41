#!/bin/sh
# A plain-sum run (`run create --no-secagg`) over the real daemons: sites 1
# and 2 allow it (site 1 with allow_plain_sum = yes in its file, site 2 with
# --allow-plain-sum over a file that says no) and train, are charged as in a
# secure run and send their encoded updates in the clear; site 3 keeps the
# default and refuses every training round with the fixed reason "this site
# requires secure aggregation", which the coordinator logs and shows in
# `run status`, before anything is charged to its ledger. Round 0
# (standardisation) stays on secure aggregation, with all three sites.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-plain.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
NODE_ALLOW_PLAIN_1=yes
net_setup 3

RUN=$(ft coordinator run create --db "$WORK/coord.db" --name plain --features 10 --rounds 2 \
	--epsilon 1 --no-secagg --feature-ranges "$FT_DATA_DIR/heart_disease_uci/feature_ranges.txt" \
	--stats-epsilon 1)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
grep -q "^allow_plain_sum = no" "$WORK/site-2/node.ini" || fail "site 2's file should say no"
start_node 1
"$FEDTWIN" node run --config "$WORK/site-2/node.ini" --allow-plain-sum >>"$WORK/site-2.log" 2>&1 &
PIDS="$PIDS $!"
start_node 3
wait_for 90 run_is "$RUN" complete || fail "the plain-sum run did not complete"

st=$(run_status "$RUN")
grep -q "aggregation: plain sum" <<EOS || fail "run status does not show the plain-sum mode"
$st
EOS
grep -q "refused: round 1 attempt [0-9]* site 3: this site requires secure aggregation" <<EOS ||
$st
EOS
	fail "run status does not show site 3's refusal with its reason"
grep -q "site 3 refused (secure aggregation required): this site requires secure aggregation" \
	"$WORK/coordinator.log" || fail "the coordinator did not log site 3's refusal"
# Round 0 was secure and had all three sites; rounds 1 and 2 summed sites 1, 2.
[ "$(sqlite3 "$WORK/coord.db" "SELECT survivors FROM rounds WHERE run_id=$RUN AND round=0 AND status='done' LIMIT 1")" = "1,2,3" ] ||
	fail "standardisation did not run with all three sites"
for r in 1 2; do
	surv=$(sqlite3 "$WORK/coord.db" "SELECT survivors FROM rounds WHERE run_id=$RUN AND round=$r AND status='done'")
	[ "$surv" = "1,2" ] || fail "round $r was summed over '$surv', expected 1,2"
done
# Nothing charged where nothing was trained; the others as in a secure run.
# (Ledger keys below 1000 are round 0's statistics release, which every
# site makes under secure aggregation.)
n=$(sqlite3 "$WORK/site-3/store.db" "SELECT COUNT(*) FROM privacy_ledger WHERE run_id='run-$RUN' AND round >= 1000")
[ "$n" = 0 ] || fail "site 3 was charged $n times for rounds it refused"
for i in 1 2; do
	n=$(sqlite3 "$WORK/site-$i/store.db" "SELECT COUNT(*) FROM privacy_ledger WHERE run_id='run-$RUN' AND round >= 1000")
	[ "$n" = 2 ] || fail "site $i was charged $n times, expected 2"
	n=$(sqlite3 "$WORK/site-$i/audit.log" "SELECT COUNT(*) FROM entries WHERE type='update.unmasked'")
	[ "$n" = 2 ] || fail "site $i's audit log records $n unmasked updates, expected 2"
	n=$(sqlite3 "$WORK/site-$i/audit.log" "SELECT COUNT(*) FROM entries WHERE type='msg.sent' AND payload LIKE '%\"msg_type\":\"PLAIN_UPDATE\"%'")
	[ "$n" -ge 2 ] || fail "site $i's audit log shows no PLAIN_UPDATE sent"
done
n=$(sqlite3 "$WORK/site-3/audit.log" "SELECT COUNT(*) FROM entries WHERE type='policy.refuse' AND payload LIKE '%this site requires secure aggregation%'")
[ "$n" -ge 2 ] || fail "site 3's audit log lacks its refusals"
n=$(sqlite3 "$WORK/site-3/audit.log" "SELECT COUNT(*) FROM entries WHERE type IN ('train.local','update.unmasked')")
[ "$n" = 0 ] || fail "site 3 trained or sent unmasked in a round it refused"
# Its one spend is the statistics release of round 0 (ledger key 0).
n=$(sqlite3 "$WORK/site-3/audit.log" "SELECT COUNT(*) FROM entries WHERE type='privacy.spend' AND payload NOT LIKE '%\"round\":0,%'")
[ "$n" = 0 ] || fail "site 3 spent privacy in a round it refused"
n=$(sqlite3 "$WORK/site-3/audit.log" "SELECT COUNT(*) FROM entries WHERE type='privacy.spend'")
[ "$n" = 1 ] || fail "site 3 logged $n privacy spends, expected the statistics release alone"
sqlite3 "$WORK/coordinator.audit" "SELECT payload FROM entries WHERE type='round.start'" |
	grep -q '"round":1,.*"secure_aggregation":false' ||
	fail "the coordinator's audit log does not mark round 1 as a plain sum"
for i in 1 3; do
	ft audit verify "$WORK/site-$i/audit.log" --key "$WORK/keys/site-$i.key.pub" >/dev/null ||
		fail "site $i's audit log does not verify"
done
ft audit verify "$WORK/coordinator.audit" --key "$WORK/keys/coordinator.key.pub" >/dev/null ||
	fail "the coordinator's audit log does not verify"
wait_for 10 test -f "$WORK/site-3/models/run-$RUN-v2.ftm" || fail "site 3 lacks the final model"
echo "$st"
finish net_plain
