#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq filters: their $variables come from --arg
# Faults: the loader killed (SIGKILL, through NSFAST_FAULT=<point>, see
# loader/recover.h) at every step of attach, detach and init, and what a
# re-run, `nsfast gc` or `nsfast reset` make of what it left; pods whose
# namespace or veth vanished behind nsfast's back (status reports them,
# gc removes them); programs reloaded (`init` again) under live TCP
# flows; a NAT table filled beyond its size while established flows run.
#
# "No leftovers" is checked against a fingerprint of the host taken
# before: its links, the run's namespaces, the state files (IPAM and id
# allocations, records, markers) and the pod entries of nsf_ep4,
# nsf_tx_ports and nsf_ep_ifx.
#
# Topology: pods --veth-- H (nsfast) wan0 ==== wan0 W (the world,
# 10.99.0.1); a second host H2/W2 for the init faults.
E2E_DEADLINE=${E2E_DEADLINE:-300}
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

NT="$E2E_LIB_DIR/nettool.py"
WAN_W=10.99.0.1

# pinned HOST: the pin directory of HOST (from host_create's records).
pin_dir() {
	local i
	for i in "${!E2E_HOSTS[@]}"; do
		[[ ${E2E_HOSTS[$i]} == "$1" ]] && echo "${E2E_PINS[$i]}"
	done
}
state_dir() {
	local i
	for i in "${!E2E_HOSTS[@]}"; do
		[[ ${E2E_HOSTS[$i]} == "$1" ]] && echo "${E2E_STATE[$i]}"
	done
}

# fingerprint HOST: everything an endpoint can leave behind, one per line.
fingerprint() {
	local h=$1 pins state f
	pins=$(pin_dir "$h")
	state=$(state_dir "$h")
	ip -n "$h" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print "link " $2 }'
	for f in /run/netns/"$P"*; do
		[[ -e $f ]] && echo "netns ${f##*/}"
	done
	if [[ -d $state ]]; then
		(cd "$state" && find . -type f ! -name lock ! -name last |
			sort | while read -r f; do
				echo "state $f $(head -c 80 "$f" | tr '\n' ' ')"
			done)
	fi
	if [[ -e $pins/nsf_ep4 ]]; then
		bpftool -j map dump pinned "$pins/nsf_ep4" |
			jq -r '.[] | "ep4 \(.key | tostring)"'
		bpftool -j map dump pinned "$pins/nsf_tx_ports" |
			jq -r '.[] | "tx_port \(.key | tostring)"'
		bpftool -j map dump pinned "$pins/nsf_ep_ifx" |
			jq -r '.[] | "ep_ifx \(.key | tostring)"'
	fi
	[[ -d $pins ]] && ls "$pins" | sed 's/^/pin /'
	return 0
}

# same_as DESC BEFORE HOST: HOST's fingerprint is BEFORE again.
same_as() {
	local now
	now=$(fingerprint "$3")
	if [[ $now == "$2" ]]; then
		ok "$1"
	else
		not_ok "$1" "difference (< before, > now):" \
			"$(diff <(echo "$2") <(echo "$now"))"
	fi
}

# killed_at DESC POINT CMD...: CMD with NSFAST_FAULT=POINT dies of SIGKILL
# (exit 137) having reached POINT.
killed_at() {
	local desc=$1 point=$2 out rc
	shift 2
	out=$(NSFAST_FAULT=$point "$@" 2>&1)
	rc=$?
	[[ $rc -eq 137 && $out == *"fault injected at $point"* ]]
	result "$desc" $? "exit $rc, output: $out"
}

# ---- setup ----

H="$P-h"
W="$P-w"
uplink_host "$H" "$W"
# A pod that stays through everything: its flows must never notice.
A=$(nsf -n "$H" attach "$P-a")
e2e_require $? "pod $P-a"
BASE=$(fingerprint "$H")

# ---- attach killed at every step ----

