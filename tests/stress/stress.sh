#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq filters
# `make stress`: sustained load, bounded and self-stopping. STRESS_PODS
# pods (default 120) on one host, each with STRESS_PER_POD TCP connections
# to other pods (fast path), as many to the world (masqueraded) and a UDP
# exchange with the world, every connection echoing a line every
# STRESS_INTERVAL s, for STRESS_TIME s (default 180). TAP, then a summary.
#
# Checks: no TCP exchange failed and every connection is still up; no
# datapath drop counter moved; the fast path carried the traffic (fwd-local,
# fwd-snat, fwd-rnat grew); memory is stable: from the first sample after
# warm-up to the end, MemAvailable and kernel Slab drift by less than
# STRESS_MEM_SLACK_KB (default 262144: both are machine-wide, and other
# work on the machine moves them too), the BPF maps' memory does not change
# and the NAT table holds a steady number of entries. Samples every 10 s are
# written to $STRESS_OUT (default build/stress) as CSV with the summary.
E2E_DEADLINE=$((${STRESS_TIME:-180} + 600))
E2E_CMD_TIMEOUT=${E2E_CMD_TIMEOUT:-120}
# shellcheck source=../e2e/lib/common.sh
. "$(dirname "$0")/../e2e/lib/common.sh"

PODS=${STRESS_PODS:-120}
DUR=${STRESS_TIME:-180}
PER=${STRESS_PER_POD:-2}
IVL=${STRESS_INTERVAL:-0.2}
SLACK=${STRESS_MEM_SLACK_KB:-262144}
OUT=${STRESS_OUT:-$(cd "$(dirname "$0")/../.." && pwd)/build/stress}
mkdir -p "$OUT"
WAN_W=10.99.0.1

H="$P-h"
W="$P-w"
uplink_host "$H" "$W"
PINS=${E2E_PINS[0]}
pods=()
t0=$(date +%s)
for ((i = 0; i < PODS; i++)); do
	nsf -n "$H" attach "$P-$i" >/dev/null || break
	pods+=("$P-$i")
done
check_eq "$PODS pods attached" "$PODS" "${#pods[@]}"
e2e_require $? "pods"
comment "attached $PODS pods in $(($(date +%s) - t0)) s"

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
map_kb() { # memory of the host's pinned maps, KiB
	local f sum=0 b
	for f in "$PINS"/nsf_*; do
		b=$(bpftool -j map show pinned "$f" 2>/dev/null | jq '.bytes_memlock // 0')
		[[ $b =~ ^[0-9]+$ ]] && sum=$((sum + b))
	done
	echo $((sum / 1024))
}
snap() { nsf -n "$H" status --json; }
sample() { # t, MemAvailable, Slab, SUnreclaim, map KiB, NAT entries
	echo "$1,$(meminfo MemAvailable),$(meminfo Slab),$(meminfo SUnreclaim),$(map_kb),$(snap | jq .nat.entries)"
}

CSV=$OUT/samples.csv
echo "t,mem_available_kb,slab_kb,sunreclaim_kb,bpf_maps_kb,nat_entries" >"$CSV"
before=$(snap)
sample 0 >>"$CSV"
bg_start timeout $((DUR + 120)) "$E2E_PY" "$E2E_LIB_DIR/stresstool.py" \
	--world "$W" --world-ip "$WAN_W" --duration "$DUR" --interval "$IVL" \
	--per-pod "$PER" "${pods[@]}" >"$OUT/traffic.json"
load=$E2E_LAST_PID
start=$SECONDS
while kill -0 "$load" 2>/dev/null; do
	sleep 10
	sample $((SECONDS - start)) >>"$CSV"
done
wait "$load"
rc=$?
after=$(snap)
traffic=$(cat "$OUT/traffic.json")
comment "traffic: $traffic"
result "every TCP exchange echoed, every connection still up" "$rc" "$traffic"

# Every drop counter, drop-not-ipv4 included: pods come up without IPv6
# addresses, so their kernels send no IPv6 of their own.
drops=$(jq -n --argjson a "$before" --argjson b "$after" '[$b.counters |
	to_entries[] | select(.key | startswith("drop-")) |
	{(.key): (.value.packets - $a.counters[.key].packets)}] | add |
	with_entries(select(.value != 0))')
check_eq "no datapath drop counter moved" "{}" "$(jq -c . <<<"$drops")"
for c in fwd-local fwd-snat fwd-rnat; do
	n=$(jq -n --argjson a "$before" --argjson b "$after" \
		--arg c "$c" '$b.counters[$c].packets - $a.counters[$c].packets')
	((n > 0))
	result "the fast path carried traffic: $c +$n" $?
done

# Memory: the first sample (warm-up: connections just opened) against the
# last; and the extremes in between.
mapfile -t rows < <(tail -n +3 "$CSV")
first=${rows[0]}
last=${rows[-1]}
field() { cut -d, -f"$2" <<<"$1"; }
if [[ ${#rows[@]} -ge 2 ]]; then
	d_av=$(($(field "$first" 2) - $(field "$last" 2)))
	d_slab=$(($(field "$last" 3) - $(field "$first" 3)))
	((d_av < SLACK))
	result "MemAvailable did not shrink by $SLACK KiB or more (${d_av} KiB)" $?
	((d_slab < SLACK))
	result "kernel slab did not grow by $SLACK KiB or more (${d_slab} KiB)" $?
	check_eq "BPF map memory constant (KiB)" "$(field "$first" 5)" \
		"$(cut -d, -f5 "$CSV" | tail -n +2 | sort -u | tr '\n' ' ' | xargs)"
	nat=$(cut -d, -f6 <<<"$(printf '%s\n' "${rows[@]}")" | sort -n | sed -n '1p;$p' | xargs)
	lo=${nat% *} hi=${nat#* }
	((hi - lo <= 4 * PODS))
	result "NAT entries steady (min $lo, max $hi)" $?
else
	not_ok "enough memory samples (STRESS_TIME >= 30)"
fi

{
	echo "nsfast stress: $PODS pods, $PER+$PER TCP + 1 UDP flows each, ${DUR}s, interval ${IVL}s"
	jq -r '"exchanges \(.exchanges) (pod \(.by_kind.pod), world \(.by_kind.world), udp \(.by_kind.udp)), failures \(.failures), udp lost \(.udp_lost), rtt p50/p99/p99.9/max ms \(.rtt_ms["0.5"])/\(.rtt_ms["0.99"])/\(.rtt_ms["0.999"])/\(.rtt_ms.max)"' <<<"$traffic"
	echo "datapath drops: $(jq -c . <<<"$drops")"
	echo "memory (t,MemAvailable,Slab,SUnreclaim,BPF maps KiB,NAT entries):"
	cat "$CSV"
} >"$OUT/summary.txt"
comment "$(cat "$OUT/summary.txt")"
comment "written to $OUT/summary.txt and $CSV"

e2e_finish
