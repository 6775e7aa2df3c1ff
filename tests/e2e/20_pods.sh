#!/usr/bin/env bash
# Pods on the fast path: connectivity (ICMP, TCP, UDP) with exact counters,
# no bridge and no forwarding in the host, the tc program in place; detach
# undoes attach; init re-run under traffic; --netns-path; two hosts side
# by side.
E2E_DEADLINE=${E2E_DEADLINE:-240}
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

HOST="$P-h"
A="$P-a"
B="$P-b"
NT="$E2E_LIB_DIR/nettool.py"
TMP=$E2E_TMPDIR

# jq over two status documents: delta EXPR BEFORE AFTER (numbers).
delta() {
	local a b
	a=$(jq -r "$1" <<<"$2")
	b=$(jq -r "$1" <<<"$3")
	echo $((b - a))
}
epc() { # jq path of an endpoint counter: epc NAME from_pod packets
	echo ".endpoints[] | select(.name == \"$1\") | .counters.$2.$3"
}
status_json() {
	nsf -n "${1:-$HOST}" status --json
}

# ---- setup ----

host_create "$HOST"
e2e_require $? "host namespace $HOST"
STATE=${E2E_STATE[0]}
check "init $HOST" nsf -n "$HOST" init
e2e_require $? "nsfast init"
IPA=$(nsf -n "$HOST" attach "$A")
check_match "attach $A prints its address" '^10\.244\.[0-9]+\.[0-9]+$' "$IPA"
e2e_require $? "pod $A"
IPB=$(nsf -n "$HOST" attach "$B")
check_match "attach $B prints its address" '^10\.244\.[0-9]+\.[0-9]+$' "$IPB"
e2e_require $? "pod $B"
comment "$A = $IPA, $B = $IPB"
VETHA=$(ep_field "$HOST" "$A" .host_ifname)
VETHB=$(ep_field "$HOST" "$B" .host_ifname)

# ---- what attach set up ----

check_eq "both endpoints attached" "true true" \
	"$(status_json | jq -r '[.endpoints[].attached] | join(" ")')"
check_match "$A has $IPA/32 on eth0" "inet $IPA/32 " \
	"$(ip -n "$A" -4 addr show dev eth0)"
check_match "$A: default route via 169.254.1.1" \
	"^default via 169.254.1.1 dev eth0" "$(ip -n "$A" route)"
check_match "$A: permanent neighbour for 169.254.1.1" \
	"^169.254.1.1 dev eth0 lladdr [0-9a-f:]+ PERMANENT" \
	"$(ip -n "$A" neigh show 169.254.1.1)"
check_match "$HOST: /32 route to $A via $VETHA" "^$IPA dev $VETHA" \
	"$(ip -n "$HOST" route show "$IPA")"
check_match "$HOST: /32 route to $B via $VETHB" "^$IPB dev $VETHB" \
	"$(ip -n "$HOST" route show "$IPB")"
for v in "$VETHA" "$VETHB"; do
	check_match "tc ingress of $v runs nsf_from_pod" "nsf_from_pod" \
		"$(tc -n "$HOST" filter show dev "$v" ingress)"
done
check_eq "no bridge in $HOST" "" "$(ip -n "$HOST" -d link show type bridge)"
check_eq "ip_forward is 0 in $HOST" 0 \
	"$(ip netns exec "$HOST" sysctl -n net.ipv4.ip_forward)"
check_eq "no nftables ruleset in $HOST" "" \
	"$(ip netns exec "$HOST" nft list ruleset 2>&1)"
check_eq "no iptables rules in $HOST" "" \
	"$(ip netns exec "$HOST" iptables-save 2>&1 | grep -e '^-A')"

# ---- ICMP, with exact counters ----

check "ping $A -> $B" pod_exec "$A" ping -c 3 -i 0.2 -W 2 "$IPB"
check "ping $B -> $A" pod_exec "$B" ping -c 3 -i 0.2 -W 2 "$IPA"

N=7
before=$(status_json)
check "exactly $N pings $A -> $B" \
	pod_exec "$A" ping -c "$N" -i 0.1 -W 2 -q "$IPB"
after=$(status_json)
check_eq "$A from_pod +$N packets (requests)" "$N" \
	"$(delta "$(epc "$A" from_pod packets)" "$before" "$after")"
check_eq "$B to_pod +$N packets (requests)" "$N" \
	"$(delta "$(epc "$B" to_pod packets)" "$before" "$after")"
check_eq "$B from_pod +$N packets (replies)" "$N" \
	"$(delta "$(epc "$B" from_pod packets)" "$before" "$after")"
