#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq filters: their $variables come from --arg
# Malformed and hostile traffic end to end (scapy, tests/e2e/lib/hostile.py):
# frames from a pod to another pod and to the world, and from the world to
# the uplink, each either dropped with a counted reason or handled as a
# router would (what "correctly" means is stated per case below). All the
# while a TCP stream runs between two other pods, the host namespace pings
# and streams to the world, and captures check that no frame with a pod
# source address ever reaches the world and what reaches the target pod.
#
#   A (attacker) --veth--+                         W (world) 10.99.0.1
#   T (target)   --veth--+-- H (nsfast) wan0 ====== wan0
#   B, C (a TCP stream between them)
E2E_DEADLINE=${E2E_DEADLINE:-300}
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

NT="$E2E_LIB_DIR/nettool.py"
HOSTILE="$E2E_LIB_DIR/hostile.py"
WAN_H=10.99.0.2
WAN_W=10.99.0.1
N=5 # copies of each frame
TMP=$E2E_TMPDIR

H="$P-h"
W="$P-w"
# Native XDP on the uplink, by name (auto would pick tc on a veth): the
# world's bad frames meet nsf_uplink_xdp on a real receive path.
uplink_host "$H" "$W" --xdp-mode native
A=$(nsf -n "$H" attach "$P-a") && T=$(nsf -n "$H" attach "$P-t") &&
	B=$(nsf -n "$H" attach "$P-b") && C=$(nsf -n "$H" attach "$P-c")
e2e_require $? "pods"
comment "attacker $A, target $T, stream $B -> $C"
GWMAC=$(ip -n "$P-a" neigh show 169.254.1.1 | awk '{print $5}')
WANMAC=$(ip -n "$H" -o link show wan0 | grep -o 'link/ether [0-9a-f:]*' |
	awk '{print $2}')

# ---- traffic that must not notice anything ----

check "before: the host reaches the world" \
	ip netns exec "$H" ping -c1 -W2 -q "$WAN_W"
check "before: pod $P-b reaches pod $P-c" pod_exec "$P-b" ping -c1 -W2 -q "$C"
bg_pod "$P-c" 120 "$E2E_PY" "$NT" serve --port 7000 --lifetime 110 >/dev/null
bg_pod "$W" 120 "$E2E_PY" "$NT" serve --port 7001 --lifetime 110 >/dev/null
wait_until 5 listening "$P-c" 7000 && wait_until 5 listening "$W" 7001
# Captures: what reaches the target pod; anything from a pod address
# reaching the world un-masqueraded.
bg_pod "$P-t" 120 tcpdump -i eth0 -U -n -w "$TMP/t.pcap" \
	'udp port 7009 or tcp port 7009' 2>/dev/null
bg_pod "$W" 120 tcpdump -i wan0 -U -n -w "$TMP/w.pcap" \
	'src net 10.244.0.0/16' 2>/dev/null
sleep 1
STREAM_SECS=${MALFORMED_STREAM_SECS:-45}
bg_pod "$P-b" 120 "$E2E_PY" "$NT" stream "$C" 7000 \
	--duration "$STREAM_SECS" --interval 0.02
PODSTREAM=$E2E_LAST_PID
bg_start timeout 120 ip netns exec "$H" "$E2E_PY" "$NT" stream "$WAN_W" 7001 \
	--duration "$STREAM_SECS" --interval 0.05
HOSTSTREAM=$E2E_LAST_PID
bg_start timeout 120 ip netns exec "$H" ping -q -i 0.2 -w "$STREAM_SECS" \
	"$WAN_W"
HOSTPING=$E2E_LAST_PID

# ---- per case ----

snap() { nsf -n "$H" status --json; }
# d JSON0 JSON1 JQ: numeric difference of JQ between two status documents.
d() {
	echo $(($(jq -r "$3" <<<"$2") - $(jq -r "$3" <<<"$1")))
}
epc() { echo ".endpoints[] | select(.name == \"$1\") | .counters.$2.packets"; }
total='[.counters[].packets] | add'

# delivered CASE: frames of CASE the target pod has received so far.
delivered() {
	tcpdump -r "$TMP/t.pcap" -n -A 2>/dev/null | grep -c "nsfast-hostile-$1"
}

# One `hostile.py serve` per sending namespace, through FIFOs: scapy
# loads once, not once per case.
gen_start() { # NAME NETNS
	mkfifo "$TMP/$1.in" "$TMP/$1.out" || return 1
	# The FIFOs are opened by the background process itself (a redirection
	# on bg_start would open them here and block).
	timeout 280 ip netns exec "$2" "$E2E_PY" "$HOSTILE" serve \
		<"$TMP/$1.in" >"$TMP/$1.out" 2>"$TMP/$1.err" &
	E2E_PIDS+=("$!")
}
gen_start pod "$P-a" && exec {POD_IN}>"$TMP/pod.in" && exec {POD_OUT}<"$TMP/pod.out"
e2e_require $? "frame generator in $P-a"
gen_start world "$W" && exec {W_IN}>"$TMP/world.in" && exec {W_OUT}<"$TMP/world.out"
e2e_require $? "frame generator in $W"

