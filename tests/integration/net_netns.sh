#!/bin/sh
# System test in network namespaces: the coordinator in one namespace, three
# nodes in three others, joined only by veth pairs whose addresses exist
# nowhere else (10.213.<i>.0/30, inside namespaces this test creates and
# deletes). Each node dials its own link's coordinator address; the
# coordinator certificate names the DNS name the nodes check. A short run
# must complete with every site holding the final model. Skipped (exit 77)
# when not root or without a usable `ip netns`.
. "$(dirname "$0")/net_lib.sh"
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null 2>&1; then
	echo "net_netns: skipped: needs root and iproute2 (ip netns)"
	exit 77
fi
tag="ft$$"
WORK=$(mktemp -d /tmp/ft-net-netns.XXXXXX)
# `ip netns add` makes /run/netns a mount point the first time; leave the
# host as it was (a chroot's cleanup cannot remove a mounted directory).
had_mount=0
mountpoint -q /run/netns 2>/dev/null && had_mount=1
cleanup() {
	stop_all
	for ns in "$tag-c" "$tag-1" "$tag-2" "$tag-3"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	if [ "$had_mount" = 0 ] && mountpoint -q /run/netns 2>/dev/null &&
		[ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
		umount /run/netns 2>/dev/null || true
	fi
	[ -n "${FT_KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
if ! ip netns add "$tag-c" 2>/dev/null; then
	echo "net_netns: skipped: cannot create network namespaces here"
	exit 77
fi
# Some roots (a chroot, a container) can create a namespace but not enter
# it: `ip netns exec` needs to remount / and /sys.
if ! ip netns exec "$tag-c" true 2>/dev/null; then
	echo "net_netns: skipped: cannot enter network namespaces here (ip netns exec failed)"
	exit 77
fi
ip -n "$tag-c" link set lo up
for i in 1 2 3; do
	ip netns add "$tag-$i"
	ip -n "$tag-$i" link set lo up
	ip link add "${tag}c$i" type veth peer name "${tag}n$i" ||
		{ echo "net_netns: skipped: cannot create veth pairs"; exit 77; }
	ip link set "${tag}c$i" netns "$tag-c"
	ip link set "${tag}n$i" netns "$tag-$i"
	ip -n "$tag-c" addr add "10.213.$i.1/30" dev "${tag}c$i"
	ip -n "$tag-$i" addr add "10.213.$i.2/30" dev "${tag}n$i"
	ip -n "$tag-c" link set "${tag}c$i" up
	ip -n "$tag-$i" link set "${tag}n$i" up
	eval "NETNS_NODE_$i=$tag-$i"
done
NETNS_COORD="$tag-c"
# The coordinator's addresses are not reachable from the host namespace.
if ping -c 1 -W 1 10.213.1.1 >/dev/null 2>&1; then
	fail "10.213.1.1 answers from the host namespace: the set-up leaks"
fi

PORT=7443
LISTEN="tls+tcp://0.0.0.0:$PORT"
URL="tls+tcp://10.213.1.1:$PORT"
COORD_NAMES="coordinator.fedtwin.test"
SERVER_NAME="coordinator.fedtwin.test"
net_setup 3
for i in 2 3; do
	sed -i "s#^coordinator = .*#coordinator = tls+tcp://10.213.$i.1:$PORT#" "$WORK/site-$i/node.ini"
done

RUN=$(ft coordinator run create --db "$WORK/coord.db" --name heart --features 10 --rounds 2 \
	--epsilon 1)
ft coordinator run start "$RUN" --db "$WORK/coord.db" >/dev/null
start_coordinator
for i in 1 2 3; do start_node "$i"; done
wait_for 60 run_is "$RUN" complete || fail "the run did not complete across namespaces"
final=$(model_hash "$RUN" 2)
for i in 1 2 3; do
	wait_for 15 test -f "$WORK/site-$i/models/run-$RUN-v2.ftm" || fail "site $i lacks the final model"
	[ "$(file_hash "$WORK/site-$i/models/run-$RUN-v2.ftm")" = "$final" ] ||
		fail "site $i's final model differs from the coordinator's"
done
n=$(sqlite3 "$WORK/coord.db" "SELECT survivors FROM rounds WHERE run_id=$RUN AND round=2 AND status='done'")
[ "$n" = "1,2,3" ] || fail "round 2 aggregated over '$n', expected 1,2,3"
run_status "$RUN"
finish net_netns
