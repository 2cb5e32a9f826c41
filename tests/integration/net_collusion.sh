#!/bin/sh
# A site judges the secure-aggregation threshold a coordinator proposes
# against its own assumption about colluding sites: with four sites the
# coordinator tolerates one drop-out (t = 2 of k = 3), which is safe if at
# most a fifth of the sites collude (the default) but not for site 4, which
# assumes up to 40% may (one site besides the coordinator could then hold
# both kinds of its shares). Site 4 refuses before anything is charged, with
# the threshold it needs; the round completes with the other three.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-collusion.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
NODE_ASSUME_CORRUPT_4=0.4
net_setup 4

RUN=$(ft coordinator run create --db "$WORK/coord.db" --name heart --features 10 --rounds 1 \
	--epsilon 1)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in 1 2 3 4; do start_node "$i"; done
wait_for 60 run_is "$RUN" complete || fail "the run did not complete with the other sites"
grep -q "site 4 refused.*threshold of 2 of 3 neighbours among 4 sites is too low.*needs at least 3" \
	"$WORK/coordinator.log" || fail "the coordinator did not log site 4's refusal with its reason"
for i in 1 2 3; do
	grep -q "site $i refused" "$WORK/coordinator.log" && fail "site $i (default assumption) refused"
done
n=$(sqlite3 "$WORK/site-4/store.db" "SELECT COUNT(*) FROM privacy_ledger")
[ "$n" = 0 ] || fail "site 4 was charged $n times, expected never"
survivors=$(sqlite3 "$WORK/coord.db" "SELECT survivors FROM rounds WHERE run_id=$RUN AND round=1 AND status='done'")
[ "$survivors" = "1,2,3" ] || fail "round 1's survivors are '$survivors', expected 1,2,3"
finish net_collusion
