# shellcheck shell=bash
# Shared by every tests/e2e/*.sh script (source it first thing):
#
#   . "$(dirname "$0")/lib/common.sh"
#
# What sourcing it does:
#  - re-executes the script inside a private mount namespace with its own
#    bpffs on /sys/fs/bpf and its own tmpfs on /run/netns, so the
#    machine's mounts are never touched;
#  - picks a per-run prefix ($P, "nsft" + 6 hex digits) for every namespace
#    the script creates, so concurrent runs never collide;
#  - installs a cleanup trap (EXIT, INT, TERM, HUP) that resets every host
#    namespace the run created, deletes its namespaces (also /run/netns
#    entries with the run's prefix) and state directories;
#  - arms a watchdog that ends the script (with cleanup) after
#    E2E_DEADLINE seconds.
#
# Output is TAP without a plan: "ok N - desc" / "not ok N - desc" lines and
# "# " comments. e2e_finish checks that cleanup left nothing behind and
# exits 0 only when every check passed.
#
# Environment:
#   NSFAST           nsfast binary (default: build/nsfast of this tree)
#   E2E_DEADLINE     seconds before the watchdog ends the run (default 300)
#   E2E_ABORT_AT=N   failure injection: check N fails and the script exits
#                    at once, as a crash midway would (tests the cleanup)
#   E2E_SHARED_RUN_NETNS=1  keep the machine's /run/netns (see below)

# This file is a library: executed directly, it does nothing.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	exit 0
fi

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
E2E_PY=/usr/bin/python3 # not the pyenv python3 that may shadow it on PATH

# ---- sandbox: private mount namespace with its own bpffs ----

# shellcheck source=../../../scripts/lib/reexec.sh
. "$E2E_LIB_DIR/../../../scripts/lib/reexec.sh"
if ! sandbox_reexec NSFAST_SANDBOXED "$0" "$@"; then
	echo "1..0 # SKIP $(basename "$0"): needs root (namespaces, BPF)"
	exit 0
fi

if ! mount -t bpf bpf /sys/fs/bpf 2>/dev/null; then
	echo "not ok 1 - $(basename "$0"): mount bpffs in the private mount namespace"
	exit 1
fi
# Named namespaces are bind mounts under /run/netns, and those mounts exist
# only in this mount namespace. A private tmpfs there keeps the run's
# entries and everyone else's apart: other runs never see our (to them
# dangling) files, iproute2 here never trips over theirs, and nothing is
# left on disk even if the run is killed. E2E_SHARED_RUN_NETNS=1 uses the
# machine's /run/netns directory instead.
if [[ -z "${E2E_SHARED_RUN_NETNS:-}" ]]; then
	mkdir -p /run/netns
	if ! mount -t tmpfs -o mode=0755,size=1m nsfast-e2e /run/netns; then
		echo "not ok 1 - $(basename "$0"): mount a private tmpfs on /run/netns"
		exit 1
	fi
fi

# ---- TAP ----

E2E_N=0
E2E_FAILED=0

_e2e_comment() {
	# Every line of "$@" as a "# " comment, indented.
	local line
	while IFS= read -r line; do
		printf '#   %s\n' "$line"
	done <<<"$*"
}

# Injected failure: the check numbered E2E_ABORT_AT fails and the script
# exits at once, everything still set up.
_e2e_maybe_abort() {
	if [[ -n "${E2E_ABORT_AT:-}" && $E2E_N -eq $E2E_ABORT_AT ]]; then
		echo "not ok $E2E_N - $1 # injected abort (E2E_ABORT_AT=$E2E_ABORT_AT)"
		E2E_FAILED=$((E2E_FAILED + 1))
		exit 1
	fi
}

ok() {
	E2E_N=$((E2E_N + 1))
	_e2e_maybe_abort "$1"
	echo "ok $E2E_N - $1"
}

# not_ok DESC [DETAIL...]: a failed check, with details as comments.
not_ok() {
	local desc=$1
	shift
	E2E_N=$((E2E_N + 1))
	_e2e_maybe_abort "$desc"
	echo "not ok $E2E_N - $desc"
	E2E_FAILED=$((E2E_FAILED + 1))
	local d
	for d in "$@"; do
		[[ -n "$d" ]] && _e2e_comment "$d"
	done
	return 0
}

# result DESC STATUS [DETAIL...]: ok if STATUS is 0, else not ok with details.
result() {
	local desc=$1 status=$2
	shift 2
	if [[ $status -eq 0 ]]; then
		ok "$desc"
	else
		not_ok "$desc" "$@"
	fi
	return "$status"
}

# check DESC CMD [ARGS...]: ok if CMD exits 0; else its output as comments.
# Returns CMD's status so callers can branch on it.
check() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [[ $rc -eq 0 ]]; then
		ok "$desc"
	else
		not_ok "$desc" "command: $* (exit $rc)" "$out"
	fi
	return $rc
}

# check_fails DESC CMD [ARGS...]: ok if CMD exits non-zero.
check_fails() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [[ $rc -ne 0 ]]; then
		ok "$desc"
		return 0
	fi
	not_ok "$desc" "command: $* (exit 0, expected failure)" "$out"
	return 1
}

