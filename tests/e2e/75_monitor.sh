#!/usr/bin/env bash
# Observability: `nsfast monitor` shows fast-path events of all pods,
# --pcap writes a capture tshark and tcpdump read with the packets sent
# (also live through a pipe: --pcap - -U),
# --drops shows drops with their reason, --pod narrows to one pod; the
# datapath stops reporting when the monitor ends (also on SIGINT, SIGTERM,
# SIGHUP, a closed pipe, and after the expiry when killed outright). `nsfast stats`: JSON, Prometheus text format, --watch.
E2E_DEADLINE=${E2E_DEADLINE:-240}
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

HOST="$P-h"
A="$P-a"
B="$P-b"
SPOOF="$E2E_LIB_DIR/spoof.py"
TMP=$E2E_TMPDIR

mon_enabled() { nsf -n "$HOST" stats --json | jq -r .monitor.enabled; }
# wait_file FILE PATTERN SECS: until FILE has a line matching PATTERN
wait_file() {
	local end=$((SECONDS + $3))
	until grep -q -- "$2" "$1" 2>/dev/null; do
		((SECONDS >= end)) && return 1
		sleep 0.1
	done
}

# (an uplink: publishing needs one)
uplink_host "$HOST" "$P-w"
IPA=$(nsf -n "$HOST" attach "$A") && IPB=$(nsf -n "$HOST" attach "$B")
e2e_require $? "pods"
check_eq "monitor off before any monitor ran" false "$(mon_enabled)"

# ---- --pcap: what was sent, readable by tshark and tcpdump ----

bg_start timeout 60 "$NSFAST" -n "$HOST" monitor --pcap "$TMP/a.pcap" \
	--count 10 --duration 30 icmp host "$IPB" 2>"$TMP/mon.err"
MON=$E2E_LAST_PID
wait_file "$TMP/mon.err" monitoring 10
check_eq "monitor on while it runs" true "$(mon_enabled)"
check "ping $A -> $B: 5 requests, 5 replies" \
	pod_exec "$A" ping -c 5 -i 0.2 -W 2 "$IPB"
wait "$MON"
result "monitor --count 10 ended by itself" $? "$(cat "$TMP/mon.err")"
check_eq "monitor off after it ended" false "$(mon_enabled)"
out=$(tshark -r "$TMP/a.pcap" -T fields -e ip.src -e ip.dst -e icmp.type 2>/dev/null)
comment "$out"
check_eq "tshark reads 10 ICMP packets" 10 "$(grep -c . <<<"$out")"
check_eq "5 echo requests $IPA -> $IPB" 5 \
	"$(grep -c "^$IPA	$IPB	8$" <<<"$out")"
check_eq "5 echo replies $IPB -> $IPA" 5 \
	"$(grep -c "^$IPB	$IPA	0$" <<<"$out")"
check_match "tcpdump reads it as Ethernet" "ICMP echo request" \
	"$(tcpdump -nr "$TMP/a.pcap" 2>&1)"
check_eq "captured frames: 98 bytes each, as sent" "98" \
	"$(tshark -r "$TMP/a.pcap" -T fields -e frame.len 2>/dev/null | sort -u | xargs)"

# ---- --pcap - -U: a live capture through a pipe, as tcpdump -w - -U ----

# The monitor runs 8 s; with each packet flushed, tcpdump reading the pipe
# prints the ping while it still runs (stdio buffering would hold the
# records until 4 KiB or the end).
bg_start timeout 60 bash -c "'$NSFAST' -n '$HOST' monitor --pcap - -U \
	--duration 8 icmp host '$IPB' 2>'$TMP/live.err' |
	tcpdump -l -nr - >'$TMP/live.out' 2>/dev/null"
LIVE=$E2E_LAST_PID
wait_file "$TMP/live.err" monitoring 10
check "ping $A -> $B once" pod_exec "$A" ping -c 1 -W 2 "$IPB"
check "tcpdump -r - shows the request at once" \
	wait_file "$TMP/live.out" "ICMP echo request" 4
check "... and the reply" wait_file "$TMP/live.out" "ICMP echo reply" 2
check_fails "... while the monitor still runs" \
	grep -q "events" "$TMP/live.err"
wait "$LIVE"
result "monitor --pcap - -U ended by itself" $? "$(cat "$TMP/live.err")"
check_eq "2 packets in the live capture" 2 \
	"$(grep -c ICMP "$TMP/live.out")"
check_eq "monitor off after it ended" false "$(mon_enabled)"

# ---- --drops: a spoofed packet shows up with its reason ----

# (udp: a filter, so that nothing else a pod might send is the one drop)
bg_start timeout 60 "$NSFAST" -n "$HOST" monitor --drops --count 1 \
	--duration 30 udp >"$TMP/drops.out" 2>"$TMP/drops.err"
