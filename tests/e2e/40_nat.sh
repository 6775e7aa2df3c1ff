#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq filters: their $variables come from --arg
# shellcheck disable=SC2317 # functions called through check/wait_until
# Masquerading through an uplink (init --uplink): pods reach a "world"
# behind the host's uplink under the uplink's address, with no iptables
# rule and no conntrack entry; replies come back through XDP (native or
# generic) or tc (--xdp-mode off). The main checks run once per XDP mode,
# each on a fresh host: ICMP/TCP/UDP to the world, what the world sees
# (capture), nat list/gc/flush, 20 pods x 25 concurrent connections, ICMP
# error translation, a reply behind a priority tag, the host's own
# traffic, init re-run (and a mode switch) under an iperf3 stream, the
# uplink MTU, reset. Then once: NAT
# port exhaustion, the MTU before the uplink neighbour is resolved (a known
# bug, reported as TAP TODO), and init errors (ports overlapping the
# host's ip_local_port_range, missing uplink, uplink without an IPv4
# address).
#
# Topology of each host:
#
#   pod --veth-- H (nsfast, ip_forward=0)           W ("the world")
#                wan0 10.99.0.2/24 ===== veth ===== wan0 10.99.0.1/24
#                default via 10.99.0.1
#
# Environment (besides lib/common.sh's): NAT_MODES (default
# "native generic off"), NAT_PODS (20), NAT_PER_POD (25).
E2E_DEADLINE=${E2E_DEADLINE:-240}
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

NT="$E2E_LIB_DIR/nettool.py"
NAT="$E2E_LIB_DIR/nattool.py"
TMP=$E2E_TMPDIR
WAN_H=10.99.0.2 # the host's uplink address: every pod hides behind it
WAN_W=10.99.0.1 # the world's end, the host's default gateway
PORT_MIN=1024   # nsfast's default NAT port range
PORT_MAX=32767
PORT_MIN2=61000 # and a second range above the host netns' 32768-60999
MODES=${NAT_MODES:-native generic off}
NPODS=${NAT_PODS:-20}
PER_POD=${NAT_PER_POD:-25}

# ---- helpers ----

# ctr_delta NAME BEFORE AFTER: how much datapath counter NAME (packets)
# rose between two status documents.
ctr_delta() {
	local a b
	a=$(jq -r --arg c "$1" '.counters[$c].packets // "none"' <<<"$2")
	b=$(jq -r --arg c "$1" '.counters[$c].packets // "none"' <<<"$3")
	if [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]]; then
		echo $((b - a))
	else
		echo "counter $1 missing"
	fi
}

# check_rises DESC NAME BEFORE AFTER [MIN]: counter NAME rose by MIN
# (default 1) or more. Stricter than lib/world.sh's: a counter missing
# from either document fails the check instead of counting as 0.
check_rises() {
	local d
	d=$(ctr_delta "$2" "$3" "$4")
	[[ $d =~ ^[0-9]+$ ]] && ((d >= ${5:-1}))
	result "$1" $? "$2 rose by $d (want >= ${5:-1})"
}

# hooks HOST DEV: what runs on DEV's receive path in HOST, one word each:
# "xdp" (native), "xdpgeneric", "tc:NAME" for tc ingress filters,
# "clsact" for the qdisc; empty if nothing.
hooks() {
	{
		ip -n "$1" -o link show dev "$2" |
			grep -oE '(^| )xdp(generic|offload|drv)?( |$)' |
			tr -d ' '
		tc -n "$1" filter show dev "$2" ingress |
			grep -oE ' name [^ ]+' | sed 's/ name /tc:/'
		tc -n "$1" qdisc show dev "$2" | grep -oE '^qdisc clsact' |
			sed 's/qdisc //'
	} 2>&1 | sort -u | xargs
}

# The hooks a fresh uplink gets in each mode (clsact only where tc is
# used), and the programs alone.
want_hooks() {
	case $1 in
	native) echo xdp ;;
	generic) echo xdpgeneric ;;
	off) echo clsact tc:nsf_uplink_tc ;;
	esac
}
want_progs() {
	want_hooks "$1" | sed -E 's/(^| )clsact( |$)/\1/' | xargs
}

# prog_hooks HOST DEV: the programs among hooks (no qdisc). A switch from
# tc to XDP keeps the clsact qdisc nsfast created until reset removes it.
prog_hooks() {
	hooks "$1" "$2" | sed -E 's/(^| )clsact( |$)/\1/' | xargs
}

# nothing_left HOST DESC DEV...: no pins, no state, no hook on the DEVs.
nothing_left() {
	local h=$1 desc=$2 pins state left="" dev
	shift 2
	pins=$(status_json "$h" | jq -r .pin_dir)
	state=$(status_json "$h" | jq -r .state_dir)
	[[ -e $pins ]] && left+="pins $pins; "
	[[ -e $state ]] && left+="state $state; "
	for dev in "$@"; do
		[[ -n $(hooks "$h" "$dev") ]] &&
			left+="$dev: $(hooks "$h" "$dev"); "
	done
	check_eq "$desc" "" "$left"
}

