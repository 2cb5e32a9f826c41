#!/bin/sh
# A multilayer perceptron end to end: `coordinator run create --model mlp
# --hidden 16,8 --activation tanh` stores the architecture, the coordinator
# announces it, and three hospital nodes train it for 2 rounds over mutual
# TLS; every site must end with the coordinator's final model, byte for byte.
# Inconsistent model options are refused at creation.
. "$(dirname "$0")/net_lib.sh"
WORK=$(mktemp -d /tmp/ft-net-mlp.XXXXXX)
trap 'stop_all; [ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
net_setup 3

for bad in "--model mlp" "--hidden 8" "--model logreg --activation relu" \
	"--model mlp --hidden 8,0" "--model mlp --hidden 8 --activation sigmoid"; do
	# shellcheck disable=SC2086
	if ft coordinator run create --db "$WORK/coord.db" --name bad --features 10 $bad \
		>/dev/null 2>&1; then
		fail "run create accepted: $bad"
	fi
done
RUN=$(ft coordinator run create --db "$WORK/coord.db" --name mlp --features 10 --rounds 2 \
	--model mlp --hidden 16,8 --activation tanh --epsilon 5 --lr 0.2)
run_status "$RUN" | grep -q "mlp features=10 classes=2 hidden=16,8 activation=tanh" ||
	fail "the run does not describe its architecture: $(run_status "$RUN")"
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in 1 2 3; do start_node "$i"; done
wait_for 90 run_is "$RUN" complete || fail "the run did not complete"
final=$(model_hash "$RUN" 2)
[ -n "$final" ] || fail "no model version 2 in the coordinator's database"
for i in 1 2 3; do
	wait_for 10 test -f "$WORK/site-$i/models/run-$RUN-v2.ftm" ||
		fail "site $i has no final model"
	got=$(file_hash "$WORK/site-$i/models/run-$RUN-v2.ftm")
	[ "$got" = "$final" ] || fail "site $i: final model hash $got, coordinator's $final"
done
# The final model is a working classifier on a site's own data.
ft model eval --model "$WORK/site-1/models/run-$RUN-v2.ftm" --csv "$WORK/site-1/heart.csv" \
	--target disease | grep -q "accuracy" || fail "the final MLP does not evaluate"
finish net_mlp
