#!/usr/bin/env bash
# Attach time alone: one nsfast host with an uplink, grown to 1, 100 and
# 1000 pods; at each step PROBES more pods are attached one right after
# the other, each timed as a user sees it (process start to exit), and
# the median, p90 and max are printed. Faster than the whole benchmark
# for working on attach; bench/run.sh remains the reference.
#
#   bash bench/attach_time.sh [path/to/nsfast [path/to/other/nsfast]]
#
# With a second binary, every probe attaches one pod with each (in turn
# first), so both see the same host and the same machine load: compare a
# change with the build before it on a busy machine.
#
# Environment:
#   COUNTS="1 100 1000"  pod counts to measure at
#   PROBES=30            timed attaches per step
#   EXTRA_NS=0           empty named namespaces created first (the full
#                        benchmark has ~3,000 on the machine)
#   PERF=FILE            also record the probes of the last step with
#                        perf (cpu-clock, call graphs) into FILE
#
# Sandbox as bench/run.sh: a private mount namespace with its own bpffs
# and /run/netns, state on a tmpfs, per-run names, everything removed on
# exit (also on failure or Ctrl-C).
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NSFAST=${1:-$HERE/../build/nsfast}
if [[ ! -x "$NSFAST" ]]; then
	echo "attach_time: '$NSFAST' is not an executable nsfast" >&2
	exit 1
fi
NSFAST=$(cd "$(dirname "$NSFAST")" && pwd)/$(basename "$NSFAST")
OTHER=${2:-}
if [[ -n "$OTHER" ]]; then
	[[ -x "$OTHER" ]] || {
		echo "attach_time: '$OTHER' is not an executable nsfast" >&2
		exit 1
	}
	OTHER=$(cd "$(dirname "$OTHER")" && pwd)/$(basename "$OTHER")
fi

# shellcheck source=../scripts/lib/reexec.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/reexec.sh"
if ! sandbox_reexec NSFAST_AT_SANDBOXED "${BASH_SOURCE[0]}" "$NSFAST" \
	${OTHER:+"$OTHER"}; then
	echo "attach_time: needs root" >&2
	exit 1
fi

COUNTS=${COUNTS:-1 100 1000}
PROBES=${PROBES:-30}
EXTRA_NS=${EXTRA_NS:-0}
PERF=${PERF:-}

mount -t bpf bpf /sys/fs/bpf || exit 1
mkdir -p /run/netns
mount -t tmpfs -o mode=0755,size=16m nsfast-at /run/netns || exit 1
P="nsfa$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
WORK=$(mktemp -d "/tmp/$P.XXXXXX") || exit 1
mkdir -p "$WORK/state"
mount -t tmpfs -o mode=0755,size=256m nsfast-at-state "$WORK/state" || exit 1
export NSFAST_STATE_DIR="$WORK/state"
H="$P-h"
W="$P-w"
CLEANED=

cleanup() {
	[[ -n "$CLEANED" ]] && return 0
	CLEANED=1
	trap '' INT TERM HUP
	if [[ -e /run/netns/$H ]]; then
		"$NSFAST" -n "$H" reset >/dev/null 2>&1 ||
			echo "attach_time: reset failed" >&2
	fi
	local f
	for f in /run/netns/"$P"-*; do
		[[ -e "$f" ]] || continue
		ip netns del "$(basename "$f")" 2>/dev/null ||
			{ umount -l "$f" 2>/dev/null; rm -f "$f"; }
	done
	umount "$WORK/state" 2>/dev/null
	rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM HUP

ip netns add "$H" && ip netns add "$W" || exit 1
ip -n "$H" link add wan0 type veth peer name eth0 netns "$W" || exit 1
ip -n "$H" addr add 10.99.0.2/24 dev wan0
ip -n "$H" link set wan0 up && ip -n "$W" link set eth0 up
ip -n "$W" addr add 10.99.0.1/24 dev eth0
ip netns exec "$W" ethtool -K eth0 tx off >/dev/null
"$NSFAST" -n "$H" init --uplink wan0 >/dev/null || exit 1

for ((i = 0; i < EXTRA_NS; i++)); do
	ip netns add "$P-e$i" || exit 1
done

N=0 # pods attached so far

# attach [BINARY]: one more pod.
attach() {
	"${1:-$NSFAST}" -n "$H" attach "$P-p$N" >/dev/null || {
		echo "attach_time: attach of pod $N failed" >&2
		exit 1
	}
	N=$((N + 1))
}

# timed FILE [BINARY]: one attach, its time (ms) appended to FILE.
timed() {
	local t0 t1
	t0=${EPOCHREALTIME/./}
	attach "${2:-}"
	t1=${EPOCHREALTIME/./}
	printf '%d.%03d\n' $(((t1 - t0) / 1000)) $(((t1 - t0) % 1000)) >>"$1"
}

# probe: PROBES timed attaches, one right after the other (alternating
# with the other binary, if given).
probe() {
	local j
	: >"$WORK/a"
	: >"$WORK/b"
	for ((j = 0; j < PROBES; j++)); do
		if [[ -z "$OTHER" ]]; then
			timed "$WORK/a"
		elif ((j % 2)); then
			timed "$WORK/b" "$OTHER" && timed "$WORK/a"
		else
			timed "$WORK/a" && timed "$WORK/b" "$OTHER"
		fi
	done
}

# summary PODS LABEL <FILE
summary() {
	sort -n | awk -v n="$1" -v l="$2" '{ v[NR] = $1 }
		END { printf "%5d pods%s: median %.2f ms  p90 %.2f  max %.2f  (%d probes)\n",
			n, l, v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[NR], NR }'
}

last=""
for c in $COUNTS; do last=$c; done
for c in $COUNTS; do
	while ((N < c)); do
		attach
	done
	if [[ -n "$PERF" && $c == "$last" ]]; then
		perf record -q -F 10000 -e cpu-clock -g -o "$PERF" -- \
			bash -c "$(declare -f attach timed probe); NSFAST=$NSFAST \
				OTHER= H=$H P=$P N=$N PROBES=$PROBES WORK=$WORK probe"
		N=$((N + PROBES))
	else
		probe
	fi
	if [[ -z "$OTHER" ]]; then
		summary "$c" "" <"$WORK/a"
	else
		summary "$c" " ($(basename "$(dirname "$(dirname "$NSFAST")")"))" <"$WORK/a"
		summary "$c" " ($(basename "$(dirname "$(dirname "$OTHER")")"))" <"$WORK/b"
	fi
done
