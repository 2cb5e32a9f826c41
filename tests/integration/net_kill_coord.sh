#!/bin/sh
# Three sites, four rounds, 1.5 s apart. Once round 1 is done, node 3 is frozen so that
# the next attempt stays open, and the coordinator is killed with -9 in the
# middle of it. After a restart the completed rounds and their models must be
# intact, the interrupted attempt must be marked abandoned and retried as a
# fresh attempt, and the run must finish with every site holding the final
# model.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-kill-coord.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
ACCEPT_MS=20000
ROUND_GAP_MS=1500
net_setup 3

# FedAdam, so that the optimiser state persisted with each round matters;
# standardised, so that round 0 (the statistics release) comes first.
RUN=$(ft coordinator run create --db "$WORK/coord.db" --name heart --features 10 --rounds 4 \
	--epsilon 1 --server-optimizer fedadam --server-lr 0.05 \
	--feature-ranges "$FT_DATA_DIR/heart_disease_uci/feature_ranges.txt")
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in 1 2 3; do start_node "$i"; done

wait_for 30 grep -q "stored model run $RUN v1" "$WORK/site-3.log" || fail "round 1 did not finish"
kill -STOP "$NODE_PID_3"
running() {
	[ -n "$(sqlite3 "$WORK/coord.db" "SELECT round FROM rounds WHERE run_id=$RUN AND status='running'")" ]
}
wait_for 30 running || fail "no attempt in flight to interrupt"
open_round=$(sqlite3 "$WORK/coord.db" "SELECT round||'/'||attempt FROM rounds WHERE run_id=$RUN AND status='running'")
before=$(sqlite3 "$WORK/coord.db" "SELECT version||':'||hash FROM models WHERE run_id=$RUN ORDER BY version")
kill -9 "$COORD_PID"
wait "$COORD_PID" 2>/dev/null || true
echo "coordinator killed during round/attempt $open_round"
kill -CONT "$NODE_PID_3"
echo "--- coordinator restarted ---" >>"$WORK/coordinator.log"
start_coordinator

wait_for 90 run_is "$RUN" complete || fail "the run did not complete after the restart"
after=$(sqlite3 "$WORK/coord.db" "SELECT version||':'||hash FROM models WHERE run_id=$RUN ORDER BY version")
case "$after" in
"$before"*) ;;
*) fail "models changed across the restart: before [$before] after [$after]" ;;
esac
r=${open_round%/*}
a=${open_round#*/}
st=$(sqlite3 "$WORK/coord.db" "SELECT status FROM rounds WHERE run_id=$RUN AND round=$r AND attempt=$a")
[ "$st" = abandoned ] || fail "the interrupted attempt is '$st', not abandoned"
n=$(sqlite3 "$WORK/coord.db" "SELECT COUNT(*) FROM rounds WHERE run_id=$RUN AND round=$r AND attempt>$a AND status='done'")
[ "$n" = 1 ] || fail "round $r was not completed by a fresh attempt"
[ "$(sqlite3 "$WORK/coord.db" "SELECT length(opt_state) FROM runs WHERE id=$RUN")" = $((64 + 16 * 11)) ] ||
	fail "the FedAdam state (m, v for 11 parameters) was not persisted"
n=$(sqlite3 "$WORK/coord.db" "SELECT COUNT(*) FROM rounds WHERE run_id=$RUN AND round>0 AND status='done'")
[ "$n" = 4 ] || fail "$n rounds done, expected 4"
final=$(model_hash "$RUN" 4)
for i in 1 2 3; do
	wait_for 15 test -f "$WORK/site-$i/models/run-$RUN-v4.ftm" || fail "site $i lacks the final model"
	[ "$(file_hash "$WORK/site-$i/models/run-$RUN-v4.ftm")" = "$final" ] ||
		fail "site $i's final model differs from the coordinator's"
done
run_status "$RUN"
finish net_kill_coord
