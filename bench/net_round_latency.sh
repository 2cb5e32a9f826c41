#!/bin/sh
# net_round_latency.sh - wall time of real rounds: a coordinator and N node
# processes over mutual TLS on loopback (the integration tests' set-up),
# logistic regression on the FLamby heart-disease split, R rounds; prints the
# mean and maximum time from an attempt's start to its model being committed,
# from the coordinator's database (includes local DP training, secure
# aggregation, every fsync and audit-log commit).
#
#   FEDTWIN=build/cli/fedtwin FT_SOURCE_DIR=. FT_DATA_DIR=data \
#       sh bench/net_round_latency.sh [SITES] [ROUNDS]      (defaults 3 10)
set -eu
. "$FT_SOURCE_DIR/tests/integration/net_lib.sh"
N=${1:-3}
R=${2:-10}
WORK=$(mktemp -d /tmp/ft-net-bench.XXXXXX)
trap 'stop_all; rm -rf "$WORK"' EXIT
net_setup "$N"
RUN=$(ft coordinator run create --db "$WORK/coord.db" --name bench --features 10 --rounds "$R" \
	--epsilon 1)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in $(seq 1 "$N"); do start_node "$i"; done
wait_for 600 run_is "$RUN" complete || fail "the run did not complete"
sqlite3 "$WORK/coord.db" "SELECT printf('%d sites, %d rounds: mean %.0f ms, max %d ms per round (attempt start to committed model)', $N, COUNT(*), AVG(ended_ms - started_ms), MAX(ended_ms - started_ms)) FROM rounds WHERE run_id=$RUN AND round>0 AND status='done'"