# send_case FROM CASE DST [ARGS...]: hostile.py in FROM (the attacker pod
# or the world), to the gateway (pod side) or the uplink (world side).
# Prints what it printed; its exit status.
send_case() {
	local from=$1 c=$2 dst=$3 line in out
	shift 3
	if [[ $from == pod ]]; then
		in=$POD_IN out=$POD_OUT
		echo "$c --iface eth0 --dst-mac $GWMAC --src-ip ${SRC:-$A}" \
			"--dst-ip $dst --count $N $*" >&"$in"
	else
		in=$W_IN out=$W_OUT
		echo "$c --iface wan0 --dst-mac $WANMAC --src-ip $WAN_W" \
			"--dst-ip $dst --count $N $*" >&"$in"
	fi
	read -r -t 60 line <&"$out" || { echo "no answer from hostile.py"; return 1; }
	line=${line#done }
	echo "${line#* }"
	return "${line%% *}"
}

# pod_case CASE DST FRAMES EXPECT: send, then judge by EXPECT:
#   dropped   counted as dropped for A (drop-*), not delivered to T
#   refused   not forwarded by the fast path (A's from-pod count did not
#             move), counted under some reason, not delivered to T
#   to_target forwarded to T by the fast path and received there
#   masq      masqueraded (fwd-snat), so it left with the uplink address
#   masq_or_drop  masqueraded or dropped, never leaked (see the capture)
pod_case() {
	local c=$1 dst=$2 frames=$3 want=$4 s0 s1 from drop cnt got msg rc
	s0=$(snap)
	got=$(delivered "$c")
	send_case pod "$c" "$dst" >/dev/null 2>&1
	# Long enough for a frame the kernel forwards to show up at T.
	sleep 0.6
	s1=$(snap)
	from=$(d "$s0" "$s1" "$(epc "$P-a" from_pod)")
	drop=$(d "$s0" "$s1" "$(epc "$P-a" drop)")
	cnt=$(d "$s0" "$s1" "$total")
	# Give the capture time to show what arrived (the expected ones).
	[[ $want != to_target ]] ||
		wait_until 3 test "$(delivered "$c")" -ge $((got + frames))
	got=$(($(delivered "$c") - got))
	msg="A from_pod +$from, A drop +$drop, all counters +$cnt, delivered to T: $got"
	case $want in
	dropped) ((drop >= frames && got == 0)) ;;
	refused) ((from == 0 && cnt >= frames && got == 0)) ;;
	to_target) ((from >= frames && got >= frames)) ;;
	masq) (($(d "$s0" "$s1" '.counters["fwd-snat"].packets') >= frames)) ;;
	masq_or_drop) ((from + drop >= frames)) ;;
	esac
	rc=$?
	if [[ -n ${TODO:-} ]]; then
		check_todo "pod -> $dst: $c is $want" "$TODO" "$rc" "$msg"
	else
		result "pod -> $dst: $c is $want" "$rc" "$msg"
	fi
}

# world_case CASE DST FRAMES: from the world to the uplink: no pod gets
# anything, every frame counted (the host's stack decides the rest).
world_case() {
	local c=$1 dst=$2 frames=$3 s0 s1 to cnt rnat
	s0=$(snap)
	send_case world "$c" "$dst" >/dev/null 2>&1
	sleep 0.3
	s1=$(snap)
	# T has no flow to the world: anything delivered to it is a leak. (A
	# has: late replies to its earlier frames may still come in.)
	to=$(d "$s0" "$s1" "$(epc "$P-t" to_pod)")
	rnat=$(($(d "$s0" "$s1" '.counters["fwd-rnat"].packets') +
		$(d "$s0" "$s1" '.counters["fwd-rnat-icmp"].packets')))
	cnt=$(d "$s0" "$s1" "$total")
	((to == 0 && cnt >= frames))
	result "world -> $dst: $c reaches no pod and is counted" $? \
		"to_pod of $P-t +$to, fwd-rnat(-icmp) +$rnat, all counters +$cnt"
}

# Pod to pod. Malformed headers: the fast path leaves them to the kernel
# (pass-malformed), whose ip_rcv() drops them; they never reach T.
for c in trunc-ip bad-ihl-4 bad-ihl-15 totlen-long totlen-short bad-ipcsum; do
	pod_case "$c" "$T" "$N" refused
done
# A router forwards these as they are; T's stack judges them.
pod_case ip-options "$T" "$N" to_target
pod_case frag-first "$T" "$N" to_target
pod_case udp-odd "$T" "$N" to_target
pod_case udp-zero "$T" "$N" masq_or_drop # no payload marker: counted only
# TTL 1 / 0: to the kernel (pass-ttl), which answers time exceeded.
pod_case ttl0 "$T" "$N" refused
out=$(send_case pod ttl1 "$T" --count 1 --expect-icmp 11 2>&1)
check_match "pod -> $T: TTL 1 is answered with ICMP time exceeded" \
	"^icmp type 11 from" "$out"
