# shellcheck shell=bash
# Sourced by bench/run.sh: builds the four datapaths side by side, each in
# namespaces of its own, with the same addresses and the same traffic.
#
#   path        namespaces ($P-K-...)         pod -> pod        pod -> world
#   ceiling  c  pa<->pb, pw<->w (veth pairs)  one veth          one veth
#   bridge   b  h (br0, wan0), pa, pb, w       bridge            bridge, routing,
#                                                                 MASQUERADE
#   nsfast-tc  t  h (wan0), pa, pb, w          tc redirect_peer  tc SNAT, tc rNAT
#   nsfast-xdp x  h (wan0), pa, pb, w          tc redirect_peer  tc SNAT, XDP rNAT
#
# Addresses (every path): pods pa 10.244.0.10, pb 10.244.0.11; the host's
# uplink wan0 10.99.0.2/24; the world 10.99.0.1/24 behind it. The world's
# side of the wan0 veth has tx checksum offload off, so frames arriving
# on wan0 carry complete checksums, as a real NIC delivers them (XDP has no
# checksum helpers); the same in every path, ceiling included.
#
# Needs: sandbox.sh (P, nsf, in_ns), NSFAST.

PATHS=(ceiling bridge nsfast-tc nsfast-xdp)
declare -A PK=([ceiling]=c [bridge]=b [nsfast-tc]=t [nsfast-xdp]=x)

POD_A=10.244.0.10
POD_B=10.244.0.11
WORLD_IP=10.99.0.1
UPLINK_IP=10.99.0.2
POD_CIDR=10.244.0.0/16
BR_GW=10.244.0.1

# Per path (indexed by path name): namespaces (without $P-) and the MAC
# addresses frames crafted by trafgen need.
declare -A NS_PA NS_PB NS_PW NS_W NS_H
declare -A MAC_PA MAC_PW MAC_W DMAC_PP DMAC_PW DMAC_WP

ns_add() {
	ip netns add "$P-$1" && ip -n "$P-$1" link set lo up
}

# mac NS IF: the MAC address of interface IF in netns NS.
mac() {
	ip -n "$P-$1" -o link show dev "$2" |
		grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2
}

# nsfast pods reach everything through 169.254.1.1, a permanent neighbour
# whose MAC is their host-side veth's.
gw_mac() {
	ip -n "$P-$1" neigh show 169.254.1.1 | grep -o 'lladdr [0-9a-f:]*' |
		cut -d' ' -f2
}

topo_ceiling() {
	local k=c
	ns_add $k-pa && ns_add $k-pb && ns_add $k-pw && ns_add $k-w || return 1
	# pod -> pod: one veth pair between the two pods.
	ip -n "$P-$k-pa" link add eth0 type veth peer name eth0 \
		netns "$P-$k-pb" || return 1
	ip -n "$P-$k-pa" addr add $POD_A/16 dev eth0
	ip -n "$P-$k-pb" addr add $POD_B/16 dev eth0
	# pod -> world: one veth pair between a pod and the world.
	ip -n "$P-$k-pw" link add eth0 type veth peer name eth0 \
		netns "$P-$k-w" || return 1
	ip -n "$P-$k-pw" addr add $POD_A/32 dev eth0
	ip -n "$P-$k-w" addr add $WORLD_IP/24 dev eth0
	in_ns $k-w ethtool -K eth0 tx off >/dev/null || return 1
	local ns
	for ns in pa pb pw w; do
		ip -n "$P-$k-$ns" link set eth0 addrgenmode none up || return 1
	done
	ip -n "$P-$k-pw" route add 10.99.0.0/24 dev eth0 || return 1
	ip -n "$P-$k-w" route add $POD_A/32 dev eth0 || return 1
	NS_PA[ceiling]=$k-pa NS_PB[ceiling]=$k-pb NS_PW[ceiling]=$k-pw
	NS_W[ceiling]=$k-w NS_H[ceiling]=
}

# topo_world K: host K-h with uplink wan0, world K-w behind it.
topo_world() {
	local k=$1
	ns_add "$k-h" && ns_add "$k-w" || return 1
	ip -n "$P-$k-h" link add wan0 type veth peer name eth0 \
		netns "$P-$k-w" || return 1
	ip -n "$P-$k-h" addr add $UPLINK_IP/24 dev wan0
	ip -n "$P-$k-w" addr add $WORLD_IP/24 dev eth0
	in_ns "$k-w" ethtool -K eth0 tx off >/dev/null || return 1
	ip -n "$P-$k-h" link set wan0 addrgenmode none up &&
		ip -n "$P-$k-w" link set eth0 addrgenmode none up
}

# bridge_pod K NAME ADDR: a pod on br0 of host K-h, as docker/CNI bridge
# make them: veth, address in the bridge's subnet, default via the host.
# No IPv6 address on the pod's eth0, as Docker does on IPv4-only networks
# (and nsfast for its pods): else each new pod's DAD, MLD reports and
# router solicitations are flooded to every bridge port, 3.3 million
# frames while 1,000 pods come up and 5-12% of the machine for half a
# minute after, which loaded every path measured in the 1,000-pod step.
bridge_pod() {
	local k=$1 name=$2 addr=$3 veth
	veth="v${name}"
	ns_add "$k-$name" || return 1
	ip -n "$P-$k-h" link add "$veth" type veth peer name eth0 \
		netns "$P-$k-$name" || return 1
	ip -n "$P-$k-h" link set "$veth" master br0 up || return 1
	ip -n "$P-$k-$name" addr add "$addr/16" dev eth0
	ip -n "$P-$k-$name" link set eth0 addrgenmode none up
	ip -n "$P-$k-$name" route add default via $BR_GW
}

