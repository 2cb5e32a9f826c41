#!/bin/sh
# A member site that floods the coordinator with valid, signed frames no
# round uses (test-only FEDTWIN_TEST_FLOOD_FRAMES=50: fifty ERROR notices in
# every request of node 1) must not make the coordinator write one durable
# audit entry per frame: at most its budget of unused frames per window
# (unused_frames_budget = 32 per unused_frames_window_ms = 10 s, the
# defaults) is recorded, then such frames are dropped with one msg.dropped
# entry per window. The run still completes with all three sites, and the
# logs still verify, anchors included.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-flood.XXXXXX)
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
net_setup 3

RUN=$(ft coordinator run create --db "$WORK/coord.db" --name heart --features 10 --rounds 3 \
	--epsilon 1 --min-sites 3)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
t0=$(date +%s)
start_coordinator
FEDTWIN_TEST_FLOOD_FRAMES=50 start_node 1
for i in 2 3; do start_node "$i"; done
wait_for 120 run_is "$RUN" complete || fail "the run did not complete under the flood"
t1=$(date +%s)
stop_nodes_first
surv=$(sqlite3 "$WORK/coord.db" "SELECT survivors FROM rounds WHERE run_id=$RUN AND round=3 AND status='done'")
[ "$surv" = "1,2,3" ] || fail "round 3 was aggregated over '$surv', expected 1,2,3"
grep -q "site 1: more than 32 unused frames in 10000 ms" "$WORK/coordinator.log" ||
	fail "the coordinator did not notice the flood"

ft audit verify "$WORK/coordinator.audit" --key "$WORK/keys/coordinator.key.pub" >/dev/null ||
	fail "the coordinator's audit log does not verify"
for i in 1 2 3; do
	ft audit verify "$WORK/site-$i/audit.log" --against "$WORK/coordinator.audit" >/dev/null ||
		fail "site $i's log does not verify against the coordinator's"
done
ft audit export "$WORK/coordinator.audit" --jsonl >"$WORK/coordinator.jsonl" ||
	fail "cannot export the coordinator's log"
python3 - "$WORK/coordinator.jsonl" "$((t1 - t0))" <<'PY' || fail "the flood's audit cost is not bounded"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
secs = int(sys.argv[2])
pl = lambda e: e.get("payload", e)
windows = secs // 10 + 2
errors = {i: sum(1 for e in ev if e["type"] == "msg.received" and pl(e)["peer"] == "site:%d" % i
                 and pl(e)["msg_type"] == "ERROR") for i in (1, 2, 3)}
notes = [pl(e) for e in ev if e["type"] == "msg.dropped"]
print("%d s: ERROR entries per site %s, msg.dropped entries %d, frames they report dropped %d"
      % (secs, errors, len(notes), sum(n["dropped"] for n in notes)))
assert errors[2] == 0 and errors[3] == 0, errors
assert 0 < errors[1] <= 32 * windows, (errors, windows)
assert 1 <= len(notes) <= windows, (len(notes), windows)
assert all(n["peer"] == "site:1" and n["budget"] == 32 and n["window_ms"] == 10000 for n in notes)
# fifty frames per request: far more were dropped than recorded
assert sum(n["dropped"] for n in notes) > errors[1], notes
PY
finish net_flood
