#!/bin/sh
# net_audit_cost.sh - durable audit appends on the coordinator per training
# round and site: a coordinator and N node processes over mutual TLS on
# loopback (the integration tests' set-up), R rounds of a model with
# HIDDEN widths (empty: logistic regression, d = 11; "4096" gives an MLP of
# 49,153 parameters, one upload chunk; "8192" 98,305 parameters, two
# chunks). Counts the coordinator's audit entries that name a site as peer
# (msg.sent, msg.received, msg.dropped, anchor), divided by rounds and sites,
# by type. Every entry is one synchronous SQLite commit.
# FLOOD=N: node 1 adds N useless signed frames to every request (the
# test-only FEDTWIN_TEST_FLOOD_FRAMES); FEDTWIN_COORD=BINARY runs the
# coordinator from another build (e.g. an older one, to compare).
#
#   FEDTWIN=build/cli/fedtwin FT_SOURCE_DIR=. FT_DATA_DIR=data \
#       sh bench/net_audit_cost.sh [SITES] [ROUNDS] [HIDDEN]   (defaults 3 3 "")
set -eu
. "$FT_SOURCE_DIR/tests/integration/net_lib.sh"
N=${1:-3}
R=${2:-3}
H=${3:-}
if [ -n "${FEDTWIN_COORD:-}" ]; then
	start_coordinator() {
		"$FEDTWIN_COORD" coordinator serve --config "$WORK/coordinator.ini" \
			>>"$WORK/coordinator.log" 2>&1 &
		COORD_PID=$!
		PIDS="$PIDS $COORD_PID"
	}
fi
WORK=$(mktemp -d /tmp/ft-net-bench.XXXXXX)
trap 'stop_all; rm -rf "$WORK"' EXIT
net_setup "$N"
if [ -n "$H" ]; then
	RUN=$(ft coordinator run create --db "$WORK/coord.db" --name bench --features 10 \
		--rounds "$R" --epsilon 1 --model mlp --hidden "$H")
else
	RUN=$(ft coordinator run create --db "$WORK/coord.db" --name bench --features 10 \
		--rounds "$R" --epsilon 1)
fi
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in $(seq 1 "$N"); do
	if [ "$i" = 1 ] && [ -n "${FLOOD:-}" ]; then
		FEDTWIN_TEST_FLOOD_FRAMES=$FLOOD start_node 1
	else
		start_node "$i"
	fi
done
t0=$(date +%s%N)
wait_for 600 run_is "$RUN" complete || fail "the run did not complete"
t1=$(date +%s%N)
stop_all
ft audit export "$WORK/coordinator.audit" --jsonl >"$WORK/coordinator.jsonl"
attempts=$(sqlite3 "$WORK/coord.db" "SELECT COUNT(*) FROM rounds WHERE run_id=$RUN")
python3 - "$WORK/coordinator.jsonl" "$N" "$R" "$attempts" "$(((t1 - t0) / 1000000))" <<'PY'
import collections, json, sys
path, n, r, attempts, ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
by = collections.Counter()
per_site = collections.Counter()
for line in open(path):
    e = json.loads(line)
    p = e.get("payload", e)
    if str(p.get("peer", "")).startswith("site:"):
        per_site[p["peer"]] += 1
        key = e["type"]
        if e["type"].startswith("msg.") and "msg_type" in p:
            key += " " + p["msg_type"]
        by[key] += 1
total = sum(by.values())
print("%d sites, %d rounds (%d attempts, standardisation passes included), run %d ms: "
      "%.1f coordinator audit entries per round per site" % (n, r, attempts, ms, total / r / n))
for k, v in sorted(by.items()):
    print("  %-28s %6.1f" % (k, v / r / n))
print("per site, per round: " + ", ".join("%s %.1f" % (k, v / r) for k, v in sorted(per_site.items())))
PY
