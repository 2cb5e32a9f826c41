#!/bin/sh
# A site sets its own floor on how many sites a round must have
# (`min_sites`): site 3 asks for 4, the run has 3, so site 3 refuses every
# round with that reason, which the coordinator logs; it never trains and is
# never charged.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-min-sites.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
NODE_MIN_SITES_3=4
net_setup 3

RUN=$(ft coordinator run create --db "$WORK/coord.db" --name heart --features 10 --rounds 1 \
	--epsilon 1)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in 1 2 3; do start_node "$i"; done
wait_for 60 grep -q "site 3 refused.*policy needs at least 4" "$WORK/coordinator.log" ||
	fail "the coordinator did not log site 3's refusal with its reason"
n=$(sqlite3 "$WORK/site-3/store.db" "SELECT COUNT(*) FROM privacy_ledger")
[ "$n" = 0 ] || fail "site 3 was charged $n times, expected never"
finish net_min_sites
