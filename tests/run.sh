#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# nsfast test runner: the one entry point of `make test` and `make unit`.
#
#   bash tests/run.sh [--build DIR] [--only-unit] [--filter SUBSTR]
#
# Runs every executable in DIR/tests (the cmocka unit and BPF tests, in TAP
# mode), then, unless --only-unit, every tests/e2e/*.sh in name order, with
# NSFAST=<absolute path of DIR/nsfast> exported, then tests/quality/*.sh
# (formatting, valgrind). A suite is named after its
# file: DIR/tests/unit_addr is unit_addr, tests/e2e/20_pods.sh is e2e_pods.
# Every suite prints TAP on stdout: "ok N - name", "not ok N - name",
# "ok N - name # SKIP reason". The runner streams it, counts the results and
# ends with a list of the failed tests and the line
# "N passed, M failed[, K skipped]". It exits 0 only when nothing failed and
# at least one test passed.
#
# A suite that exits non-zero without reporting a failure, prints no result
# at all, runs fewer or more tests than its plan ("1..N") or bails out counts
# as one more failure. "1..0 # SKIP reason" skips a whole suite.
#
# Environment:
#   TESTS=SUBSTR     like --filter: only suites whose name (or file name)
#                    contains SUBSTR
#   TEST_TIMEOUT=S   seconds a suite may run (default 600, 0 for no limit)
#
# Without root, the e2e and BPF suites are skipped (they need network
# namespaces and BPF), the unit tests still run. Needs bash and coreutils.

set -uo pipefail
shopt -s nullglob

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=build
only_unit=0
filter=${TESTS:-}
timeout=${TEST_TIMEOUT:-600}

FILES=()
passed=0
failed=0
skipped=0
failures=()

# Tags the runner's own lines in a suite's output stream.
marker="@@nsfast-run-$$-$RANDOM@@"

# State of the suite running now.
suite_pid=
s_results=0
s_failed=0
s_plan=
s_plan_note=
s_bail=

usage()
{
	echo "usage: tests/run.sh [--build DIR] [--only-unit] [--filter SUBSTR]"
	echo "  env: TESTS=SUBSTR (same as --filter), TEST_TIMEOUT=SECONDS"
	exit "${1:-2}"
}

parse_args()
{
	while [ $# -gt 0 ]; do
		case $1 in
		--build)
			[ $# -ge 2 ] || usage >&2
			build=$2
			shift 2
			;;
		--build=*)
			build=${1#*=}
			shift
			;;
		--filter)
			[ $# -ge 2 ] || usage >&2
			filter=$2
			shift 2
			;;
		--filter=*)
			filter=${1#*=}
			shift
			;;
		--only-unit)
			only_unit=1
			shift
			;;
		-h | --help)
			usage 0
			;;
		*)
			echo "tests/run.sh: unknown argument '$1'" >&2
			usage >&2
			;;
		esac
	done
	if ! [[ $timeout =~ ^[0-9]+$ ]]; then
		echo "tests/run.sh: TEST_TIMEOUT must be a number of" \
		     "seconds, not '$timeout'" >&2
		exit 2
	fi
}

