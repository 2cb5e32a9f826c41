#!/bin/sh
# net_secagg_overhead.sh - round latency and peak memory of the real daemons
# with a large model: a coordinator and N node processes over mutual TLS on
# loopback (the integration tests' set-up), an MLP F -> W1 -> W2 -> 1 on the
# FLamby heart-disease split (10 -> 1000 -> 1000 -> 1 is 1 013 001
# parameters), one local epoch, R rounds with secure aggregation. Prints the
# mean and maximum time from an attempt's start to its model being committed
# (coordinator database) and the peak RSS (VmHWM, polled from
# /proc/PID/status) of the coordinator and of node 1.
#
#   FEDTWIN=build/cli/fedtwin FT_SOURCE_DIR=. FT_DATA_DIR=data \
#       sh bench/net_secagg_overhead.sh [SITES] [ROUNDS] [HIDDEN]   (defaults 10 3 1000,1000)
set -eu
. "$FT_SOURCE_DIR/tests/integration/net_lib.sh"
N=${1:-10}
R=${2:-3}
H=${3:-1000,1000}
WORK=$(mktemp -d /tmp/ft-net-bench.XXXXXX)
trap 'stop_all; rm -rf "$WORK"' EXIT
# Large updates: give every phase room on a loaded machine.
PHASE_MS=${PHASE_MS:-120000}
UPLOAD_MS=${UPLOAD_MS:-300000}
ACCEPT_MS=${ACCEPT_MS:-120000}
GATHER_MS=${GATHER_MS:-120000}
CALL_TIMEOUT_MS=${CALL_TIMEOUT_MS:-120000}
net_setup "$N"
RUN=$(ft coordinator run create --db "$WORK/coord.db" --name bench --features 10 --rounds "$R" \
	--model mlp --hidden "$H" --epochs 1 --batch 64 --epsilon 10)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in $(seq 1 "$N"); do start_node "$i"; done

hwm() { # peak RSS of a live process, kB
	awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0
}
coord_kb=0
node_kb=0
poll() {
	c=$(hwm "$COORD_PID")
	n=$(hwm "$NODE_PID_1")
	[ "${c:-0}" -gt "$coord_kb" ] && coord_kb=$c
	[ "${n:-0}" -gt "$node_kb" ] && node_kb=$n
	run_is "$RUN" complete
}
START=$(date +%s)
wait_for 3600 poll || fail "the run did not complete"
END=$(date +%s)
sqlite3 "$WORK/coord.db" "SELECT printf('%d sites, hidden %s, %d rounds with secure aggregation: mean %.0f ms, max %d ms per round (attempt start to committed model)', $N, '$H', COUNT(*), AVG(ended_ms - started_ms), MAX(ended_ms - started_ms)) FROM rounds WHERE run_id=$RUN AND round>0 AND status='done'"
d=$(sqlite3 "$WORK/coord.db" "SELECT spec FROM runs WHERE id=$RUN")
echo "model: $d; whole run $((END - START)) s (incl. round 0 statistics)"
echo "peak RSS (VmHWM): coordinator $((coord_kb / 1024)) MiB, node 1 $((node_kb / 1024)) MiB"
