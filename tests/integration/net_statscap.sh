#!/bin/sh
# The statistics release's patient cap is public and fixed: a coordinator
# (here with the test-only FEDTWIN_TEST_STATS_CAP) that announces round 0
# with a cap of its own choosing, as one searching for a site's patient
# count by its refusals would, is refused by every site before any data is
# loaded or any privacy is charged, whatever the site's count.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-statscap.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
net_setup 3

RUN=$(ft coordinator run create --db "$WORK/coord.db" --name heart --features 10 --rounds 1 \
	--epsilon 1 --feature-ranges "$FT_DATA_DIR/heart_disease_uci/feature_ranges.txt" \
	--stats-epsilon 1)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
FEDTWIN_TEST_STATS_CAP=150 start_coordinator
for i in 1 2 3; do start_node "$i"; done
for i in 1 2 3; do
	wait_for 30 grep -q "site $i refused" "$WORK/coordinator.log" ||
		fail "site $i did not refuse the release with a chosen cap"
	n=$(sqlite3 "$WORK/site-$i/store.db" "SELECT COUNT(*) FROM privacy_ledger")
	[ "$n" = 0 ] || fail "site $i was charged $n times"
	grep -q "caps each site at 100000 patients, not 150" "$WORK/site-$i.log" ||
		fail "site $i did not log why"
done
# Sites with fewer and with more patients than 150 refuse alike.
[ "$(sqlite3 "$WORK/coord.db" "SELECT COUNT(*) FROM models WHERE run_id=$RUN AND version>0")" = 0 ] ||
	fail "a model was published"
finish net_statscap
