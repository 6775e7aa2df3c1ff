#!/usr/bin/env bash
# A narrated tour of nsfast, about half a minute: a sandboxed "host"
# namespace, init, three pods, what the network looks like (no bridge),
# ping and iperf3 between pods, masqueraded traffic to a "world"
# namespace behind the uplink, the counters, detach, cleanup.
#
#   bash scripts/demo.sh [path/to/nsfast]     (make demo does this)
#   DEMO_PAUSE=1   wait for Enter between sections
#   DEMO_BENCH=0   skip the 30-second speedup measurement at the end
#
# Nothing outside namespaces the demo creates is touched: it runs in a
# private mount namespace (own bpffs, own /run/netns), the "host" is a
# network namespace of its own, and all traffic stays between its pods.
set -u

NSFAST_BIN=${1:-build/nsfast}
if [[ ! -x "$NSFAST_BIN" ]]; then
	echo "demo: '$NSFAST_BIN' is not an executable nsfast (run make)" >&2
	exit 1
fi
NSFAST_BIN=$(cd "$(dirname "$NSFAST_BIN")" && pwd)/$(basename "$NSFAST_BIN")
REPO=$(cd "$(dirname "$0")/.." && pwd)

# ---- sandbox: re-run in a private mount namespace ----

# shellcheck source=lib/reexec.sh
. "$REPO/scripts/lib/reexec.sh"
if ! sandbox_reexec NSFAST_DEMO_SANDBOXED "$0" "$NSFAST_BIN"; then
	echo "demo: needs root (namespaces, BPF); try: sudo make demo" >&2
	exit 1
fi
mount -t bpf bpf /sys/fs/bpf || exit 1
mkdir -p /run/netns
mount -t tmpfs -o mode=0755,size=1m nsfast-demo /run/netns || exit 1

# ---- narration ----

if [[ -t 1 ]]; then
	BOLD=$'\e[1m' DIM=$'\e[2m' CYAN=$'\e[36m' OFF=$'\e[0m'
else
	BOLD='' DIM='' CYAN='' OFF=''
fi
STEP=0

section() {
	STEP=$((STEP + 1))
	if [[ "${DEMO_PAUSE:-0}" == 1 && $STEP -gt 1 && -t 0 ]]; then
		read -r -p "${DIM}(Enter for the next step)${OFF}" _
	fi
	printf '\n%s== %d. %s ==%s\n' "$BOLD" "$STEP" "$1" "$OFF"
}

say() {
	printf '%s\n' "$@" | fold -s -w 76
}

# show CMD...: print the command as a person would type it.
show() {
	local w out=()
	for w in "$@"; do
		[[ "$w" == "$NSFAST_BIN" ]] && w=nsfast
		[[ "$w" =~ [[:space:]] ]] && w="'$w'"
		out+=("$w")
	done
	printf '%s$ %s%s\n' "$CYAN" "${out[*]}" "$OFF"
}

# run CMD...: show it, then run it (time-bounded); "nsfast" is our binary.
run() {
	[[ "$1" == nsfast ]] && set -- "$NSFAST_BIN" "${@:2}"
	show "$@"
	timeout 30 "$@"
}

# run_into VAR CMD...: as run, and keep its (one-line) output in VAR.
run_into() {
	local var=$1 out
	shift
	[[ "$1" == nsfast ]] && set -- "$NSFAST_BIN" "${@:2}"
	show "$@"
	out=$(timeout 30 "$@") || return 1
	printf '%s\n' "$out"
	printf -v "$var" '%s' "$out"
}

die() {
	echo "demo: $*; stopping" >&2
	exit 1
}

# ---- names and cleanup ----

ID=$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
HOST="demo$ID-host"
WEB="demo$ID-web"
API="demo$ID-api"
DB="demo$ID-db"
WORLD="demo$ID-world"
IPERF_PID=
SERVER_PID=

