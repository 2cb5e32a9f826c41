#!/bin/sh
# Site 1's own policy allows epsilon 1.2 per run; the run asks for epsilon 1
# per round, so site 1 trains in round 1 (epsilon 1.0) and must refuse round 2
# (the run would reach about 1.3) with a ROUND_REFUSE whose reason the
# coordinator logs and shows in `run status`; the other sites carry the run
# to completion, site 1's ledger holds only the round it trained, and site 1
# still receives the final model. Four sites, so that the rounds without
# site 1 still have the three that every site's min_sites asks for, in the
# secure-aggregation CONFIG as in the announcement.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-refuse.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
net_setup 4 1.2

RUN=$(ft coordinator run create --db "$WORK/coord.db" --name heart --features 10 --rounds 3 \
	--epsilon 1)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in 1 2 3 4; do start_node "$i"; done
wait_for 60 run_is "$RUN" complete || fail "the run did not complete"

grep -q "site 1 refused (privacy budget.*" "$WORK/coordinator.log" ||
	fail "the coordinator did not log site 1's refusal"
# What the coordinator is told names the site's own limits only: no
# epsilon, sampling rate or count computed from the site's patients.
if grep "site 1 refused" "$WORK/coordinator.log" | grep -q "would reach\|q=\|steps\|rows\|patients"; then
	fail "site 1's refusal carried numbers derived from its data"
fi
grep -q "refusing run .*(here: .*would reach" "$WORK/site-1.log" ||
	fail "site 1 did not keep the detailed reason in its own log"
grep -q "refused: round 2 attempt 1 site 1: .*1.2" <<EOS || fail "run status does not show the refusal with its reason"
$(run_status "$RUN")
EOS
n=$(sqlite3 "$WORK/site-1/store.db" "SELECT COUNT(*) FROM privacy_ledger WHERE run_id='run-$RUN'")
[ "$n" = 1 ] || fail "site 1 was charged $n times, expected once"
for i in 2 3 4; do
	n=$(sqlite3 "$WORK/site-$i/store.db" "SELECT COUNT(*) FROM privacy_ledger WHERE run_id='run-$RUN'")
	[ "$n" = 3 ] || fail "site $i was charged $n times, expected 3"
done
surv=$(sqlite3 "$WORK/coord.db" "SELECT survivors FROM rounds WHERE run_id=$RUN AND round=3 AND status='done'")
[ "$surv" = "2,3,4" ] || fail "round 3 was aggregated over '$surv', expected 2,3,4"
wait_for 10 test -f "$WORK/site-1/models/run-$RUN-v3.ftm" || fail "site 1 lacks the final model"
[ "$(file_hash "$WORK/site-1/models/run-$RUN-v3.ftm")" = "$(model_hash "$RUN" 3)" ] ||
	fail "site 1's final model differs from the coordinator's"
run_status "$RUN"
finish net_refuse
