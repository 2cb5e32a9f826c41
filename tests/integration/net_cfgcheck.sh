#!/bin/sh
# A site checks the secure-aggregation CONFIG, not only the announcement:
# the coordinator announces round 1 to three sites, site 1 refuses it (its
# budget is below the run's epsilon), and the coordinator, as it may, starts
# secure aggregation with the two that accepted. Sites 2 and 3 keep the
# default floor of three sites, so each refuses that CONFIG before sending
# anything of the round (no round keys, no masked upload), the coordinator
# logs why, each site's audit log records the refusal, and no round is
# aggregated over two sites.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-cfgcheck.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
net_setup 3 1.2

RUN=$(ft coordinator run create --db "$WORK/coord.db" --name heart --features 10 --rounds 1 \
	--epsilon 1.5)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in 1 2 3; do start_node "$i"; done
refused() {
	grep -q "site 2 refused (privacy policy): the secure-aggregation configuration" \
		"$WORK/coordinator.log" &&
		grep -q "site 3 refused (privacy policy): the secure-aggregation configuration" \
			"$WORK/coordinator.log"
}
wait_for 60 refused || fail "the coordinator did not log sites 2 and 3 refusing the CONFIG"
stop_all
for i in 2 3; do
	grep -q "refusing run .*(here: the configuration has 2 sites; this site needs at least 3)" \
		"$WORK/site-$i.log" || fail "site $i did not log the detailed reason"
	ft audit export "$WORK/site-$i/audit.log" --jsonl >"$WORK/site-$i.jsonl" ||
		fail "site $i: export failed"
done
n=$(sqlite3 "$WORK/coord.db" "SELECT COUNT(*) FROM rounds WHERE run_id=$RUN AND status='done'")
[ "$n" = 0 ] || fail "$n rounds were aggregated"
python3 - "$WORK" <<'PY' || fail "a site's audit log does not show the refusal, or shows secure-aggregation messages sent"
import json, sys
w = sys.argv[1]
for i in (2, 3):
    log = [json.loads(l) for l in open("%s/site-%d.jsonl" % (w, i))]
    pl = lambda e: e.get("payload", e)
    refusals = [e for e in log if e["type"] == "policy.refuse"
                and "secure-aggregation configuration" in json.dumps(pl(e))]
    assert refusals, (i, "no refusal entry")
    sent = [e for e in log if e["type"] == "msg.sent" and pl(e).get("msg_type") == "SECAGG"]
    assert not sent, (i, len(sent), "secure-aggregation messages left the site")
    got = [e for e in log if e["type"] == "msg.received" and pl(e).get("msg_type") == "SECAGG"]
    assert got, (i, "no CONFIG was received")
PY
finish net_cfgcheck
