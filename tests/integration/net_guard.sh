#!/bin/sh
# What a node refuses before it spends privacy, and a saved update that a
# consent withdrawal makes stale. Three hospital nodes over mutual TLS:
# - in run A the coordinator (test-only FEDTWIN_TEST_ANNOUNCE_WRONG_D=1)
#   announces round 1 with a vector length that is not the model's: every
#   node refuses it with no ledger entry (the check needs no training, so
#   it runs before the charge);
# - run B needs all three sites; node 2 runs with the test-only
#   FEDTWIN_TEST_CRASH_AFTER_CHARGE=1, so it dies after each round-1 charge
#   and loses its update; restarted twice, its third try is refused by its
#   cap of 2 charged trainings per round (max_trainings_per_round), with
#   the fixed public reason, and its ledger holds exactly two charges;
# - meanwhile a patient of site 1 withdraws consent after site 1 saved its
#   round-1 update: the retried attempt does not re-send it, site 1 trains
#   again on the remaining patients (a second charge).
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-guard.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
# The nodes first, while the coordinator still answers their BYE (a node
# whose last call is never answered can leave nng's request behind at exit).
stop_nodes_first() {
	for i in 1 2 3; do
		eval "p=\${NODE_PID_$i:-}"
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	sleep 1.5
	stop_all
}
ACCEPT_MS=3000
net_setup 3

charges() { # charges SITE RUN
	sqlite3 "$WORK/site-$1/store.db" "SELECT COUNT(*) FROM privacy_ledger WHERE run_id='run-$2'"
}

# ---- run A: refused before the charge --------------------------------------
A=$(ft coordinator run create --db "$WORK/coord.db" --name bad --features 10 --rounds 1)
ft coordinator run start "$A" --db "$WORK/coord.db" >/dev/null
FEDTWIN_TEST_ANNOUNCE_WRONG_D=1 start_coordinator
for i in 1 2 3; do start_node "$i"; done
for i in 1 2 3; do
	wait_for 30 grep -q "refusing run $A round 1 .*not acceptable here.*vector length" \
		"$WORK/site-$i.log" || fail "site $i did not refuse run $A's malformed round"
	[ "$(charges "$i" "$A")" = 0 ] || fail "site $i was charged for a round it refused"
done
grep -q "dying after" "$WORK/site-2.log" 2>/dev/null && fail "node 2 trained in run $A"
ft coordinator run stop "$A" --db "$WORK/coord.db" >/dev/null
stop_nodes_first

# ---- run B: the cap, and the withdrawal ------------------------------------
B=$(ft coordinator run create --db "$WORK/coord.db" --name heart --features 10 --rounds 1 \
	--epsilon 1 --min-sites 3)
ft coordinator run start "$B" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in 1 3; do start_node "$i"; done
export FEDTWIN_TEST_CRASH_AFTER_CHARGE=1
for k in 1 2; do
	start_node 2
	wait_for 60 sh -c "[ \$(grep -c 'dying after the privacy charge' '$WORK/site-2.log') -ge $k ]" ||
		fail "node 2 did not reach charge $k"
	wait "$NODE_PID_2" || true
	if [ "$k" = 1 ]; then
		wait_for 30 test -f "$WORK/site-1/state/update-run-$B-round-1.bin" ||
			fail "site 1 did not save its round-1 update"
		p=$(sqlite3 "$WORK/site-1/store.db" "SELECT patient_key FROM patients WHERE consent=1 LIMIT 1")
		ft node consent revoke "$p" --store "$WORK/site-1/store.db" --actor dpo >/dev/null ||
			fail "cannot revoke consent at site 1"
	fi
done
start_node 2
wait_for 60 grep -q "refusing run $B round 1 .*trains at most 2 times per round" \
	"$WORK/site-2.log" || fail "node 2 was not stopped by its cap of 2 trainings per round"
[ "$(grep -c 'dying after the privacy charge' "$WORK/site-2.log")" = 2 ] ||
	fail "node 2 trained a third time"
[ "$(charges 2 "$B")" = 2 ] || fail "site 2 was charged $(charges 2 "$B") times, expected 2"
wait_for 20 grep -q "site 2 refused (privacy policy): this site trains at most 2 times per round" \
	"$WORK/coordinator.log" || fail "the coordinator was not told the fixed reason"
unset FEDTWIN_TEST_CRASH_AFTER_CHARGE

wait_for 30 grep -q "round 1: the saved update predates a consent withdrawal" \
	"$WORK/site-1.log" || fail "site 1 did not discard its update after the withdrawal"
wait_for 30 sh -c "[ \$(sqlite3 '$WORK/site-1/store.db' \
	\"SELECT COUNT(*) FROM privacy_ledger WHERE run_id='run-$B'\") = 2 ]" ||
	fail "site 1 did not train again after the withdrawal ($(charges 1 "$B") charges)"
# Site 3 saw no withdrawal: its saved update was re-sent at no cost.
[ "$(charges 3 "$B")" = 1 ] || fail "site 3 was charged $(charges 3 "$B") times, expected once"
stop_nodes_first
finish net_guard
