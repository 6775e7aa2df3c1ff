#!/usr/bin/env bash
# The floor of a tc forwarder: how close to the one-veth ceiling can any
# program on a pod's host-side veth get, measured side by side with the
# ceiling, the bridge and nsfast in one interleaved run.
#
#   bash bench/floor.sh [path/to/nsfast]      (make bench-floor does this)
#
# Paths: ceiling, bridge, nsfast-tc as in bench/run.sh, and two floors
# (bench/floor.bpf.c on tc ingress of pod A's host-side veth):
#   floor         MACs rewritten and bpf_redirect() to the uplink (pod ->
#                 world) or bpf_redirect_peer() into pod B: no routing,
#                 no NAT, no policy; not a datapath, a lower bound on the
#                 cost of one.
#   floor-insert  the same plus a lookup and, for a new 5-tuple, one
#                 insert into a 2.5M-entry LRU hash per packet: the least
#                 state a NAT makes for a new flow (nsfast makes two).
# Workloads: 64B UDP pod -> world and pod -> pod, one flow; pod -> world
# with every packet a new flow; CPU per packet for each. Replies (world
# -> pod) are routed back by the floor host's kernel, not by the floor.
#
# Environment: BENCH_REPS (default 5), BENCH_OUT, BENCH_DEADLINE (default
# 600 s). Same sandbox as bench/run.sh: private mounts, per-run names,
# everything removed on exit.
set -u

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
NSFAST_BIN=${1:-$REPO/build/nsfast}
if [[ ! -x "$NSFAST_BIN" ]]; then
	echo "floor: '$NSFAST_BIN' is not an executable nsfast (run make)" >&2
	exit 1
fi
NSFAST_BIN=$(cd "$(dirname "$NSFAST_BIN")" && pwd)/$(basename "$NSFAST_BIN")
BENCH_SCRIPT=$BENCH_DIR/floor.sh

missing=()
for tool in trafgen iptables conntrack ethtool clang tc nsenter unshare ss; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "floor: missing ${missing[*]} (make deps installs them)" >&2
	exit 1
fi

# shellcheck source=lib/sandbox.sh
. "$BENCH_DIR/lib/sandbox.sh"
# shellcheck source=lib/topo.sh
. "$BENCH_DIR/lib/topo.sh"
# shellcheck source=lib/measure.sh
. "$BENCH_DIR/lib/measure.sh"
# shellcheck source=lib/scale.sh
. "$BENCH_DIR/lib/scale.sh"

PATHS=(ceiling bridge nsfast-tc floor floor-insert)
PK+=([floor]=f [floor-insert]=g)
REPS=${BENCH_REPS:-5}
WARM=0.5 WIN=1.5
DEADLINE=${BENCH_DEADLINE:-600}
LAT_CPU=$(($(nproc) - 1))
NAT_ENTRIES=2500000 # nsfast's table and the floor's, the same size as in run.sh

OUT=${BENCH_OUT:-$REPO/bench/results/$(date +%Y%m%d-%H%M%S)-floor}
mkdir -p "$OUT" || exit 1
: >"$OUT/run.log"
: >"$OUT/samples.csv"
: >"$OUT/workloads.csv"
bench_arm_watchdog "$DEADLINE"

# floor_build K TRACK OBJ: compile floor.bpf.c for host K-h.
floor_build() {
	local k=$1 track=$2 obj=$3 h="$1-h" ifx_b ifx_up
	ifx_b=$(ip -n "$P-$h" -o link show dev vpb | cut -d: -f1)
	ifx_up=$(ip -n "$P-$h" -o link show dev wan0 | cut -d: -f1)
	clang -O2 -g -Wall -Wextra -Werror -target bpf -mcpu=v3 \
		-I/usr/include/"$(cc -print-multiarch)" \
		-DFLOOR_TRACK="$track" -DFLOOR_ENTRIES=$NAT_ENTRIES \
		-DFLOOR_POD_B="bpf_htonl(0x$(printf '%02x' ${POD_B//./ }))" \
		-DFLOOR_POD_B_IFINDEX="$ifx_b" -DFLOOR_UPLINK_IFINDEX="$ifx_up" \
		-DFLOOR_POD_B_MAC="0x$(mac "$k-pb" eth0 | tr -d :)" \
		-DFLOOR_VPB_MAC="0x$(mac "$h" vpb | tr -d :)" \
		-DFLOOR_UPLINK_MAC="0x$(mac "$h" wan0 | tr -d :)" \
		-DFLOOR_WORLD_MAC="0x$(mac "$k-w" eth0 | tr -d :)" \
		-c "$BENCH_DIR/floor.bpf.c" -o "$obj"
}