MON=$E2E_LAST_PID
wait_file "$TMP/drops.err" monitoring 10
pod_exec "$A" ping -c 2 -i 0.2 -W 1 "$IPB" >/dev/null 2>&1 # not drops
check "send a spoofed UDP packet from $A" \
	pod_exec "$A" "$E2E_PY" "$SPOOF" ip eth0 10.244.9.9 "$IPB" 1
wait "$MON"
result "monitor --drops --count 1 ended" $? "$(cat "$TMP/drops.err")"
comment "$(cat "$TMP/drops.out")"
check_match "it shows drop-spoofed-ip and the forged source" \
	"drop-spoofed-ip +UDP 10.244.9.9:4444 > $IPB:5555.* from $A" \
	"$(cat "$TMP/drops.out")"
check_eq "and nothing that was not a drop" 1 "$(grep -c . "$TMP/drops.out")"

# ---- --pod, and SIGINT / SIGTERM end it cleanly ----

for sig in INT TERM HUP; do
	bg_start "$NSFAST" -n "$HOST" monitor --pod "$B" \
		>"$TMP/pod.out" 2>"$TMP/pod.err"
	MON=$E2E_LAST_PID
	wait_file "$TMP/pod.err" monitoring 10
	pod_exec "$A" ping -c 2 -i 0.2 -W 2 "$IPB" >/dev/null
	wait_file "$TMP/pod.out" "fwd-local" 5
	kill -"$sig" "$MON"
	wait "$MON"
	result "monitor ends with status 0 on SIG$sig" $? "$(cat "$TMP/pod.err")"
	check_eq "monitor off after SIG$sig" false "$(mon_enabled)"
done
check_match "--pod $B shows its traffic" "ICMP $IPA > $IPB" "$(cat "$TMP/pod.out")"

# A reader that goes away (`monitor | head`) ends it cleanly too.
(
	timeout 20 "$NSFAST" -n "$HOST" monitor --duration 15 2>"$TMP/pipe.err" |
		head -1 >/dev/null
	echo "${PIPESTATUS[0]}" >"$TMP/pipe.rc"
) &
MON=$!
wait_file "$TMP/pipe.err" monitoring 10
pod_exec "$A" ping -c 3 -i 0.2 -W 2 "$IPB" >/dev/null
wait "$MON"
check_eq "monitor | head -1: ends with status 0" 0 "$(cat "$TMP/pipe.rc")"
check_eq "  and monitor off right after" false "$(mon_enabled)"
# Killed outright: off once the expiry (3 s) has passed, for stats, and
# in the datapath from the first packet after it.
bg_start "$NSFAST" -n "$HOST" monitor >/dev/null 2>"$TMP/kill.err"
MON=$E2E_LAST_PID
wait_file "$TMP/kill.err" monitoring 10
kill -KILL "$MON"
wait "$MON" 2>/dev/null
sleep 3.5
check_eq "monitor killed outright: stats says off after the expiry" false \
	"$(mon_enabled)"
pod_exec "$A" ping -c 1 -W 2 "$IPB" >/dev/null
PINS=$(nsf -n "$HOST" status --json | jq -r .pin_dir)
check_eq "  and the datapath has turned itself off" 0 "$(
	bpftool map dump pinned "$PINS/nsf_mon_cfg" -j |
		jq -r '.[0].formatted.value.enabled // .[0].value.enabled')"
bg_start timeout 20 "$NSFAST" -n "$HOST" monitor --duration 3 \
	>/dev/null 2>"$TMP/first.err"
MON=$E2E_LAST_PID
wait_file "$TMP/first.err" monitoring 10
out=$(nsf -n "$HOST" monitor --duration 1 2>&1)
result "a second monitor at once is refused" $((!$?)) "$out"
check_match "  saying why" "another monitor runs on this host" "$out"
wait "$MON"
# A refused monitor must leave the running one's capture alone.
bg_start timeout 20 "$NSFAST" -n "$HOST" monitor --pcap "$TMP/keep.pcap" \
	--duration 4 icmp 2>"$TMP/keep.err"
MON=$E2E_LAST_PID
wait_file "$TMP/keep.err" monitoring 10
# (over 4 KiB of records, so that some are written before the refusal)
pod_exec "$A" ping -c 20 -i 0.05 -W 2 "$IPB" >/dev/null
out=$(nsf -n "$HOST" monitor --pcap "$TMP/keep.pcap" --duration 1 2>&1)
result "a second monitor with the same --pcap FILE is refused" $((!$?)) "$out"
wait "$MON"
check_eq "  and the first one's capture is intact (40 packets)" 40 \
	"$(tcpdump -nr "$TMP/keep.pcap" 2>/dev/null | grep -c ICMP)"
out=$(nsf -n "$HOST" monitor --pcap "$TMP/new.pcap" --duration 1 2>&1 &
	sleep 0.3; nsf -n "$HOST" monitor --pcap "$TMP/refused.pcap" \
		--duration 1 2>&1; wait)