cleanup() {
	trap '' INT TERM HUP
	local f
	printf '\n%s== cleanup ==%s\n' "$BOLD" "$OFF"
	[[ -n "$IPERF_PID" ]] && kill "$IPERF_PID" 2>/dev/null &&
		wait "$IPERF_PID" 2>/dev/null
	[[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null &&
		wait "$SERVER_PID" 2>/dev/null
	if [[ -e /run/netns/$HOST ]]; then
		run nsfast -n "$HOST" reset
		run ip netns del "$HOST"
	fi
	[[ -e /run/netns/$WORLD ]] && run ip netns del "$WORLD"
	for f in /run/netns/demo"$ID"-*; do
		[[ -e "$f" ]] && ip netns del "$(basename "$f")"
	done
	say "Done: the pods, their veths, the host namespace, the pins and" \
		"the state under /run/nsfast are gone."
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---- the demo ----

printf '%snsfast demo%s: pods talk through tc eBPF, not a bridge + iptables.\n' \
	"$BOLD" "$OFF"

section "A sandbox that plays the host"
say "This shell runs in a private mount namespace with its own bpffs on" \
	"/sys/fs/bpf. A network namespace stands in for the host, so the" \
	"machine's own interfaces and routes are never touched. Every nsfast" \
	"command gets -n $HOST to act inside it."
run ip netns add "$HOST" || die "cannot create the host namespace"
run ip -n "$HOST" link set lo up

section "nsfast init: load the programs, pin the maps"
run nsfast -n "$HOST" init || die "init failed"

section "Attach three pods"
say "attach creates the pod's namespace (if absent), a veth pair, a /32" \
	"address from the pod CIDR and routes, and puts the tc program on the" \
	"host side of the veth. It prints the pod's address."
run_into IP_WEB nsfast -n "$HOST" attach "$WEB" || die "attach failed"
run_into IP_API nsfast -n "$HOST" attach "$API" || die "attach failed"
run_into IP_DB nsfast -n "$HOST" attach "$DB" || die "attach failed"

section "The host side: one veth per pod, no bridge"
run ip -n "$HOST" -br link
show ip -n "$HOST" link show type bridge
bridges=$(ip -n "$HOST" link show type bridge)
echo "${bridges:-${DIM}(nothing: there is no bridge)${OFF}}"
run ip -n "$HOST" route
VETH_WEB=$(ip -n "$HOST" -o route show "$IP_WEB" | awk '{print $3}')
say "The program that does the forwarding, on the ingress of $WEB's veth:"
run tc -n "$HOST" filter show dev "$VETH_WEB" ingress
run ip netns exec "$HOST" sysctl net.ipv4.ip_forward
say "Forwarding is off in the host: pod-to-pod traffic never goes" \
	"through the host's routing or netfilter (nsfast enables forwarding" \
	"on its own veths only, so the kernel can still answer a pod with" \
	"ICMP errors)."

section "The pod side: a /32, a default route, a permanent neighbour"
run ip -n "$WEB" -br addr show dev eth0
run ip -n "$WEB" route
run ip -n "$WEB" neigh
say "169.254.1.1 is a link-local gateway that answers to the host veth's" \
	"MAC address: the pod sends everything there, never ARPs, and the" \
	"program on the veth delivers it straight into the destination pod."

section "Ping between pods"
run ip netns exec "$WEB" ping -c 3 -i 0.2 "$IP_API"
run ip netns exec "$DB" ping -c 3 -i 0.2 "$IP_WEB"

section "TCP throughput: iperf3 for 3 seconds, $WEB -> $API"
show ip netns exec "$API" iperf3 -s -1 '&'
timeout 20 ip netns exec "$API" iperf3 -s -1 >/dev/null 2>&1 &
IPERF_PID=$!
for _ in $(seq 50); do # wait (at most 5 s) until the server listens
	ip netns exec "$API" ss -Hltn 'sport = :5201' | grep -q . && break
	sleep 0.1
done
run ip netns exec "$WEB" iperf3 -c "$IP_API" -t 3 -f g
wait "$IPERF_PID" 2>/dev/null
IPERF_PID=

section "Reach the world: masquerading without iptables"
say "A second namespace plays the outside world behind the host's NIC" \
	"(wan0, 10.99.0.2; the world is 10.99.0.1). Its side turns tx" \
	"checksum offload off, so it hands over complete checksums as a real" \
	"NIC does."
run ip netns add "$WORLD" || die "cannot create the world namespace"
run ip -n "$HOST" link add wan0 type veth peer name wan0 netns "$WORLD"
run ip -n "$WORLD" addr add 10.99.0.1/24 dev wan0
run ip -n "$WORLD" link set wan0 up
run ip netns exec "$WORLD" ethtool -K wan0 tx off >/dev/null
run ip -n "$HOST" addr add 10.99.0.2/24 dev wan0
run ip -n "$HOST" link set wan0 up
run ip -n "$HOST" route add default via 10.99.0.1
say "Re-running init with an uplink keeps the pods and adds the NAT path:" \
	"pod traffic routed out of wan0 is masqueraded to 10.99.0.2 by the tc" \
	"program; replies are turned back on wan0 and handed into the pod. On" \
	"a NIC that is XDP, before the kernel builds an skb; wan0 here is a" \
	"veth, where tc is faster, so init picks tc (--xdp-mode auto)."
run nsfast -n "$HOST" init --uplink wan0 || die "init --uplink failed"
run tc -n "$HOST" filter show dev wan0 ingress
run ip netns exec "$WEB" ping -c 2 -i 0.2 10.99.0.1
say "A TCP server in the world prints who it sees connecting:"
timeout 10 ip netns exec "$WORLD" /usr/bin/python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.99.0.1", 8080))
s.listen()
for _ in range(2):
    c, peer = s.accept()
    print("  world: connection from %s:%d" % peer, flush=True)
    c.sendall(c.recv(64).upper())
    c.close()
' &
SERVER_PID=$!
sleep 0.5
for pod in "$WEB" "$API"; do
	show ip netns exec "$pod" "(send 'hello from $pod' to 10.99.0.1:8080)"
	timeout 5 ip netns exec "$pod" /usr/bin/python3 -c '
import socket, sys
s = socket.create_connection(("10.99.0.1", 8080), timeout=3)
s.sendall(sys.argv[1].encode())
print("  pod got back:", s.recv(64).decode())
' "hello from $pod"
done
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=
say "The world only ever saw 10.99.0.2. The flows, like conntrack -L:"
run nsfast -n "$HOST" nat list
say "And no netfilter was involved:"
run ip netns exec "$HOST" iptables -t nat -S
run ip netns exec "$HOST" conntrack -C

section "nsfast status: endpoints and counters"
say "FROM-POD and TO-POD count what the fast path forwarded for each pod;" \
	"the table below counts why packets were forwarded (fwd-*), left to" \
	"the kernel (pass-*: pass-host is for the host itself) or dropped."
run nsfast -n "$HOST" status

section "Detach a pod"
run nsfast -n "$HOST" detach "$DB"
say "Its veth, routes and map entries are gone, and so is the namespace" \
	"attach had created for it:"
run ip netns list
run ip -n "$HOST" -br link

section "How much faster than a bridge?"
say "A short measurement, same run, side by side: 64-byte UDP packets" \
	"(trafgen) from a pod to another pod and to the world, through one veth" \
	"pair (the ceiling), a Linux bridge with br_netfilter and iptables" \
	"MASQUERADE, and nsfast (tc, and XDP on the uplink). About 30 seconds;" \
	"'make bench' runs the full set (latency, bulk, new flows, scale)."
if [[ "${DEMO_BENCH:-1}" == 1 ]]; then
	show QUICK=1 BENCH_ONLY=pps bash bench/run.sh nsfast
	bench_out=$(mktemp -d /tmp/nsfast-demo-bench.XXXXXX)
	QUICK=1 BENCH_ONLY=pps BENCH_OUT="$bench_out" \
		timeout 300 bash "$REPO/bench/run.sh" "$NSFAST_BIN" 2>&1 |
		grep -E '^(workload|-----|64B UDP)'
	rm -rf "$bench_out"
	say "'vs bridge' is the speedup over bridge+netfilter for the same" \
		"traffic; 'of ceiling' how close each path comes to a single veth" \
		"crossing. Numbers from a shared 2-core VM move by 10-30% between" \
		"runs; the ratios within one run hold."
else
	say "(skipped: DEMO_BENCH=0)"
fi