# capture_start WORLD FILE: tcpdump every IPv4 packet on WORLD's wan0
# (headers only) into FILE; $CAPTURE is its pid. Immediate mode: without
# it the packets of the last buffer timeout are lost when tcpdump stops.
capture_start() {
	bg_start timeout 200 ip netns exec "$1" tcpdump --immediate-mode \
		-Z root -i wan0 -n -s 200 -U -w "$2" ip 2>"$2.log"
	CAPTURE=$E2E_LAST_PID
	wait_until 5 grep -q 'listening on' "$2.log"
}

# capture_stop FILE: end the capture; fails unless tcpdump wrote every
# packet the kernel handed it.
capture_stop() {
	local got seen
	sleep 0.3
	kill "$CAPTURE" 2>/dev/null
	wait "$CAPTURE" 2>/dev/null
	got=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$1.log")
	seen=$(sed -n 's/^\([0-9]*\) packets received by filter.*/\1/p' \
		"$1.log")
	[[ -n $got && $got == "$seen" ]]
}

# jq: whether port . lies in one of the default ranges, PORT_MIN..PORT_MAX
# or PORT_MIN2..65535 (needs --argjson lo/hi/lo2).
IN_RANGES='(. >= $lo and . <= $hi) or (. >= $lo2 and . <= 65535)'
# jq filter over `nat list --json`: every flow is translated to WAN_H and
# a port in those ranges (needs --arg x WAN_H too).
XLAT_OK="[.[] | select(.translated.src != \$x or
	(.translated.sport | ($IN_RANGES) | not))] | length == 0"
RANGES="$PORT_MIN-$PORT_MAX,$PORT_MIN2-65535"

# The priority-tag check: the pod sends a datagram from port 5555 to
# argv[1]:argv[2] and waits up to 10 s for the answer "prio"; the world
# answers from argv[2] (arguments: the uplink's MAC, the world's and the
# host's address, the NAT port) in a frame tagged VLAN 0, priority 5.
PRIO_POD='
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", 5555))
s.sendto(b"out", (sys.argv[1], int(sys.argv[2])))
s.settimeout(10)
data, peer = s.recvfrom(100)
print(data, peer)
sys.exit(data != b"prio")'
PRIO_WORLD='
import sys
from scapy.all import Dot1Q, Ether, IP, UDP, Raw, conf, sendp
conf.verb = 0
sendp(Ether(dst=sys.argv[1]) / Dot1Q(vlan=0, prio=5) /
      IP(src=sys.argv[2], dst=sys.argv[3]) /
      UDP(sport=7777, dport=int(sys.argv[4])) / Raw(b"prio"), iface="wan0")'

# prio_flow HOST: the NAT port of the flow to port 7777 (fails if none).
prio_flow() {
	nsf -n "$1" nat list --json |
		jq -e '[.[] | select(.original.dport == 7777)][0] |
		.translated.sport'
}

# ---- the main checks, for one XDP mode on a fresh host ----