# Strip leading and trailing white space from $1 into REPLY.
trim()
{
	local s=$1

	s=${s#"${s%%[![:space:]]*}"}
	REPLY=${s%"${s##*[![:space:]]}"}
}

# A plan line "1..N", possibly "1..0 # SKIP why". Only the first counts.
tap_plan()
{
	local re_skip='^[^#]*#[[:space:]]*[Ss][Kk][Ii][Pp][[:alpha:]]*:?(.*)$'

	[ -z "$s_plan" ] || return 0
	s_plan=$1
	[[ $2 =~ $re_skip ]] || return 0
	trim "${BASH_REMATCH[1]}"
	s_plan_note=$REPLY
}

# Count one result line. $1: suite, $2: "not " or "", $3: what follows "ok".
tap_result()
{
	local suite=$1 not=$2 rest=$3 num="" kind="" reason="" name
	local re_num='^([0-9]+)(.*)$'
	local word='([Ss][Kk][Ii][Pp]|[Tt][Oo][Dd][Oo])[[:alpha:]]*'
	local re_dir="^(|.*[[:space:]])#[[:space:]]*($word)(.*)\$"

	if [[ $rest =~ $re_num ]]; then
		num=${BASH_REMATCH[1]}
		rest=${BASH_REMATCH[2]}
	fi
	if [[ $rest =~ $re_dir ]]; then
		rest=${BASH_REMATCH[1]}
		kind=${BASH_REMATCH[3]^^}
		trim "${BASH_REMATCH[4]#:}"
		reason=$REPLY
	fi
	trim "$rest"
	trim "${REPLY#- }"
	name=${REPLY:-${reason:-test ${num:-$((s_results + 1))}}}
	s_results=$((s_results + 1))
	if [ "$kind" = SKIP ] || { [ "$kind" = TODO ] && [ -n "$not" ]; }; then
		skipped=$((skipped + 1))
	elif [ -n "$not" ]; then
		failed=$((failed + 1))
		s_failed=$((s_failed + 1))
		failures+=("$suite: $name")
	else
		passed=$((passed + 1))
	fi
}

# Look at one line of a suite's output. Comments ("# ...") and anything
# that is not a TAP plan, result or bail out are ignored.
tap_line()
{
	local suite=$1 line=${2%$'\r'}
	local re_plan='^1\.\.([0-9]+)(.*)$'
	local re_result='^(not )?ok([[:space:]](.*))?$'

	if [[ $line =~ $re_result ]]; then
		tap_result "$suite" "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]}"
	elif [[ $line =~ $re_plan ]]; then
		tap_plan "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
	elif [[ $line == "Bail out!"* ]]; then
		trim "${line#Bail out!}"
		s_bail=${REPLY:-no reason given}
	fi
}

# Turn an exit status into words.
describe_status()
{
	local status=$1

	if [ "$timeout" -gt 0 ] && [ "$status" -eq 124 ]; then
		REPLY="$status (timed out after ${timeout}s)"
	elif [ "$status" -gt 128 ] && [ "$status" -lt 160 ]; then
		REPLY="$status (SIG$(kill -l $((status - 128))))"
	else
		REPLY=$status
	fi
}

# Count a problem with a suite as a whole as one failure.
suite_failure()
{
	local suite=$1 why=$2

	echo "suite $suite $why"
	failed=$((failed + 1))
	failures+=("$suite: $why")
}

# After a suite ended with @status: anything wrong beyond its "not ok"s?
check_suite()
{
	local suite=$1 status=$2

	describe_status "$status"
	if [ -n "$s_bail" ]; then
		suite_failure "$suite" "bailed out: $s_bail"
	elif ((s_results == 0 && status == 0)) && [ "$s_plan" = 0 ]; then
		echo "suite $suite skipped${s_plan_note:+: $s_plan_note}"
		skipped=$((skipped + 1))
	elif ((s_results == 0)); then
		suite_failure "$suite" \
			"reported no test result (exit status $REPLY)"
	elif ((s_failed > 0)); then
		return 0
	elif ((status != 0)); then
		suite_failure "$suite" "exited with status $REPLY"
	elif [ -n "$s_plan" ] && ((s_plan != s_results)); then
		suite_failure "$suite" \
			"planned $s_plan tests but ran $s_results"
	fi
}

# Run @cmd in the repository with a time limit; its stdout, then two lines
# of our own: "$marker pid PID" as it starts and "$marker exit STATUS" when
# it ends. The exit line lets the reader stop even if the suite left a
# background process holding its stdout open.
spawn()
{
	cd "$root" || exit 1
	timeout -k 10 "$timeout" "$@" </dev/null &
	echo "$marker pid $!"
	wait $!
	echo "$marker exit $?"
}

show()
{
	printf '%s\n' "$2"
	tap_line "$1" "$2"
}

# Run one suite: $1 its name, the rest the command. Its stdout is shown as
# it comes and counted; its stderr goes straight through.
run_suite()
{
	local suite=$1 line pre fd pid rc status=''
	shift

	echo "== $suite"
	s_results=0 s_failed=0 s_plan='' s_plan_note='' s_bail=''
	exec {fd}< <(spawn "$@")
	pid=$!
	while IFS= read -r -u "$fd" line || [ -n "$line" ]; do
		if [[ $line != *"$marker "* ]]; then
			show "$suite" "$line"
			continue
		fi
		# Ours, maybe after a last suite line with no newline.
		pre=${line%%"$marker "*}
		[ -z "$pre" ] || show "$suite" "$pre"
		line=${line#*"$marker "}
		case $line in
		"pid "*)
			suite_pid=${line#pid }
			;;
		"exit "*)
			status=${line#exit }
			break
			;;
		esac
	done
	exec {fd}<&-
	wait "$pid"
	rc=$?
	status=${status:-$rc}
	suite_pid=
	check_suite "$suite" "$status"
}

skip_suite()
{
	echo "== $1"
	echo "suite $1 skipped: $2"
	skipped=$((skipped + 1))
}

# Whether the filter selects a suite, by its name or its file name.
wanted()
{
	[ -z "$filter" ] || [[ $1 == *"$filter"* || $2 == *"$filter"* ]]
}

# Binaries built from tests/bpf/*.c load BPF programs: root only.
needs_root()
{
	[ -f "$root/tests/bpf/$1.c" ]
}

# The files in directory $1 matching glob $2, in byte order whatever the
# locale, into the array FILES.
list_files()
{
	local LC_ALL=C

	# shellcheck disable=SC2206 # $2 is a glob
	FILES=("$1"/$2)
}

run_binaries()
{
	local bin name

	list_files "$build/tests" '*'
	for bin in "${FILES[@]}"; do
		if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
			continue
		fi
		name=${bin##*/}
		wanted "$name" "$name" || continue
		if needs_root "$name" && [ "$EUID" -ne 0 ]; then
			skip_suite "$name" "needs root"
			continue
		fi
		run_suite "$name" env CMOCKA_MESSAGE_OUTPUT=TAP "$bin"
	done
}

# Suite name of an e2e script: "20_pods.sh" is e2e_pods (the number only
# orders the scripts).
e2e_name()
{
	local re='^[0-9]+[-_](.+)$' name=${1%.sh}

	[[ $name =~ $re ]] && name=${BASH_REMATCH[1]}
	REPLY=e2e_$name
}

run_e2e()
{
	local script file name

	list_files "$root/tests/e2e" '*.sh'
	for script in "${FILES[@]}"; do
		file=${script##*/}
		e2e_name "$file"
		name=$REPLY
		wanted "$name" "$file" || continue
		if [ "$EUID" -ne 0 ]; then
			skip_suite "$name" "needs root"
			continue
		fi
		[ -x "$build/nsfast" ] ||
			echo "warning: $build/nsfast is missing (run make)" >&2
		run_suite "$name" env NSFAST="$build/nsfast" bash "$script"
	done
}

# Quality gates (tests/quality/*.sh): formatting, the CLI under valgrind.
# A suite is named quality_<file name without .sh>.
run_quality()
{
	local script file name

	list_files "$root/tests/quality" '*.sh'
	for script in "${FILES[@]}"; do
		file=${script##*/}
		name=quality_${file%.sh}
		wanted "$name" "$file" || continue
		run_suite "$name" env NSFAST="$build/nsfast" BUILD="$build" \
			bash "$script"
	done
}

summary()
{
	local line

	echo
	if [ ${#failures[@]} -gt 0 ]; then
		echo "failed:"
		printf '  %s\n' "${failures[@]}"
	fi
	[ $((passed + failed + skipped)) -gt 0 ] ||
		echo "no tests were run${filter:+ (filter \"$filter\")}"
	line="$passed passed, $failed failed"
	[ "$skipped" -eq 0 ] || line+=", $skipped skipped"
	echo "$line"
}

# Stop the running suite with us, then die of the same signal.
on_signal()
{
	trap - "$1"
	[ -z "$suite_pid" ] || kill -TERM "$suite_pid" 2>/dev/null
	echo "tests/run.sh: interrupted" >&2
	kill -"$1" $$
}

main()
{
	parse_args "$@"
	build=$(realpath -m -- "$build")
	trap 'on_signal INT' INT
	trap 'on_signal TERM' TERM
	if [ "$EUID" -ne 0 ]; then
		echo "NOTE: not running as root: the e2e and BPF suites are" \
		     "skipped, the unit tests still run."
	fi
	[ -d "$build/tests" ] ||
		echo "warning: no test binaries in $build/tests (run make unit)"
	run_binaries
	[ "$only_unit" -eq 1 ] || run_e2e
	[ "$only_unit" -eq 1 ] || run_quality
	summary
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}

main "$@"