# check_eq DESC EXPECTED ACTUAL
check_eq() {
	if [[ "$2" == "$3" ]]; then
		ok "$1"
		return 0
	fi
	not_ok "$1" "expected: $2" "got:      $3"
	return 1
}

# check_match DESC REGEX TEXT: TEXT (any line) matches the extended REGEX.
check_match() {
	if grep -Eq -- "$2" <<<"$3"; then
		ok "$1"
		return 0
	fi
	not_ok "$1" "expected to match: $2" "got:" "$3"
	return 1
}

# check_todo DESC WHY STATUS [DETAIL...]: the check of a known bug WHY,
# not fixed yet. Reported with a TAP "# TODO" directive: while STATUS is
# non-zero it neither fails the run (runners count it as skipped) nor goes
# unseen; once the bug is fixed it shows up as a passing TODO, the sign to
# turn it into a plain check.
check_todo() {
	local desc=$1 why=$2 status=$3 d
	shift 3
	E2E_N=$((E2E_N + 1))
	_e2e_maybe_abort "$desc"
	if [[ $status -eq 0 ]]; then
		echo "ok $E2E_N - $desc # TODO $why (passes now)"
		return 0
	fi
	echo "not ok $E2E_N - $desc # TODO $why"
	for d in "$@"; do
		[[ -n "$d" ]] && _e2e_comment "$d"
	done
	return 1
}

# e2e_require STATUS WHAT: stop the run (with cleanup) if a setup step the
# rest depends on failed, instead of piling up consequential failures.
e2e_require() {
	[[ $1 -eq 0 ]] && return 0
	echo "# cannot go on without: $2; stopping here"
	E2E_FAILED=$((E2E_FAILED + 1))
	exit 1
}

# comment TEXT: TEXT (any number of lines) as "# " comments.
comment() {
	local line
	while IFS= read -r line; do
		printf '# %s\n' "$line"
	done <<<"$*"
}

# ---- names, commands ----

if [[ -z "${NSFAST:-}" ]]; then
	NSFAST=$(cd "$E2E_LIB_DIR/../../.." && pwd)/build/nsfast
fi
if [[ ! -x "$NSFAST" ]]; then
	echo "not ok 1 - nsfast binary '$NSFAST' is not executable (run make)"
	exit 1
fi

# Per-run prefix: short enough that "$P-name" stays a valid name.
P="nsft$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
E2E_CMD_TIMEOUT=${E2E_CMD_TIMEOUT:-60}

# nsf ARGS...: nsfast with a time bound (pass -n HOST yourself).
nsf() {
	timeout "$E2E_CMD_TIMEOUT" "$NSFAST" "$@"
}

# pod_exec NAME CMD [ARGS...]: CMD inside netns NAME, time-bounded.
pod_exec() {
	local ns=$1
	shift
	timeout "$E2E_CMD_TIMEOUT" ip netns exec "$ns" "$@"
}

E2E_HOSTS=()     # host namespaces this run created, in creation order
E2E_STATE=()     # their nsfast state directories
E2E_PINS=()      # and pin directories
E2E_PIDS=()      # background processes to end on cleanup
E2E_TMP=()       # temporary directories

# host_create NAME: a namespace that plays the host, with forwarding off
# (nsfast must not need it). Records where nsfast keeps its state for it.
host_create() {
	local name=$1 json
	ip netns add "$name" || return 1
	E2E_HOSTS+=("$name")
	ip -n "$name" link set lo up
	ip netns exec "$name" sysctl -qw net.ipv4.ip_forward=0
	json=$(nsf -n "$name" status --json) || return 1
	E2E_STATE+=("$(jq -r .state_dir <<<"$json")")
	E2E_PINS+=("$(jq -r .pin_dir <<<"$json")")
	comment "host $name: state ${E2E_STATE[-1]}, pins ${E2E_PINS[-1]}"
}

# bg_start CMD [ARGS...]: run in the background; $E2E_LAST_PID is its pid.
bg_start() {
	"$@" &
	E2E_LAST_PID=$!
	E2E_PIDS+=("$E2E_LAST_PID")
}

# bg_pod NAME SECS CMD [ARGS...]: CMD inside netns NAME in the background,
# ended after SECS at the latest; $E2E_LAST_PID is the `timeout` process,
# so killing it ends CMD too.
bg_pod() {
	local ns=$1 secs=$2
	shift 2
	bg_start timeout "$secs" ip netns exec "$ns" "$@"
}

# ---- status helpers (jq over status --json) ----

# ep_field HOST NAME JQ-PATH, e.g. ep_field H pod-a .counters.from_pod.packets
ep_field() {
	nsf -n "$1" status --json |
		jq -r --arg n "$2" ".endpoints[] | select(.name == \$n) | $3"
}

# ---- cleanup ----

E2E_CLEANED=
E2E_FINISHING=
E2E_WATCHDOG=

