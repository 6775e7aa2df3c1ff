# shellcheck shell=bash
# Helpers shared by the datapath e2e scripts (NAT, CNI, publish, multinode,
# malformed traffic, faults, stress). Sourced by lib/common.sh; a script
# that needs a different variant defines its own after sourcing common.sh.

# This file is a library: executed directly, it does nothing.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	exit 0
fi

# The uplink's addresses (a script may set others before world_create).
WAN_H=10.99.0.2 # the host's end: pods are masqueraded behind it
WAN_W=10.99.0.1 # the world's end, the host's default gateway

# world_create HOST WORLD: namespace WORLD joined to HOST by the veth pair
# wan0 <-> wan0, HOST's end $WAN_H/24, WORLD's $WAN_W/24, HOST's default
# route through WORLD.
world_create() {
	local h=$1 w=$2
	ip netns add "$w" || return 1
	ip -n "$w" link set lo up
	ip link add wan0 netns "$h" type veth peer name wan0 netns "$w" ||
		return 1
	ip -n "$h" addr add "$WAN_H/24" dev wan0 &&
		ip -n "$h" link set wan0 up &&
		ip -n "$h" route add default via "$WAN_W" &&
		ip -n "$w" addr add "$WAN_W/24" dev wan0 &&
		ip -n "$w" link set wan0 up || return 1
	# A veth may hand its peer packets whose checksum is left for
	# offload to fill in (CHECKSUM_PARTIAL), which a real NIC never
	# delivers to XDP: its packets carry complete checksums. With TX
	# checksum offload off on the world's end, this veth behaves like
	# the NIC an uplink would be, and the XDP program (which updates the
	# checksums incrementally) sees what it would see in production.
	ip netns exec "$w" ethtool -K wan0 tx off >/dev/null
}

# host_world HOST WORLD: host_create HOST and world_create HOST WORLD; the
# run stops if either fails.
host_world() {
	host_create "$1"
	e2e_require $? "host namespace $1"
	world_create "$1" "$2"
	e2e_require $? "world $2"
}

# uplink_host HOST WORLD [INIT_ARG...]: host_world HOST WORLD, then the
# check "init --uplink wan0 [INIT_ARG...]"; the run stops if it fails.
uplink_host() {
	local h=$1 w=$2

	shift 2
	host_world "$h" "$w"
	check "init --uplink wan0${*:+ $*}" nsf -n "$h" init --uplink wan0 "$@"
	e2e_require $? "init"
}

# wait_until SECS CMD [ARGS...]: poll CMD every 0.1 s until it succeeds
# (status 0) or SECS pass (status 1).
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS >= end)) && return 1
		sleep 0.1
	done
}

# listening NS PORT: a TCP socket listens on PORT in namespace NS.
listening() {
	[[ -n $(ip netns exec "$1" ss -Hltn "sport = :$2") ]]
}

# udp_bound NS PORT: a UDP socket is bound to PORT in namespace NS.
udp_bound() {
	[[ -n $(ip netns exec "$1" ss -Hlun "sport = :$2") ]]
}

# status_json HOST: HOST's `nsfast status --json`.
status_json() {
	nsf -n "$1" status --json
}

# pod_ip NS: the IPv4 address of eth0 in namespace NS.
pod_ip() {
	ip -n "$1" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1
}

# ctr NAME JSON: packets of datapath counter NAME in a status document
# (0 if absent).
ctr() {
	jq -r --arg c "$1" '.counters[$c].packets // 0' <<<"$2"
}

# check_rises DESC NAME BEFORE AFTER [MIN]: counter NAME rose by MIN
# (default 1) or more between two status documents.
check_rises() {
	local a b
	a=$(ctr "$2" "$3")
	b=$(ctr "$2" "$4")
	((b - a >= ${5:-1}))
	result "$1" $? "$2 rose by $((b - a)) (want >= ${5:-1})"
}

# check_jq DESC JSON FILTER [JQ-ARGS...]: FILTER (jq -e) holds on JSON.
check_jq() {
	local desc=$1 json=$2 filter=$3 out
	shift 3
	if out=$(jq -e "$@" "$filter" <<<"$json" 2>&1); then
		ok "$desc"
		return 0
	fi
	not_ok "$desc" "jq -e '$filter' gave: $out" \
		"on: $(head -c 1500 <<<"$json")"
	return 1
}

# send NS PROTO IP PORT MSG [pubtool send options]: one exchange from NS
# (lib/pubtool.py send).
send() {
	local ns=$1 proto=$2 ip=$3 port=$4 msg=$5
	shift 5
	pod_exec "$ns" "$E2E_PY" "$E2E_LIB_DIR/pubtool.py" send \
		--proto "$proto" "$@" "$ip" "$port" "$msg"
}

# fails_one_line DESC REGEX CMD...: CMD fails with one line on stderr
# matching REGEX and nothing on stdout.
fails_one_line() {
	local desc=$1 re=$2 rc out=$E2E_TMPDIR/err.out err=$E2E_TMPDIR/err.err
	shift 2
	"$@" >"$out" 2>"$err"
	rc=$?
	((rc != 0)) && [[ ! -s $out ]] && [[ $(wc -l <"$err") -eq 1 ]] &&
		grep -Eq -- "$re" "$err"
	result "$desc" $? "$* exit $rc" "stdout: $(cat "$out")" \
		"stderr: $(cat "$err")"
}
