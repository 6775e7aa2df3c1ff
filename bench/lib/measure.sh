# shellcheck shell=bash
# Sourced by bench/run.sh: one sample of each workload on one path, the
# interleaving driver, and how samples are recorded.
#
# Needs: sandbox.sh, topo.sh; OUT (results directory), WARM and WIN
# (seconds of trafgen warm-up and of the measuring window), LAT_SECS,
# BULK_SECS, CONN_SECS.

PY=/usr/bin/python3 # not a pyenv shim that may shadow it on PATH
CLK_TCK=$(getconf CLK_TCK)
T_START=$SECONDS

log() {
	printf '%s\n' "$*"
	printf '%s\n' "$*" >>"$OUT/run.log"
}

# progress TEXT: without a newline, so a rep's values build up on one line.
progress() {
	printf '%s' "$*"
	printf '%s' "$*" >>"$OUT/run.log"
}

elapsed() {
	local s=$((SECONDS - T_START))
	printf '%02d:%02d' $((s / 60)) $((s % 60))
}

# ---- the workload registry and the samples ----

# wl_def ID GROUP UNIT BETTER LABEL: declare a workload (once).
#   GROUP   what the chart and the table group it under
#   BETTER  higher | lower
wl_def() {
	printf '%s,%s,%s,%s,"%s"\n' "$1" "$2" "$3" "$4" "$5" >>"$OUT/workloads.csv"
}

# record PATH WORKLOAD REP VALUE [NOTE]
record() {
	printf '%s,%s,%s,%s,"%s"\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$OUT/samples.csv"
}

# ---- counters ----

# ip_in NS: "Ip: InReceives" of netns NS: every IPv4 packet its stack saw.
ip_in() {
	nsenter --net="/run/netns/$P-$1" awk \
		'/^Ip:/ { if (++n == 2) print $4 }' /proc/net/snmp
}