# Frames not addressed to the gateway MAC are not routed.
pod_case l2-broadcast "$T" "$N" refused
# 802.1Q tagged (VLAN 100, and a priority tag): the kernel moves the tag
# into the skb before tc sees the frame, which then looked untagged and
# was forwarded with its tag, into VLAN 100 of the uplink (masqueraded)
# or to T. Pods have no VLANs: another EtherType, drop-not-ipv4.
for c in vlan vlan-prio; do
	pod_case "$c" "$T" "$N" refused
	pod_case "$c" "$WAN_W" "$N" refused
done
# Spoofed source (C's address, sent by A): dropped (drop-spoofed-ip),
# charged to A, never delivered.
SRC=$C pod_case plain "$T" "$N" dropped

# Pod to the world: every frame masqueraded or dropped with a reason;
# the capture at the end shows that none left with a pod address.
pod_case plain "$WAN_W" "$N" masq
pod_case bad-l4csum "$WAN_W" "$N" masq
pod_case udp-odd "$WAN_W" "$N" masq
pod_case udp-zero "$WAN_W" "$N" masq
pod_case udp-badlen "$WAN_W" "$N" masq
for c in frag-first frag-middle; do
	pod_case "$c" "$WAN_W" "$N" dropped # drop-no-nat
done
pod_case frag-overlap "$WAN_W" $((2 * N)) dropped
for c in tcp-synfin tcp-null tcp-xmas tcp-synrst; do
	pod_case "$c" "$WAN_W" "$N" masq_or_drop
done
pod_case icmp-err-noflow "$WAN_W" "$N" dropped # drop-no-nat
pod_case icmp-redirect "$WAN_W" "$N" dropped
pod_case trunc-l4 "$WAN_W" "$N" refused
out=$(send_case pod ttl1 "$WAN_W" --count 1 --expect-icmp 11 2>&1)
check_match "pod -> world: TTL 1 is answered with ICMP time exceeded" \
	"^icmp type 11 from" "$out"
# The pod CIDR's network and broadcast addresses, and a free address of
# it, are no pod: dropped (drop-no-pod), never masqueraded into the world.
pod_case plain 10.244.255.255 "$N" dropped
pod_case plain 10.244.0.0 "$N" dropped
pod_case plain 10.244.77.77 "$N" dropped
# Limited broadcast and multicast: the kernel's (pass-not-unicast), which
# does not forward them.
pod_case plain 255.255.255.255 "$N" refused
pod_case plain 224.0.0.251 "$N" refused

# ARP flood from a pod: answered or passed, counted, nothing else moves.
s0=$(snap)
send_case pod arp-flood "$T" --count 4 >/dev/null 2>&1
s1=$(snap)
arp=$(($(d "$s0" "$s1" '.counters["pass-arp"].packets') +
	$(d "$s0" "$s1" '.counters["arp-reply"].packets')))
((arp >= 2000))
result "ARP flood from a pod (2000 requests): all counted (pass-arp/arp-reply)" \
	$? "pass-arp + arp-reply rose by $arp"

# World to the uplink.
for c in trunc-ip bad-ihl-4 bad-ihl-15 totlen-long bad-ipcsum frag-first \
	frag-middle ttl1 ttl0 bad-l4csum udp-zero tcp-synfin tcp-xmas \
	icmp-err-noflow ip-options; do
	world_case "$c" "$WAN_H" "$N"
done
world_case plain 10.99.0.255 "$N"
world_case plain 255.255.255.255 "$N"
# A burst this size overflows the veth's receive ring: what the kernel
# drops there never reaches XDP, so at least half must be counted.
world_case arp-flood "$WAN_H" 1250
exec {POD_IN}>&- {W_IN}>&-

# ---- nothing else noticed ----

check "after: the host reaches the world" \
	ip netns exec "$H" ping -c1 -W2 -q "$WAN_W"
check "after: pod $P-b reaches pod $P-c" pod_exec "$P-b" ping -c1 -W2 -q "$C"
check "after: the attacker pod itself still works" \
	pod_exec "$P-a" ping -c1 -W2 -q "$WAN_W"
wait "$PODSTREAM"
result "TCP stream $P-b -> $P-c ran undisturbed throughout" $?
wait "$HOSTSTREAM"
result "the host's own TCP stream to the world ran undisturbed" $?
wait "$HOSTPING"
result "the host's pings to the world every 0.2 s: none lost" $?
sleep 0.5
leaked=$(tcpdump -r "$TMP/w.pcap" -n 2>/dev/null | wc -l)
check_eq "no frame with a pod source address reached the world" 0 "$leaked"
if ((leaked)); then
	comment "$(tcpdump -r "$TMP/w.pcap" -n 2>/dev/null | head -5)"
fi
comment "counters: $(snap | jq -c '.counters | with_entries(
	select(.value.packets > 0)) | map_values(.packets)')"

e2e_finish
