#!/bin/sh
# A coordinator and three hospital nodes, as separate processes over mutual
# TLS on loopback, train logistic regression on the FLamby heart-disease split
# for 3 rounds after one DP statistics release for standardisation; every
# site must end with the final model, byte for byte the coordinator's, each
# site's ledger must hold the release's charge and one per round, and the
# run must be complete. A fourth "site" whose certificate comes from another
# CA, and a fifth whose identity key is not the manifest's, are refused.
# The coordinator and site 1 open a sealed identity key and an encrypted TLS
# key with passphrase files, as a production deployment would.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-run.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
SEALED_SECRETS=1 net_setup 3
grep -q ENCRYPTED "$WORK/pki/site-1.key" || fail "site 1's TLS key is not encrypted"

RUN=$(ft coordinator run create --db "$WORK/coord.db" --name heart --features 10 --rounds 3 \
	--epsilon 1 --lr 0.5 --feature-ranges "$FT_DATA_DIR/heart_disease_uci/feature_ranges.txt" \
	--stats-epsilon 0.5)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in 1 2 3; do start_node "$i"; done

# Intruder A: a certificate from another CA (the TLS handshake fails).
mkdir -p "$WORK/rogue" "$WORK/site-4" "$WORK/site-5"
"$FT_SOURCE_DIR/deploy/pki" ca "$WORK/rogue" >/dev/null
"$FT_SOURCE_DIR/deploy/pki" site "$WORK/rogue" 4 >/dev/null
cp "$WORK/site-1/store.db" "$WORK/site-4/store.db"
# It holds site 1's genuine identity key: only the certificate is wrong.
# It trusts both CAs, so its own start-up check passes and only the
# coordinator can turn it away.
cat "$WORK/pki/ca.crt" "$WORK/rogue/ca.crt" >"$WORK/rogue/both-ca.crt"
node_ini 1 "$WORK/rogue/site-4.crt" "$WORK/rogue/site-4.key" "$WORK/keys/site-1.key" |
	sed -e "s#site-1/#site-4/#g" -e "s#^call_timeout_ms = .*#call_timeout_ms = 3000#" \
	-e "s#^ca = .*#ca = $WORK/rogue/both-ca.crt#" >"$WORK/site-4/node.ini"
"$FEDTWIN" node run --config "$WORK/site-4/node.ini" >>"$WORK/site-4.log" 2>&1 &
PIDS="$PIDS $!"
# Intruder B: a consortium certificate but an identity key that is not the
# manifest's key for the site it claims to be (site 2).
ft keygen --out "$WORK/keys/impostor.key" --no-passphrase >/dev/null
cp "$WORK/site-2/store.db" "$WORK/site-5/store.db"
node_ini 2 "$WORK/pki/site-2.crt" "$WORK/pki/site-2.key" "$WORK/keys/impostor.key" |
	sed "s#site-2/#site-5/#g" >"$WORK/site-5/node.ini"
"$FEDTWIN" node run --config "$WORK/site-5/node.ini" >>"$WORK/site-5.log" 2>&1 &
PIDS="$PIDS $!"

wait_for 60 run_is "$RUN" complete || fail "the run did not complete"
final=$(model_hash "$RUN" 3)
[ -n "$final" ] || fail "no model version 3 in the coordinator's database"
for i in 1 2 3; do
	wait_for 10 test -f "$WORK/site-$i/models/run-$RUN-v3.ftm" ||
		fail "site $i has no final model"
	got=$(file_hash "$WORK/site-$i/models/run-$RUN-v3.ftm")
	[ "$got" = "$final" ] || fail "site $i: final model hash $got, coordinator's $final"
	n=$(sqlite3 "$WORK/site-$i/store.db" "SELECT COUNT(*) FROM privacy_ledger" 2>/dev/null || echo "?")
	[ "$n" -ge 1 ] 2>/dev/null || fail "site $i: no ledger entries ($n)"
	# The statistics release: charged once, as one Gaussian step (q = 1).
	n=$(sqlite3 "$WORK/site-$i/store.db" "SELECT COUNT(*) FROM privacy_ledger WHERE \
		run_id='run-$RUN' AND round=0 AND q=1.0 AND steps=1")
	[ "$n" = 1 ] || fail "site $i: $n charges for the statistics release, expected 1"