ATTACH_POINTS="attach-ipam attach-netns attach-veth attach-addr attach-prog attach-saved"
for p in $ATTACH_POINTS; do
	killed_at "attach killed at $p" "$p" nsf -n "$H" attach "$P-f"
	# Re-running converges: the attach completes...
	ip=$(nsf -n "$H" attach "$P-f" 2>&1)
	check_match "[$p] attach again succeeds" '^10\.244\.' "$ip"
	check_eq "[$p] the endpoint is attached and healthy" "true ok" \
		"$(ep_field "$H" "$P-f" '"\(.attached) \(.health)"')"
	check "[$p] the pod reaches the world" \
		pod_exec "$P-f" ping -c1 -W2 -q "$WAN_W"
	# ...and detaching it leaves exactly what was there before.
	check "[$p] detach" nsf -n "$H" detach "$P-f"
	same_as "[$p] no leftovers after attach again + detach" "$BASE" "$H"

	# Or gc cleans up after the dead attach (attach-saved: complete).
	killed_at "attach killed at $p (then gc)" "$p" \
		nsf -n "$H" attach "$P-g"
	out=$(nsf -n "$H" gc 2>&1)
	check_match "[$p] gc reports the endpoint pass" \
		'endpoints: [0-9]+ stale, [0-9]+ half-attached' "$out"
	if [[ $p == attach-saved ]]; then
		check_eq "[$p] gc keeps the completed endpoint" "ok" \
			"$(ep_field "$H" "$P-g" .health)"
		nsf -n "$H" detach "$P-g" >/dev/null
	else
		check_match "[$p] gc removed a half-attached endpoint" \
			'1 half-attached' "$out"
	fi
	same_as "[$p] no leftovers after gc" "$BASE" "$H"
done

# ---- host veth names that collide ----

# The host veth is named after a 32-bit hash of the pod's name, and these
# two names hash to the same one (nsf573cdc0b): the second pod gets another
# name, and recovering from its dead attach never touches the first's veth.
C1=rv-562789
C2=rv-779192
check "attach $C1" nsf -n "$H" attach "$C1"
check "attach $C2, whose first veth name is $C1's" nsf -n "$H" attach "$C2"
v1=$(ep_field "$H" "$C1" .host_ifname)
v2=$(ep_field "$H" "$C2" .host_ifname)
check "the two host veths have different names ($v1, $v2)" test "$v1" != "$v2"
check_eq "both endpoints healthy" "ok ok" \
	"$(ep_field "$H" "$C1" .health) $(ep_field "$H" "$C2" .health)"
check "$C2 reaches the world" pod_exec "$C2" ping -c1 -W2 -q "$WAN_W"
check "detach $C2" nsf -n "$H" detach "$C2"
check_fails "its veth $v2 is gone" ip -n "$H" link show "$v2"
for p in attach-ipam attach-veth; do
	killed_at "[$p] attach $C2 killed" "$p" nsf -n "$H" attach "$C2"
	nsf -n "$H" gc >/dev/null 2>&1
	nsf -n "$H" gc >/dev/null 2>&1
	check_eq "[$p] after gc, $C1 is still attached and healthy" "true ok" \
		"$(ep_field "$H" "$C1" '"\(.attached) \(.health)"')"
	check "[$p] $C1's veth is still there" ip -n "$H" link show "$v1"
	check_fails "[$p] the dead attach's veth is gone" \
		ip -n "$H" link show "$v2"
done
check "detach $C1" nsf -n "$H" detach "$C1"
same_as "no leftovers after the colliding pods" "$BASE" "$H"

# ---- detach killed at every step ----

for p in detach-maps detach-veth detach-ipam; do
	nsf -n "$H" attach "$P-d" >/dev/null
	killed_at "detach killed at $p" "$p" nsf -n "$H" detach "$P-d"
	check "[$p] detach again succeeds" nsf -n "$H" detach "$P-d"
	same_as "[$p] no leftovers" "$BASE" "$H"
done

# A detach killed right after it took the pod off the maps leaves a pod
# whose veth and program are in place but which the fast path no longer
# knows: status must not call it attached and healthy, and attaching it
# again (the same request) must put it back.
nsf -n "$H" attach "$P-m" >/dev/null
killed_at "detach killed at detach-maps (then attach again)" \
	detach-maps nsf -n "$H" detach "$P-m"