run_mode() {
	local mode=$1 tag=${1:0:1}
	local H="$P-$tag" W="$P-${tag}w" other=off
	local pods=() ips=() i ip out rc before after json srv stream total
	local flows ipc ips_srv hsrv pcap dump prog1 prog2 p prio

	[[ $mode == off ]] && other=native
	comment "==== --xdp-mode $mode: host $H, world $W ===="
	host_create "$H"
	e2e_require $? "host namespace $H"
	world_create "$H" "$W"
	result "[$mode] world $W behind uplink wan0 of $H" $?
	e2e_require $? "world $W"
	pcap=$TMP/$tag.pcap
	capture_start "$W" "$pcap"
	result "[$mode] capture running on $W's wan0" $? "$(cat "$pcap.log")"

	out=$(nsf -n "$H" init --uplink wan0 --xdp-mode "$mode" 2>&1)
	check_match "[$mode] init --uplink wan0 --xdp-mode $mode" \
		"uplink wan0 .* masquerading to $WAN_H" "$out"
	e2e_require $? "init --uplink"
	check_eq "[$mode] wan0 hooks: $(want_hooks "$mode")" \
		"$(want_hooks "$mode")" "$(hooks "$H" wan0)"
	check_jq "[$mode] status: uplink wan0, $WAN_H, ports" \
		"$(status_json "$H")" '.uplink | .name == "wan0" and
		.snat_ip == $x and .xdp_mode == $m and
		.nat_port_min == $lo and .nat_port_max == $hi and
		.nat_port_min2 == $lo2 and .nat_port_max2 == 65535' \
		--arg x "$WAN_H" --arg m "$mode" \
		--argjson lo "$PORT_MIN" --argjson hi "$PORT_MAX" \
		--argjson lo2 "$PORT_MIN2"
	check_match "[$mode] status shows both port ranges" \
		"ports $RANGES\$" "$(nsf -n "$H" status | grep '^uplink')"

	for ((i = 0; i < NPODS; i++)); do
		ip=$(nsf -n "$H" attach "$P-$tag$i") || break
		pods+=("$P-$tag$i")
		ips+=("$ip")
	done
	check_eq "[$mode] $NPODS pods attached" "$NPODS" "${#pods[@]}"
	e2e_require $? "$NPODS pods"

	bg_pod "$W" 150 "$E2E_PY" "$NT" serve --port 7000 \
		--lifetime 140 >/dev/null
	srv=$E2E_LAST_PID
	wait_until 5 listening "$W" 7000

	# -- ICMP, TCP, UDP out and back --
	before=$(status_json "$H")
	check "[$mode] ping ${pods[0]} -> $WAN_W" \
		pod_exec "${pods[0]}" ping -c 3 -i 0.2 -W 2 "$WAN_W"
	check "[$mode] tcp ${pods[0]} -> $W echoes" \
		pod_exec "${pods[0]}" "$E2E_PY" "$NT" send --proto tcp \
		"$WAN_W" 7000 "tcp from ${pods[0]}"
	check "[$mode] udp ${pods[1]} -> $W echoes (reply from $WAN_W:7000)" \
		pod_exec "${pods[1]}" "$E2E_PY" "$NT" send --proto udp \
		"$WAN_W" 7000 "udp from ${pods[1]}"
	after=$(status_json "$H")
	check_rises "[$mode] fwd-snat counted the requests" fwd-snat \
		"$before" "$after" 5
	check_rises "[$mode] fwd-rnat counted the replies" fwd-rnat \
		"$before" "$after" 5

	# -- the flows, as nat list shows them --
	out=$(nsf -n "$H" nat list 2>&1)
	check_match "[$mode] nat list: a flow of ${ips[0]} -> src=$WAN_H" \
		"src=${ips[0]//./\\.} dst=$WAN_W .* -> src=$WAN_H sport=[0-9]+ " \
		"$out"
	json=$(nsf -n "$H" nat list --json 2>&1)
	check_jq "[$mode] nat list --json is a JSON array" "$json" \
		'type == "array" and length >= 3'
	for p in icmp:0 tcp:0 udp:1; do
		check_jq "[$mode] ${p%:*} flow of ${pods[${p#*:}]} translated to $WAN_H:$RANGES" \
			"$json" "any(.[]; .proto == \$p and
			.original.src == \$s and .original.dst == \$d and
			.translated.src == \$x and
			(.translated.sport | $IN_RANGES))" --arg p "${p%:*}" \
			--arg s "${ips[${p#*:}]}" --arg d "$WAN_W" \
			--arg x "$WAN_H" --argjson lo "$PORT_MIN" \
			--argjson hi "$PORT_MAX" --argjson lo2 "$PORT_MIN2"
	done

	# -- gc and flush, with an established TCP connection open --
	bg_pod "${pods[2]}" 30 "$E2E_PY" "$NT" stream "$WAN_W" 7000 \
		--duration 2.5 --interval 0.05 >"$TMP/$tag.stream" 2>&1
	stream=$E2E_LAST_PID
	sleep 0.5
	out=$(nsf -n "$H" gc 2>&1)
	check_match "[$mode] gc with default timeouts expires nothing" \
		'gc: [0-9]+ flows, 0 expired' "$out"
	out=$(nsf -n "$H" gc --udp-timeout 0 --icmp-timeout 0 2>&1)
	check_match "[$mode] gc --udp-timeout 0 --icmp-timeout 0 expires 2+" \
		'gc: [0-9]+ flows, ([2-9]|[1-9][0-9]+) expired' "$out"
	json=$(nsf -n "$H" nat list --json 2>&1)
	check_jq "[$mode] nat list: no UDP or ICMP flow left after gc" \
		"$json" 'all(.[]; .proto == "tcp")'
	check_jq "[$mode] nat list: established TCP flow of ${pods[2]} kept" \
		"$json" 'any(.[]; .proto == "tcp" and .original.src == $s and
		.state == "ESTABLISHED")' --arg s "${ips[2]}"
	wait "$stream"
	result "[$mode] TCP stream of ${pods[2]} ran through both gc passes" \
		$? "$(cat "$TMP/$tag.stream")"
	out=$(nsf -n "$H" nat flush 2>&1)
	check_match "[$mode] nat flush" 'NAT entries removed' "$out"
	check_eq "[$mode] nat list is empty after flush" "0" \
		"$(nsf -n "$H" nat list --json | jq length)"
	check "[$mode] ping ${pods[0]} -> $WAN_W after flush (new flow)" \
		pod_exec "${pods[0]}" ping -c 1 -W 2 "$WAN_W"

	# -- many concurrent flows from many pods --
	total=$((NPODS * PER_POD))
	bg_start timeout 60 "$E2E_PY" "$NAT" flows --server-ns "$W" \
		--ip "$WAN_W" --port 7100 --per-pod "$PER_POD" --timeout 30 \
		--hold-file "$TMP/$tag.hold" --hold 30 "${pods[@]}" \
		>"$TMP/$tag.flows" 2>&1
	flows=$E2E_LAST_PID
	wait_until 40 grep -q '^flows:' "$TMP/$tag.flows"
	json=$(nsf -n "$H" nat list --json 2>&1)
	touch "$TMP/$tag.hold"
	wait "$flows"
	result "[$mode] $total concurrent TCP connections ($NPODS pods x $PER_POD, same source ports in every pod) all echoed" \
		$? "$(cat "$TMP/$tag.flows")"
	comment "$(head -n 1 "$TMP/$tag.flows")"
	out=$(jq --arg d "$WAN_W" '[.[] | select(.proto == "tcp" and
		.original.dst == $d and .original.dport == 7100)] | length' \
		<<<"$json")
	[[ $out =~ ^[0-9]+$ ]] && ((out >= total))
	result "[$mode] nat list shows >= $total flows to $WAN_W:7100" $? \
		"got $out"
	check_jq "[$mode] translated ports distinct per destination" "$json" \
		'[group_by([.proto, .original.dst, .original.dport])[] |
		map(.translated.sport) | length - (unique | length)] |
		add // 0 | . == 0'
	check_jq "[$mode] every flow translated to $WAN_H:$RANGES" \
		"$json" "$XLAT_OK" --arg x "$WAN_H" \
		--argjson lo "$PORT_MIN" --argjson hi "$PORT_MAX" \
		--argjson lo2 "$PORT_MIN2"

	# -- ICMP errors about a masqueraded flow reach the pod --
	before=$(status_json "$H")
	check "[$mode] UDP to a closed port of $W: ${pods[3]} gets ECONNREFUSED" \
		pod_exec "${pods[3]}" "$E2E_PY" "$NAT" refused "$WAN_W" 7999
	after=$(status_json "$H")
	check_rises "[$mode] fwd-rnat-icmp rose" fwd-rnat-icmp \
		"$before" "$after"

	# -- a reply behind a priority tag (802.1Q, VLAN 0) reaches the pod --
	# The kernel takes such a frame as untagged, and the tc program sees
	# it after the kernel moved the tag into the skb; XDP sees the tag
	# and handed the reply to the host, which has no socket on the NAT
	# port (the pod never got it).
	bg_pod "${pods[6]}" 20 "$E2E_PY" -c "$PRIO_POD" "$WAN_W" 7777 \
		>"$TMP/$tag.prio" 2>&1
	prio=$E2E_LAST_PID
	wait_until 5 prio_flow "$H"
	out=$(prio_flow "$H")
	check "[$mode] $W answers ${pods[6]}'s UDP behind a priority tag" \
		pod_exec "$W" "$E2E_PY" -c "$PRIO_WORLD" \
		"$(ip -n "$H" -br link show wan0 | awk '{print $3}')" \
		"$WAN_W" "$WAN_H" "$out"
	wait "$prio"
	result "[$mode] ${pods[6]} got the tagged reply" $? \
		"$(cat "$TMP/$tag.prio")"

	# -- the host's own traffic through the uplink --
	before=$(status_json "$H")
	check "[$mode] $H itself pings $WAN_W" \
		pod_exec "$H" ping -c 2 -i 0.2 -W 2 "$WAN_W"
	check "[$mode] tcp from $H itself to $W" \
		pod_exec "$H" "$E2E_PY" "$NT" send --proto tcp "$WAN_W" 7000 \
		"tcp from $H"
	check "[$mode] udp from $H itself to $W" \
		pod_exec "$H" "$E2E_PY" "$NT" send --proto udp "$WAN_W" 7000 \
		"udp from $H"
	bg_pod "$H" 30 "$E2E_PY" "$NT" serve --port 7300 --lifetime 20 \
		>/dev/null
	hsrv=$E2E_LAST_PID
	wait_until 5 listening "$H" 7300
	check "[$mode] tcp from $W to a server in $H" \
		pod_exec "$W" "$E2E_PY" "$NT" send --proto tcp "$WAN_H" 7300 \
		"tcp from $W"
	check "[$mode] udp from $W to a server in $H" \
		pod_exec "$W" "$E2E_PY" "$NT" send --proto udp "$WAN_H" 7300 \
		"udp from $W"
	kill "$hsrv" 2>/dev/null
	wait "$hsrv" 2>/dev/null
	after=$(status_json "$H")
	check_rises "[$mode] pass-host counted the host's packets" pass-host \
		"$before" "$after" 10

	# -- init re-run, and a mode switch, under an iperf3 stream --
	bg_pod "$W" 30 iperf3 -s -1 -B "$WAN_W" -p 5201 >/dev/null 2>&1
	ips_srv=$E2E_LAST_PID
	wait_until 5 listening "$W" 5201
	prog1=$(status_json "$H" | jq -r .uplink.prog_id)
	bg_pod "${pods[4]}" 30 iperf3 -c "$WAN_W" -p 5201 -t 5 -b 200M -J \
		>"$TMP/$tag.iperf" 2>&1
	ipc=$E2E_LAST_PID
	sleep 1.2
	check "[$mode] init again under an iperf3 stream" nsf -n "$H" init
	sleep 0.7
	check "[$mode] init --xdp-mode $other under the stream" \
		nsf -n "$H" init --xdp-mode "$other"
	check_eq "[$mode] wan0 programs now: $(want_progs "$other")" \
		"$(want_progs "$other")" "$(prog_hooks "$H" wan0)"
	sleep 0.7
	check "[$mode] init --xdp-mode $mode under the stream" \
		nsf -n "$H" init --xdp-mode "$mode"
	check_eq "[$mode] wan0 programs back to: $(want_progs "$mode")" \
		"$(want_progs "$mode")" "$(prog_hooks "$H" wan0)"
	wait "$ipc"
	rc=$?
	wait "$ips_srv"
	json=$(cat "$TMP/$tag.iperf")
	result "[$mode] iperf3 -t 5 ran through the reloads (exit 0)" "$rc" \
		"exit $rc" "$(jq -r '.error // empty' <<<"$json" 2>&1)"
	check_jq "[$mode] iperf3: one data connection, data in every second" \
		"$json" '(.start.connected | length) == 1 and
		(.intervals | length) >= 5 and
		all(.intervals[]; .sum.bytes > 0) and
		.end.sum_received.bytes > 0'
	comment "iperf3: $(jq -r '"\(.end.sum_received.bits_per_second /
		1e6 | floor) Mbit/s received, \(.end.sum_sent.retransmits)
		retransmits"' <<<"$json" 2>&1 | xargs)"
	prog2=$(status_json "$H" | jq -r .uplink.prog_id)
	[[ $prog2 =~ ^[1-9][0-9]*$ && $prog2 != "$prog1" ]]
	result "[$mode] uplink program reloaded (id $prog1 -> $prog2)" $?

	# -- uplink MTU: no fragmentation in BPF, no pod address leaks --
	ip -n "$H" link set wan0 mtu 1400 && ip -n "$W" link set wan0 mtu 1400
	# The uplink neighbour is resolved by now (see the end of the file).
	before=$(status_json "$H")
	out=$(pod_exec "${pods[5]}" ping -c 2 -i 0.2 -W 1 -M dont -s 1450 \
		"$WAN_W" 2>&1)
	rc=$?
	after=$(status_json "$H")
	((rc != 0)) && grep -q ' 0 received' <<<"$out"
	result "[$mode] ping -M dont -s 1450 over MTU 1400: no reply" $? "$out"
	check_rises "[$mode] drop-mtu counted both packets" drop-mtu \
		"$before" "$after" 2
	before=$after
	out=$(pod_exec "${pods[5]}" ping -c 2 -i 0.2 -W 1 -M "do" -s 1450 \
		"$WAN_W" 2>&1)
	after=$(status_json "$H")
	check_match "[$mode] ping -M do -s 1450: the pod learns mtu 1400" \
		'(Frag needed.*mtu = 1400|message too long, mtu=1400)' "$out"
	check_rises "[$mode] pass-frag-needed rose" pass-frag-needed \
		"$before" "$after"
	check "[$mode] ping -M do -s 1350 fits" \
		pod_exec "${pods[5]}" ping -c 1 -W 2 -M "do" -s 1350 "$WAN_W"

	# -- what the world saw --
	capture_stop "$pcap"
	result "[$mode] capture of $W complete (every packet written)" $? \
		"$(cat "$pcap.log")"
	dump=$(timeout 30 tcpdump -r "$pcap" -n -v 2>/dev/null)
	comment "$W captured $(grep -c '^[0-9]' <<<"$dump") IPv4 packets"
	check_eq "[$mode] $W never saw a 10.244. address (headers, ICMP payloads)" \
		"" "$(grep -m 5 '10\.244\.' <<<"$dump")"
	check_match "[$mode] $W saw $WAN_H as the source" \
		"$WAN_H\.[0-9]+ > $WAN_W\." "$dump"

	# -- no netfilter involved --
	out=$(pod_exec "$H" conntrack -L 2>&1)
	check_match "[$mode] conntrack -L in $H: 0 entries" \
		'(^|[^0-9])0 flow entries' "$out"
	check_eq "[$mode] nft list ruleset in $H is empty" "" \
		"$(pod_exec "$H" nft list ruleset 2>&1)"
	check_eq "[$mode] iptables-save in $H: no rule" "" \
		"$(pod_exec "$H" iptables-save 2>&1 | grep -e '^-A' -ie nsf)"
	check_eq "[$mode] iptables -t nat -S in $H: policies only" "" \
		"$(pod_exec "$H" iptables -t nat -S 2>&1 | grep -v '^-P ')"

	# -- reset takes everything off --
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	check "[$mode] reset $H" nsf -n "$H" reset
	nothing_left "$H" "[$mode] no pins, state, XDP, tc filter or clsact left on wan0" wan0
	check_eq "[$mode] no pod veth left in $H" "" \
		"$(ip -n "$H" -o link show | grep -oE ': nsf[0-9a-f]+')"
	out=""
	for ((i = 0; i < NPODS; i++)); do
		[[ -e /run/netns/$P-$tag$i ]] && out+=" $P-$tag$i"
	done
	check_eq "[$mode] pod namespaces gone" "" "$out"
	check "[$mode] $H still reaches $W after reset" \
		pod_exec "$H" ping -c 1 -W 2 "$WAN_W"
	ip netns del "$W"
	ip netns del "$H"
}