e2e_cleanup() {
	[[ -n "$E2E_CLEANED" ]] && return 0
	E2E_CLEANED=1
	local pid h i f d out

	trap '' INT TERM HUP # a second Ctrl-C must not cut cleanup short

	for pid in "${E2E_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${E2E_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	# Hosts last created first: reset detaches every pod (and deletes the
	# namespaces attach created), removes pins and state.
	for ((i = ${#E2E_HOSTS[@]} - 1; i >= 0; i--)); do
		h=${E2E_HOSTS[$i]}
		[[ -e /run/netns/$h ]] || continue
		if out=$(timeout 60 "$NSFAST" -n "$h" reset 2>&1); then
			[[ -n "$E2E_FINISHING" ]] || comment "cleanup: $out"
		else
			comment "cleanup: nsfast -n $h reset failed: $out"
		fi
	done
	# Every namespace with the run's prefix: pods made outside nsfast,
	# pods a failed reset left, the hosts themselves (their veths go too).
	for f in /run/netns/"$P"*; do
		[[ -e "$f" ]] || continue
		if ! timeout 30 ip netns del "$(basename "$f")" 2>/dev/null; then
			umount -l "$f" 2>/dev/null
			rm -f "$f"
		fi
	done
	for d in "${E2E_STATE[@]}"; do
		if [[ -n "$d" && -e "$d" ]]; then
			comment "cleanup: removing leftover state directory $d"
			rm -rf -- "$d"
		fi
	done
	for d in "${E2E_TMP[@]}"; do
		[[ -n "$d" ]] && rm -rf -- "$d"
	done
	if [[ -n "$E2E_WATCHDOG" ]]; then
		kill "$E2E_WATCHDOG" 2>/dev/null
		wait "$E2E_WATCHDOG" 2>/dev/null
	fi
	# The private mount namespace, and with it the bpffs holding the pins,
	# goes away when this process exits.
	return 0
}

_e2e_on_signal() {
	trap '' INT TERM HUP
	E2E_ABORT_AT= # the run is over: report it, whatever the injection
	not_ok "run interrupted by SIG$1 (cleaning up)"
	e2e_cleanup
	exit $((128 + $2))
}

trap 'e2e_cleanup' EXIT
trap '_e2e_on_signal INT 2' INT
trap '_e2e_on_signal TERM 15' TERM
trap '_e2e_on_signal HUP 1' HUP

# Watchdog: the whole script is bounded in time. It wakes every second so
# that, once killed, nothing of it outlives the script for long, and it
# gives up as soon as the script is gone (never signalling a reused pid).
_e2e_watchdog() {
	local end=$((SECONDS + ${E2E_DEADLINE:-300})) target=$1 ppid
	trap 'exit 0' TERM
	while ((SECONDS < end)); do
		sleep 1
		read -r _ _ _ ppid _ </proc/$BASHPID/stat
		[[ $ppid == "$target" ]] || exit 0
	done
	echo "# watchdog: ${E2E_DEADLINE:-300}s deadline reached, stopping the run"
	kill -TERM "$target"
}
_e2e_watchdog $$ </dev/null 2>/dev/null &
E2E_WATCHDOG=$!

# One temporary directory for the run, removed by the cleanup.
E2E_TMPDIR=$(mktemp -d "/tmp/$P.XXXXXX") || exit 1
E2E_TMP+=("$E2E_TMPDIR")
chmod 755 "$E2E_TMPDIR" # the unprivileged checks run the copy below

# Run a private copy of the binary: a rebuild while the run goes on must
# not mix two versions (whose pinned maps may not even be compatible).
cp "$NSFAST" "$E2E_TMPDIR/nsfast" || exit 1
comment "nsfast: $NSFAST ($(stat -c '%y' "$NSFAST" | cut -d. -f1))"
NSFAST=$E2E_TMPDIR/nsfast

# ---- helpers for the datapath tests ----

# shellcheck source-path=SCRIPTDIR source-path=SCRIPTDIR/lib source=world.sh
. "$E2E_LIB_DIR/world.sh"

# ---- leftovers ----

# e2e_leftovers: print what the run left behind (nothing, if clean).
e2e_leftovers() {
	local f d
	for f in /run/netns/"$P"*; do
		[[ -e "$f" ]] && echo "netns $(basename "$f")"
	done
	for d in "${E2E_STATE[@]}"; do
		[[ -n "$d" && -e "$d" ]] && echo "state directory $d"
	done
	for d in "${E2E_PINS[@]}"; do
		[[ -n "$d" && -e "$d" ]] && echo "pin directory $d"
	done
	for d in "${E2E_TMP[@]}"; do
		[[ -n "$d" && -e "$d" ]] && echo "temporary $d"
	done
	return 0
}

# e2e_finish: clean up, check nothing is left, exit 0 iff all passed.
e2e_finish() {
	local left
	E2E_FINISHING=1
	e2e_cleanup
	left=$(e2e_leftovers)
	if [[ -z "$left" ]]; then
		ok "cleanup left no namespace, pin or state behind"
	else
		not_ok "cleanup left no namespace, pin or state behind" "$left"
	fi
	comment "$E2E_N checks, $E2E_FAILED failed, ${SECONDS}s"
	[[ $E2E_FAILED -eq 0 ]] && exit 0
	exit 1
}
