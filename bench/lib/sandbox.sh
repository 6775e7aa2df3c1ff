# shellcheck shell=bash
# Sourced by bench/run.sh first: the sandbox every benchmark runs in.
#
#  - re-executes run.sh in a private mount namespace with its own bpffs on
#    /sys/fs/bpf and its own tmpfs on /run/netns (named namespaces live
#    only there), so the machine's mounts are never touched and nothing
#    survives the run, even if it is killed;
#  - picks a per-run prefix $P ("nsfb" + 6 hex digits) for every
#    namespace it creates;
#  - keeps nsfast's state files in the run's own temporary directory;
#  - installs the cleanup trap (EXIT, INT, TERM, HUP) and a watchdog that
#    ends the run (with cleanup) after BENCH_DEADLINE seconds.
#
# Needs: BENCH_DIR, NSFAST_BIN set by run.sh (or by another driver, which
# names itself in BENCH_SCRIPT: bench/floor.sh).

# shellcheck source=../../scripts/lib/reexec.sh
. "$BENCH_DIR/../scripts/lib/reexec.sh"
if ! sandbox_reexec NSFAST_BENCH_SANDBOXED "${BENCH_SCRIPT:-$BENCH_DIR/run.sh}" \
	"$NSFAST_BIN"; then
	echo "bench: needs root (namespaces, BPF); try: sudo make bench" >&2
	exit 1
fi

if ! mount -t bpf bpf /sys/fs/bpf; then
	echo "bench: cannot mount a private bpffs on /sys/fs/bpf" >&2
	exit 1
fi
mkdir -p /run/netns
if ! mount -t tmpfs -o mode=0755,size=16m nsfast-bench /run/netns; then
	echo "bench: cannot mount a private tmpfs on /run/netns" >&2
	exit 1
fi

# Per-run prefix: short, so "$P-x-pa" and the like stay valid names.
P="nsfb$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
WORK=$(mktemp -d "/tmp/$P.XXXXXX") || exit 1
mkdir -p "$WORK/state" "$WORK/conf"
# nsfast's state files on a tmpfs, as /run is on a standard install (on
# this kind of VM /run is plain ext4, where creating the files attach
# writes gets slower as the pods add up: ext4's inode allocator).
if ! mount -t tmpfs -o mode=0755,size=256m nsfast-bench-state "$WORK/state"; then
	echo "bench: cannot mount a tmpfs for nsfast's state" >&2
	exit 1
fi
export NSFAST_STATE_DIR="$WORK/state"
# A private copy of the binary: a rebuild during the run must not mix
# two versions of the programs and maps.
cp "$NSFAST_BIN" "$WORK/nsfast" || exit 1
NSFAST="$WORK/nsfast"

BENCH_PIDS=()     # long-running background processes (servers)
BENCH_NSF_HOSTS=() # host namespaces nsfast was initialised in
BENCH_CLEANED=
BENCH_WATCHDOG=

# nsf HOST ARGS...: nsfast acting in host namespace HOST, time-bounded.
nsf() {
	local h=$1
	shift
	timeout 120 "$NSFAST" -n "$h" "$@"
}

# in_ns NS CMD...: CMD inside netns NS (ip netns exec: fresh /sys too).
in_ns() {
	local ns=$1
	shift
	ip netns exec "$P-$ns" "$@"
}

# bg_ns NS SECS CMD...: CMD in netns NS in the background for at most
# SECS seconds, ended by the cleanup at the latest.
bg_ns() {
	local ns=$1 secs=$2
	shift 2
	timeout "$secs" ip netns exec "$P-$ns" "$@" </dev/null &
	BENCH_PIDS+=("$!")
}

bench_cleanup() {
	[[ -n "$BENCH_CLEANED" ]] && return 0
	BENCH_CLEANED=1
	local pid h f n=0
	trap '' INT TERM HUP # a second Ctrl-C must not cut cleanup short

	for pid in "${BENCH_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${BENCH_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	# nsfast reset detaches every pod (and deletes the namespaces attach
	# created), unpins everything and removes the state.
	for h in "${BENCH_NSF_HOSTS[@]}"; do
		[[ -e /run/netns/$h ]] || continue
		timeout 300 "$NSFAST" -n "$h" reset >/dev/null 2>&1 ||
			echo "bench: cleanup: nsfast -n $h reset failed" >&2
	done
	# Every namespace with the run's prefix: bridge pods, worlds, hosts
	# (their veths and bridges go with them).
	for f in /run/netns/"$P"-*; do
		[[ -e "$f" ]] || continue
		if ! ip netns del "$(basename "$f")" 2>/dev/null; then
			umount -l "$f" 2>/dev/null
			rm -f "$f"
		fi
		n=$((n + 1))
	done
	umount "$WORK/state" 2>/dev/null
	rm -rf -- "$WORK"
	if [[ -n "$BENCH_WATCHDOG" ]]; then
		kill "$BENCH_WATCHDOG" 2>/dev/null
		wait "$BENCH_WATCHDOG" 2>/dev/null
	fi
	# The private mount namespace, its bpffs and /run/netns tmpfs go away
	# when this process exits.
	return 0
}

bench_on_signal() {
	trap '' INT TERM HUP
	echo "bench: interrupted by SIG$1, cleaning up" >&2
	bench_cleanup
	exit $((128 + $2))
}

trap 'bench_cleanup' EXIT
trap 'bench_on_signal INT 2' INT
trap 'bench_on_signal TERM 15' TERM
trap 'bench_on_signal HUP 1' HUP

# Watchdog: the whole run is bounded in time. It wakes every second and
# gives up as soon as the run is gone (never signalling a reused pid).
bench_watchdog() {
	local end=$((SECONDS + $1)) target=$2 ppid
	trap 'exit 0' TERM
	while ((SECONDS < end)); do
		sleep 1
		read -r _ _ _ ppid _ </proc/$BASHPID/stat
		[[ $ppid == "$target" ]] || exit 0
	done
	echo "bench: watchdog: $1 s deadline reached, stopping the run" >&2
	kill -TERM "$target"
}

# bench_arm_watchdog SECS
bench_arm_watchdog() {
	bench_watchdog "$1" $$ </dev/null &
	BENCH_WATCHDOG=$!
}