# ---- NAT port exhaustion: 4 ports ----

run_exhaustion() {
	local H="$P-x" W="$P-xw" a b before after out json
	local srv1 srv2

	comment "==== port exhaustion: host $H (--nat-ports 61000-61003) ===="
	host_world "$H" "$W"
	check "init --uplink wan0 --nat-ports 61000-61003" \
		nsf -n "$H" init --uplink wan0 --nat-ports 61000-61003
	e2e_require $? "init with 4 NAT ports"
	a=$(nsf -n "$H" attach "$P-x0") && b=$(nsf -n "$H" attach "$P-x1")
	e2e_require $? "pods $P-x0 and $P-x1"
	bg_pod "$W" 60 "$E2E_PY" "$NT" serve --port 7400 --lifetime 50 \
		>/dev/null
	srv1=$E2E_LAST_PID
	bg_pod "$W" 60 "$E2E_PY" "$NT" serve --port 7401 --lifetime 50 \
		>/dev/null
	srv2=$E2E_LAST_PID
	wait_until 5 listening "$W" 7400 && wait_until 5 listening "$W" 7401

	before=$(status_json "$H")
	out=$(timeout 30 "$E2E_PY" "$NAT" exhaust --ip "$WAN_W" --port 7400 \
		--other-port 7401 --count 4 --fail-after 2 "$P-x0" "$P-x1" 2>&1)
	after=$(status_json "$H")
	comment "exhaust: $out"
	json=$(tail -n 1 <<<"$out")
	check_jq "4 long-lived connections to $WAN_W:7400 succeed" "$json" \
		'.held == ["ok", "ok", "ok", "ok"]'
	check_jq "a 5th to $WAN_W:7400 does not connect (times out)" \
		"$json" '.extra == "timeout"'
	check_rises "drop-nat-exhausted rose" drop-nat-exhausted \
		"$before" "$after"
	check_jq "the first 4 still carry data after that" "$json" \
		'.held_again == ["ok", "ok", "ok", "ok"]'
	check_jq "a connection to another port ($WAN_W:7401) works" "$json" \
		'.other_port == "ok"'
	json=$(nsf -n "$H" nat list --json 2>&1)
	check_eq "the 4 flows to :7400 hold ports 61000-61003" \
		"61000 61001 61002 61003" "$(jq -r '[.[] |
		select(.original.dport == 7400) | .translated.sport] |
		sort | map(tostring) | join(" ")' <<<"$json" 2>&1)"
	kill "$srv1" "$srv2" 2>/dev/null
	wait "$srv1" "$srv2" 2>/dev/null
	check "reset $H" nsf -n "$H" reset
	ip netns del "$W"
	ip netns del "$H"
}