# The kernel's softirq threads: network processing deferred from the
# context that raised it runs there.
KSOFTIRQD=()
for f in /proc/[0-9]*/comm; do
	read -r c <"$f" 2>/dev/null || continue
	[[ $c == ksoftirqd/* ]] && KSOFTIRQD+=("${f//[^0-9]/}")
done
unset f c

# pid_tree PID: PID and all its descendants.
pid_tree() {
	local c
	echo "$1"
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		pid_tree "$c"
	done
}

# cpu_ticks PID...: user + system CPU time of these processes (ticks).
cpu_ticks() {
	local p sum=0 f
	for p in "$@"; do
		read -ra f <"/proc/$p/stat" 2>/dev/null || continue
		sum=$((sum + f[13] + f[14]))
	done
	echo "$sum"
}

# nsf_counter PATH REASON: packets counted under REASON by nsfast.
nsf_counter() {
	nsf "$P-${NS_H[$1]}" status --json 2>/dev/null | $PY -c '
import json, sys
d = json.load(sys.stdin)
print(d.get("counters", {}).get(sys.argv[1], {}).get("packets", 0))' "$2"
}

# nat_entries PATH: live NAT entries (nsfast: two per flow) or conntrack
# entries (bridge) in the path's host.
nat_entries() {
	case ${PK[$1]} in
	c) echo 0 ;;
	b) in_ns "${NS_H[$1]}" conntrack -C 2>/dev/null ;;
	*) nsf "$P-${NS_H[$1]}" status --json | $PY -c '
import json, sys
print(json.load(sys.stdin)["nat"]["entries"])' ;;
	esac
}

# flush_state PATH: forget every NAT flow / conntrack entry of the host.
flush_state() {
	case ${PK[$1]} in
	b) in_ns "${NS_H[$1]}" conntrack -F >/dev/null 2>&1 ;;
	t | x) nsf "$P-${NS_H[$1]}" nat flush >/dev/null ;;
	f | g) floor_attach "$1" ;; # bench/floor.sh: a fresh flow table
	esac
	return 0
}

# ---- trafgen ----

# tg_conf FILE DMAC SMAC SADDR DADDR SPORT DPORT: one 64-byte (60 + FCS)
# UDP frame; SPORT/DPORT may be trafgen functions such as dinc(1024, 65000).
# trafgen computes the IPv4 and UDP checksums, also per packet when a
# field changes.
tg_conf() {
	cat >"$1" <<EOF
{
  eth(da=$2, sa=$3, type=0x0800),
  ipv4(saddr=$4, daddr=$5, ttl=64),
  udp(sp=$6, dp=$7),
  fill(0x41, 18)
}
EOF
}

# tg_start NS CONF SECS [N]: trafgen on eth0 of NS, one process (-P 1),
# through the qdisc path (-q), without touching machine-wide socket
# memory or IRQ settings; at most SECS seconds, or N packets. Sets TG_PID.
tg_start() {
	local ns=$1 conf=$2 secs=$3 n=${4:-0}
	timeout -s INT "$secs" ip netns exec "$P-$ns" trafgen -o eth0 \
		-i "$conf" -P 1 -q --no-sock-mem --notouch-irq -C -n "$n" \
		>/dev/null 2>&1 </dev/null &
	TG_PID=$!
}

tg_stop() {
	kill -INT "$TG_PID" 2>/dev/null
	wait "$TG_PID" 2>/dev/null
	TG_PID=
}

# tg_send NS CONF N: send exactly N packets and wait for trafgen to end.
tg_send() {
	tg_start "$1" "$2" 120 "$3"
	wait "$TG_PID"
	TG_PID=
}

# Trafgen configurations of a path, written once by conf_write.
#   pp / pw            one flow (10.244.0.10:4000 -> pod B or world :5001)
#   pp-new / pw-new    every packet a new flow: the source port counts
#                      1024..65000 and the destination port 10000..10999
#                      at once, so the 5-tuple repeats only after 64M
#                      packets
#   pw-1dst            new flows to one destination (world:5002): only
#                      the source port counts
conf_write() {
	local path d
	for path in "${PATHS[@]}"; do
		d="$WORK/conf/$path"
		tg_conf "$d.pp" "${DMAC_PP[$path]}" "${MAC_PA[$path]}" $POD_A $POD_B 4000 5001
		tg_conf "$d.pw" "${DMAC_PW[$path]}" "${MAC_PW[$path]}" $POD_A $WORLD_IP 4000 5001
		tg_conf "$d.pp-new" "${DMAC_PP[$path]}" "${MAC_PA[$path]}" $POD_A $POD_B \
			"dinc(1024, 65000)" "dinc(10000, 10999)"
		tg_conf "$d.pw-new" "${DMAC_PW[$path]}" "${MAC_PW[$path]}" $POD_A $WORLD_IP \
			"dinc(1024, 65000)" "dinc(10000, 10999)"
		tg_conf "$d.pw-1dst" "${DMAC_PW[$path]}" "${MAC_PW[$path]}" $POD_A $WORLD_IP \
			"dinc(1024, 65000)" 5002
	done
}

# prime_wp PATH: make sure the pod's flow 10.244.0.10:4000 -> world:5001
# exists (the pod sends one packet), then write the world's frame for the
# replies: to the address and port it was masqueraded to.
prime_wp() {
	local path=$1 k=${PK[$1]} port dip=$UPLINK_IP conf="$WORK/conf/$1.wp"
	if [[ $k == c ]]; then
		dip=$POD_A
		port=4000
	else
		tg_send "${NS_PW[$path]}" "$WORK/conf/$path.pw" 1
		sleep 0.05
		if [[ $k == b ]]; then
			port=$(in_ns "${NS_H[$path]}" conntrack -L -p udp \
				--orig-src $POD_A --orig-port-src 4000 \
				--orig-port-dst 5001 2>/dev/null |
				grep -o 'dport=[0-9]*' | tail -n 1 | cut -d= -f2)
		else
			port=$(nsf "$P-${NS_H[$path]}" nat list --json | $PY -c '
import json, sys
for f in json.load(sys.stdin):
    o = f["original"]
    if (f["proto"], o["src"], o["sport"], o["dport"]) == ("udp", sys.argv[1], 4000, 5001):
        print(f["translated"]["sport"])
        break' $POD_A)
		fi
	fi
	if ! [[ $port =~ ^[0-9]+$ ]]; then
		log "  $path: no NAT mapping found for the pod's flow"
		return 1
	fi
	tg_conf "$conf" "${DMAC_WP[$path]}" "${MAC_W[$path]}" $WORLD_IP "$dip" 5001 "$port"
}

# ---- samples: each measures one path once and records the result ----

# sample_rate PATH DIR KIND WORKLOAD [CPU_WORKLOAD]
#   DIR   pp (pod -> pod), pw (pod -> world), wp (world -> pod)
#   KIND  "" (one flow) or -new (a new flow per packet)
# trafgen blasts for WARM + WIN seconds; the rate is the growth of the
# receiver's InReceives over the WIN-second window, divided by the time
# measured. CPU_WORKLOAD, if given, gets the CPU time spent per received
# packet during the window (ns) by trafgen and the softirq threads: the
# sender runs the whole path, so this is the path's cost (trafgen's own
# share, the same everywhere, included), and unlike machine-wide CPU time
# it does not count what other users of the machine run meanwhile.
# PROFILE_TO=FILE: a perf cpu-clock profile of the whole machine during
# the window instead of a plain sleep.
sample_rate() {
	local path=$1 dir=$2 kind=$3 wl=$4 cwl=${5:-} snd rcv conf
	local c0 c1 b0 b1 t0 t1 v cpu pids
	case $dir in
	pp) snd=${NS_PA[$path]} rcv=${NS_PB[$path]} ;;
	pw) snd=${NS_PW[$path]} rcv=${NS_W[$path]} ;;
	wp)
		snd=${NS_W[$path]} rcv=${NS_PW[$path]}
		prime_wp "$path" || {
			record "$path" "$wl" "$REP" 0 "no NAT mapping"
			R_SHOW=fail
			return 1
		}
		;;
	esac
	conf="$WORK/conf/$path.$dir$kind"
	[[ $kind == -new ]] && flush_state "$path"
	# The receiving pod says hello first, as any real peer would now and
	# then: a bridge forgets a silent pod's MAC address after 300 s and
	# then floods every frame for it to all its ports.
	[[ $dir == pp ]] && in_ns "$rcv" ping -c 1 -W 1 -q $POD_A >/dev/null 2>&1
	tg_start "$snd" "$conf" "$(awk -v a="$WARM" -v b="$WIN" 'BEGIN { print a + b + 3 }')"
	sleep "$WARM"
	# Whose CPU time counts: trafgen (whose sends run the whole path in
	# softirq on their CPU: veth, bridge, netfilter, BPF, the receiver's
	# IP and UDP) and the softirq threads, where that work may be
	# deferred. Other users of the machine are not counted.
	mapfile -t pids < <(pid_tree "$TG_PID")
	pids+=("${KSOFTIRQD[@]}")
	c0=$(ip_in "$rcv") b0=$(cpu_ticks "${pids[@]}") t0=$EPOCHREALTIME
	if [[ -n "${PROFILE_TO:-}" ]]; then
		timeout 30 perf record -q -e cpu-clock -a -g -o "$PROFILE_TO" \
			-- sleep "$WIN" >/dev/null 2>&1
	else
		sleep "$WIN"
	fi
	c1=$(ip_in "$rcv") b1=$(cpu_ticks "${pids[@]}") t1=$EPOCHREALTIME
	tg_stop
	read -r v cpu < <(awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" \
		-v b0="$b0" -v b1="$b1" -v hz="$CLK_TCK" 'BEGIN {
		p = c1 - c0
		cpu = 0
		if (p > 0)
			cpu = (b1 - b0) / hz * 1e9 / p
		printf "%.1f %.0f\n", p / (t1 - t0) / 1000, cpu }')
	record "$path" "$wl" "$REP" "$v"
	[[ -n "$cwl" ]] && record "$path" "$cwl" "$REP" "$cpu"
	R_SHOW=$v
}

# sample_newflows_1dst PATH WORKLOAD: N new flows to one destination
# (world:5002) from a clean table, as fast as trafgen sends them; how many
# reached the world. nsfast maps every flow to a port of its NAT range,
# MASQUERADE keeps the pod's port when it is free.
sample_newflows_1dst() {
	local path=$1 wl=$2 n=$ONEDST_FLOWS c0 c1 note='' e0 e1
	flush_state "$path"
	c0=$(ip_in "${NS_W[$path]}")
	[[ ${PK[$path]} == [tx] ]] && e0=$(nsf_counter "$path" drop-nat-exhausted)
	tg_send "${NS_PW[$path]}" "$WORK/conf/$path.pw-1dst" "$n"
	sleep 0.2
	c1=$(ip_in "${NS_W[$path]}")
	if [[ ${PK[$path]} == [tx] ]]; then
		e1=$(nsf_counter "$path" drop-nat-exhausted)
		note="drop-nat-exhausted +$((e1 - e0))"
	fi
	record "$path" "$wl" "$REP" $((c1 - c0)) "$note"
	R_SHOW=$((c1 - c0))
}

# sample_latency PATH DIR PROTO WL50 WL99: sockperf ping-pong (64-byte
# messages, round-trip times) against the server started by
# start_servers; records the median and the 99th percentile in us.
# Client and server are pinned to the same CPU (LAT_CPU): on this kind of
# VM a cross-CPU wake-up alone costs 30-60 us and lands at random, which
# would swamp the datapath's share of the round trip.
sample_latency() {
	local path=$1 dir=$2 proto=$3 snd dst port=11111 out p50 p99
	local args=()
	case $dir in
	pp) snd=${NS_PA[$path]} dst=$POD_B ;;
	pw) snd=${NS_PW[$path]} dst=$WORLD_IP ;;
	esac
	if [[ $proto == tcp ]]; then
		port=11112
		args+=(--tcp)
	fi
	out=$(timeout $((LAT_SECS + 15)) ip netns exec "$P-$snd" \
		taskset -c "$LAT_CPU" sockperf ping-pong -i "$dst" -p $port -t "$LAT_SECS" -m 64 --full-rtt \
		"${args[@]}" 2>&1)
	p50=$(awk '/percentile 50.000 =/ { print $NF }' <<<"$out")
	p99=$(awk '/percentile 99.000 =/ { print $NF }' <<<"$out")
	if [[ -z "$p50" || -z "$p99" ]]; then
		log "  $path: sockperf failed: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
		R_SHOW=fail
		return 1
	fi
	record "$path" "$4" "$REP" "$p50"
	record "$path" "$5" "$REP" "$p99"
	R_SHOW="$p50/$p99"
}

# sample_bulk PATH DIR WORKLOAD: iperf3, one TCP stream, BULK_SECS
# seconds, Gbit/s received. wp: the pod connects to the world and
# receives (-R), as a download.
sample_bulk() {
	local path=$1 dir=$2 wl=$3 snd dst out v
	local args=()
	case $dir in
	pp) snd=${NS_PA[$path]} dst=$POD_B ;;
	pw) snd=${NS_PW[$path]} dst=$WORLD_IP ;;
	wp)
		snd=${NS_PW[$path]} dst=$WORLD_IP
		args+=(-R)
		;;
	esac
	out=$(timeout $((BULK_SECS + 20)) ip netns exec "$P-$snd" iperf3 \
		-c "$dst" -p 5201 -t "$BULK_SECS" -J "${args[@]}" 2>&1)
	v=$($PY -c '
import json, sys
try:
    d = json.loads(sys.stdin.read())
    print("%.2f %d" % (d["end"]["sum_received"]["bits_per_second"] / 1e9,
                       d["end"]["sum_sent"].get("retransmits", 0)))
except Exception:
    pass' <<<"$out")
	if [[ -z "$v" ]]; then
		log "  $path: iperf3 failed: $(grep -o '"error":.*' <<<"$out" | head -n 1)"
		R_SHOW=fail
		return 1
	fi
	record "$path" "$wl" "$REP" "${v% *}" "retransmits ${v#* }"
	R_SHOW=${v% *}
}

# sample_connrate PATH WORKLOAD: short TCP connections per second, pod ->
# world (bench/connrate.c: 8 in flight; connect, 1 byte each way, the
# server closes), from a clean NAT/conntrack table, to a server port of
# its own per repeat (so no TIME_WAIT is left from an earlier repeat).
sample_connrate() {
	local path=$1 wl=$2 out rate note e0 e1 i port=$((7100 + REP))
	flush_state "$path"
	[[ ${PK[$path]} == [tx] ]] && e0=$(nsf_counter "$path" drop-nat-exhausted)
	bg_ns "${NS_W[$path]}" $((CONN_SECS + 5)) "$CONNRATE" server $WORLD_IP \
		$port $((CONN_SECS + 3)) >/dev/null
	for i in $(seq 50); do
		nsenter --net="/run/netns/$P-${NS_W[$path]}" ss -Hltn "sport = :$port" |
			grep -q . && break
		sleep 0.05
	done
	out=$(timeout $((CONN_SECS + 10)) ip netns exec "$P-${NS_PW[$path]}" \
		"$CONNRATE" client $WORLD_IP $port "$CONN_SECS" 8 2>&1)
	kill "${BENCH_PIDS[-1]}" 2>/dev/null
	wait "${BENCH_PIDS[-1]}" 2>/dev/null
	unset 'BENCH_PIDS[-1]'
	rate=$(awk '{ for (i = 1; i < NF; i++) if ($i == "rate") print $(i + 1) }' <<<"$out")
	note=$(awk '{ for (i = 1; i < NF; i++) if ($i == "timeouts") print "timeouts " $(i + 1) }' <<<"$out")
	if [[ ${PK[$path]} == [tx] ]]; then
		e1=$(nsf_counter "$path" drop-nat-exhausted)
		note+="; drop-nat-exhausted +$((e1 - e0))"
	fi
	if [[ -z "$rate" ]]; then
		log "  $path: connrate failed: $out"
		R_SHOW=fail
		return 1
	fi
	record "$path" "$wl" "$REP" "$rate" "$note"
	R_SHOW=$rate
}

# ---- servers for the latency and bulk workloads ----

# start_servers: sockperf (UDP 11111, TCP 11112) and iperf3 (5201) in
# pod B and in the world of every path, for the whole run; and UDP sinks
# (udpsink.py) for the blasted traffic wherever it ends: pod B, the world
# and pod A (world -> pod), on the ports trafgen sends to.
start_servers() {
	local path ns ip i
	for path in "${PATHS[@]}"; do
		for ns in "${NS_PB[$path]}" "${NS_W[$path]}" "${NS_PW[$path]}"; do
			bg_ns "$ns" "$DEADLINE" "$PY" "$BENCH_DIR/udpsink.py" \
				"$DEADLINE" 4000 5001 5002 10000-10999 >/dev/null
		done
		for ns in "${NS_PB[$path]}=$POD_B" "${NS_W[$path]}=$WORLD_IP"; do
			ip=${ns#*=}
			ns=${ns%=*}
			bg_ns "$ns" "$DEADLINE" taskset -c "$LAT_CPU" sockperf server \
				-i "$ip" -p 11111 >/dev/null 2>&1
			bg_ns "$ns" "$DEADLINE" taskset -c "$LAT_CPU" sockperf server \
				-i "$ip" -p 11112 --tcp >/dev/null 2>&1
			bg_ns "$ns" "$DEADLINE" iperf3 -s -B "$ip" -p 5201 >/dev/null 2>&1
		done
	done
	# Wait (at most 10 s) until the last sink listens on its last port.
	for i in $(seq 100); do
		nsenter --net="/run/netns/$P-${NS_PW[${PATHS[-1]}]}" ss -Hlun \
			'sport = :10999' | grep -q . && break
		sleep 0.1
	done
	sleep 0.3
}

# ---- interleaving ----

declare -A SKIP # paths not measured in the current step, and why

# run_reps REPS TITLE FUNC ARGS...: REPS rounds; each measures every path
# once (FUNC PATH ARGS...), starting one path later each round, so drift
# and noise fall on all paths alike. One progress line per round.
run_reps() {
	local reps=$1 title=$2 fn=$3 r i n=${#PATHS[@]} path
	shift 3
	for ((r = 0; r < reps; r++)); do
		REP=$((r + 1))
		progress "[$(elapsed)] $title  $REP/$reps:"
		for ((i = 0; i < n; i++)); do
			path=${PATHS[$(((i + r) % n))]}
			R_SHOW='?'
			if [[ -n "${SKIP[$path]:-}" ]]; then
				R_SHOW=n/a
			else
				"$fn" "$path" "$@"
			fi
			progress "  $path $R_SHOW"
		done
		log ""
	done
}

# ---- profiles (BENCH_PROFILE=1) ----

# profile_paths: one more rate sample per path and direction (one flow;
# new flows pod -> world too) under perf record (cpu-clock: this VM has
# no hardware cycle counter), summarised per kernel/BPF symbol into
# profile/PATH.DIR.txt. Not part of the results: perf slows what it
# watches.
PROFILE_SYMS='\] (packet_sendmsg|__dev_queue_xmit|veth_xmit|process_backlog|__netif_receive_skb_core[.a-z0-9]*|tcf_classify|bpf_prog_[0-9a-f]+_[a-z_]+|bpf_ipv4_fib_lookup|bpf_skb_fib_lookup|bpf_xdp_fib_lookup|fib_table_lookup|skb_do_redirect|xdp_do_redirect|dev_map_enqueue|veth_xdp_xmit|veth_poll|veth_xdp_rcv|htab_lru_map_update_elem|htab_lru_map_lookup_elem|bpf_lru_pop_free|__htab_map_lookup_elem|br_handle_frame|br_forward|nf_hook_slow|nf_conntrack_in|nf_nat_inet_fn|ip_forward|ip_rcv|ip_local_deliver|__udp4_lib_rcv|icmp_send|__icmp_send|napi_gro_receive|netif_receive_skb)$'
profile_paths() {
	local path dir kind f
	mkdir -p "$OUT/profile"
	for dir in pp pw wp pw-new; do
		kind=
		[[ $dir == *-new ]] && kind=-new
		progress "[$(elapsed)] profile ${dir%-new}$kind:"
		for path in "${PATHS[@]}"; do
			f="$OUT/profile/$path.$dir"
			REP=0 PROFILE_TO="$f.data" sample_rate "$path" "${dir%-new}" \
				"$kind" "profile.$dir"
			timeout 120 perf report -i "$f.data" --stdio --no-children \
				--sort sym -g none --percent-limit 0.5 2>/dev/null |
				grep -v '^$' >"$f.txt"
			# Inclusive time of the functions that tell the paths
			# apart (the stack under each of them included).
			timeout 120 perf report -i "$f.data" --stdio --children \
				--sort sym -g none 2>/dev/null | grep -E "$PROFILE_SYMS" |
				awk '{ printf "%8s %8s  %s\n", $1, $2, $NF }' >"$f.children.txt"
			[[ ${BENCH_PROFILE_KEEP:-0} == 1 ]] || rm -f "$f.data" "$f.data.old"
			progress "  $path $R_SHOW"
		done
		log ""
	done
}