check_eq "status --json: not attached, map entry missing" \
	"false map entry missing" \
	"$(ep_field "$H" "$P-m" '"\(.attached) \(.health)"')"
check_match "status (text) says it is off the fast path" \
	"endpoint $P-m is off the fast path: map entry missing \(run 'nsfast attach $P-m' again or 'nsfast detach $P-m'\)" \
	"$(nsf -n "$H" status)"
check_match "gc leaves it alone" "endpoints: 0 stale" \
	"$(nsf -n "$H" gc 2>&1)"
check "attach $P-m again" nsf -n "$H" attach "$P-m"
check_eq "it is attached and healthy again" "true ok" \
	"$(ep_field "$H" "$P-m" '"\(.attached) \(.health)"')"
check "$P-m reaches the world again" \
	pod_exec "$P-m" ping -c1 -W2 -q "$WAN_W"
check "detach $P-m" nsf -n "$H" detach "$P-m"
same_as "no leftovers after the repaired pod" "$BASE" "$H"

# A detach killed after it released the address leaves a record (stale:
# its netns and veth are gone) for an address the pool hands out again.
# Finishing that detach later, by hand or through gc, must not take the
# new holder's map entry, address or id with it.
D=$(nsf -n "$H" attach "$P-d")
killed_at "detach killed at detach-ipam (address reused after)" \
	detach-ipam nsf -n "$H" detach "$P-d"
ip=$(nsf -n "$H" attach "$P-n" --ip "$D" 2>&1)
check_eq "$P-n takes the released address $D" "$D" "$ip"
nid=$(ep_field "$H" "$P-n" .id)
check "the dead detach's record is finished (detach again)" \
	nsf -n "$H" detach "$P-d"
check "$P-n still reaches the world" \
	pod_exec "$P-n" ping -c1 -W2 -q "$WAN_W"
check_eq "$P-n keeps its map entry (ifindex)" \
	"$(ep_field "$H" "$P-n" .host_ifindex)" \
	"$(bpftool -j map lookup pinned "$(pin_dir "$H")/nsf_ep4" \
		key $(tr . ' ' <<<"$D") | jq -r .formatted.value.ifindex)"
check_eq "$P-n keeps its address allocation" "$P-n" \
	"$(cat "$(state_dir "$H")/ipam/$D" 2>&1)"
check_eq "$P-n keeps its id allocation" "$P-n" \
	"$(cat "$(state_dir "$H")/ids/$nid" 2>&1)"
check "detach $P-n" nsf -n "$H" detach "$P-n"
same_as "no leftovers after the reused address" "$BASE" "$H"

# ---- pods broken behind nsfast's back ----

S1=$(nsf -n "$H" attach "$P-s1")
S2=$(nsf -n "$H" attach "$P-s2")
comment "stale pods: $P-s1 $S1 (netns deleted), $P-s2 $S2 (veth deleted)"
ip netns del "$P-s1"
ip -n "$H" link del "$(ep_field "$H" "$P-s2" .host_ifname)"
json=$(nsf -n "$H" status --json)
check_eq "status --json: health of the two broken pods" \
	"netns missing|veth missing" \
	"$(jq -r --arg a "$P-s1" --arg b "$P-s2" '[.endpoints[] |
		select(.name == $a or .name == $b) | .health] | join("|")' \
		<<<"$json")"
check_eq "status --json: the intact pod is healthy" "ok" \
	"$(jq -r --arg a "$P-a" '.endpoints[] | select(.name == $a) |
		.health' <<<"$json")"
out=$(nsf -n "$H" status)
check_match "status (text) names the stale pods and says run gc" \
	"endpoint $P-s1 is stale: netns missing \(run 'nsfast gc'\)" "$out"
out=$(nsf -n "$H" gc 2>&1)
check_match "gc removes both" 'endpoints: 2 stale' "$out"
same_as "no leftovers after gc (records, addresses, map entries)" \
	"$BASE" "$H"
ip=$(nsf -n "$H" attach "$P-s3" --ip "$S2" 2>&1)
check_eq "the freed address can be attached again" "$S2" "$ip"
nsf -n "$H" detach "$P-s3" >/dev/null
check "the intact pod still reaches the world" \
	pod_exec "$P-a" ping -c1 -W2 -q "$WAN_W"