# ---- init errors: each one-line, non-zero, leaving nothing ----

# init_fails HOST DESC REGEX ARGS...: `init ARGS` fails with one line on
# stderr matching REGEX, nothing on stdout.
init_fails() {
	local h=$1 desc=$2 re=$3 rc
	shift 3
	nsf -n "$h" init "$@" >"$TMP/init.out" 2>"$TMP/init.err"
	rc=$?
	((rc != 0)) && [[ ! -s $TMP/init.out ]] &&
		[[ $(wc -l <"$TMP/init.err") -eq 1 ]] &&
		grep -Eq -- "$re" "$TMP/init.err"
	result "$desc" $? "init $* exit $rc" \
		"stdout: $(cat "$TMP/init.out")" "stderr: $(cat "$TMP/init.err")"
}

run_errors() {
	local H="$P-e" out

	comment "==== init errors: host $H ===="
	host_create "$H"
	e2e_require $? "host namespace $H"
	# Uplinks whose other end stays in H: no traffic is needed here.
	ip -n "$H" link add wan0 type veth peer name wan0p &&
		ip -n "$H" link add wan1 type veth peer name wan1p &&
		ip -n "$H" addr add "$WAN_H/24" dev wan0 &&
		ip -n "$H" link set wan0 up && ip -n "$H" link set wan0p up &&
		ip -n "$H" link set wan1 up && ip -n "$H" link set wan1p up
	e2e_require $? "veths wan0 and wan1 in $H"
	pod_exec "$H" sysctl -qw net.ipv4.ip_local_port_range="32768 60999"

	init_fails "$H" "--nat-ports 60000-61000 overlapping ip_local_port_range 32768-60999: one-line error" \
		'^nsfast: init: .*60000-61000.*ip_local_port_range' \
		--uplink wan0 --nat-ports 60000-61000
	nothing_left "$H" "... nothing left (no pins, state, hook on wan0)" wan0
	init_fails "$H" "--nat-ports 1024-2000,60000-61000: the second range overlaps" \
		'^nsfast: init: .*60000-61000.*ip_local_port_range' \
		--uplink wan0 --nat-ports 1024-2000,60000-61000
	init_fails "$H" "--nat-ports 1024-2000,1500-3000: overlapping ranges" \
		"^nsfast: init: invalid --nat-ports '1024-2000,1500-3000'" \
		--uplink wan0 --nat-ports 1024-2000,1500-3000
	nothing_left "$H" "... nothing left" wan0
	init_fails "$H" "--uplink nosuchdev: one-line error" \
		'^nsfast: init: .*nosuchdev' --uplink nosuchdev
	nothing_left "$H" "... nothing left" wan0 wan1
	init_fails "$H" "--uplink wan1 without an IPv4 address: one-line error" \
		'^nsfast: init: .*wan1.*(IPv4|address).*--snat-ip' --uplink wan1
	nothing_left "$H" "... nothing left" wan1
	# The same overlap on a host already running without an uplink.
	check "init without an uplink" nsf -n "$H" init
	init_fails "$H" "re-run with overlapping --nat-ports: one-line error" \
		'^nsfast: init: .*ip_local_port_range' \
		--uplink wan0 --nat-ports 60000-61000
	check_jq "... the host keeps running, still without an uplink" \
		"$(status_json "$H")" '.initialised == true and .uplink == null'
	check_eq "... nothing on wan0" "" "$(hooks "$H" wan0)"
	check "reset" nsf -n "$H" reset
	out=$(nsf -n "$H" init --uplink wan1 --snat-ip 10.98.1.2 --xdp-mode generic 2>&1)
	check_match "--uplink wan1 --snat-ip 10.98.1.2 works" \
		"uplink wan1 .* masquerading to 10\.98\.1\.2" "$out"
	check_jq "... status: wan1, masquerading to 10.98.1.2" \
		"$(status_json "$H")" \
		'.uplink.name == "wan1" and .uplink.snat_ip == "10.98.1.2"'
	check_eq "... generic XDP on wan1" "xdpgeneric" "$(hooks "$H" wan1)"
	check "reset" nsf -n "$H" reset
	nothing_left "$H" "... reset left nothing, wan1 bare" wan1
	ip netns del "$H"
}

