#!/bin/sh
# Four sites, four rounds, 1.5 s between rounds. Node 2 is frozen (SIGSTOP)
# right after round 1, so round 2 is announced to it while it cannot answer;
# it is killed with -9 in the middle of round 2 and restarted. The round must finish without it (or a fresh attempt
# must), the restarted node must rejoin a later round, and every site must
# end with the coordinator's final model. A second daemon started on a
# running node's state (or the coordinator's database) must stop at once,
# naming the lock, and the kill -9 must not leave that lock stale.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-kill-node.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
ROUND_GAP_MS=1500
ACCEPT_MS=6000
net_setup 4

RUN=$(ft coordinator run create --db "$WORK/coord.db" --name heart --features 10 --rounds 4 \
	--epsilon 1)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in 1 2 3 4; do start_node "$i"; done

wait_for 30 grep -q "stored model run $RUN v1" "$WORK/site-2.log" ||
	fail "round 1 never finished at node 2"
if timeout 10 "$FEDTWIN" node run --config "$WORK/site-3/node.ini" >"$WORK/twin.log" 2>&1; then
	fail "a second node daemon ran on site 3's state"
fi
grep -q "node.lock is held by another running daemon (pid $NODE_PID_3)" "$WORK/twin.log" ||
	fail "the second node daemon did not name the lock: $(cat "$WORK/twin.log")"
if timeout 10 "$FEDTWIN" coordinator serve --config "$WORK/coordinator.ini" >"$WORK/twin.log" 2>&1; then
	fail "a second coordinator ran on the same database"
fi
grep -q "coord.db.lock is held by another running daemon" "$WORK/twin.log" ||
	fail "the second coordinator did not name the lock: $(cat "$WORK/twin.log")"
kill -STOP "$NODE_PID_2"
wait_for 10 grep -q "round 2 attempt 1: announced to 4 sites" "$WORK/coordinator.log" ||
	fail "round 2 was not announced to the frozen node"
kill -9 "$NODE_PID_2"
wait "$NODE_PID_2" 2>/dev/null || true
echo "--- node 2 restarted ---" >>"$WORK/site-2.log"
start_node 2

wait_for 90 run_is "$RUN" complete || fail "the run did not complete"
final=$(model_hash "$RUN" 4)
for i in 1 2 3 4; do
	wait_for 15 test -f "$WORK/site-$i/models/run-$RUN-v4.ftm" || fail "site $i lacks the final model"
	[ "$(file_hash "$WORK/site-$i/models/run-$RUN-v4.ftm")" = "$final" ] ||
		fail "site $i's final model differs from the coordinator's"
done
last=$(sqlite3 "$WORK/coord.db" "SELECT survivors FROM rounds WHERE run_id=$RUN AND round=4 AND status='done'")
case ",$last," in
*,2,*) ;;
*) fail "the restarted node 2 did not take part in the last round ($last)" ;;
esac
sed -n '/node 2 restarted/,$p' "$WORK/site-2.log" | grep -q "connected to the coordinator" ||
	fail "node 2 did not reconnect after the restart"
run_status "$RUN"
finish net_kill_node