check_eq "$A to_pod +$N packets (replies)" "$N" \
	"$(delta "$(epc "$A" to_pod packets)" "$before" "$after")"
# 14 Ethernet + 20 IPv4 + 8 ICMP + 56 payload = 98 bytes a frame.
check_eq "$A from_pod +$((N * 98)) bytes" "$((N * 98))" \
	"$(delta "$(epc "$A" from_pod bytes)" "$before" "$after")"
check_eq "fwd-local +$((2 * N)) packets" "$((2 * N))" \
	"$(delta '.counters["fwd-local"].packets' "$before" "$after")"
check_eq "no fallback, no drop for $A and $B" "0 0 0 0" "$(
	for p in "$A" "$B"; do for c in fallback drop; do
		delta "$(epc "$p" "$c" packets)" "$before" "$after"
	done; done | xargs)"

# ---- TCP and UDP both ways ----

bg_pod "$A" 60 "$E2E_PY" "$NT" serve --port 7000 --lifetime 50 >/dev/null
SRV_A=$E2E_LAST_PID
bg_pod "$B" 60 "$E2E_PY" "$NT" serve --port 7000 --lifetime 50 >/dev/null
SRV_B=$E2E_LAST_PID
before=$(status_json)
check "tcp $A -> $B echoes" \
	pod_exec "$A" "$E2E_PY" "$NT" send --proto tcp "$IPB" 7000 "hello from $A"
check "tcp $B -> $A echoes" \
	pod_exec "$B" "$E2E_PY" "$NT" send --proto tcp "$IPA" 7000 "hello from $B"
check "udp $A -> $B echoes" \
	pod_exec "$A" "$E2E_PY" "$NT" send --proto udp "$IPB" 7000 "dgram from $A"
check "udp $B -> $A echoes" \
	pod_exec "$B" "$E2E_PY" "$NT" send --proto udp "$IPA" 7000 "dgram from $B"
after=$(status_json)
# Each TCP exchange is at least SYN, ACK, data, FIN, ACK one way.
check_eq "TCP/UDP went over the fast path (counters rose, no fallback)" \
	"ok" "$(
	fa=$(delta "$(epc "$A" from_pod packets)" "$before" "$after")
	fb=$(delta "$(epc "$B" from_pod packets)" "$before" "$after")
	fl=$(delta "$(epc "$A" fallback packets)" "$before" "$after")
	if ((fa >= 10 && fb >= 10 && fl == 0)); then echo ok; else
		echo "from_pod A +$fa, B +$fb, fallback A +$fl"; fi)"

# ---- init re-run while traffic flows ----

prog_before=$(status_json | jq -r '.programs[0].id')
bg_pod "$A" 30 "$E2E_PY" "$NT" stream "$IPB" 7000 --duration 4 \
	--interval 0.02 >"$TMP/stream.out" 2>&1
STREAM=$E2E_LAST_PID
bg_pod "$A" 30 ping -c 80 -i 0.05 -W 1 "$IPB" >"$TMP/ping.out" 2>&1
PING=$E2E_LAST_PID
sleep 1.5
check "init again while a TCP stream and a ping run" nsf -n "$HOST" init
sleep 0.5
check "init once more (still flowing)" nsf -n "$HOST" init
wait "$STREAM"
result "TCP stream survived the reloads" $? "$(cat "$TMP/stream.out")"
comment "$(tail -n 1 "$TMP/stream.out")"
wait "$PING"
ping_rc=$?
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$TMP/ping.out")
check_eq "ping across the reloads: 80 of 80 replies (exit $ping_rc)" 80 \
	"${received:-none}"
after=$(status_json)
prog_after=$(jq -r '.programs[0].id' <<<"$after")
comment "program id $prog_before -> $prog_after"
[[ $prog_after =~ ^[1-9][0-9]*$ && $prog_after != "$prog_before" ]]
result "program reloaded (new id)" $? \
	"program id before: $prog_before, after: $prog_after"
check_eq "endpoints kept, attached to the new program" \
	"$A:true:$prog_after $B:true:$prog_after" \
	"$(jq -r '[.endpoints[] | "\(.name):\(.attached):\(.prog_id)"] |
		join(" ")' <<<"$after")"
check_eq "counters kept across the reload" ok "$(
	v=$(jq -r "$(epc "$A" from_pod packets)" <<<"$after")
	((v > N)) && echo ok || echo "from_pod of $A is $v")"
kill "$SRV_A" "$SRV_B" 2>/dev/null
wait "$SRV_A" "$SRV_B" 2>/dev/null