# ---- uplink MTU before the gateway's neighbour entry is resolved ----

# run_mode checks the MTU once traffic has resolved the uplink gateway's
# MAC. Before that, bpf_fib_lookup() answers BPF_FIB_LKUP_RET_NO_NEIGH, and
# its skb variant checks the MTU (tot_len 0) only when the lookup succeeds:
# the first oversized packet of a flow is masqueraded and redirected to an
# uplink that cannot send it, instead of drop-mtu / pass-frag-needed.
# Pods attached before there is an uplink; a later init adds it (the order
# the demo uses): masquerading must work for them too.
run_late_uplink() {
	local H="$P-l" W="$P-lw" pod="$P-l0"

	comment "==== uplink added after the pods: host $H ===="
	host_create "$H"
	e2e_require $? "host namespace $H"
	check "init without an uplink" nsf -n "$H" init
	nsf -n "$H" attach "$pod" >/dev/null
	e2e_require $? "pod $pod"
	world_create "$H" "$W"
	e2e_require $? "world $W"
	check "init --uplink wan0 after the pod was attached" \
		nsf -n "$H" init --uplink wan0
	# The default mode, auto, picks tc for a veth uplink: native XDP
	# there would first copy every skb (docs/benchmarks.md).
	check_eq "default xdp mode on a veth uplink: auto, tc on wan0" \
		"auto clsact tc:nsf_uplink_tc" \
		"$(status_json "$H" | jq -r '.uplink.xdp_mode') $(hooks "$H" wan0)"
	check "the earlier pod reaches the world, masqueraded" \
		pod_exec "$pod" ping -c 2 -i 0.2 -W 1 "$WAN_W"
	check "reset $H" nsf -n "$H" reset
	ip netns del "$W"
	ip netns del "$H"
}