# The classic container host: pods on a Linux bridge whose address is
# their gateway; pod -> world routed (ip_forward=1) and masqueraded by
# iptables; br_netfilter on (bridge-nf-call-iptables=1), as Docker sets
# it and Kubernetes requires.
topo_bridge() {
	local k=b h
	topo_world $k || return 1
	h="$P-$k-h"
	ip -n "$h" link add br0 type bridge || return 1
	ip -n "$h" addr add $BR_GW/16 dev br0
	ip -n "$h" link set br0 up
	bridge_pod $k pa $POD_A && bridge_pod $k pb $POD_B || return 1
	in_ns $k-h sysctl -qw net.ipv4.ip_forward=1 || return 1
	in_ns $k-h sysctl -qw net.bridge.bridge-nf-call-iptables=1 || return 1
	in_ns $k-h iptables -t nat -A POSTROUTING -s $POD_CIDR -o wan0 \
		-j MASQUERADE || return 1
	NS_PA[bridge]=$k-pa NS_PB[bridge]=$k-pb NS_PW[bridge]=$k-pa
	NS_W[bridge]=$k-w NS_H[bridge]=$k-h
}

# topo_nsfast PATH K XDP_MODE: nsfast with uplink wan0. The NAT table is
# sized for the 1M-entry scale test (two entries per flow).
topo_nsfast() {
	local path=$1 k=$2 mode=$3 out
	topo_world "$k" || return 1
	# Like the e2e tests: forwarding off in the host (nsfast enables it
	# on its own veths only).
	in_ns "$k-h" sysctl -qw net.ipv4.ip_forward=0
	BENCH_NSF_HOSTS+=("$P-$k-h")
	local args=(init --uplink wan0 --nat-entries "$NAT_ENTRIES"
		--xdp-mode "$mode")
	out=$(nsf "$P-$k-h" "${args[@]}" 2>&1) || {
		echo "$out" >&2
		return 1
	}
	log "  $path: $out"
	NS_PA[$path]=$k-pa NS_PB[$path]=$k-pb NS_PW[$path]=$k-pa
	NS_W[$path]=$k-w NS_H[$path]=$k-h
	# Pods 1 and 2 of the attach-time series (scale.sh).
	attach_timed "$path" "$P-$k-pa" 1 $POD_A &&
		attach_timed "$path" "$P-$k-pb" 2 $POD_B
}

# Learn the MAC addresses trafgen frames need: source = the sender's
# eth0; destination = whoever the sender's own stack would send to (the
# peer on a direct link, the bridge's peer or gateway, nsfast's gateway).
topo_macs() {
	local path k
	for path in "${PATHS[@]}"; do
		k=${PK[$path]}
		MAC_PA[$path]=$(mac "${NS_PA[$path]}" eth0)
		MAC_PW[$path]=$(mac "${NS_PW[$path]}" eth0)
		MAC_W[$path]=$(mac "${NS_W[$path]}" eth0)
		case $k in
		c)
			DMAC_PP[$path]=$(mac "${NS_PB[$path]}" eth0)
			DMAC_PW[$path]=${MAC_W[$path]}
			DMAC_WP[$path]=${MAC_PW[$path]}
			;;
		b)
			DMAC_PP[$path]=$(mac "${NS_PB[$path]}" eth0)
			DMAC_PW[$path]=$(mac "$k-h" br0)
			DMAC_WP[$path]=$(mac "$k-h" wan0)
			;;
		*)
			DMAC_PP[$path]=$(gw_mac "${NS_PA[$path]}")
			DMAC_PW[$path]=${DMAC_PP[$path]}
			DMAC_WP[$path]=$(mac "$k-h" wan0)
			;;
		esac
		local v
		for v in "${MAC_PA[$path]}" "${MAC_PW[$path]}" "${MAC_W[$path]}" \
			"${DMAC_PP[$path]}" "${DMAC_PW[$path]}" "${DMAC_WP[$path]}"; do
			[[ $v =~ ^([0-9a-f]{2}:){5}[0-9a-f]{2}$ ]] || {
				echo "bench: $path: no MAC address found ($v)" >&2
				return 1
			}
		done
	done
}

# Each path must actually work before it is measured: a ping from the
# pod to the other pod and to the world (this also resolves the world's
# neighbour entry in the host, as any first packet would).
topo_check() {
	local path bad=0
	for path in "${PATHS[@]}"; do
		if ! in_ns "${NS_PA[$path]}" ping -c 1 -W 2 -q $POD_B >/dev/null; then
			echo "bench: $path: pod -> pod ping failed" >&2
			bad=1
		fi
		if ! in_ns "${NS_PW[$path]}" ping -c 1 -W 2 -q $WORLD_IP >/dev/null; then
			echo "bench: $path: pod -> world ping failed" >&2
			bad=1
		fi
	done
	return $bad
}