done
# Every round was done once, by at least two sites.
done_rounds=$(sqlite3 "$WORK/coord.db" \
	"SELECT COUNT(DISTINCT round) FROM rounds WHERE run_id=$RUN AND round>0 AND status='done'")
[ "$done_rounds" = 3 ] || fail "expected 3 done rounds, got $done_rounds"
wait_for 15 grep -q "no answer from the coordinator" "$WORK/site-4.log" ||
	fail "the other CA's node did not report the refusal"
[ "$(grep -c "site 1 connected" "$WORK/coordinator.log")" = 1 ] ||
	fail "the node with the other CA's certificate was let in"
[ -z "$(ls "$WORK/site-4/models" 2>/dev/null)" ] || fail "the other CA's node received a model"
grep -q "refused a message on pipe .*does not verify with the manifest key" "$WORK/coordinator.log" ||
	fail "the impostor's HELLO was not refused and logged"
grep -q "the coordinator refused us" "$WORK/site-5.log" ||
	fail "the impostor was not told it was refused"
[ -z "$(ls "$WORK/site-5/models" 2>/dev/null)" ] || fail "the impostor received a model"
# Both sides' audit logs verify, signed by the right keys, and their
# anchors agree both ways; each site logged its privacy spend before its
# first masked update left, and every model version it stored.
stop_all
ft audit verify "$WORK/coordinator.audit" --key "$WORK/keys/coordinator.key.pub" >/dev/null ||
	fail "the coordinator's audit log does not verify"
for i in 1 2 3; do
	ft audit verify "$WORK/site-$i/audit.log" --key "$WORK/keys/site-$i.key.pub" \
		--against "$WORK/coordinator.audit" >/dev/null ||
		fail "site $i's audit log does not verify against the coordinator's"
	ft audit export "$WORK/site-$i/audit.log" --jsonl >"$WORK/site-$i.jsonl"
	python3 - "$WORK/site-$i.jsonl" <<'PY' || fail "site $i: audit order or content wrong"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
types = [e.get("type") for e in ev]
def payload(e):
    return e.get("payload", e)
spends = [i for i, t in enumerate(types) if t == "privacy.spend"]
# The statistics release (round 0), then one spend per training round,
# each before the first secure-aggregation message of its round.
secagg_sent = [i for i, e in enumerate(ev) if e.get("type") == "msg.sent"
               and payload(e).get("msg_type") == "SECAGG"]
first = {}
for i in secagg_sent:
    first.setdefault(payload(ev[i]).get("round", 0), i)
assert len(spends) == 4, spends
assert sorted(first) == [0, 1, 2, 3], sorted(first)
for k, r in enumerate(sorted(first)):
    assert spends[k] < first[r], (k, spends, first)
assert payload(ev[spends[0]]).get("q") == 1, payload(ev[spends[0]])
# v0, v0 again with the moments, v1, v2, v3
assert sum(1 for t in types if t == "model.version") == 5
assert "anchor" in types
PY
done
ft audit verify "$WORK/coordinator.audit" --against "$WORK/site-1/audit.log" >/dev/null ||
	fail "the coordinator's anchors do not match site 1's log"
# Federated standardisation ran once before round 1 and its moments travel
# with every global model.
n=$(sqlite3 "$WORK/coord.db" "SELECT COUNT(*) FROM rounds WHERE run_id=$RUN AND round=0 AND status='done'")
[ "$n" = 1 ] || fail "expected 1 statistics release, got $n"
python3 - "$WORK/site-1/models/run-$RUN-v3.ftm" <<'PY' || fail "the final model lacks the federation's moments"
import sys
b = open(sys.argv[1], "rb").read()
assert b"standardise.mean" in b and b"standardise.var" in b
PY
run_status "$RUN"
finish net_run