run_unresolved_mtu() {
	local H="$P-m" W="$P-mw" pod="$P-m0" before after out fwd

	comment "==== uplink MTU with the gateway's neighbour unresolved: host $H ===="
	host_world "$H" "$W"
	check "init --uplink wan0" nsf -n "$H" init --uplink wan0
	nsf -n "$H" attach "$pod" >/dev/null
	e2e_require $? "pod $pod"
	ip -n "$H" link set wan0 mtu 1400 && ip -n "$W" link set wan0 mtu 1400

	ip -n "$H" neigh flush dev wan0
	before=$(status_json "$H")
	out=$(pod_exec "$pod" ping -c 1 -W 1 -M "do" -s 1450 "$WAN_W" 2>&1)
	after=$(status_json "$H")
	fwd=$(ctr_delta fwd-snat "$before" "$after")
	grep -q 'Frag needed' <<<"$out" && [[ $fwd == 0 ]]
	result "DF, over the MTU, neighbour unresolved: Frag needed, not forwarded" \
		$? "$out" "fwd-snat +$fwd, pass-frag-needed +$(
			ctr_delta pass-frag-needed "$before" "$after")"

	ip -n "$H" neigh flush dev wan0
	# The frag-needed above left a PMTU of 1400 in the pod, which would
	# make it fragment this one: forget it, so one 1478-byte packet goes.
	ip -n "$pod" route flush cache
	before=$(status_json "$H")
	pod_exec "$pod" ping -c 1 -W 1 -M dont -s 1450 "$WAN_W" >/dev/null 2>&1
	after=$(status_json "$H")
	fwd=$(ctr_delta fwd-snat "$before" "$after")
	[[ $(ctr_delta drop-mtu "$before" "$after") == 1 && $fwd == 0 ]]
	result "no DF, over the MTU, neighbour unresolved: drop-mtu, not forwarded" \
		$? "fwd-snat +$fwd, drop-mtu +$(
			ctr_delta drop-mtu "$before" "$after")"
	check "reset $H" nsf -n "$H" reset
	ip netns del "$W"
	ip netns del "$H"
}

