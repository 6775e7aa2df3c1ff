#!/usr/bin/env bash
# Bad input: nsfast says what is wrong in one line on stderr, exits non-zero
# and leaves nothing behind (no veth in the host namespace, no namespace, no
# pin, no state or IPAM file). Also: the `nsfast ns` commands agree with
# iproute2, and a repeated identical attach is idempotent.
E2E_DEADLINE=${E2E_DEADLINE:-120}
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"


HOST="$P-h"
ERRF=$E2E_TMPDIR/stderr

# snapshot: everything an nsfast command could leave behind, as text.
snapshot() {
	echo "== host links"
	[[ -e /run/netns/$HOST ]] &&
		ip -n "$HOST" -o link show 2>&1 | awk -F': ' '{print $2}' | sort
	echo "== namespaces"
	find /run/netns -maxdepth 1 -name "$P*" -printf '%f\n' | sort
	echo "== pins"
	find /sys/fs/bpf -mindepth 1 2>/dev/null | sort
	echo "== state"
	# Reservations and records; not the allocators' "last" hints (see
	# the report) nor the empty directories a first attach creates.
	[[ -n "${STATE:-}" && -d "$STATE" ]] && echo "$STATE exists" &&
		find "$STATE" -type f ! -name last | sort
	[[ -n "${FAKE_BPFFS:-}" ]] && find "$FAKE_BPFFS" -mindepth 1 | sort
	return 0
}