# ---- detach undoes attach ----

check "detach $A" nsf -n "$HOST" detach "$A"
check_fails "veth $VETHA is gone from $HOST" ip -n "$HOST" link show "$VETHA"
check_fails "netns $A (made by attach) is gone" test -e "/run/netns/$A"
check_eq "$A is not in status" "" "$(ep_field "$HOST" "$A" .name)"
check_eq "no route to $IPA left in $HOST" "" \
	"$(ip -n "$HOST" route show "$IPA")"
check_fails "address $IPA released (no IPAM file)" test -e "$STATE/ipam/$IPA"
again=$(nsf -n "$HOST" attach "$A" --ip "$IPA" 2>&1)
check_eq "re-attach $A gets $IPA again" "$IPA" "$again"
check "ping $A -> $B after re-attach" \
	pod_exec "$A" ping -c 2 -i 0.2 -W 2 "$IPB"
VETHA=$(ep_field "$HOST" "$A" .host_ifname)

# ---- a namespace nsfast did not create ----

EXT="$P-ext"
ip netns add "$EXT"
IPE=$(nsf -n "$HOST" attach "$P-e" --netns-path "/run/netns/$EXT")
check_match "attach --netns-path /run/netns/$EXT" \
	'^10\.244\.[0-9]+\.[0-9]+$' "$IPE"
check_eq "status shows the path as its netns" "/run/netns/$EXT" \
	"$(ep_field "$HOST" "$P-e" .netns)"
check "ping $EXT -> $B" pod_exec "$EXT" ping -c 2 -i 0.2 -W 2 "$IPB"
check "ping $B -> $EXT" pod_exec "$B" ping -c 2 -i 0.2 -W 2 "$IPE"
check "detach $P-e" nsf -n "$HOST" detach "$P-e"
check "detach left $EXT in place" test -e "/run/netns/$EXT"
check "$EXT is still a usable namespace" ip -n "$EXT" link show lo
check_fails "its eth0 is gone" ip -n "$EXT" link show eth0

# A relative --netns-path is the caller's, relative to its working
# directory: recorded as given, status and gc read it relative to theirs
# (or as a name in /run/netns), called the live pod stale and removed it.
IPR=$(cd /run && nsf -n "$HOST" attach "$P-r" --netns-path "netns/$EXT")
check_match "attach --netns-path netns/$EXT (relative, from /run)" \
	'^10\.244\.[0-9]+\.[0-9]+$' "$IPR"
check_eq "status shows the absolute path" "/run/netns/$EXT" \
	"$(ep_field "$HOST" "$P-r" .netns)"
check_eq "status: attached, healthy" "true ok" \
	"$(ep_field "$HOST" "$P-r" '"\(.attached) \(.health)"')"
check_eq "the same attach from elsewhere is the same endpoint" "$IPR" \
	"$(cd /run/netns && nsf -n "$HOST" attach "$P-r" --netns-path \
		"../netns/$EXT" 2>&1)"
check_match "gc keeps it" "endpoints: 0 stale" "$(nsf -n "$HOST" gc 2>&1)"
check "ping $EXT -> $B (relative path)" \
	pod_exec "$EXT" ping -c 2 -i 0.2 -W 2 "$IPB"
check "detach $P-r" nsf -n "$HOST" detach "$P-r"
ip netns del "$EXT"

# ---- a namespace with a default route of its own ----
# attach leaves it alone (it replaced it before, and detach then left the
# namespace with none) and routes the pod CIDR through the gateway.

EXT2="$P-ext2"
ip netns add "$EXT2"
ip -n "$EXT2" link add v0 type veth peer name v1 # (no dummy here)
ip -n "$EXT2" link set v0 up
ip -n "$EXT2" link set v1 up
ip -n "$EXT2" addr add 203.0.113.2/24 dev v0
ip -n "$EXT2" route add default via 203.0.113.1 dev v0
IPE2=$(nsf -n "$HOST" attach "$P-e2" --netns-path "/run/netns/$EXT2")
check_match "attach into $EXT2, which has a default route" \
	'^10\.244\.[0-9]+\.[0-9]+$' "$IPE2"
check_match "$EXT2 keeps its default route" \
	'^default via 203\.0\.113\.1 dev v0 *$' \
	"$(ip -n "$EXT2" route show default)"
check_match "$EXT2 reaches the pod CIDR through nsfast's gateway" \
	'^10\.244\.0\.0/16 via 169\.254\.1\.1 dev eth0' \
	"$(ip -n "$EXT2" route show 10.244.0.0/16)"
