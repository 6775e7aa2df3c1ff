# shellcheck shell=bash
# Sourced by bench/run.sh: the scale workloads. Many pods (attached with
# nsfast, timed one by one; plugged into the bridge with ip), and many
# live NAT flows made by real traffic (trafgen, one new flow per packet).
#
# Needs: sandbox.sh, topo.sh, measure.sh.

POD_COUNT=2      # pods per host (pa and pb)
FILL_BASE=20000  # next destination port range for NAT-filling traffic
# conntrack's limit is machine-wide and a namespace cannot raise it
CT_MAX=$(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null || echo 0)

# attach_timed PATH NAME INDEX [ADDR]: nsfast attach, timed (ms, as a user
# sees it: the whole command) and recorded as pod number INDEX.
attach_timed() {
	local path=$1 name=$2 idx=$3 t0 t1 args=()
	[[ -n "${4:-}" ]] && args=(--ip "$4")
	t0=$EPOCHREALTIME
	nsf "$P-${NS_H[$path]}" attach "$name" "${args[@]}" >/dev/null || return 1
	t1=$EPOCHREALTIME
	printf '%s,%s,%s\n' "$path" "$idx" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) * 1000 }')" \
		>>"$OUT/attach.csv"
}

# pods_grow COUNT: bring every host to COUNT pods. The extra pods are idle
# (attached and addressed, no traffic): the measured pair stays pa -> pb.
pods_grow() {
	local want=$1 i path k a
	for ((i = POD_COUNT + 1; i <= want; i++)); do
		for path in nsfast-tc nsfast-xdp; do
			k=${PK[$path]}
			attach_timed "$path" "$P-$k-s$i" "$i" || {
				log "  $path: attach of pod $i failed"
				return 1
			}
		done
		# Bridge pods: 10.244.1.1 onwards, clear of the measured ones.
		a=$((i - 3))
		bridge_pod b "s$i" "10.244.$((1 + a / 250)).$((1 + a % 250))" || {
			log "  bridge: pod $i failed"
			return 1
		}
		((i % 100 == 0)) && progress " $i"
	done
	POD_COUNT=$want
	return 0
}

# attach_probe WORKLOAD: on a quiet host (the last attach a second ago),
# attach five more pods one at a time, 0.2 s apart, each timed as a
# sample of WORKLOAD; then detach them again.
attach_probe() {
	local wl=$1 path k j t0 t1
	sleep 1
	for path in nsfast-tc nsfast-xdp; do
		k=${PK[$path]}
		for j in 1 2 3 4 5; do
			t0=$EPOCHREALTIME
			nsf "$P-${NS_H[$path]}" attach "$P-$k-q$j" >/dev/null || {
				log "  $path: probe attach failed"
				return 1
			}
			t1=$EPOCHREALTIME
			record "$path" "$wl" "$j" "$(awk -v a="$t0" -v b="$t1" \
				'BEGIN { printf "%.2f", (b - a) * 1000 }')"
			sleep 0.2
		done
		for j in 1 2 3 4 5; do
			nsf "$P-${NS_H[$path]}" detach "$P-$k-q$j" >/dev/null
		done
	done
}

# attach_summary: the attaches of pods 901-1000 while growing the hosts
# (one right after the other), as samples of attach.burst.
attach_summary() {
	local path idx ms
	[[ -s "$OUT/attach.csv" ]] || return 0
	while IFS=, read -r path idx ms; do
		((idx > 900 && idx <= 1000)) && record "$path" attach.burst "$idx" "$ms"
	done <"$OUT/attach.csv"
	return 0
}

# nat_fill PATH TARGET: real traffic from pod A to the world, one new flow
# per packet (source port and destination port both count; destination
# ports never used before), until the host holds at least TARGET NAT
# entries (nsfast: two per flow) or conntrack entries (bridge: one per
# flow). Gives up after four rounds.
nat_fill() {
	local path=$1 target=$2 have per round conf="$WORK/conf/$1.fill"
	per=2
	[[ ${PK[$path]} == b ]] && per=1
	for ((round = 0; round < 4; round++)); do
		have=$(nat_entries "$path")
		[[ $have =~ ^[0-9]+$ ]] || have=0
		((have * 100 >= target * 98)) && break
		tg_conf "$conf" "${DMAC_PW[$path]}" "${MAC_PW[$path]}" $POD_A \
			$WORLD_IP "dinc(1024, 65000)" "dinc($FILL_BASE, $((FILL_BASE + 999)))"
		FILL_BASE=$((FILL_BASE + 1000))
		tg_send "${NS_PW[$path]}" "$conf" $(((target - have + per - 1) / per))
		sleep 0.2
	done
	FILLED=$(nat_entries "$path")
}

# nat_scale_step TARGET LABEL REPS: fill every host to TARGET entries,
# then measure pod -> world with the one measured flow, interleaved.
nat_scale_step() {
	local target=$1 label=$2 reps=$3 path
	SKIP=()
	progress "[$(elapsed)] scale: filling NAT tables to $label entries:"
	for path in bridge nsfast-tc nsfast-xdp; do
		if [[ ${PK[$path]} == b ]] && ((target > CT_MAX)); then
			SKIP[$path]="n/a: nf_conntrack_max is $CT_MAX"
			progress "  bridge n/a (nf_conntrack_max $CT_MAX)"
			continue
		fi
		nat_fill "$path" "$target"
		progress "  $path $FILLED"
		printf '%s,%s,%s\n' "$path" "$label" "$FILLED" >>"$OUT/nat-fill.csv"
	done
	log ""
	run_reps "$reps" "pps pod->world, $label NAT entries" sample_rate pw "" \
		"scale.nat.$label"
	SKIP=()
}
