#!/usr/bin/env bash
# nsfast benchmark: competing datapaths built side by side in sandbox
# namespaces and measured in one run, repeats interleaved (A B C D, B C D
# A, ...), medians reported, so ratios hold on a noisy machine.
#
#   bash bench/run.sh [path/to/nsfast]          (make bench does this)
#
# Paths: ceiling (one veth pair, no forwarding), bridge (Linux bridge,
# br_netfilter, ip_forward, iptables MASQUERADE), nsfast-tc (init
# --uplink wan0 --xdp-mode off), nsfast-xdp (init --uplink wan0: native
# XDP on the uplink). See docs/benchmarks.md for the method.
#
# Environment:
#   QUICK=1          headline workloads only, fewer and shorter repeats
#                    (under 2 minutes); default: everything (under 20)
#   BENCH_REPS=N     repeats of the rate workloads (default 5; QUICK 3)
#   BENCH_ONLY=RE    only workload groups matching the extended regex RE:
#                    pps newflow onedst latency bulk conn scale-nat
#                    scale-pods
#   BENCH_OUT=DIR    results directory (default bench/results/<timestamp>)
#   BENCH_DEADLINE=S stop (cleaning up) after S seconds (default 300
#                    with QUICK, else 1800)
#   BENCH_PROFILE=1  also profile each path (perf, cpu-clock) under the
#                    small-packet and new-flow loads: profile/*.txt
#
# Output: a table on the terminal; results.csv, results.json, samples.csv
# (every single sample), table.md, chart.svg, env.txt and run.log in the
# results directory.
#
# Nothing outside namespaces the run creates is touched: a private mount
# namespace (own bpffs, own /run/netns), a host namespace per path, pods
# and a "world" behind each host; traffic only between them; everything
# removed on exit, also on failure or Ctrl-C.
set -u

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
NSFAST_BIN=${1:-$REPO/build/nsfast}
if [[ ! -x "$NSFAST_BIN" ]]; then
	echo "bench: '$NSFAST_BIN' is not an executable nsfast (run make)" >&2
	exit 1
fi
NSFAST_BIN=$(cd "$(dirname "$NSFAST_BIN")" && pwd)/$(basename "$NSFAST_BIN")

QUICK=${QUICK:-0}
[[ $QUICK == 0 || -z $QUICK ]] && QUICK=0 || QUICK=1

# ---- what is needed ----

missing=()
for tool in trafgen sockperf iperf3 iptables conntrack ethtool gnuplot cc \
	nsenter unshare ss; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -x /usr/bin/python3 ]] || missing+=(/usr/bin/python3)
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "bench: missing ${missing[*]} (make deps installs them)" >&2
	exit 1
fi

# ---- sandbox (re-executes this script in a private mount namespace) ----

# shellcheck source=lib/sandbox.sh
. "$BENCH_DIR/lib/sandbox.sh"
# shellcheck source=lib/topo.sh
. "$BENCH_DIR/lib/topo.sh"
# shellcheck source=lib/measure.sh
. "$BENCH_DIR/lib/measure.sh"
# shellcheck source=lib/scale.sh
. "$BENCH_DIR/lib/scale.sh"

# ---- parameters ----

if ((QUICK)); then
	REPS=${BENCH_REPS:-3}
	WARM=0.3 WIN=0.8          # trafgen: warm-up, measuring window (s)
	LAT_SECS=1 LAT_REPS=1     # sockperf (each run costs LAT_SECS + 2.3 s)
	BULK_SECS=2 BULK_REPS=1   # iperf3
	DEADLINE=${BENCH_DEADLINE:-300}
	GROUPS_RUN="pps latency bulk"
else
	REPS=${BENCH_REPS:-5}
	WARM=0.5 WIN=1.5
	LAT_SECS=1 LAT_REPS=3
	BULK_SECS=3 BULK_REPS=3
	CONN_SECS=3 CONN_REPS=3
	DEADLINE=${BENCH_DEADLINE:-1800}
	GROUPS_RUN="pps newflow onedst latency bulk conn scale-nat scale-pods"
