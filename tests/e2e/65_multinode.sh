#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq filters: their $variables come from --arg
# shellcheck disable=SC2317 # functions called through check/wait_until
# Two simulated nodes with native routing (`nsfast route`): each node has
# its own pod CIDR and a route to the other's via the other node. Pods on
# node A talk to pods on node B without NAT (the peer sees the real pod
# address) by TCP, UDP and ping, forwarded by the BPF fast path on both
# ends (pod veth -> uplink, uplink XDP/tc -> pod), and still reach the
# world with SNAT. Then: route validation errors, a route add killed
# midway, init restoring a route the map lost, route del.
#
#          node A (nsfast)              W: the LAN (bridge) and the world
#   pods --veth-- A wan0 10.99.0.2 ---- pa \
#                                          br0 10.99.0.1
#   pods --veth-- B wan0 10.99.0.3 ---- pb /
#          node B (nsfast)
#
#   A: pod CIDR 10.244.0.0/24, route 10.245.0.0/24 via 10.99.0.3
#   B: pod CIDR 10.245.0.0/24, route 10.244.0.0/24 via 10.99.0.2
#
# Rounds (MULTI_MODES, default "native:generic off:off"): the XDP modes of
# node A and node B.
E2E_DEADLINE=${E2E_DEADLINE:-240}
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

PT="$E2E_LIB_DIR/pubtool.py"
LAN_W=10.99.0.1
NODE_A=10.99.0.2
NODE_B=10.99.0.3
CIDR_A=10.244.0.0/24
CIDR_B=10.245.0.0/24
ROUNDS=${MULTI_MODES:-native:generic off:off}
N_TAGGED=5

# send_fails NS PROTO IP PORT MSG: no answer within a second.
send_fails() {
	! send "$@" --timeout 1 >/dev/null 2>&1
}

# lan_create W: the LAN namespace, a bridge with the world's address.
lan_create() {
	local w=$1
	ip netns add "$w" || return 1
	ip -n "$w" link set lo up
	ip -n "$w" link add br0 type bridge &&
		ip -n "$w" addr add "$LAN_W/24" dev br0 &&
		ip -n "$w" link set br0 up
}

# node_join NODE W PORT ADDR: NODE's uplink wan0 on the LAN as ADDR.
node_join() {
	local h=$1 w=$2 port=$3 addr=$4
	ip link add wan0 netns "$h" type veth peer name "$port" netns "$w" ||
		return 1
	ip -n "$h" addr add "$addr/24" dev wan0 &&
		ip -n "$h" link set wan0 up &&
		ip -n "$h" route add default via "$LAN_W" &&
		ip -n "$w" link set "$port" master br0 &&
		ip -n "$w" link set "$port" up || return 1
	# Complete checksums towards the node, as a NIC delivers (XDP).
	ip netns exec "$w" ethtool -K "$port" tx off >/dev/null
}

