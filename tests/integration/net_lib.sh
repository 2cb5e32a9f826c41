# net_lib.sh - shared set-up for the network integration tests: a consortium
# (CA, keys, manifest), a coordinator config and database, and N sites, each
# with its own store imported from its FLamby heart-disease split. Sourced by
# the test scripts; needs FEDTWIN (the binary), FT_SOURCE_DIR and WORK.
set -eu

ft() { "$FEDTWIN" "$@"; }

# A free TCP port on loopback (bind to port 0 and read what was given).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# net_setup NSITES [MAX_EPS_RUN_FOR_SITE_1]
# With SEALED_SECRETS=1 the coordinator and site 1 run as a hospital would
# deploy them: identity keys sealed and TLS keys encrypted, both opened with
# passphrase files named in their configs (FEDTWIN_PASSPHRASE unset).
net_setup() {
	nsites=$1
	eps1=${2:-100}
	mkdir -p "$WORK/pki" "$WORK/keys"
	"$FT_SOURCE_DIR/deploy/pki" ca "$WORK/pki" >/dev/null
	COORD_SECRETS=""
	SITE1_SECRETS=""
	SEAL_COORD="--no-passphrase"
	SEAL_SITE1="--no-passphrase"
	if [ "${SEALED_SECRETS:-0}" = 1 ]; then
		unset FEDTWIN_PASSPHRASE
		(umask 077 && echo "coordinator identity $$" >"$WORK/keys/coordinator.pass" &&
			echo "coordinator tls $$" >"$WORK/pki/coordinator.pass" &&
			echo "site 1 identity $$" >"$WORK/keys/site-1.pass" &&
			echo "site 1 tls $$" >"$WORK/pki/site-1.pass")
		SEAL_COORD="--passphrase-file $WORK/keys/coordinator.pass"
		SEAL_SITE1="--passphrase-file $WORK/keys/site-1.pass"
		COORD_SECRETS="$WORK/keys/coordinator.pass $WORK/pki/coordinator.pass"
		SITE1_SECRETS="$WORK/keys/site-1.pass $WORK/pki/site-1.pass"
	fi
	# shellcheck disable=SC2086
	FT_PKI_KEY_PASSFILE=${COORD_SECRETS:+$WORK/pki/coordinator.pass} \
		"$FT_SOURCE_DIR/deploy/pki" coordinator "$WORK/pki" ${COORD_NAMES:-} >/dev/null
	ft keygen --out "$WORK/keys/consortium.key" --no-passphrase >/dev/null
	# shellcheck disable=SC2086
	ft keygen --out "$WORK/keys/coordinator.key" $SEAL_COORD >/dev/null
	csv="$FT_DATA_DIR/heart_disease_uci/heart_disease_flamby_split.csv"
	for i in $(seq 1 "$nsites"); do
		if [ "$i" -eq 1 ]; then
			FT_PKI_KEY_PASSFILE=${SITE1_SECRETS:+$WORK/pki/site-1.pass} \
				"$FT_SOURCE_DIR/deploy/pki" site "$WORK/pki" "$i" >/dev/null
			# shellcheck disable=SC2086
			ft keygen --out "$WORK/keys/site-$i.key" $SEAL_SITE1 >/dev/null
		else
			"$FT_SOURCE_DIR/deploy/pki" site "$WORK/pki" "$i" >/dev/null
			ft keygen --out "$WORK/keys/site-$i.key" --no-passphrase >/dev/null
		fi
		mkdir -p "$WORK/site-$i"
		# FLamby site i-1, training split; the site and split columns and
		# the raw 'num' label are not features. FLamby has four sites:
		# more (benchmarks) reuse them in turn.
		awk -F, -v s=$(((i - 1) % 4)) 'NR==1 || ($1==s && $2=="train")' "$csv" |
			cut -d, -f3-12,14 >"$WORK/site-$i/heart.csv"
		ft node import --store "$WORK/site-$i/store.db" --csv "$WORK/site-$i/heart.csv" \
			--target disease --dataset heart >/dev/null
		eps=100
		[ "$i" -eq 1 ] && eps=$eps1
		ft node policy set --store "$WORK/site-$i/store.db" --max-epsilon-run "$eps" \
			--max-epsilon-total 1000 --delta 1e-5 >/dev/null
	done
	ft consortium init --name test-consortium --key "$WORK/keys/consortium.key" \
		--coordinator-key "$WORK/keys/coordinator.key.pub" \
		--endpoint "tls+tcp://coordinator.test:7443" --out "$WORK/manifest" >/dev/null
	for i in $(seq 1 "$nsites"); do
		ft consortium add-site --manifest "$WORK/manifest" --key "$WORK/keys/consortium.key" \
			--id "$i" --name "hospital-$i" --site-key "$WORK/keys/site-$i.key.pub" >/dev/null
	done
	PORT=${PORT:-$(free_port)}
	URL=${URL:-tls+tcp://127.0.0.1:$PORT}
	LISTEN=${LISTEN:-$URL}
	cat >"$WORK/coordinator.ini" <<INI
[coordinator]
listen = $LISTEN
database = $WORK/coord.db
identity_key = $WORK/keys/coordinator.key
${COORD_SECRETS:+passphrase_file = $WORK/keys/coordinator.pass}
manifest = $WORK/manifest
consortium_pk = $WORK/keys/consortium.key.pub
audit_log = $WORK/coordinator.audit
[tls]
ca = $WORK/pki/ca.crt
cert = $WORK/pki/coordinator.crt
key = $WORK/pki/coordinator.key
${COORD_SECRETS:+key_passphrase_file = $WORK/pki/coordinator.pass}
[deadlines]
accept_ms = ${ACCEPT_MS:-8000}
phase_ms = ${PHASE_MS:-4000}
upload_ms = ${UPLOAD_MS:-6000}
retry_ms = 500
gather_ms = ${GATHER_MS:-4000}
round_gap_ms = ${ROUND_GAP_MS:-1}
poll_ms = 300
INI
	for i in $(seq 1 "$nsites"); do
		node_ini "$i" "$WORK/pki/site-$i.crt" "$WORK/pki/site-$i.key" \
			"$WORK/keys/site-$i.key" >"$WORK/site-$i/node.ini"
	done
}

# node_ini ID CERT KEY IDENTITY_KEY
node_ini() {
	secrets=""
	[ "$1" = 1 ] && secrets=${SITE1_SECRETS:-}
	cat <<INI
[node]
site_id = $1
coordinator = $URL
store = $WORK/site-$1/store.db
dataset = heart
identity_key = $4
${secrets:+passphrase_file = $WORK/keys/site-1.pass}
manifest = $WORK/manifest
consortium_pk = $WORK/keys/consortium.key.pub
models_dir = $WORK/site-$1/models
state_dir = $WORK/site-$1/state
audit_log = $WORK/site-$1/audit.log
call_timeout_ms = ${CALL_TIMEOUT_MS:-20000}
min_sites = $(eval echo "\${NODE_MIN_SITES_$1:-3}")
allow_plain_sum = $(eval echo "\${NODE_ALLOW_PLAIN_$1:-no}")
assume_corrupt_fraction = $(eval echo "\${NODE_ASSUME_CORRUPT_$1:-0.2}")
[tls]
ca = $WORK/pki/ca.crt
cert = $2
key = $3
${secrets:+key_passphrase_file = $WORK/pki/site-1.pass}
server_name = ${SERVER_NAME:-localhost}
INI
}

PIDS=""
# Set NETNS_COORD / NETNS_NODE_<i> to run a daemon inside a network
# namespace (ip netns exec replaces itself with the daemon, so $! stays its
# pid).
start_coordinator() {
	# The binary itself, not the ft() function: $! must be the daemon's
	# pid for kill -9 / -STOP to reach it.
	if [ -n "${NETNS_COORD:-}" ]; then
		ip netns exec "$NETNS_COORD" "$FEDTWIN" coordinator serve \
			--config "$WORK/coordinator.ini" >>"$WORK/coordinator.log" 2>&1 &
	else
		"$FEDTWIN" coordinator serve --config "$WORK/coordinator.ini" \
			>>"$WORK/coordinator.log" 2>&1 &
	fi
	COORD_PID=$!
	PIDS="$PIDS $COORD_PID"
}

start_node() { # start_node ID [CONFIG]
	cfg=${2:-$WORK/site-$1/node.ini}
	ns=$(eval "echo \${NETNS_NODE_$1:-}")
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$FEDTWIN" node run --config "$cfg" >>"$WORK/site-$1.log" 2>&1 &
	else
		"$FEDTWIN" node run --config "$cfg" >>"$WORK/site-$1.log" 2>&1 &
	fi
	eval "NODE_PID_$1=$!"
	PIDS="$PIDS $!"
}

stop_all() {
	# Nodes first, while the coordinator can still answer their BYE (a
	# node stopping with its BYE unanswered leaves nng's copy of that
	# request unfreed at exit, which LeakSanitizer reports), then the
	# coordinator.
	for p in $PIDS; do
		[ "$p" = "${COORD_PID:-}" ] || kill "$p" 2>/dev/null || true
	done
	# A node blocked in a long poll leaves at its next answer; do not wait
	# for a wedged one.
	sleep 1
	[ -n "${COORD_PID:-}" ] && kill "$COORD_PID" 2>/dev/null || true
	sleep 0.3
	for p in $PIDS; do
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	PIDS=""
}

# wait_for SECONDS COMMAND...: polls every 0.2 s.
wait_for() {
	limit=$1
	shift
	end=$(($(date +%s) + limit))
	while [ "$(date +%s)" -lt "$end" ]; do
		if "$@"; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

run_status() {
	ft coordinator run status "$1" --db "$WORK/coord.db"
}

run_is() { # run_is ID STATUS
	sqlite3 "$WORK/coord.db" "SELECT status FROM runs WHERE id=$1" 2>/dev/null | grep -qx "$2"
}

model_hash() { # model_hash RUN VERSION (from the coordinator's database)
	sqlite3 "$WORK/coord.db" "SELECT hash FROM models WHERE run_id=$1 AND version=$2"
}

file_hash() { # BLAKE2b-256 of a file, as the coordinator computes it
	python3 -c 'import hashlib,sys; print(hashlib.blake2b(open(sys.argv[1],"rb").read(), digest_size=32).hexdigest())' "$1"
}

fail() {
	echo "FAIL: $*" >&2
	for f in "$WORK"/*.log; do
		echo "---- $f" >&2
		tail -n 40 "$f" >&2
	done
	exit 1
}

# Stops every daemon and fails if any of them reported a sanitizer error
# (the ASan build runs the same scripts), then prints the closing line.
finish() {
	stop_all
	if grep -l -E "ERROR: (Address|Leak|Thread)Sanitizer|runtime error:" "$WORK"/*.log \
		>/dev/null 2>&1; then
		fail "a daemon reported a sanitizer error"
	fi
	echo "$1: 1 passed, 0 failed"
}