fi
CONN_SECS=${CONN_SECS:-3}
SCALE_REPS=5
ONEDST_FLOWS=60000
LAT_CPU=$(($(nproc) - 1)) # sockperf client and server share this CPU
NAT_ENTRIES=2500000 # nsfast NAT table: room for 1M entries and then some

wants() {
	[[ " $GROUPS_RUN " == *" $1 "* ]] || return 1
	[[ -z "${BENCH_ONLY:-}" ]] || [[ $1 =~ ${BENCH_ONLY} ]]
}

OUT=${BENCH_OUT:-$REPO/bench/results/$(date +%Y%m%d-%H%M%S)$( ((QUICK)) && echo -quick)}
mkdir -p "$OUT" || exit 1
: >"$OUT/run.log"
: >"$OUT/samples.csv"
: >"$OUT/workloads.csv"
bench_arm_watchdog "$DEADLINE"

# The connection-rate tool, built from source here (no Makefile target).
CONNRATE="$WORK/connrate"
if wants conn; then
	cc -O2 -Wall -Wextra -o "$CONNRATE" "$BENCH_DIR/connrate.c" || exit 1
fi

# ---- the machine, for the record ----

{
	echo "date: $(date -Is)"
	echo "mode: $( ((QUICK)) && echo QUICK=1 || echo full)"
	echo "kernel: $(uname -srm)"
	echo "cpu: $(nproc) x $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "virtualization: $(systemd-detect-virt 2>/dev/null || echo unknown)"
	echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "nsfast: $("$NSFAST" -V 2>&1 | head -n 1), $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo 'no git')"
	echo "trafgen: $(trafgen -v 2>&1 | head -n 1)"
	echo "sockperf: $(sockperf -v 2>&1 | grep -o 'version [^ ]*' | head -n 1)"
	echo "iperf3: $(iperf3 -v 2>&1 | head -n 1)"
	echo "iptables: $(iptables -V 2>&1)"
	echo "nf_conntrack_max: $CT_MAX"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	if perf stat -e cycles true 2>&1 | grep -q 'not supported'; then
		echo "perf cycles: not supported here (CPU cost from /proc/stat)"
	fi
	echo "parameters: reps=$REPS warm=${WARM}s window=${WIN}s latency=${LAT_SECS}s x$LAT_REPS bulk=${BULK_SECS}s x$BULK_REPS"
} >"$OUT/env.txt"

log "nsfast bench ($( ((QUICK)) && echo quick || echo full) run), results in $OUT"
log "machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- build the paths ----

log "[$(elapsed)] building the paths (prefix $P)"
topo_ceiling || exit 1
topo_bridge || exit 1
topo_nsfast nsfast-tc t off || exit 1
topo_nsfast nsfast-xdp x native || exit 1
topo_macs || exit 1
topo_check || exit 1
conf_write
start_servers
log "[$(elapsed)] paths ready: ${PATHS[*]}"

# ---- workloads ----

if wants pps; then
	wl_def pps.pp pps kpps higher "64B UDP pod->pod"
	wl_def pps.pw pps kpps higher "64B UDP pod->world"
	((QUICK)) || wl_def pps.wp pps kpps higher "64B UDP world->pod (replies)"
	wl_def cpu.pp cpu ns/pkt lower "CPU per packet, pod->pod"
	wl_def cpu.pw cpu ns/pkt lower "CPU per packet, pod->world"
	((QUICK)) || wl_def cpu.wp cpu ns/pkt lower "CPU per packet, world->pod"
	run_reps "$REPS" "pps pod->pod  " sample_rate pp "" pps.pp cpu.pp
	run_reps "$REPS" "pps pod->world" sample_rate pw "" pps.pw cpu.pw
	((QUICK)) || run_reps "$REPS" "pps world->pod" sample_rate wp "" pps.wp cpu.wp
fi

if wants newflow; then
	wl_def newflow.pw newflow kpps higher "new flows pod->world (every packet)"
	wl_def newflow.pp newflow kpps higher "new flows pod->pod (every packet)"
	wl_def cpu.newflow.pw cpu ns/pkt lower "CPU per packet, new flows pod->world"
	run_reps "$REPS" "new flows pod->world" sample_rate pw -new newflow.pw cpu.newflow.pw
	run_reps 3 "new flows pod->pod" sample_rate pp -new newflow.pp
fi

