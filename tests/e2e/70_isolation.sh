#!/usr/bin/env bash
# Isolation: a pod can only send as itself. Spoofed source addresses and
# MACs, forged ARP (for the gateway, for another pod), IPv6 and packets
# from a veth that belongs to no endpoint are dropped and counted under
# their reason, charged to the pod that sent them; the host is closed to
# pods by default (drop-policy-host) and opens by policy, while the host
# still reaches the pods.
E2E_DEADLINE=${E2E_DEADLINE:-240}
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

HOST="$P-h"
A="$P-a"
B="$P-b"
NT="$E2E_LIB_DIR/nettool.py"
SPOOF="$E2E_LIB_DIR/spoof.py"
HOSTIP=10.77.0.1

stats() { nsf -n "$HOST" stats --json; }
# reason_delta NAME BEFORE AFTER
reason_delta() {
	echo $(($(jq -r ".reasons[\"$1\"].packets" <<<"$3") - \
		$(jq -r ".reasons[\"$1\"].packets" <<<"$2")))
}
# ep_delta POD COUNTER BEFORE AFTER
ep_delta() {
	local q=".endpoints[] | select(.name == \"$1\") | .$2.packets"
	echo $(($(jq -r "$q" <<<"$4") - $(jq -r "$q" <<<"$3")))
}
spoof() { pod_exec "$A" "$E2E_PY" "$SPOOF" "$@"; }

# ---- setup ----

host_create "$HOST"
e2e_require $? "host namespace $HOST"
check "init $HOST" nsf -n "$HOST" init
e2e_require $? "nsfast init"
IPA=$(nsf -n "$HOST" attach "$A") && IPB=$(nsf -n "$HOST" attach "$B")
e2e_require $? "pods $A and $B"
comment "$A = $IPA, $B = $IPB"
MACA=$(ip -n "$A" -br link show eth0 | awk '{print $3}')
MACB=$(ip -n "$B" -br link show eth0 | awk '{print $3}')
ip -n "$HOST" addr add "$HOSTIP/32" dev lo
check "ping $A -> $B (pod to pod is open)" \
	pod_exec "$A" ping -c 2 -i 0.2 -W 2 "$IPB"

# ---- spoofed source addresses ----

before=$(stats)
check "send 5 UDP from made-up 10.244.9.9" spoof ip eth0 10.244.9.9 "$IPB" 5
check "send 5 UDP from $B's address" spoof ip eth0 "$IPB" "$IPB" 5
check "send 5 UDP from the gateway 169.254.1.1" \
	spoof ip eth0 169.254.1.1 "$IPB" 5
after=$(stats)
check_eq "drop-spoofed-ip +15" 15 "$(reason_delta drop-spoofed-ip "$before" "$after")"
check_eq "charged to $A as drops" 15 "$(ep_delta "$A" drop "$before" "$after")"
check_eq "nothing reached $B" 0 "$(ep_delta "$B" to_pod "$before" "$after")"
check_eq "nothing handed to the kernel (no pass-unknown-src)" 0 \
	"$(reason_delta pass-unknown-src "$before" "$after")"

# ---- spoofed source MAC ----

before=$(stats)
check "send 4 UDP with $B's MAC and $A's address" \
	spoof ip eth0 "$IPA" "$IPB" 4 --mac "$MACB"
after=$(stats)
check_eq "drop-spoofed-mac +4" 4 "$(reason_delta drop-spoofed-mac "$before" "$after")"
check_eq "nothing reached $B" 0 "$(ep_delta "$B" to_pod "$before" "$after")"

# ---- forged ARP ----

ip -n "$HOST" neigh flush dev "$(ep_field "$HOST" "$B" .host_ifname)" 2>/dev/null
before=$(stats)
check "ARP reply: 169.254.1.1 is at $MACA" spoof arp eth0 2 169.254.1.1 "$MACA" "$IPA" 3
check "ARP reply: $IPB is at $MACA" spoof arp eth0 2 "$IPB" "$MACA" "$IPB" 3
check "ARP request from $IPB's address" spoof arp eth0 1 "$IPB" "$MACA" 169.254.1.1 3
check "ARP request with $B's MAC as sender" spoof arp eth0 1 "$IPA" "$MACB" 169.254.1.1 3
after=$(stats)
check_eq "drop-spoofed-arp +12" 12 "$(reason_delta drop-spoofed-arp "$before" "$after")"
check_eq "no arp-reply for the forged requests" 0 \
	"$(reason_delta arp-reply "$before" "$after")"
check_eq "the host learnt no neighbour for $IPB from $A" "" \
	"$(ip -n "$HOST" neigh show "$IPB" | grep -i "$MACA")"
before=$(stats)
check "an honest ARP request for the gateway is answered" \
	spoof arp eth0 1 "$IPA" "$MACA" 169.254.1.1 1
after=$(stats)
check_eq "arp-reply +1" 1 "$(reason_delta arp-reply "$before" "$after")"

# ---- IPv6 and other EtherTypes ----

# The pods' interfaces came up without IPv6 address generation: no
# link-local address, so their kernels send no IPv6 of their own (DAD,
# MLD reports, router solicitations) and the counter below moves by
# exactly what the test sends.
check_eq "$A: IPv6 address generation off on eth0 (none = 1)" 1 \
	"$(pod_exec "$A" cat /proc/sys/net/ipv6/conf/eth0/addr_gen_mode)"
check_eq "$A: no IPv6 address on eth0" "" \
	"$(ip -n "$A" -6 -o addr show dev eth0)"
before=$(stats)
check "send 3 IPv6 frames" spoof ipv6 eth0 3
after=$(stats)
check_eq "drop-not-ipv4 +3 (pods are IPv4-only)" 3 \
	"$(reason_delta drop-not-ipv4 "$before" "$after")"