check "ping $EXT2 -> $B" pod_exec "$EXT2" ping -c 2 -i 0.2 -W 2 "$IPB"
check "ping $B -> $EXT2" pod_exec "$B" ping -c 2 -i 0.2 -W 2 "$IPE2"
check "detach $P-e2" nsf -n "$HOST" detach "$P-e2"
check_match "$EXT2's default route survives the detach" \
	'^default via 203\.0\.113\.1 dev v0 *$' \
	"$(ip -n "$EXT2" route show default)"
ip netns del "$EXT2"

# ---- a second endpoint in a namespace attach created ----
# Detaching the pod whose attach made the namespace must not delete it
# under the other: the other inherits it, and it goes with the last.
S=$P-s
IPS=$(nsf -n "$HOST" attach "$S")
IPS2=$(nsf -n "$HOST" attach "$S-2" --netns-path "/run/netns/$S" \
	--ifname eth1)
check_match "attach $S-2 into $S's namespace (eth1)" \
	'^10\.244\.[0-9]+\.[0-9]+$' "$IPS2"
check "detach $S" nsf -n "$HOST" detach "$S"
check "netns $S stays while $S-2 lives in it" test -e "/run/netns/$S"
check_eq "$S-2 is attached and healthy" "true ok" \
	"$(ep_field "$HOST" "$S-2" '"\(.attached) \(.health)"')"
check "ping $S-2 -> $B" pod_exec "$S" ping -c 2 -i 0.2 -W 2 "$IPB"
check "detach $S-2" nsf -n "$HOST" detach "$S-2"
check_fails "netns $S goes with the last of them" test -e "/run/netns/$S"
comment "$S was $IPS"

# ---- two hosts side by side ----

HOST2="$P-h2"
C="$P-c"
D="$P-d"
host_create "$HOST2"
e2e_require $? "host namespace $HOST2"
check "init $HOST2" nsf -n "$HOST2" init
IPC=$(nsf -n "$HOST2" attach "$C")
IPD=$(nsf -n "$HOST2" attach "$D")
comment "$HOST2: $C = $IPC, $D = $IPD (same pod CIDR as $HOST)"
s1=$(status_json "$HOST")
s2=$(status_json "$HOST2")
PIN1=$(jq -r .pin_dir <<<"$s1")
PIN2=$(jq -r .pin_dir <<<"$s2")
STATE2=$(jq -r .state_dir <<<"$s2")
[[ $PIN1 != "$PIN2" && $STATE != "$STATE2" ]]
result "separate pin and state directories" $? \
	"pins: $PIN1 and $PIN2" "state: $STATE and $STATE2"
check "both pin directories hold nsf_from_pod" \
	test -e "$PIN1/nsf_from_pod" -a -e "$PIN2/nsf_from_pod"
check_eq "$HOST lists only its pods" "$A $B" \
	"$(jq -r '[.endpoints[].name] | join(" ")' <<<"$s1")"
check_eq "$HOST2 lists only its pods" "$C $D" \
	"$(jq -r '[.endpoints[].name] | join(" ")' <<<"$s2")"
p1=$(jq '.programs[0].id' <<<"$s1")
p2=$(jq '.programs[0].id' <<<"$s2")
[[ $p1 != "$p2" ]]
result "each host runs its own program" $? "program ids: $p1 and $p2"
before=$(status_json "$HOST")
check "ping $C -> $D on $HOST2" pod_exec "$C" ping -c 3 -i 0.2 -W 2 "$IPD"
check "ping $A -> $B on $HOST meanwhile" \
	pod_exec "$A" ping -c 3 -i 0.2 -W 2 "$IPB"
after2=$(status_json "$HOST2")
after=$(status_json "$HOST")
check_eq "$HOST2 counted its own traffic only ($C from_pod)" 3 \
	"$(jq -r "$(epc "$C" from_pod packets)" <<<"$after2")"
check_eq "$HOST counted its own traffic only (fwd-local +6)" 6 \
	"$(delta '.counters["fwd-local"].packets' "$before" "$after")"
check "reset $HOST2" nsf -n "$HOST2" reset
check_fails "$HOST2 pins gone" test -e "$PIN2"
check_fails "$HOST2 state gone" test -e "$STATE2"
check_fails "$C and $D namespaces gone" test -e "/run/netns/$C" -o \
	-e "/run/netns/$D"
check "$HOST pins still there" test -e "$PIN1/nsf_from_pod"
check "ping $A -> $B still works" pod_exec "$A" ping -c 2 -i 0.2 -W 2 "$IPB"

e2e_finish