if wants onedst; then
	wl_def onedst.pw onedst flows higher "60k new flows to one ip:port, delivered"
	run_reps 3 "60k new flows to one destination" sample_newflows_1dst onedst.pw
fi

if wants latency; then
	for proto in udp tcp; do
		((QUICK)) && [[ $proto == tcp ]] && continue
		for dir in pp pw; do
			d=${dir/pp/pod->pod}
			d=${d/pw/pod->world}
			wl_def "lat50.$proto.$dir" latency us lower "${proto^^} RTT p50 $d"
			wl_def "lat99.$proto.$dir" latency us lower "${proto^^} RTT p99 $d"
			run_reps "$LAT_REPS" "${proto^^} latency $d" sample_latency "$dir" \
				"$proto" "lat50.$proto.$dir" "lat99.$proto.$dir"
		done
	done
fi

if wants bulk; then
	for dir in pp pw wp; do
		((QUICK)) && [[ $dir == wp ]] && continue
		case $dir in
		pp) d="pod->pod" ;;
		pw) d="pod->world" ;;
		wp) d="world->pod (download)" ;;
		esac
		wl_def "bulk.$dir" bulk Gbit/s higher "TCP bulk $d"
		run_reps "$BULK_REPS" "TCP bulk $d" sample_bulk "$dir" "bulk.$dir"
	done
fi

if wants conn; then
	wl_def conn.pw conn conn/s higher "TCP connections/s pod->world"
	run_reps "$CONN_REPS" "TCP connections/s pod->world" sample_connrate conn.pw
fi

if wants scale-nat; then
	log "[$(elapsed)] scale: NAT entries (conntrack UDP timeouts raised to 1 h in the bridge host, so its entries stay live)"
	in_ns b-h sysctl -qw net.netfilter.nf_conntrack_udp_timeout=3600 \
		net.netfilter.nf_conntrack_udp_timeout_stream=3600
	for path in "${PATHS[@]}"; do
		flush_state "$path"
	done
	wl_def scale.nat.1k scale kpps higher "pod->world, 1k NAT entries"
	wl_def scale.nat.100k scale kpps higher "pod->world, 100k NAT entries"
	wl_def scale.nat.1M scale kpps higher "pod->world, 1M NAT entries"
	nat_scale_step 1000 1k "$SCALE_REPS"
	nat_scale_step 100000 100k "$SCALE_REPS"
	nat_scale_step 1000000 1M "$SCALE_REPS"
	for path in "${PATHS[@]}"; do
		flush_state "$path"
	done
fi

if wants scale-pods; then
	wl_def scale.pods.2 scale kpps higher "pod->pod, 2 pods"
	wl_def scale.pods.100 scale kpps higher "pod->pod, 100 pods"
	wl_def scale.pods.1000 scale kpps higher "pod->pod, 1000 pods"
	wl_def attach.2 attach ms lower "nsfast attach, host with 2 pods"
	wl_def attach.100 attach ms lower "nsfast attach, host with 100 pods"
	wl_def attach.1000 attach ms lower "nsfast attach, host with 1000 pods"
	wl_def attach.burst attach ms lower "nsfast attach, pods 901-1000 of a burst"
	run_reps "$SCALE_REPS" "pps pod->pod, 2 pods" sample_rate pp "" scale.pods.2
	log "[$(elapsed)] scale: attach time, 2 pods"
	attach_probe attach.2 || exit 1
	for n in 100 1000; do
		progress "[$(elapsed)] scale: adding pods up to $n on every host:"
		pods_grow "$n" || exit 1
		log ""
		run_reps "$SCALE_REPS" "pps pod->pod, $n pods" sample_rate pp "" \
			"scale.pods.$n"
		log "[$(elapsed)] scale: attach time, $n pods"
		attach_probe "attach.$n" || exit 1
	done
	attach_summary
fi
if [[ ${BENCH_PROFILE:-0} == 1 ]]; then
	profile_paths
fi


# ---- report ----

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"
log "[$(elapsed)] measurements done; report:"
log ""
$PY "$BENCH_DIR/report.py" "$OUT" | tee -a "$OUT/run.log"
log ""
log "results: $OUT (chart.svg, results.csv, results.json, table.md)"
