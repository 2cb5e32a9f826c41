#!/bin/sh
# net_secagg_overhead.sh - round latency and peak memory of the real daemons
# with a large model, with secure aggregation ON and OFF: a coordinator and N
# node processes over mutual TLS on loopback (the integration tests'
# set-up), an MLP F -> W1 -> W2 -> 1 on the FLamby heart-disease split
# (10 -> 1000 -> 1000 -> 1 is 1 013 001 parameters), one local epoch, R
# rounds. MODES is a comma-separated list run in that order, each with fresh
# daemons (so each peak RSS is its own): `secagg` (secure aggregation) and
# `plain` (`run create --no-secagg`, every site with allow_plain_sum = yes:
# the same DP training, the same fixed-point encoded update, summed in the
# clear). Round 0 (standardisation) uses secure aggregation in both modes and
# is not counted. Prints per mode the mean and maximum time from an
# attempt's start to its model being committed (coordinator database) and
# the peak RSS (VmHWM, polled from /proc/PID/status) of the coordinator and
# of node 1, the CPU time (user + system, /proc/PID/stat) of the
# coordinator and of all nodes, then the ratio of the means of the first two
# modes.
#
#   FEDTWIN=build/cli/fedtwin FT_SOURCE_DIR=. FT_DATA_DIR=data \
#       sh bench/net_secagg_overhead.sh [SITES] [ROUNDS] [HIDDEN] [MODES]
#   (defaults 10 3 1000,1000 secagg,plain; e.g. secagg,plain,secagg,plain
#   alternates the modes on a noisy machine; FT_KEEP_WORK=1 keeps each
#   mode's databases, audit logs and daemon logs under /tmp/ft-net-bench.*)
set -eu
. "$FT_SOURCE_DIR/tests/integration/net_lib.sh"
N=${1:-10}
R=${2:-3}
H=${3:-1000,1000}
MODES=${4:-secagg,plain}
BASE=$(mktemp -d /tmp/ft-net-bench.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$BASE"' EXIT
# Large updates: give every phase room on a loaded machine.
PHASE_MS=${PHASE_MS:-120000}
UPLOAD_MS=${UPLOAD_MS:-300000}
ACCEPT_MS=${ACCEPT_MS:-120000}
GATHER_MS=${GATHER_MS:-120000}
CALL_TIMEOUT_MS=${CALL_TIMEOUT_MS:-120000}
for i in $(seq 1 "$N"); do eval "NODE_ALLOW_PLAIN_$i=yes"; done

hwm() { # peak RSS of a live process, kB
	awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0
}
cpu() { # user + system CPU time of a live process, clock ticks
	awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}
poll() {
	c=$(hwm "$COORD_PID")
	n=$(hwm "$NODE_PID_1")
	[ "${c:-0}" -gt "$coord_kb" ] && coord_kb=$c
	[ "${n:-0}" -gt "$node_kb" ] && node_kb=$n
	c=$(cpu "$COORD_PID")
	[ "${c:-0}" -gt "$coord_cpu" ] && coord_cpu=$c
	nodes_cpu=0
	for i in $(seq 1 "$N"); do
		nodes_cpu=$((nodes_cpu + $(cpu "$(eval echo "\$NODE_PID_$i")")))
	done
	[ "$nodes_cpu" -gt "$all_nodes_cpu" ] && all_nodes_cpu=$nodes_cpu
	run_is "$RUN" complete
}
TCK=$(getconf CLK_TCK)

k=0
first=""
second=""
for mode in $(echo "$MODES" | tr ',' ' '); do
	case $mode in
	secagg) flag="" ;;
	plain) flag="--no-secagg" ;;
	*) echo "net_secagg_overhead.sh: mode is secagg or plain, not '$mode'" >&2; exit 2 ;;
	esac
	k=$((k + 1))
	WORK=$BASE/$k
	mkdir -p "$WORK"
	PORT=$(free_port)
	URL=tls+tcp://127.0.0.1:$PORT
	LISTEN=$URL
	net_setup "$N"
	# shellcheck disable=SC2086
	RUN=$(ft coordinator run create --db "$WORK/coord.db" --name bench --features 10 \
		--rounds "$R" --model mlp --hidden "$H" --epochs 1 --batch 64 --epsilon 10 $flag)
	ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
	start_coordinator
	for i in $(seq 1 "$N"); do start_node "$i"; done
	coord_kb=0
	node_kb=0
	coord_cpu=0
	all_nodes_cpu=0
	START=$(date +%s)
	wait_for 3600 poll || fail "the $mode run did not complete"
	END=$(date +%s)
	stop_all
	sqlite3 "$WORK/coord.db" "SELECT printf('%-6s %d sites, hidden %s, %d rounds: mean %.0f ms, max %d ms per round (attempt start to committed model)', '$mode', $N, '$H', COUNT(*), AVG(ended_ms - started_ms), MAX(ended_ms - started_ms)) FROM rounds WHERE run_id=$RUN AND round>0 AND status='done'"
	mean=$(sqlite3 "$WORK/coord.db" "SELECT AVG(ended_ms - started_ms) FROM rounds WHERE run_id=$RUN AND round>0 AND status='done'")
	[ -z "$first" ] && first=$mean || { [ -z "$second" ] && second=$mean; }
	d=$(sqlite3 "$WORK/coord.db" "SELECT spec FROM runs WHERE id=$RUN")
	echo "$mode   model: $d; whole run $((END - START)) s (incl. round 0 statistics)"
	echo "$mode   peak RSS (VmHWM): coordinator $((coord_kb / 1024)) MiB, node 1 $((node_kb / 1024)) MiB"
	echo "$mode   CPU time of the whole run (incl. round 0): coordinator $((coord_cpu * 1000 / TCK)) ms, all $N nodes $((all_nodes_cpu * 1000 / TCK)) ms"
done
if [ -n "$second" ]; then
	awk -v a="$first" -v b="$second" 'BEGIN { printf "ratio of mean round latency, first mode / second mode: %.2f\n", a / b }'
fi