# ---- a veth that belongs to no endpoint ----

X="$P-x"
ip netns add "$X"
ip -n "$HOST" link add "${P}x" type veth peer name eth0 netns "$X"
ip -n "$HOST" link set "${P}x" up
ip -n "$X" link set eth0 up
ip -n "$X" addr add 10.244.250.250/32 dev eth0
# Routed like a pod (gateway with a permanent neighbour), so its pings
# leave as IPv4 at once instead of waiting for ARP.
ip -n "$X" route add 169.254.1.1 dev eth0
ip -n "$X" route add default via 169.254.1.1
ip -n "$X" neigh add 169.254.1.1 lladdr \
	"$(ip -n "$HOST" -br link show "${P}x" | awk '{print $3}')" \
	dev eth0 nud permanent
check "the pinned nsf_from_pod on a stray veth" \
	nsenter --net="/run/netns/$HOST" tc qdisc add dev "${P}x" clsact
check "  (tc filter)" nsenter --net="/run/netns/$HOST" tc filter add \
	dev "${P}x" ingress bpf object-pinned "${E2E_PINS[0]}/nsf_from_pod" da
before=$(stats)
pod_exec "$X" ping -c 3 -i 0.2 -W 1 "$IPB" >/dev/null 2>&1
after=$(stats)
check_eq "its traffic counts as drop-unknown-endpoint" ok "$(
	d=$(reason_delta drop-unknown-endpoint "$before" "$after")
	((d >= 3)) && echo ok || echo "+$d")"
ip -n "$HOST" link del "${P}x"
ip netns del "$X"

# ---- the host: closed to pods unless policy opens it ----

bg_start ip netns exec "$HOST" timeout 100 "$E2E_PY" "$NT" serve \
	--port 7000 --lifetime 90
sleep 0.5
before=$(stats)
check_fails "ping $A -> host address $HOSTIP is dropped" \
	pod_exec "$A" ping -c 2 -i 0.2 -W 1 "$HOSTIP"
check_fails "tcp $A -> host:7000 is dropped" \
	pod_exec "$A" timeout 5 "$E2E_PY" "$NT" send --proto tcp "$HOSTIP" 7000 hi
check_fails "udp $A -> host:7000 is dropped" \
	pod_exec "$A" timeout 5 "$E2E_PY" "$NT" send --proto udp "$HOSTIP" 7000 hi
# A bare ACK passes (it may answer the host) but leaves no state behind
# that would let a connect() from the same port through.
check_fails "tcp $A -> host:7000 from the port of a bare ACK is dropped" \
	pod_exec "$A" timeout 10 "$E2E_PY" -c '
import socket, sys
from scapy.all import IP, TCP, send
ip, port, sport = sys.argv[1], int(sys.argv[2]), 41234
send(IP(dst=ip) / TCP(sport=sport, dport=port, flags="A"), verbose=0)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", sport))
s.settimeout(3)
s.connect((ip, port))' "$HOSTIP" 7000
after=$(stats)
check_eq "drop-policy-host counted them" ok "$(
	d=$(reason_delta drop-policy-host "$before" "$after")
	((d >= 4)) && echo ok || echo "+$d")"
check "the host still pings $A (replies pass)" \
	ip netns exec "$HOST" ping -c 2 -i 0.2 -W 2 "$IPA"
bg_pod "$A" 60 "$E2E_PY" "$NT" serve --port 7001 --lifetime 50
sleep 0.5
check "the host still opens TCP to $A" ip netns exec "$HOST" timeout 10 \
	"$E2E_PY" "$NT" send --proto tcp "$IPA" 7001 "from the host"
# UDP has no SYN to tell a request from a reply: the host's socket table
# does. A socket connected to the pod's address and port gets its
# answers; an unconnected one (sendto) cannot be told from a service.
check "the host's UDP to $A from a connected socket gets its reply" \
	ip netns exec "$HOST" timeout 10 "$E2E_PY" "$NT" send --proto udp \
	--connect "$IPA" 7001 "from the host"
check_fails "the host's UDP to $A from an unconnected socket gets none" \
	ip netns exec "$HOST" timeout 10 "$E2E_PY" "$NT" send --proto udp \
	--timeout 2 "$IPA" 7001 "from the host"

out=$(nsf -n "$HOST" policy rule add allow from any to host proto icmp)
check_match "policy: allow icmp from any to host" '^rule [0-9]+$' "$out"
check "ping $A -> $HOSTIP now passes" \
	pod_exec "$A" ping -c 2 -i 0.2 -W 2 "$HOSTIP"
check_fails "tcp $A -> host:7000 still dropped (icmp only)" \
	pod_exec "$A" timeout 5 "$E2E_PY" "$NT" send --proto tcp "$HOSTIP" 7000 hi
check "policy: host ingress default allow" \
	nsf -n "$HOST" policy group set host --ingress allow
check "tcp $A -> host:7000 passes" \
	pod_exec "$A" timeout 10 "$E2E_PY" "$NT" send --proto tcp "$HOSTIP" 7000 hi
check "udp $A -> host:7000 passes" \
	pod_exec "$A" timeout 10 "$E2E_PY" "$NT" send --proto udp "$HOSTIP" 7000 hi
check "policy: host ingress back to deny" \
	nsf -n "$HOST" policy group set host --ingress deny
check_fails "udp $A -> host:7000 dropped again (live change)" \
	pod_exec "$A" timeout 5 "$E2E_PY" "$NT" send --proto udp "$HOSTIP" 7000 hi
check "ping $B -> $A still fine after all this" \
	pod_exec "$B" ping -c 2 -i 0.2 -W 2 "$IPA"

e2e_finish