check_eq "  a refused monitor creates no --pcap FILE" no \
	"$([[ -e "$TMP/refused.pcap" ]] && echo yes || echo no)"
for d in 0.5x nan inf -1 0 ""; do
	check_fails "monitor --duration '$d' fails" \
		nsf -n "$HOST" monitor --duration "$d"
done
check_fails "monitor --pod of an unknown pod fails" \
	nsf -n "$HOST" monitor --pod nosuch --duration 1
check_fails "monitor with a bad filter fails" \
	nsf -n "$HOST" monitor --duration 1 frobnicate

# ---- the host's own loopback traffic is not reported ----

check "publish add 8080 $B:80 (attaches nsf_from_host to lo)" \
	nsf -n "$HOST" publish add 8080 "$B:80"
bg_start timeout 20 "$NSFAST" -n "$HOST" monitor --duration 2 \
	>"$TMP/lo.out" 2>"$TMP/lo.err"
MON=$E2E_LAST_PID
wait_file "$TMP/lo.err" monitoring 10
ip netns exec "$HOST" ping -c 2 -i 0.2 -W 1 127.0.0.1 >/dev/null
wait "$MON"
comment "$(cat "$TMP/lo.out")"
check_eq "monitor: no event for the host's ping to 127.0.0.1" 0 \
	"$(grep -c '127\.0\.0\.1' "$TMP/lo.out")"
check "publish del 8080" nsf -n "$HOST" publish del 8080

# ---- filter words are ANDed, as tcpdump's ----

bg_start timeout 20 "$NSFAST" -n "$HOST" monitor --duration 4 \
	icmp and host "$IPA" and host "$IPB" >"$TMP/and.out" 2>"$TMP/and.err"
MON=$E2E_LAST_PID
wait_file "$TMP/and.err" monitoring 10
pod_exec "$A" ping -c 2 -i 0.2 -W 2 "$IPB" >/dev/null
pod_exec "$B" ping -c 1 -W 1 192.0.2.1 >/dev/null 2>&1 # neither end is A
wait "$MON"
comment "$(cat "$TMP/and.out")"
check_match "host $IPA and host $IPB: their ping" "ICMP $IPA > $IPB" \
	"$(cat "$TMP/and.out")"
check_eq "  and not $B's ping elsewhere" 0 "$(grep -c 192.0.2.1 "$TMP/and.out")"
for f in "udp and icmp" "arp and tcp" "icmp and" "and icmp" "icmp and and port 1" \
	"host 10.0.0.1 and host 10.0.0.2 and host 10.0.0.3" "port"; do
	# shellcheck disable=SC2086 # the filter is words
	check_fails "monitor filter '$f' is refused" \
		nsf -n "$HOST" monitor --duration 1 $f
done

# ---- stats ----

json=$(nsf -n "$HOST" stats --json)
check_eq "stats --json: fast path share, drops, NAT and endpoints" ok "$(
	jq -r 'if (.totals.fast_path.packets > 0) and
		(.totals.fast_path.share > 0) and
		(.drops["drop-spoofed-ip"].packets >= 1) and
		(.nat.capacity > 0) and (.endpoints | length) == 2
		then "ok" else . end' <<<"$json")"
prom=$(nsf -n "$HOST" stats --prometheus)
check_eq "stats --prometheus: every sample line is well-formed" "" "$(
	grep -v '^#' <<<"$prom" |
		grep -Ev '^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9]+(\.[0-9]+)?$')"
check_match "fwd-local counter exported" \
	'^nsfast_packets_total\{reason="fwd-local",kind="fwd"\} [1-9]' "$prom"
check_match "per-endpoint counters exported" \
	"^nsfast_endpoint_packets_total\\{endpoint=\"$A\",ip=\"$IPA\",counter=\"from_pod\"\\} [1-9]" "$prom"
check_match "TYPE lines" '^# TYPE nsfast_packets_total counter$' "$prom"
out=$(timeout 2.5 "$NSFAST" -n "$HOST" stats --watch 1 2>&1)
check_eq "stats --watch 1 refreshes (2+ screens in 2.5 s)" ok "$(
	n=$(grep -c 'nsfast stats every' <<<"$out"); ((n >= 2)) && echo ok || echo "$n")"
out=$(timeout 1.5 "$NSFAST" -n "$HOST" stats --watch 4294.9673 2>&1)
check_eq "stats --watch 4294.9673 sleeps (1 screen in 1.5 s, no wrap)" 1 \
	"$(grep -c 'nsfast stats every' <<<"$out")"
for w in nan 1x; do
	check_fails "stats --watch '$w' fails" nsf -n "$HOST" stats --watch "$w"
done
check_match "stats text shows the drop reasons" "drop-spoofed-ip" \
	"$(nsf -n "$HOST" stats)"

e2e_finish