# floor_attach PATH: (re)load the floor on tc ingress of vpa; a reload is
# a fresh flow table, which is how a floor's state is flushed.
floor_attach() {
	local k=${PK[$1]}
	nsenter --net="/run/netns/$P-$k-h" tc filter replace dev vpa ingress \
		pref 1 handle 1 bpf direct-action obj "$WORK/floor-$k.o" sec tc
}

# floor_pod K NAME ADDR VETH: a pod behind host K-h, addressed and routed
# as nsfast's pods are (/32, default via 169.254.1.1, a permanent
# neighbour for it with the host-side veth's MAC).
floor_pod() {
	local k=$1 name=$2 addr=$3 veth=$4 h="$P-$1-h" pod="$P-$1-$2"
	ns_add "$k-$name" || return 1
	ip -n "$h" link add "$veth" type veth peer name eth0 netns "$pod" ||
		return 1
	ip -n "$h" link set "$veth" addrgenmode none up &&
		ip -n "$pod" link set eth0 addrgenmode none up || return 1
	ip -n "$pod" addr add "$addr/32" dev eth0 &&
		ip -n "$pod" neigh add 169.254.1.1 dev eth0 nud permanent \
			lladdr "$(mac "$k-h" "$veth")" &&
		ip -n "$pod" route add 169.254.1.1 dev eth0 scope link &&
		ip -n "$pod" route add default via 169.254.1.1 dev eth0 &&
		ip -n "$h" route add "$addr/32" dev "$veth"
}

# topo_floor PATH K TRACK: a host whose kernel routes replies to pod A
# (ip_forward=1, no NAT: the world routes the pod CIDR back to it) and
# whose pod A's veth carries the floor.
topo_floor() {
	local path=$1 k=$2 track=$3
	topo_world "$k" || return 1
	in_ns "$k-h" sysctl -qw net.ipv4.ip_forward=1 || return 1
	floor_pod "$k" pa $POD_A vpa && floor_pod "$k" pb $POD_B vpb || return 1
	# Nothing pod A sends may reach pod B or the world through the
	# kernel instead of the floor: no forwarding from vpa (replies to pod
	# A come in on vpb and wan0, and are still routed).
	in_ns "$k-h" sysctl -qw net.ipv4.conf.vpa.forwarding=0 || return 1
	ip -n "$P-$k-w" route add $POD_CIDR via $UPLINK_IP || return 1
	floor_build "$k" "$track" "$WORK/floor-$k.o" || return 1
	nsenter --net="/run/netns/$P-$k-h" tc qdisc add dev vpa clsact &&
		floor_attach "$path" || return 1
	NS_PA[$path]=$k-pa NS_PB[$path]=$k-pb NS_PW[$path]=$k-pa
	NS_W[$path]=$k-w NS_H[$path]=$k-h
}

{
	echo "date: $(date -Is)"
	echo "mode: floor"
	echo "kernel: $(uname -srm)"
	echo "cpu: $(nproc) x $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "nsfast: $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo 'no git')"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "parameters: reps=$REPS warm=${WARM}s window=${WIN}s"
} >"$OUT/env.txt"

log "nsfast floor bench, results in $OUT"
log "[$(elapsed)] building the paths (prefix $P)"
topo_ceiling || exit 1
topo_bridge || exit 1
topo_nsfast nsfast-tc t off || exit 1
topo_floor floor f 0 || exit 1
topo_floor floor-insert g 1 || exit 1
topo_macs || exit 1
topo_check || exit 1
conf_write
start_servers
log "[$(elapsed)] paths ready: ${PATHS[*]}"

wl_def pps.pw pps kpps higher "64B UDP pod->world"
wl_def pps.pp pps kpps higher "64B UDP pod->pod"
wl_def newflow.pw newflow kpps higher "new flows pod->world (every packet)"
wl_def cpu.pw cpu ns/pkt lower "CPU per packet, pod->world"
wl_def cpu.pp cpu ns/pkt lower "CPU per packet, pod->pod"
wl_def cpu.newflow.pw cpu ns/pkt lower "CPU per packet, new flows pod->world"
run_reps "$REPS" "pps pod->world" sample_rate pw "" pps.pw cpu.pw
run_reps "$REPS" "pps pod->pod  " sample_rate pp "" pps.pp cpu.pp
run_reps "$REPS" "new flows pod->world" sample_rate pw -new newflow.pw cpu.newflow.pw

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"
log "[$(elapsed)] measurements done; report:"
log ""
BENCH_PATHS="${PATHS[*]}" $PY "$BENCH_DIR/report.py" "$OUT" | tee -a "$OUT/run.log"
log ""
log "results: $OUT (results.csv, results.json, table.md)"