# expect_error DESC REGEX CMD [ARGS...]: CMD fails with exactly one line on
# stderr matching REGEX, nothing on stdout, and leaves no trace.
expect_error() {
	local desc=$1 re=$2 before after out err rc lines problems=()
	shift 2
	before=$(snapshot)
	out=$("$@" 2>"$ERRF")
	rc=$?
	err=$(cat "$ERRF")
	after=$(snapshot)
	[[ $rc -ne 0 ]] || problems+=("exit status 0, expected an error")
	[[ $rc -ne 124 ]] || problems+=("timed out")
	[[ -z "$out" ]] || problems+=("stdout not empty: $out")
	lines=$(printf '%s' "$err" | grep -c '')
	[[ $lines -eq 1 ]] || problems+=("stderr has $lines lines, want 1")
	grep -Eq -- "^nsfast: .*$re" <<<"$err" ||
		problems+=("stderr does not match 'nsfast: ...$re'")
	if [[ "$before" != "$after" ]]; then
		problems+=("left something behind:"
			"$(diff <(echo "$before") <(echo "$after") | grep '^[<>]')")
	fi
	if [[ ${#problems[@]} -eq 0 ]]; then
		ok "$desc"
		comment "$err"
		return 0
	fi
	not_ok "$desc" "command: $*" "${problems[@]}" "stderr: $err"
	return 1
}

# expect_fail_clean DESC CMD...: fails and leaves nothing (message free).
expect_fail_clean() {
	local desc=$1 before after out rc
	shift
	before=$(snapshot)
	out=$("$@" 2>&1)
	rc=$?
	after=$(snapshot)
	if [[ $rc -ne 0 && $rc -ne 124 && "$before" == "$after" ]]; then
		ok "$desc"
		return 0
	fi
	not_ok "$desc" "command: $* (exit $rc)" "$out" \
		"$(diff <(echo "$before") <(echo "$after") | grep '^[<>]')"
	return 1
}

# expect_status DESC STATUS CMD [ARGS...]: CMD exits STATUS with a message
# on stderr, nothing on stdout, and leaves no trace. Status 2 is a usage
# error (the command line is wrong), 1 a command that was understood but
# failed.
expect_status() {
	local desc=$1 want=$2 before after out err rc problems=()
	shift 2
	before=$(snapshot)
	out=$("$@" 2>"$ERRF")
	rc=$?
	err=$(cat "$ERRF")
	after=$(snapshot)
	[[ $rc -eq $want ]] || problems+=("exit status $rc, want $want")
	[[ -z "$out" ]] || problems+=("stdout not empty: $out")
	[[ -n "$err" ]] || problems+=("nothing on stderr")
	[[ "$before" == "$after" ]] || problems+=("left something behind:"
		"$(diff <(echo "$before") <(echo "$after") | grep '^[<>]')")
	if [[ ${#problems[@]} -eq 0 ]]; then
		ok "$desc"
		return 0
	fi
	not_ok "$desc" "command: $*" "${problems[@]}" "stderr: $err"
	return 1
}

# shellcheck disable=SC2317 # called through expect_error
nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

host_create "$HOST"
e2e_require $? "host namespace $HOST"
STATE=${E2E_STATE[0]}

# ---- before init ----

expect_error "-n with an unknown namespace: init" "$P-nope" \
	nsf -n "$P-nope" init
expect_error "-n with an unknown namespace: attach" "$P-nope" \
	nsf -n "$P-nope" attach "$P-x"
expect_error "-n with an unknown namespace: status" "$P-nope" \
	nsf -n "$P-nope" status

for cidr in 10.0.0.0/33 10.0.0.1/24 foo 10.0.0.0/31 "" 169.254.1.0/30 \
	169.254.0.0/16 127.0.0.0/8 0.0.0.0/8 224.0.0.0/8 240.0.0.0/8 \
	255.255.255.252/30; do
	expect_error "init --pod-cidr '$cidr' rejected" "pod CIDR '?$cidr" \
		nsf -n "$HOST" init --pod-cidr "$cidr"
done

# A pod CIDR holding the uplink's address: a pod would get the address the
# host masquerades to.
ip -n "$HOST" link add "${P}u" type veth peer name "${P}v" &&
	ip -n "$HOST" addr add 198.18.0.1/24 dev "${P}u"
expect_error "init --pod-cidr holding the uplink's address" \
	"pod CIDR 198.18.0.0/24 holds 198.18.0.1, the uplink ${P}u's" \
	nsf -n "$HOST" init --uplink "${P}u" --pod-cidr 198.18.0.0/24
ip -n "$HOST" link del "${P}u"

expect_error "attach before init: not initialised" "not initialised" \
	nsf -n "$HOST" attach "$P-a"
expect_error "detach before init: not initialised" "not initialised" \
	nsf -n "$HOST" detach "$P-a"

FAKE_BPFFS=$E2E_TMPDIR/not-bpffs
mkdir "$FAKE_BPFFS"
expect_error "init with no bpffs at NSFAST_BPFFS" "bpffs not mounted" \
	env NSFAST_BPFFS="$FAKE_BPFFS" "$NSFAST" -n "$HOST" init

for cmd in init "attach $P-a" status reset "ns add $P-u" "ns list"; do
	# shellcheck disable=SC2086 # word splitting of $cmd intended
	expect_error "unprivileged: $cmd" "permission denied" \
		nobody timeout 10 "$NSFAST" -n "$HOST" $cmd
done

expect_fail_clean "unknown option: init --bogus fails" \
	nsf -n "$HOST" init --bogus

# ---- init, then bad attaches ----

check "init" nsf -n "$HOST" init
e2e_require $? "nsfast init"

# ---- exit status: 2 for every command's usage error, 1 for a failure ----

usage_cases=(
	"--bogus"
	"nosuchcommand"
	"init --bogus"
	"init --pod-cidr"
	"init unexpected"
	"init --nat-entries many"
	"init --xdp-mode fast"
	"init --pod-cidr 10.0.0.0/33"
	"init --uplink wan0 --no-uplink"
	"attach"
	"attach $P-a --bogus"
	"attach $P-a --ip"
	"attach $P-a --ip 300.1.1.1"
	"attach a/b"
	"detach"
	"detach a/b"
	"status --bogus"
	"reset now"
	"nat bogus"
	"gc --bogus"
	"gc --interval"
	"gc --interval soon"
	"gc unexpected"
	"publish bogus"
	"publish add 8080"
	"publish add --bogus 8080 $P-a"
	"publish add --proto sctp 8080 $P-a"
	"publish add eighty $P-a"
	"publish add 8080 $P-a:99999"
	"route bogus"
	"route add 10.0.0.0/33 via 192.0.2.1"
	"route add 10.9.0.0/16 via 192.0.2"
	"policy"
	"policy bogus"
	"policy group add g1 --bogus allow"
	"policy group add g1 --ingress maybe"
	"policy rule add allow from any"
	"policy rule add allow from any to world port 80"
	"policy rule add allow from any to world proto tcp port 0"
	"policy rule del abc"
	"monitor --bogus"
	"monitor --count"
	"monitor --count many"
	"monitor --reason nosuch"
	"monitor bogusfilter"
	"stats --bogus"
	"stats --watch soon"
	"stats --json --prometheus"
	"ns bogus"
	"ns add a/b"
)
for c in "${usage_cases[@]}"; do
	# shellcheck disable=SC2086 # word splitting of $c intended
	expect_status "usage error exits 2: $c" 2 nsf -n "$HOST" $c
done
# The message names what is wrong: a value is not called an option, an
# option without its value is not called unknown.
expect_error "gc --interval soon: the option and the value" \
	"gc: invalid --interval 'soon' \\(seconds" nsf -n "$HOST" gc --interval soon
expect_error "gc --tcp-timeout=-1: the option and the value" \
	"gc: invalid --tcp-timeout '-1' " nsf -n "$HOST" gc --tcp-timeout=-1
expect_error "gc --interval without a value" "gc: --interval needs a value" \
	nsf -n "$HOST" gc --interval
expect_error "init --pod-cidr without a value" \
	"init: --pod-cidr needs a value" nsf -n "$HOST" init --pod-cidr
expect_error "attach --ip without a value" "attach: --ip needs a value" \
	nsf -n "$HOST" attach "$P-a" --ip
expect_error "publish add --proto without a value" \
	"publish add: --proto needs a value" \
	nsf -n "$HOST" publish add 8080 "$P-a" --proto
expect_error "attach --bogus is still a bad option" \
	"attach: bad option '--bogus'" nsf -n "$HOST" attach "$P-a" --bogus

# nsfast CMD --help (or -h, also after a subcommand): that command's usage
# on stdout, status 0, nothing done (detach --help detaches no pod
# "--help", policy --help is no "not initialised").
for c in "init --help" "attach --help" "detach --help" "detach -h" \
	"status --help" "reset --help" "nat list --help" "gc --help" \
	"publish add --help" "route --help" "policy rule add --help" \
	"monitor --help" "stats --help" "ns exec --help"; do
	before=$(snapshot)
	# shellcheck disable=SC2086 # word splitting of $c intended
	out=$(nsf -n "$HOST" $c 2>"$ERRF")
	rc=$?
	after=$(snapshot)
	word=${c%% *}
	if [[ $rc -eq 0 && ! -s "$ERRF" && "$before" == "$after" ]] &&
		grep -q "^  $word " <<<"$out"; then
		ok "$c: usage of $word on stdout, exit 0"
	else
		not_ok "$c: usage of $word on stdout, exit 0" \
			"exit $rc" "stdout: $out" "stderr: $(cat "$ERRF")"
	fi
done
out=$(nsf -n "$HOST" ns exec "$HOST" -- ip --help 2>&1)
if grep -q '^Usage: ip ' <<<"$out"; then
	ok "ns exec NAME -- CMD --help: --help is CMD's"
else
	not_ok "ns exec NAME -- CMD --help: --help is CMD's" "output: $out"
fi
expect_status "failure exits 1: detach of an unknown pod" 1 \
	nsf -n "$HOST" detach "$P-ghost"
expect_status "failure exits 1: publish to an unknown pod" 1 \
	nsf -n "$HOST" publish add 8080 "$P-ghost"
expect_status "failure exits 1: policy assign of an unknown pod" 1 \
	nsf -n "$HOST" policy assign "$P-ghost" web
expect_status "failure exits 1: init with an unknown uplink" 1 \
	nsf -n "$HOST" init --uplink "${P}x"

entries=$(nsf -n "$HOST" status --json | jq -r .nat.capacity)
expect_error "init --nat-entries other than the host's" \
	"init: --nat-entries 2048: the NAT table of an initialised host has $entries entries and cannot be resized; 'nsfast reset' first" \
	nsf -n "$HOST" init --nat-entries 2048
check "init --nat-entries of the host's own size" \
	nsf -n "$HOST" init --nat-entries "$entries"

# shellcheck disable=SC2317 # called through expect_error
unprivileged_after_init() {
	nobody timeout 10 "$NSFAST" -n "$HOST" detach "$P-a"
}
expect_error "unprivileged detach after init" "permission denied" \
	unprivileged_after_init
expect_error "init with no bpffs at NSFAST_BPFFS (already initialised)" \
	"bpffs not mounted" \
	env NSFAST_BPFFS="$FAKE_BPFFS" "$NSFAST" -n "$HOST" init

for ip in 10.244.1 300.1.1.1 10.244.1.1.1 " 10.244.1.2" 10.244.01.2; do
	expect_error "attach --ip '$ip': invalid address" "invalid address" \
		nsf -n "$HOST" attach "$P-a" --ip "$ip"
done
expect_error "attach --ip outside the pod CIDR" "outside the pod CIDR" \
	nsf -n "$HOST" attach "$P-a" --ip 10.245.0.5
expect_error "attach --ip network address" "network or broadcast" \
	nsf -n "$HOST" attach "$P-a" --ip 10.244.0.0
expect_error "attach --ip broadcast address" "network or broadcast" \
	nsf -n "$HOST" attach "$P-a" --ip 10.244.255.255
expect_error "attach --ifname of 16 characters" "invalid interface name" \
	nsf -n "$HOST" attach "$P-a" --ifname eth0123456789abc
expect_error "attach --ifname all (reserved by the kernel)" \
	"invalid interface name 'all'" \
	nsf -n "$HOST" attach "$P-a" --ifname all
expect_error "attach name 'a/b'" "invalid name" \
	nsf -n "$HOST" attach a/b
long=$(printf 'n%.0s' {1..64})
expect_error "attach name of 64 characters" "invalid name" \
	nsf -n "$HOST" attach "$long"
expect_error "attach name '..'" "invalid name" \
	nsf -n "$HOST" attach ..
expect_error "attach --netns-path that does not exist" "No such file" \
	nsf -n "$HOST" attach "$P-a" --netns-path "/run/netns/$P-absent"
# A file that is no network namespace: the error names it, not a bare
# "setns: Invalid argument" (a /run/netns entry whose bind mount is gone
# is one, left by a crashed `ip netns add` or an unmount).
touch "$E2E_TMPDIR/plain"
expect_error "attach --netns-path of a plain file" \
	"netns $E2E_TMPDIR/plain: not a network namespace" \
	nsf -n "$HOST" attach "$P-a" --netns-path "$E2E_TMPDIR/plain"
expect_error "attach --netns-path of a mount namespace" \
	"netns /proc/self/ns/mnt: not a network namespace" \
	nsf -n "$HOST" attach "$P-a" --netns-path /proc/self/ns/mnt
touch "/run/netns/$P-unmounted"
expect_error "attach NAME whose /run/netns entry is not mounted" \
	"netns $P-unmounted: not a network namespace" \
	nsf -n "$HOST" attach "$P-unmounted"
rm -f "/run/netns/$P-unmounted"
# The host's own namespace as the pod's: it would lose its default route.
ip -n "$HOST" link add "${P}d" type veth peer name "${P}e" &&
	ip -n "$HOST" link set "${P}d" up &&
	ip -n "$HOST" addr add 203.0.113.2/24 dev "${P}d" &&
	ip -n "$HOST" route add default via 203.0.113.1
routes=$(ip -n "$HOST" route show)
expect_error "attach --netns-path of the host's own namespace" \
	"netns /run/netns/$HOST is the host's own namespace" \
	nsf -n "$HOST" attach "$P-a" --netns-path "/run/netns/$HOST"
expect_error "attach named after the host's own namespace" \
	"netns $HOST is the host's own namespace" nsf -n "$HOST" attach "$HOST"
check_match "the host's routes are untouched" "^default via 203.0.113.1" \
	"$(ip -n "$HOST" route show)"
check_eq "... all of them" "$routes" "$(ip -n "$HOST" route show)"
ip -n "$HOST" link del "${P}d"
expect_fail_clean "unknown option: attach --bogus fails" \
	nsf -n "$HOST" attach "$P-a" --bogus

# A namespace where the pod's interface name is taken: attach must roll
# back everything (veth, address, id) and keep the namespace it found.
ip netns add "$P-busy" &&
	ip -n "$P-busy" link add eth0 type veth peer name eth0peer
expect_error "attach into a netns whose eth0 exists: rolled back" \
	"interface eth0" \
	nsf -n "$HOST" attach "$P-busy" --netns-path "/run/netns/$P-busy"
check "the namespace found is kept, its eth0 untouched" \
	ip -n "$P-busy" link show eth0 type veth
ip netns del "$P-busy"

expect_error "detach of an unknown name" "no such endpoint" \
	nsf -n "$HOST" detach "$P-ghost"
expect_error "detach of an invalid name" "invalid name" \
	nsf -n "$HOST" detach a/b

# ---- addresses in use, re-attach ----

addr=$(nsf -n "$HOST" attach "$P-a" --ip 10.244.7.7 2>&1)
check_eq "attach $P-a --ip 10.244.7.7 prints its address" 10.244.7.7 "$addr"
expect_error "duplicate address: attach $P-b --ip 10.244.7.7" \
	"10.244.7.7 already in use by $P-a" \
	nsf -n "$HOST" attach "$P-b" --ip 10.244.7.7
expect_error "conflicting re-attach: same name, other --ip" \
	"already attached with address 10.244.7.7" \
	nsf -n "$HOST" attach "$P-a" --ip 10.244.7.8
expect_error "conflicting re-attach: same name, other --ifname" \
	"already attached with interface eth0" \
	nsf -n "$HOST" attach "$P-a" --ifname eth1
expect_error "init with another pod CIDR while a pod is attached" \
	"pod CIDR is 10.244.0.0/16 with 1 endpoint" \
	nsf -n "$HOST" init --pod-cidr 10.99.0.0/16
check_eq "pod CIDR unchanged" 10.244.0.0/16 \
	"$(nsf -n "$HOST" status --json | jq -r .pod_cidr)"

before=$(snapshot)
again=$(nsf -n "$HOST" attach "$P-a" --ip 10.244.7.7 2>&1)
check_eq "identical re-attach (same --ip) succeeds, same address" \
	10.244.7.7 "$again"
again=$(nsf -n "$HOST" attach "$P-a" 2>&1)
check_eq "identical re-attach (no --ip) succeeds, same address" \
	10.244.7.7 "$again"
after=$(snapshot)
check_eq "re-attach created nothing new" "$before" "$after"
check_eq "one endpoint in status" "$P-a" \
	"$(nsf -n "$HOST" status --json | jq -r '.endpoints[].name')"

# ---- commands that waited on the host lock ----

# A second host: the races need a fresh one. A holder keeps the lock while
# the commands start, so they decide what they do while another runs.
RH="$P-r"
host_create "$RH"
e2e_require $? "host namespace $RH"
RSTATE=${E2E_STATE[-1]}
mkdir -p "$RSTATE"

# A failing init that raced a successful first one must not undo it.
flock "$RSTATE/lock" sleep 1 &
holder=$!
sleep 0.2
nsf -n "$RH" init --pod-cidr 10.98.0.0/24 >/dev/null 2>&1 &
good=$!
sleep 0.3
nsf -n "$RH" init --uplink "${P}nosuch" >/dev/null 2>&1 &
bad=$!
wait "$holder" "$good"
wait "$bad"
check_fails "the init with an unknown uplink failed" test $? -eq 0
check_eq "the host stays initialised with the good init's pod CIDR" \
	"true 10.98.0.0/24" \
	"$(nsf -n "$RH" status --json | jq -r '"\(.initialised) \(.pod_cidr)"')"

# An attach that found the host initialised, then waited on the lock while
# the host went away (as a reset does), says why it fails.
mkdir -p "$RSTATE"
flock "$RSTATE/lock" sh -c "sleep 0.6; rm '$RSTATE/config.json'" &
holder=$!
sleep 0.2
expect_error "attach after the host's config vanished: not initialised" \
	"attach $P-w: not initialised" nsf -n "$RH" attach "$P-w"
wait "$holder"
check "init again" nsf -n "$RH" init --pod-cidr 10.98.0.0/24
check "reset" nsf -n "$RH" reset

# ---- nsfast ns vs ip netns ----

NS="$P-x"
check "ns add $NS" nsf ns add "$NS"
check_match "ip netns list shows $NS" "^$NS( |\$)" "$(ip netns list)"
out=$(nsf ns exec "$NS" -- ip -br link 2>&1)
check_match "ns exec $NS -- ip -br link: only lo inside" "^lo +DOWN" "$out"
check_eq "ns exec sees one interface" 1 "$(grep -c . <<<"$out")"
check_eq "ns exec passes the exit status" 3 \
	"$(nsf ns exec "$NS" -- sh -c 'exit 3'; echo $?)"
expect_error "ns add of an existing name" "File exists" nsf ns add "$NS"
expect_error "ns add of an invalid name" "invalid name" nsf ns add a/b
expect_error "ns exec in an unknown namespace" "$P-nope" \
	nsf ns exec "$P-nope" -- true

# Other users of the machine may add or remove namespaces between the two
# listings: compare a few times before calling it a mismatch.
for _ in 1 2 3; do
	mine=$(nsf ns list | sort)
	theirs=$(ip netns list | awk '{print $1}' | sort)
	[[ "$mine" == "$theirs" ]] && break
	sleep 0.2
done
check_eq "ns list matches ip netns list" "$theirs" "$mine"

check "ns del $NS" nsf ns del "$NS"
check_fails "ip netns list no longer shows $NS" \
	grep -Eq "^$NS( |\$)" <<<"$(ip netns list)"
check_fails "/run/netns/$NS is gone" test -e "/run/netns/$NS"
expect_error "ns del of an absent namespace" "$NS" nsf ns del "$NS"

e2e_finish