# gc --interval across a reset and a new init: it collects the NAT map
# pinned now, not the dead one it opened first, and waits in between.
run_gc_reinit() {
	local H="$P-g" W="$P-gw" pod="$P-g0" gc out

	comment "==== gc --interval across reset and init: host $H ===="
	uplink_host "$H" "$W"
	out=$E2E_TMPDIR/gc.out
	bg_start timeout 60 "$NSFAST" -n "$H" gc --interval 1 >"$out" 2>&1
	gc=$E2E_LAST_PID
	wait_until 10 grep -q flows "$out"
	check "reset $H while gc --interval 1 runs" nsf -n "$H" reset
	wait_until 10 grep -q "waiting for nsfast init" "$out"
	result "  gc says it waits for init" $? "$(cat "$out")"
	check "init --uplink wan0 again" nsf -n "$H" init --uplink wan0
	nsf -n "$H" attach "$pod" >/dev/null
	e2e_require $? "pod $pod"
	check "$pod pings the world (a NAT flow)" \
		pod_exec "$pod" ping -c 1 -W 1 "$WAN_W"
	wait_until 10 grep -Eq "gc: [1-9][0-9]* flows" "$out"
	result "  gc collects the new NAT map: it sees the flow" $? "$(cat "$out")"
	kill "$gc"
	wait "$gc"
	result "  gc --interval ends with status 0" $? "$(cat "$out")"
	check_fails "gc --interval '-0' fails" nsf -n "$H" gc --interval -0
	check "reset $H" nsf -n "$H" reset
	ip netns del "$W"
	ip netns del "$H"
}

# A detached pod's flows go with it. Left in the NAT table, a reply to
# one of them reached whichever pod got the address next: here a datagram
# the world sends to pod $P-d0's translated port arrives in $P-d1.
udp_from() { # udp_from POD: one datagram from POD's port 5000 to W:7000
	pod_exec "$1" "$E2E_PY" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5000))
s.sendto(b"hi", ("'"$WAN_W"'", 7000))'
}
run_detach_flows() {
	local H="$P-d" W="$P-dw" a port got

	comment "==== a detached pod's NAT flows: host $H ===="
	uplink_host "$H" "$W"
	a=$(nsf -n "$H" attach "$P-d0")
	e2e_require $? "pod $P-d0"
	check "$P-d0 pings the world" pod_exec "$P-d0" ping -c 1 -W 2 "$WAN_W"
	check "$P-d0 sends a UDP datagram to the world" udp_from "$P-d0"
	port=$(nsf -n "$H" nat list --json | jq -r --arg a "$a" '.[] |
		select(.original.src == $a and .proto == "udp") |
		.translated.sport')
	check "detach $P-d0" nsf -n "$H" detach "$P-d0"
	check_eq "no flow of $a left in nat list" "" \
		"$(nsf -n "$H" nat list --json | jq -r --arg a "$a" '.[] |
		select(.original.src == $a) | .proto')"
	check_eq "no NAT entry names $a" "" \
		"$(bpftool -j map dump pinned "${E2E_PINS[-1]}/nsf_nat4" |
			jq -c --arg k "$(printf '0x%02x ' ${a//./ })" '
			($k | rtrimstr(" ") | split(" ")) as $b | .[] |
			select(.key[0:4] == $b or .value[0:4] == $b) | .key' \
			2>&1)"
	check_eq "$P-d1 attaches with $a" "$a" \
		"$(nsf -n "$H" attach "$P-d1" --ip "$a" 2>&1)"
	got=$E2E_TMPDIR/d1.got
	bg_pod "$P-d1" 10 "$E2E_PY" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5000))
s.settimeout(3)
try:
    print(s.recvfrom(100)[0].decode())
except socket.timeout:
    print("nothing")' >"$got"
	wait_until 5 udp_bound "$P-d1" 5000
	pod_exec "$W" "$E2E_PY" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("'"$WAN_W"'", 7000))
s.sendto(b"for '"$P"'-d0", ("'"$WAN_H"'", '"${port:-9}"'))'
	wait "$E2E_LAST_PID"
	check_eq "a reply to $P-d0's flow does not reach $P-d1" "nothing" \
		"$(cat "$got")"
	check "reset $H" nsf -n "$H" reset
	ip netns del "$W"
	ip netns del "$H"
}

for m in $MODES; do
	run_mode "$m"
done
run_detach_flows
run_gc_reinit
run_exhaustion
run_late_uplink
run_unresolved_mtu
run_errors
e2e_finish