run_round() {
	local ma=${1%:*} mb=${1#*:} tag=$2
	local A="$P-${tag}A" B="$P-${tag}B" W="$P-${tag}W"
	local pa="$P-${tag}a" pb="$P-${tag}b" pb2="$P-${tag}c"
	local ipa ipb ipb2 bA bB aA aB json srv1 srv2 srv3 srv4 out

	comment "==== node A ($ma) and node B ($mb) ===="
	host_create "$A" && host_create "$B"
	e2e_require $? "node namespaces"
	lan_create "$W" && node_join "$A" "$W" pa "$NODE_A" &&
		node_join "$B" "$W" pb "$NODE_B"
	e2e_require $? "LAN $W"
	check "node A: init --pod-cidr $CIDR_A --uplink wan0 --xdp-mode $ma" \
		nsf -n "$A" init --pod-cidr "$CIDR_A" --uplink wan0 \
		--xdp-mode "$ma" --nat-ports 10000-32767
	check "node B: init --pod-cidr $CIDR_B --uplink wan0 --xdp-mode $mb" \
		nsf -n "$B" init --pod-cidr "$CIDR_B" --uplink wan0 \
		--xdp-mode "$mb"
	check "node A: route add $CIDR_B via $NODE_B" \
		nsf -n "$A" route add "$CIDR_B" via "$NODE_B"
	check "node B: route add $CIDR_A via $NODE_A" \
		nsf -n "$B" route add "$CIDR_A" via "$NODE_A"
	check_eq "node A: route list" "$CIDR_B via $NODE_B" \
		"$(nsf -n "$A" route list 2>&1)"
	check_eq "node B: route list --json" \
		"[{\"cidr\":\"$CIDR_A\",\"via\":\"$NODE_A\"}]" \
		"$(nsf -n "$B" route list --json | jq -c .)"
	ipa=$(nsf -n "$A" attach "$pa") && ipb=$(nsf -n "$B" attach "$pb") &&
		ipb2=$(nsf -n "$B" attach "$pb2")
	e2e_require $? "pods"

	bg_pod "$pb" 100 "$E2E_PY" "$PT" serve --ports 7000 --tag B \
		--lifetime 90 >/dev/null
	srv1=$E2E_LAST_PID
	bg_pod "$pa" 100 "$E2E_PY" "$PT" serve --ports 7000 --tag A \
		--lifetime 90 >/dev/null
	srv2=$E2E_LAST_PID
	bg_pod "$W" 100 "$E2E_PY" "$PT" serve --ports 7000 --tag W \
		--lifetime 90 >/dev/null
	srv3=$E2E_LAST_PID
	wait_until 5 listening "$pb" 7000 && wait_until 5 listening "$pa" 7000 &&
		wait_until 5 listening "$W" 7000

	bA=$(status_json "$A")
	bB=$(status_json "$B")
	check "ping $pa ($ipa) -> $pb ($ipb) across nodes" \
		pod_exec "$pa" ping -c 3 -i 0.2 -W 2 "$ipb"
	check "tcp $pa -> $pb:7000: $pb sees $ipa (no NAT)" \
		send "$pa" tcp "$ipb" 7000 "a-to-b" --want-tag B \
		--want-peer "$ipa"
	check "udp $pa -> $pb:7000: $pb sees $ipa, reply from $ipb" \
		send "$pa" udp "$ipb" 7000 "a-to-b-udp" --want-tag B \
		--want-peer "$ipa"
	check "tcp $pb2 -> $pa:7000: $pa sees $ipb2 (no NAT)" \
		send "$pb2" tcp "$ipa" 7000 "c-to-a" --want-tag A \
		--want-peer "$ipb2"
	check "udp $pb2 -> $pa:7000: $pa sees $ipb2" \
		send "$pb2" udp "$ipa" 7000 "c-to-a-udp" --want-tag A \
		--want-peer "$ipb2"
	check "ping $pb2 -> $pa across nodes" \
		pod_exec "$pb2" ping -c 2 -i 0.2 -W 2 "$ipa"
	aA=$(status_json "$A")
	aB=$(status_json "$B")
	check_rises "node A: fwd-route counted its pod's packets to B" \
		fwd-route "$bA" "$aA" 8
	check_rises "node B: fwd-from-node delivered them" fwd-from-node \
		"$bB" "$aB" 8
	check_rises "node B: fwd-route counted its pods' packets to A" \
		fwd-route "$bB" "$aB" 8
	check_rises "node A: fwd-from-node delivered them" fwd-from-node \
		"$bA" "$aA" 8
	# -- a tagged frame is for the host's VLAN devices, not a pod --
	# The kernel moves an 802.1Q tag into the skb before tc: the tc
	# uplink program took the frame for an untagged one from node B and
	# delivered it, tag and all (XDP sees the tag and passes it).
	bA=$(status_json "$A")
	check "the LAN sends $N_TAGGED frames from $ipb to $ipa in VLAN 100" \
		pod_exec "$W" "$E2E_PY" -c "$(printf '%s\n' \
			'import sys' \
			'from scapy.all import Dot1Q, Ether, IP, UDP, conf, sendp' \
			'conf.verb = 0' \
			'sendp(Ether(dst=sys.argv[1]) / Dot1Q(vlan=100) /' \
			'      IP(src=sys.argv[2], dst=sys.argv[3]) /' \
			'      UDP(sport=4444, dport=7009), iface="br0",' \
			'      count=int(sys.argv[4]))')" \
		"$(ip -n "$A" -br link show wan0 | awk '{print $3}')" \
		"$ipb" "$ipa" "$N_TAGGED"
	sleep 0.3
	aA=$(status_json "$A")
	check_eq "node A: none delivered to $pa (to_pod +0)" 0 \
		"$(($(jq -r --arg n "$pa" '.endpoints[] | select(.name == $n) |
			.counters.to_pod.packets' <<<"$aA") -
			$(jq -r --arg n "$pa" '.endpoints[] | select(.name == $n) |
			.counters.to_pod.packets' <<<"$bA")))"
	check_rises "node A: passed to the host (pass-host)" pass-host \
		"$bA" "$aA" "$N_TAGGED"
	check_eq "node A: no NAT flow to node B's pods" "0" \
		"$(nsf -n "$A" nat list --json | jq --arg p "${ipb%.*}." \
			'[.[] | select(.original.dst | startswith($p))] | length')"
	check_eq "node B: no NAT flow at all yet" "0" \
		"$(nsf -n "$B" nat list --json | jq length)"

	# -- policy across nodes: other nodes' pods are CIDR/world peers --
	check "node B: policy group add secure --ingress deny" \
		nsf -n "$B" policy group add secure --ingress deny
	check "node B: policy assign $pb secure" \
		nsf -n "$B" policy assign "$pb" secure
	bB=$(status_json "$B")
	check "tcp $pa -> $pb:7000 refused by $pb's ingress default (on B)" \
		send_fails "$pa" tcp "$ipb" 7000 x
	check_rises "node B: drop-policy-ingress counted it" \
		drop-policy-ingress "$bB" "$(status_json "$B")"
	check "node B: rule add allow from any to secure proto tcp port 7000" \
		nsf -n "$B" policy rule add allow from any to secure proto tcp \
		port 7000
	check "tcp $pa -> $pb:7000 allowed by the rule, no NAT" \
		send "$pa" tcp "$ipb" 7000 "allowed" --want-tag B \
		--want-peer "$ipa"
	check "node A: policy group add locked --egress deny" \
		nsf -n "$A" policy group add locked --egress deny
	check "node A: policy assign $pa locked" \
		nsf -n "$A" policy assign "$pa" locked
	bA=$(status_json "$A")
	check "tcp $pa -> $pb refused by $pa's egress default (on A)" \
		send_fails "$pa" tcp "$ipb" 7000 x
	check_rises "node A: drop-policy-egress counted it" \
		drop-policy-egress "$bA" "$(status_json "$A")"
	check "node A: rule add allow from locked to $CIDR_B proto tcp" \
		nsf -n "$A" policy rule add allow from locked to "$CIDR_B" \
		proto tcp
	check "tcp $pa -> $pb allowed by the CIDR rule" \
		send "$pa" tcp "$ipb" 7000 "cidr-rule" --want-tag B \
		--want-peer "$ipa"
	check "node A: policy flush" nsf -n "$A" policy flush
	check "node B: policy flush" nsf -n "$B" policy flush
	check "tcp $pa -> $pb after the flush" \
		send "$pa" tcp "$ipb" 7000 "flushed" --want-tag B

	# -- nodes and pods reach each other without NAT --
	check_eq "node A: kernel route $CIDR_B via $NODE_B installed" \
		"$CIDR_B via $NODE_B dev wan0 proto static" \
		"$(ip -n "$A" route show "$CIDR_B" | xargs)"
	bg_pod "$B" 100 "$E2E_PY" "$PT" serve --ports 7001 --tag NB \
		--lifetime 90 >/dev/null
	srv4=$E2E_LAST_PID
	wait_until 5 listening "$B" 7001
	check "tcp $pa -> node B's own address $NODE_B:7001: B sees $ipa" \
		send "$pa" tcp "$NODE_B" 7001 "pod-to-node" --want-tag NB \
		--want-peer "$ipa"
	check "udp $pa -> node B $NODE_B:7001: B sees $ipa" \
		send "$pa" udp "$NODE_B" 7001 "pod-to-node-udp" --want-tag NB \
		--want-peer "$ipa"
	check "tcp from node B itself -> $pa:7000: $pa sees $NODE_B" \
		send "$B" tcp "$ipa" 7000 "node-to-pod" --want-tag A \
		--want-peer "$NODE_B"
	check "ping from node A itself -> $pb (kernel route)" \
		pod_exec "$A" ping -c 1 -W 2 "$ipb"
	kill "$srv4" 2>/dev/null
	wait "$srv4" 2>/dev/null

	# -- a published port of node A, from a pod of node B --
	check "node A: publish add 8080 $pa:7000 (tcp and udp)" \
		bash -c "$(printf '%q ' "$NSFAST" -n "$A" publish add 8080 \
			"$pa:7000") && $(printf '%q ' "$NSFAST" -n "$A" \
			publish add --proto udp 8080 "$pa:7000")"
	check "tcp $pb -> node A $NODE_A:8080 reaches $pa, which sees $ipb" \
		send "$pb" tcp "$NODE_A" 8080 "b-to-published" --want-tag A \
		--want-peer "$ipb"
	check "udp $pb -> node A $NODE_A:8080: the reply comes from $NODE_A:8080" \
		send "$pb" udp "$NODE_A" 8080 "b-to-published-udp" \
		--want-tag A --want-peer "$ipb"

	# -- the world is still masqueraded --
	check "tcp $pa -> world $LAN_W:7000 seen as $NODE_A (SNAT)" \
		send "$pa" tcp "$LAN_W" 7000 "a-to-w" --want-tag W \
		--want-peer "$NODE_A"
	check "udp $pb -> world $LAN_W:7000 seen as $NODE_B (SNAT)" \
		send "$pb" udp "$LAN_W" 7000 "b-to-w" --want-tag W \
		--want-peer "$NODE_B"
	check "ping $pb -> world $LAN_W" pod_exec "$pb" ping -c 1 -W 2 "$LAN_W"
	check_eq "node B: nat list has the world flows only" "0" \
		"$(nsf -n "$B" nat list --json | jq --arg w "$LAN_W" \
			'[.[] | select(.original.dst != $w)] | length')"

	# -- init re-run keeps and restores routes --
	out=$(status_json "$A" | jq -r .pin_dir)
	check "node A: the map entry of $CIDR_B removed behind nsfast's back" \
		bpftool map delete pinned "$out/nsf_routes4" \
		key 24 0 0 0 10 245 0 0
	check "node A: init (re-run) restores it" nsf -n "$A" init
	check "tcp $pa -> $pb again, still no NAT" \
		send "$pa" tcp "$ipb" 7000 "again" --want-tag B \
		--want-peer "$ipa"

	# -- too big for the link to node B, DF clear: the kernel fragments
	# it, as a router does (it used to be dropped as drop-mtu, the
	# masquerading rule, though routed traffic has no NAT to lose) --
	ip -n "$A" link set wan0 mtu 1200
	bA=$(status_json "$A")
	bg_pod "$pb" 20 tcpdump -l -n -i eth0 -c 2 \
		"src host $ipa and ip[6:2] & 0x3fff != 0" \
		>"$E2E_TMPDIR/frag.txt" 2>/dev/null
	out=$E2E_LAST_PID
	sleep 1
	check "$pa sends a 1400-byte UDP datagram without DF to $ipb" \
		pod_exec "$pa" "$E2E_PY" -c "$(printf '%s\n' \
			'import sys' \
			'from scapy.all import IP, UDP, Raw, conf, send' \
			'conf.verb = 0' \
			'send(IP(src=sys.argv[1], dst=sys.argv[2], flags=0) /' \
			'     UDP(sport=4444, dport=7009) / Raw(b"x" * 1372))')" \
		"$ipa" "$ipb"
	wait "$out"
	check_eq "$pb got it in 2 fragments" 2 \
		"$(grep -c "$ipa" "$E2E_TMPDIR/frag.txt")"
	check_rises "node A: pass-fragment counted it" pass-fragment \
		"$bA" "$(status_json "$A")"
	ip -n "$A" link set wan0 mtu 1500

	kill "$srv1" "$srv2" "$srv3" 2>/dev/null
	wait "$srv1" "$srv2" "$srv3" 2>/dev/null
	check "reset node A" nsf -n "$A" reset
	check "reset node B" nsf -n "$B" reset
	check_eq "reset removed the kernel routes" "" \
		"$(ip -n "$A" route show "$CIDR_B"; ip -n "$B" route show "$CIDR_A")"
	ip netns del "$W"
	ip netns del "$A"
	ip netns del "$B"
}

run_errors() {
	local H="$P-e" C=10.247.0.0/24

	comment "==== route errors: host $H ===="
	host_create "$H"
	e2e_require $? "host namespace $H"
	ip -n "$H" link add wan0 type veth peer name wan0p &&
		ip -n "$H" addr add "$NODE_A/24" dev wan0 &&
		ip -n "$H" link set wan0 up && ip -n "$H" link set wan0p up
	e2e_require $? "wan0 in $H"
	fails_one_line "route before init: not initialised" \
		'^nsfast: route add: not initialised' \
		nsf -n "$H" route add "$CIDR_B" via "$NODE_B"
	check "init --pod-cidr $CIDR_A --uplink wan0" \
		nsf -n "$H" init --pod-cidr "$CIDR_A" --uplink wan0
	fails_one_line "CIDR overlapping the local pod CIDR refused" \
		"^nsfast: route add: 10.244.0.0/16 overlaps the local pod CIDR $CIDR_A" \
		nsf -n "$H" route add 10.244.0.0/16 via "$NODE_B"
	fails_one_line "CIDR inside the local pod CIDR refused" \
		'overlaps the local pod CIDR' \
		nsf -n "$H" route add 10.244.0.128/25 via "$NODE_B"
	fails_one_line "via inside the local pod CIDR refused" \
		'^nsfast: route add: via 10.244.0.9 is a pod address' \
		nsf -n "$H" route add "$CIDR_B" via 10.244.0.9
	fails_one_line "via multicast refused" \
		'^nsfast: route add: via 224.0.0.1 is not a unicast address' \
		nsf -n "$H" route add "$CIDR_B" via 224.0.0.1
	fails_one_line "via this host's own address refused" \
		"^nsfast: route add: via $NODE_A is this host's own address" \
		nsf -n "$H" route add "$CIDR_B" via "$NODE_A"
	fails_one_line "bad CIDR refused" \
		"^nsfast: route add: invalid CIDR '10.245.0.1/24'" \
		nsf -n "$H" route add 10.245.0.1/24 via "$NODE_B"
	fails_one_line "bad via refused" \
		"^nsfast: route add: invalid node address '10.99.0.300'" \
		nsf -n "$H" route add "$CIDR_B" via 10.99.0.300
	# Routes are other nodes' pod CIDRs: none lies where no pod can be.
	# The datapath looks routes up before it sets broadcast, multicast
	# and the pods' gateway aside, so such a route would send those to a
	# node; a split default (0/1 + 128/1) is a default route as surely.
	fails_one_line "the upper half of a split default refused" \
		'^nsfast: route add: 128.0.0.0/1 overlaps 169.254.0.0/16 \(link-local' \
		nsf -n "$H" route add 128.0.0.0/1 via "$NODE_B"
	fails_one_line "the lower half of a split default refused" \
		'^nsfast: route add: 0.0.0.0/1 overlaps' \
		nsf -n "$H" route add 0.0.0.0/1 via "$NODE_B"
	fails_one_line "a multicast CIDR refused" \
		'^nsfast: route add: 224.0.0.0/8 overlaps 224.0.0.0/4 \(multicast\)' \
		nsf -n "$H" route add 224.0.0.0/8 via "$NODE_B"
	fails_one_line "the limited broadcast refused" \
		'^nsfast: route add: 255.255.255.255/32 overlaps 240.0.0.0/4' \
		nsf -n "$H" route add 255.255.255.255/32 via "$NODE_B"
	fails_one_line "a node the kernel cannot route to refused" \
		'^nsfast: route add: kernel route 10.245.0.0/24 via 192.0.2.1: Network is unreachable' \
		nsf -n "$H" route add "$CIDR_B" via 192.0.2.1
	check_eq "... and left nothing behind" "" \
		"$(nsf -n "$H" route list; ip -n "$H" route show "$CIDR_B")"
	# Routes the host has are never taken over (route add used to
	# replace them, and route del then removed them for good).
	ip -n "$H" link add stor0 type veth peer name stor0p &&
		ip -n "$H" addr add 10.50.0.5/16 dev stor0 &&
		ip -n "$H" link set stor0 up && ip -n "$H" link set stor0p up &&
		ip -n "$H" route add 10.246.0.0/24 via 10.99.0.7
	e2e_require $? "stor0 and a static route in $H"
	local before
	before=$(ip -n "$H" route show)
	fails_one_line "a subnet the host is on refused" \
		'^nsfast: route add: the host already routes 10\.50\.0\.0/16 on a link' \
		nsf -n "$H" route add 10.50.0.0/16 via "$NODE_B"
	fails_one_line "a CIDR inside the uplink's subnet refused" \
		'^nsfast: route add: the host already routes 10\.99\.0\.0/24 on a link' \
		nsf -n "$H" route add 10.99.0.128/25 via "$NODE_B"
	fails_one_line "a prefix another route has refused" \
		'^nsfast: route add: the host already routes 10\.246\.0\.0/24 via 10\.99\.0\.7' \
		nsf -n "$H" route add 10.246.0.0/24 via "$NODE_B"
	check_eq "the host's routes are untouched" "$before" \
		"$(ip -n "$H" route show)"
	ip -n "$H" route del 10.246.0.0/24 via 10.99.0.7
	check "route add $CIDR_B via $NODE_B" \
		nsf -n "$H" route add "$CIDR_B" via "$NODE_B"
	check "the same route again is a no-op" \
		nsf -n "$H" route add "$CIDR_B" via "$NODE_B"
	fails_one_line "duplicate CIDR via another node refused" \
		"^nsfast: route add: route $CIDR_B via $NODE_B: File exists" \
		nsf -n "$H" route add "$CIDR_B" via 10.99.0.4
	check "a more specific route inside it is fine (LPM)" \
		nsf -n "$H" route add 10.245.0.128/25 via 10.99.0.4
	fails_one_line "init with a pod CIDR overlapping a route refused" \
		'^nsfast: init: 10.245.0.0/24 overlaps the local pod CIDR 10.245.0.0/16' \
		nsf -n "$H" init --pod-cidr 10.245.0.0/16
	fails_one_line "del of an unknown route" \
		'^nsfast: route del: no route 10.246.0.0/24$' \
		nsf -n "$H" route del 10.246.0.0/24
	check "route del 10.245.0.128/25" nsf -n "$H" route del 10.245.0.128/25
	check "route del $CIDR_B" nsf -n "$H" route del "$CIDR_B"
	check_eq "route list is empty" "" "$(nsf -n "$H" route list 2>&1)"
	check_eq "no kernel route left" "" \
		"$(ip -n "$H" route show "$CIDR_B"; ip -n "$H" route show 10.245.0.128/25)"
	check_eq "the map is empty (node /32 entries gone too)" "0" \
		"$(bpftool map dump pinned "$(status_json "$H" | jq -r .pin_dir)/nsf_routes4" -j | jq length)"
	# A route add killed midway: whatever it made is listed, so del,
	# the same add again and reset finish or undo it (it used to make
	# the kernel route and the map entry before the record: del then
	# refused the route and reset left the kernel's behind).
	killed_route_add "$C" "$NODE_B"
	check_eq "route list shows the route the killed add recorded" \
		"$C via $NODE_B" "$(nsf -n "$H" route list 2>&1)"
	check "route del $C after a killed add" nsf -n "$H" route del "$C"
	check_eq "... no kernel route, no map entry left" "none" \
		"$(ip -n "$H" route show "$C")$(route_entry "$H" "$C")"
	killed_route_add "$C" "$NODE_B"
	check "the same add again completes it" \
		nsf -n "$H" route add "$C" via "$NODE_B"
	check_eq "... the kernel route and the map entry are there" \
		"$C via $NODE_B dev wan0 proto static|$NODE_B 0" \
		"$(ip -n "$H" route show "$C" | xargs)|$(route_entry "$H" "$C")"
	check "route del $C" nsf -n "$H" route del "$C"
	killed_route_add "$C" "$NODE_B"
	check "reset after a killed add" nsf -n "$H" reset
	check_eq "... left no kernel route" "" "$(ip -n "$H" route show "$C")"
	ip netns del "$H"
}

# killed_route_add CIDR NODE: route add CIDR via NODE on host $H, killed
# midway (NSFAST_FAULT=route-add).
killed_route_add() {
	local out rc

	out=$(NSFAST_FAULT=route-add nsf -n "$H" route add "$1" via "$2" 2>&1)
	rc=$?
	[[ $rc -eq 137 && $out == *"fault injected at route-add"* ]]
	result "route add $1 via $2 killed midway (route-add)" $? \
		"exit $rc: $out"
}

# route_entry HOST A.B.C.D/LEN: the node of that exact nsf_routes4 entry
# and its flags ("10.99.0.3 1"), or "none".
route_entry() {
	local pins cidr=${2%/*} len=${2#*/} v
	pins=$(status_json "$1" | jq -r .pin_dir)
	# shellcheck disable=SC2046 # the address's bytes, one word each
	v=$(bpftool map lookup pinned "$pins/nsf_routes4" -j \
		key "$len" 0 0 0 $(tr . ' ' <<<"$cidr") 2>/dev/null |
		jq -r '.value[0:5] | join(" ")' 2>/dev/null)
	[[ -n "$v" ]] || { echo none; return; }
	# shellcheck disable=SC2086 # node's 4 bytes and the flags' first
	printf '%d.%d.%d.%d %d\n' $v
}

# A route of a node's own /32 (how to reach node N) and a route via N
# share one LPM entry: each one's add, del and init must leave what the
# other needs. N is reached through node B first, then comes onto a link
# of the host's (the kernel wants a route's via on a link).
run_shared_node() {
	local H="$P-s" N=10.98.0.5
	comment "==== a node's /32 route and routes via that node: host $H ===="
	host_create "$H"
	e2e_require $? "host namespace $H"
	ip -n "$H" link add wan0 type veth peer name wan0p &&
		ip -n "$H" addr add "$NODE_A/24" dev wan0 &&
		ip -n "$H" link set wan0 up && ip -n "$H" link set wan0p up
	e2e_require $? "wan0 in $H"
	check "init --pod-cidr $CIDR_A --uplink wan0" \
		nsf -n "$H" init --pod-cidr "$CIDR_A" --uplink wan0
	check "route add $N/32 via $NODE_B" \
		nsf -n "$H" route add "$N/32" via "$NODE_B"
	ip -n "$H" link add stor0 type veth peer name stor0p &&
		ip -n "$H" addr add 10.98.0.1/16 dev stor0 &&
		ip -n "$H" link set stor0 up && ip -n "$H" link set stor0p up
	e2e_require $? "stor0 (10.98.0.0/16) in $H"
	check "route add $CIDR_B via $N" \
		nsf -n "$H" route add "$CIDR_B" via "$N"
	check_eq "$N/32 keeps its route's node, flagged as a node" \
		"$NODE_B 1" "$(route_entry "$H" "$N/32")"
	check "init (re-run) writes the routes again" nsf -n "$H" init
	check_eq "... $N/32 as route add left it" "$NODE_B 1" \
		"$(route_entry "$H" "$N/32")"
	check_eq "... and $CIDR_B via $N" "$N 0" \
		"$(route_entry "$H" "$CIDR_B")"
	check "route del $CIDR_B" nsf -n "$H" route del "$CIDR_B"
	check_eq "$N/32 is still routed via $NODE_B" "$NODE_B 0" \
		"$(route_entry "$H" "$N/32")"
	check "route add $CIDR_B via $N again" \
		nsf -n "$H" route add "$CIDR_B" via "$N"
	check "route del $N/32" nsf -n "$H" route del "$N/32"
	check_eq "$N keeps its node entry for $CIDR_B" "$N 1" \
		"$(route_entry "$H" "$N/32")"
	check "reset" nsf -n "$H" reset
	ip netns del "$H"
}

n=0
for r in $ROUNDS; do
	run_round "$r" "$n"
	n=$((n + 1))
done
run_errors
run_shared_node
e2e_finish