# A host veth renamed behind nsfast's back is still the pod's: detach
# finds it by index (and MAC) and removes it, and with it the pod's eth0
# and address in a namespace that stays.
ip netns add "$P-x"
nsf -n "$H" attach "$P-rn" --netns-path "/run/netns/$P-x" >/dev/null
ip -n "$H" link set "$(ep_field "$H" "$P-rn" .host_ifname)" name "${P}r"
check "detach $P-rn (host veth renamed to ${P}r)" nsf -n "$H" detach "$P-rn"
check_fails "the renamed veth is gone" ip -n "$H" link show "${P}r"
check_fails "the pod's eth0 is gone from $P-x" ip -n "$P-x" link show eth0
ip netns del "$P-x"
same_as "no leftovers after the renamed veth" "$BASE" "$H"

# ---- reload under live TCP: pod->pod and pod->world ----

B=$(nsf -n "$H" attach "$P-b")
C=$(nsf -n "$H" attach "$P-c")
comment "pods: $P-a $A, $P-b $B, $P-c $C"
bg_pod "$P-b" 40 "$E2E_PY" "$NT" serve --port 7000 --lifetime 35 >/dev/null
bg_pod "$W" 40 "$E2E_PY" "$NT" serve --port 7001 --lifetime 35 >/dev/null
wait_until 5 listening "$P-b" 7000 && wait_until 5 listening "$W" 7001
prog1=$(nsf -n "$H" status --json | jq '.programs[0].id')
bg_pod "$P-a" 30 "$E2E_PY" "$NT" stream "$B" 7000 --duration 6 \
	--interval 0.01
s1=$E2E_LAST_PID
bg_pod "$P-c" 30 "$E2E_PY" "$NT" stream "$WAN_W" 7001 --duration 6 \
	--interval 0.01
s2=$E2E_LAST_PID
sleep 1
for i in 1 2 3; do
	check "init again under two TCP streams ($i/3)" nsf -n "$H" init
	sleep 0.5
done
wait "$s1"
result "pod->pod TCP stream lost nothing across 3 reloads" $?
wait "$s2"
result "pod->world TCP stream lost nothing across 3 reloads" $?
prog2=$(nsf -n "$H" status --json | jq '.programs[0].id')
[[ $prog1 != "$prog2" ]]
result "the programs really were replaced (id $prog1 -> $prog2)" $?

# ---- NAT table filled far beyond its size ----
# 1024 entries (512 flows); two pods open 2 x 1200 UDP flows (4800 entries)
# through it, twice over, while a third pod runs two TCP streams to the
# world. The LRU evicts the least recently used entries: the streams are
# active, so they keep theirs; every flood flow works in its turn (its
# entries are recent while its exchange runs); no reply ever reaches a
# socket that did not send its request (no hijacked reply); nothing is
# refused for want of ports.

H3="$P-n"
W3="$P-nw"
host_create "$H3"
e2e_require $? "host $H3"
world_create "$H3" "$W3"
e2e_require $? "world $W3"
check "init --nat-entries 1024" nsf -n "$H3" init --uplink wan0 --nat-entries 1024
for n in n1 n2 n3; do nsf -n "$H3" attach "$P-$n" >/dev/null; done
bg_pod "$W3" 90 "$E2E_PY" "$NT" serve --port 7001 --lifetime 85 >/dev/null
wait_until 5 listening "$W3" 7001
before=$(nsf -n "$H3" status --json)
bg_pod "$P-n1" 80 "$E2E_PY" "$NT" stream "$WAN_W" 7001 --duration 12 \
	--interval 0.01
t1=$E2E_LAST_PID
bg_pod "$P-n1" 80 "$E2E_PY" "$NT" stream "$WAN_W" 7001 --duration 12 \
	--interval 0.05
t2=$E2E_LAST_PID
sleep 0.5
pod_exec "$P-n2" "$E2E_PY" "$E2E_LIB_DIR/hardtool.py" udpflows \
	--ip "$WAN_W" --port 7001 --flows 1200 --rounds 2 >"$E2E_TMPDIR/flood2" 2>&1 &
