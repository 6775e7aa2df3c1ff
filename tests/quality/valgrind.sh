#!/usr/bin/env bash
# The CLI under valgrind (`make valgrind`): every command of a pod's life
# and the error paths, each run with --leak-check=full and failing on any
# memory error or leak (definite, indirect, possible) or on descriptors
# left open at exit. Same sandbox as the e2e suites (tests/e2e/lib).
#
# Environment: NSFAST (binary, default build/nsfast), VALGRIND_OPTS (extra).
# An ASan build (make test SANITIZE=1) cannot run under valgrind: that
# run checks memory with ASan instead.
if [[ -n ${NSFAST:-} ]] && ldd "$NSFAST" 2>/dev/null | grep -q libasan; then
	echo "1..0 # SKIP $NSFAST is built with AddressSanitizer"
	exit 0
fi
E2E_DEADLINE=${E2E_DEADLINE:-600}
E2E_CMD_TIMEOUT=${E2E_CMD_TIMEOUT:-180}
# shellcheck source=../e2e/lib/common.sh
. "$(dirname "$0")/../e2e/lib/common.sh"

if ! command -v valgrind >/dev/null; then
	echo "Bail out! valgrind is not installed (scripts/deps.sh installs it)"
	exit 1
fi
VG=(valgrind --quiet --leak-check=full --show-leak-kinds=all
	--suppressions="$(dirname "$0")/valgrind.supp"
	--errors-for-leak-kinds=definite,indirect,possible
	--error-exitcode=99 --track-fds=yes)
# shellcheck disable=SC2206 # word splitting wanted
VG+=(${VALGRIND_OPTS:-})
LOG=$E2E_TMPDIR/vg.log

# vg DESC WANT-STATUS ARGS...: nsfast ARGS under valgrind exits with
# WANT-STATUS ("0" or "fail": any status but 0 and 99) and valgrind
# reports nothing: no error, no leak, no descriptor open at exit beyond
# stdin, stdout and stderr.
vg() {
	local desc=$1 want=$2 rc fds
	shift 2
	timeout "$E2E_CMD_TIMEOUT" "${VG[@]}" --log-file="$LOG" "$NSFAST" "$@" \
		>"$E2E_TMPDIR/out" 2>&1
	rc=$?
	# Descriptors open at exit that nsfast opened itself (not 0-2, not
	# inherited from the test harness).
	fds=$(awk '/Open file descriptor [0-9]+:/ {
			if (fd != "" && !inh) n++
			fd = $0; inh = ($0 ~ /descriptor [012]:/); next }
		/<inherited from parent>/ { inh = 1 }
		END { if (fd != "" && !inh) n++; print n + 0 }' "$LOG")
	if [[ $rc -eq 99 ]] || { [[ $want == 0 ]] && [[ $rc -ne 0 ]]; } ||
		{ [[ $want == fail ]] && [[ $rc -eq 0 ]]; } ||
		grep -q 'ERROR SUMMARY: [1-9]' "$LOG" || ((fds > 0)); then
		not_ok "$desc" "exit $rc (want $want), $fds descriptors left open" \
			"$(head -c 3000 "$LOG")" "$(head -c 500 "$E2E_TMPDIR/out")"
	else
		ok "$desc"
	fi
}

H="$P-h"
host_create "$H"
e2e_require $? "host $H"
W="$P-w"
ip netns add "$W" && ip link add wan0 netns "$H" type veth peer name wan0 netns "$W" &&
	ip -n "$H" addr add 10.99.0.2/24 dev wan0 && ip -n "$H" link set wan0 up &&
	ip -n "$W" addr add 10.99.0.1/24 dev wan0 && ip -n "$W" link set wan0 up &&
	ip -n "$H" route add default via 10.99.0.1
e2e_require $? "world"

vg "status before init" 0 -n "$H" status
vg "status --json before init" 0 -n "$H" status --json
vg "attach before init (error)" fail -n "$H" attach "$P-x"
vg "init --uplink wan0" 0 -n "$H" init --uplink wan0
vg "init again (reload)" 0 -n "$H" init --uplink wan0
vg "attach" 0 -n "$H" attach "$P-a"
vg "attach again (idempotent)" 0 -n "$H" attach "$P-a"
vg "attach --ip" 0 -n "$H" attach "$P-b" --ip 10.244.3.3
vg "attach: address in use (error)" fail -n "$H" attach "$P-c" --ip 10.244.3.3
vg "attach: bad name (error)" fail -n "$H" attach "bad/name"
vg "attach: bad option (error)" fail -n "$H" attach "$P-c" --bogus
ip netns exec "$P-a" ping -c2 -W2 -q 10.99.0.1 >/dev/null 2>&1
vg "status" 0 -n "$H" status
vg "status --json" 0 -n "$H" status --json
vg "nat list" 0 -n "$H" nat list
vg "nat list --json" 0 -n "$H" nat list --json
vg "gc" 0 -n "$H" gc
vg "nat flush" 0 -n "$H" nat flush
vg "publish add" 0 -n "$H" publish add 8080 "$P-a:80"
vg "publish add: bad pod (error)" fail -n "$H" publish add 8081 nosuchpod
vg "publish list --json" 0 -n "$H" publish list --json
vg "publish del" 0 -n "$H" publish del 8080
vg "route add" 0 -n "$H" route add 10.245.0.0/16 via 10.99.0.1
vg "route add: overlapping the pod CIDR (error)" fail -n "$H" route add 10.244.1.0/24 via 10.99.0.1
vg "route list --json" 0 -n "$H" route list --json
vg "route del" 0 -n "$H" route del 10.245.0.0/16
vg "policy group add" 0 -n "$H" policy group add web --ingress deny
vg "policy assign" 0 -n "$H" policy assign "$P-a" web
vg "policy rule add" 0 -n "$H" policy rule add allow from any to web proto tcp port 80
vg "policy rule add: bad proto (error)" fail -n "$H" policy rule add allow from any to web proto sctp
vg "policy show --json" 0 -n "$H" policy show --json
vg "policy flush" 0 -n "$H" policy flush
vg "stats --json" 0 -n "$H" stats --json
vg "stats --prometheus" 0 -n "$H" stats --prometheus
vg "monitor --count 1 --duration 1" 0 -n "$H" monitor --count 1 --duration 1
vg "detach" 0 -n "$H" detach "$P-a"
vg "detach: no such endpoint (error)" fail -n "$H" detach "$P-a"
vg "init: bad CIDR (error)" fail -n "$H" init --pod-cidr 300.1.2.3/8
vg "unknown command (error)" fail -n "$H" frobnicate
vg "reset" 0 -n "$H" reset
vg "reset again (nothing to do)" 0 -n "$H" reset
ip netns del "$W"

e2e_finish
