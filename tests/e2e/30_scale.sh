#!/usr/bin/env bash
# Fifty pods on one host: attach them all (timed), a ring of pings in
# parallel, a full mesh of TCP and UDP exchanges from one process, counters
# for every pod, then reset removes everything.
E2E_DEADLINE=${E2E_DEADLINE:-300}
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

PODS=${E2E_PODS:-50}
HOST="$P-h"
NT="$E2E_LIB_DIR/nettool.py"
TMP=$E2E_TMPDIR

host_create "$HOST"
e2e_require $? "host namespace $HOST"
STATE=${E2E_STATE[0]}
PIN=${E2E_PINS[0]}
check "init $HOST" nsf -n "$HOST" init
e2e_require $? "nsfast init"

# ---- attach ----

NAMES=()
IPS=()
bad=()
t0=$(date +%s.%N)
for ((i = 0; i < PODS; i++)); do
	name=$(printf '%s-p%02d' "$P" "$i")
	if ip=$(nsf -n "$HOST" attach "$name" 2>&1); then
		NAMES+=("$name")
		IPS+=("$ip")
	else
		bad+=("$name: $ip")
	fi
done
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
per=$(awk -v s="$secs" -v n="$PODS" 'BEGIN { printf "%.0f", s * 1000 / n }')
comment "attached $PODS pods in ${secs}s (${per} ms a pod)"
check_eq "attached $PODS pods" "$PODS" "${#NAMES[@]}"
[[ ${#bad[@]} -eq 0 ]] || comment "${bad[@]}"
e2e_require $((PODS - ${#NAMES[@]})) "all $PODS pods"

json=$(nsf -n "$HOST" status --json)
check_eq "status lists $PODS endpoints, all attached and up" \
	"$PODS $PODS $PODS" "$(jq -r '[(.endpoints | length),
	([.endpoints[] | select(.attached)] | length),
	([.endpoints[] | select(.link == "up")] | length)] | join(" ")' \
		<<<"$json")"
check_eq "$PODS distinct addresses" "$PODS" \
	"$(printf '%s\n' "${IPS[@]}" | sort -u | wc -l)"
check_eq "$PODS veths in $HOST" "$PODS" \
	"$(ip -n "$HOST" -o link show type veth | wc -l)"
check_eq "no bridge in $HOST" "" "$(ip -n "$HOST" -d link show type bridge)"

# ---- ring of pings, in parallel ----

before=$(nsf -n "$HOST" status --json)
pids=()
t0=$(date +%s.%N)
for ((i = 0; i < PODS; i++)); do
	j=$(((i + 1) % PODS))
	timeout 30 ip netns exec "${NAMES[$i]}" \
		ping -c 3 -i 0.2 -W 2 -q "${IPS[$j]}" >"$TMP/ping.$i" 2>&1 &
	pids[i]=$!
	E2E_PIDS+=("${pids[i]}")
done
failed=()
for ((i = 0; i < PODS; i++)); do
	wait "${pids[i]}" || failed+=("${NAMES[$i]} -> ${NAMES[$(((i + 1) % PODS))]}: $(tail -n 2 "$TMP/ping.$i")")
done
t1=$(date +%s.%N)
comment "ring of $PODS pings done in $(awk -v a="$t0" -v b="$t1" \
	'BEGIN { printf "%.2f", b - a }')s"
result "every pod pings the next one (ring of $PODS)" ${#failed[@]} \
	"${failed[@]:0:5}"

# ---- full mesh, TCP and UDP, one process ----

specs=()
for ((i = 0; i < PODS; i++)); do
	specs+=("${NAMES[$i]}=${IPS[$i]}")
done
# Started in the host namespace, so even a stray socket would stay in the
# run's own namespaces; it enters each pod by setns on /run/netns/NAME.
out=$(timeout 120 ip netns exec "$HOST" "$E2E_PY" "$NT" mesh --port 7000 \
	--timeout 90 "${specs[@]}" 2>&1)
rc=$?
result "full mesh: every pod reaches every other over TCP and UDP" $rc "$out"
comment "$(grep -E '^(tcp|udp|mesh)' <<<"$out")"
after=$(nsf -n "$HOST" status --json)

# Each pod sent 3 pings and, to each of the other pods, a TCP connection
# (SYN, ACK, data, FIN...) and a datagram, and answered as many: at least
# 2 packets per peer each way. Nothing may have fallen back or dropped.
MIN=$((2 * (PODS - 1)))
low=$(jq -r --argjson b "$before" --argjson min "$MIN" '
	($b.endpoints | map({(.name): .counters}) | add) as $old |
	.endpoints[] |
	select(.counters.from_pod.packets - $old[.name].from_pod.packets < $min
	    or .counters.to_pod.packets - $old[.name].to_pod.packets < $min
	    or .counters.fallback.packets != $old[.name].fallback.packets
	    or .counters.drop.packets != $old[.name].drop.packets) |
	"\(.name): from_pod \(.counters.from_pod.packets - $old[.name].from_pod.packets), to_pod \(.counters.to_pod.packets - $old[.name].to_pod.packets), fallback \(.counters.fallback.packets - $old[.name].fallback.packets), drop \(.counters.drop.packets - $old[.name].drop.packets)"
	' <<<"$after")
result "counters of all $PODS pods rose (>= $MIN packets each way, no fallback)" \
	"$([[ -z $low ]]; echo $?)" "$low"
fwd=$(jq -r --argjson b "$before" \
	'.counters["fwd-local"].packets - $b.counters["fwd-local"].packets' \
	<<<"$after")
comment "fwd-local rose by $fwd packets"
check_eq "fwd-local equals the sum of from_pod over the pods" "$fwd" \
	"$(jq -r --argjson b "$before" '
	([.endpoints[].counters.from_pod.packets] | add) -
	([$b.endpoints[].counters.from_pod.packets] | add)' <<<"$after")"

# ---- reset ----

t0=$(date +%s.%N)
check "reset" nsf -n "$HOST" reset
t1=$(date +%s.%N)
comment "reset of $PODS pods took $(awk -v a="$t0" -v b="$t1" \
	'BEGIN { printf "%.2f", b - a }')s"
check_eq "no veth left in $HOST" "" \
	"$(ip -n "$HOST" -o link show type veth)"
check_eq "no pod namespace left" "" \
	"$(find /run/netns -maxdepth 1 -name "$P-p*")"
check_eq "no route to a pod left in $HOST" "" "$(ip -n "$HOST" route)"
check_fails "pins gone" test -e "$PIN"
check_fails "state gone" test -e "$STATE"
check_eq "status: not initialised" false \
	"$(nsf -n "$HOST" status --json | jq -r .initialised)"

e2e_finish