f2=$!
out3=$(pod_exec "$P-n3" "$E2E_PY" "$E2E_LIB_DIR/hardtool.py" udpflows \
	--ip "$WAN_W" --port 7001 --flows 1200 --rounds 2 2>&1)
rc3=$?
wait "$f2"
rc2=$?
wait "$t1"
result "TCP stream 1 (every 10 ms) survived the flood" $?
wait "$t2"
result "TCP stream 2 (every 50 ms) survived the flood" $?
after=$(nsf -n "$H3" status --json)
comment "flood $P-n3: $out3"
result "2400 flood exchanges from $P-n3: none lost, none mismatched" "$rc3" "$out3"
out2=$(cat "$E2E_TMPDIR/flood2")
comment "flood $P-n2: $out2"
result "2400 flood exchanges from $P-n2: none lost, none mismatched" "$rc2" "$out2"
check_eq "NAT table at its size, not beyond" "1024" \
	"$(jq -r '[.nat.entries, .nat.capacity] | max' <<<"$after")"
check_eq "no flow refused for want of ports (drop-nat-exhausted)" "0" \
	"$(( $(jq '.counters["drop-nat-exhausted"].packets' <<<"$after") -
	     $(jq '.counters["drop-nat-exhausted"].packets' <<<"$before") ))"
comment "counters after the flood: $(jq -c '.counters | with_entries(
	select(.value.packets > 0)) | map_values(.packets)' <<<"$after")"
check "reset $H3" nsf -n "$H3" reset

# ---- init killed at every step (fresh host) ----

H2="$P-i"
W2="$P-iw"
host_create "$H2"
e2e_require $? "host $H2"
world_create "$H2" "$W2"
e2e_require $? "world $W2"
EMPTY=$(fingerprint "$H2")
xdp_on() { ip -n "$H2" -o link show dev wan0 | grep -q ' xdp'; }
# Native XDP asked for by name: by default (auto) a veth uplink gets tc.
for p in init-load init-config init-uplink init-saved; do
	killed_at "init killed at $p" "$p" \
		nsf -n "$H2" init --uplink wan0 --xdp-mode native
	check "[$p] init again succeeds" \
		nsf -n "$H2" init --uplink wan0 --xdp-mode native
	check "[$p] uplink program attached" xdp_on
	ip=$(nsf -n "$H2" attach "$P-ip" 2>&1)
	check "[$p] a pod then reaches the world" \
		pod_exec "$P-ip" ping -c1 -W2 -q "$WAN_W"
	check "[$p] reset" nsf -n "$H2" reset
	same_as "[$p] nothing left after reset" "$EMPTY" "$H2"
	! xdp_on
	result "[$p] no XDP program left on the uplink" $?
	# Killed, then reset straight away: also nothing left.
	killed_at "init killed at $p (then reset)" "$p" \
		nsf -n "$H2" init --uplink wan0 --xdp-mode native
	check "[$p] reset after the killed init" nsf -n "$H2" reset
	same_as "[$p] nothing left" "$EMPTY" "$H2"
	! xdp_on
	result "[$p] no XDP program left on the uplink after reset" $?
done
# Killed while re-attaching endpoints to reloaded programs.
check "init $H2 with two pods" nsf -n "$H2" init --uplink wan0
nsf -n "$H2" attach "$P-r1" >/dev/null && nsf -n "$H2" attach "$P-r2" >/dev/null
killed_at "init killed after re-attaching the first pod" init-reattach \
	nsf -n "$H2" init --uplink wan0
check "init again succeeds" nsf -n "$H2" init --uplink wan0
check_eq "both pods attached to the current program" "true true" \
	"$(nsf -n "$H2" status --json | jq -r '[.endpoints[].attached] | join(" ")')"
check "pod $P-r2 reaches the world" pod_exec "$P-r2" ping -c1 -W2 -q "$WAN_W"
check "reset $H2" nsf -n "$H2" reset
same_as "nothing left" "$EMPTY" "$H2"

e2e_finish
