#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq filters: their $variables come from --arg
# shellcheck disable=SC2317 # functions called through check/wait_until
# Port publishing (`nsfast publish`, like docker run -p): a port of the
# uplink address forwarded to a pod port, DNAT in BPF on the uplink (XDP
# native, generic, or tc with --xdp-mode off). Per mode, on a fresh host:
# world -> host:port reaches the pod over TCP and UDP with the world's own
# address as source, replies carry the host address; the flows show in
# nat list; hairpin from the same pod and from another pod (masqueraded
# to the host address); the host itself reaching the published port;
# publish del ends the mapping's flows (a UDP client from the same port
# reaches the pod the port is published to next); detach removes a pod's
# mappings. Once: validation errors, 1,000 published ports, init
# restoring a mapping the map lost, reset leaving lo bare; an init that
# fails on lo (accept_local read-only) leaves nothing there, first init
# or not.
#
#   pod a, pod b --veth-- H (nsfast, ip_forward=0)        W ("the world")
#                         wan0 10.99.0.2/24 ===== veth ===== wan0 10.99.0.1/24
#
# Environment (besides lib/common.sh's): PUB_MODES (default
# "native generic off"), PUB_MANY (1000).
E2E_DEADLINE=${E2E_DEADLINE:-300}
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

PT="$E2E_LIB_DIR/pubtool.py"
TMP=$E2E_TMPDIR
WAN_H=10.99.0.2
WAN_W=10.99.0.1
MODES=${PUB_MODES:-native generic off}
MANY=${PUB_MANY:-1000}
# Published ports may lie inside the NAT range (the validation block
# publishes 20000 in it); most tests publish below it.
NAT_PORTS=10000-32767

# ---- per XDP mode ----

run_mode() {
	local mode=$1 tag=${1:0:1}
	local H="$P-$tag" W="$P-${tag}w" a="$P-${tag}a" b="$P-${tag}b"
	local ipa ipb before after json out srv_a srv_b

	comment "==== --xdp-mode $mode: host $H, world $W ===="
	host_world "$H" "$W"
	check "[$mode] init --uplink wan0 --nat-ports $NAT_PORTS" \
		nsf -n "$H" init --uplink wan0 --xdp-mode "$mode" \
		--nat-ports "$NAT_PORTS"
	e2e_require $? "init"
	ipa=$(nsf -n "$H" attach "$a") && ipb=$(nsf -n "$H" attach "$b")
	e2e_require $? "pods $a and $b"

	bg_pod "$a" 100 "$E2E_PY" "$PT" serve --ports 81 --tag A \
		--lifetime 90 >/dev/null
	srv_a=$E2E_LAST_PID
	bg_pod "$b" 100 "$E2E_PY" "$PT" serve --ports 80 --tag B \
		--lifetime 90 >/dev/null
	srv_b=$E2E_LAST_PID
	wait_until 5 listening "$a" 81 && wait_until 5 listening "$b" 80

	check "[$mode] publish add 8080 $b:80" \
		nsf -n "$H" publish add 8080 "$b:80"
	check "[$mode] publish add --proto udp 8080 $b:80" \
		nsf -n "$H" publish add --proto udp 8080 "$b:80"
	check "[$mode] publish add 8081 $ipa:81 (pod by address)" \
		nsf -n "$H" publish add 8081 "$ipa:81"
	check "[$mode] publish add --proto udp 8081 $ipa:81" \
		nsf -n "$H" publish add --proto udp 8081 "$ipa:81"
	out=$(nsf -n "$H" publish list 2>&1)
	check_eq "[$mode] publish list" \
		"tcp 8080 -> $b $ipb:80
tcp 8081 -> $a $ipa:81
udp 8080 -> $b $ipb:80
udp 8081 -> $a $ipa:81" "$out"

	# -- from the world --
	before=$(status_json "$H")
	check "[$mode] tcp $W -> $WAN_H:8080 reaches $b:80, which sees $WAN_W" \
		send "$W" tcp "$WAN_H" 8080 "hello-tcp" --want-tag B \
		--want-peer "$WAN_W"
	check "[$mode] udp $W -> $WAN_H:8080 reaches $b:80, reply from $WAN_H:8080" \
		send "$W" udp "$WAN_H" 8080 "hello-udp" --want-tag B \
		--want-peer "$WAN_W"
	check "[$mode] tcp $W -> $WAN_H:8081 reaches $a:81" \
		send "$W" tcp "$WAN_H" 8081 "hello-a" --want-tag A
	check "[$mode] udp $W -> $WAN_H:8081 reaches $a:81" \
		send "$W" udp "$WAN_H" 8081 "hello-a-udp" --want-tag A
	after=$(status_json "$H")
	check_rises "[$mode] fwd-publish counted 4 new flows" fwd-publish \
		"$before" "$after" 4
	check_rises "[$mode] fwd-snat counted the pods' replies" fwd-snat \
		"$before" "$after" 4
	json=$(nsf -n "$H" nat list --json)
	check_jq "[$mode] nat list: $ipb:80 -> $WAN_W translated to $WAN_H:8080" \
		"$json" 'any(.[]; .proto == "tcp" and .original.src == $p and
		.original.sport == 80 and .original.dst == $w and
		.translated.src == $h and .translated.sport == 8080)' \
		--arg p "$ipb" --arg w "$WAN_W" --arg h "$WAN_H"
	check_jq "[$mode] nat list: the published UDP flow, REPLIED" "$json" \
		'any(.[]; .proto == "udp" and .original.src == $p and
		.translated.sport == 8080 and .state == "REPLIED")' \
		--arg p "$ipb"
	out=$(nsf -n "$H" gc --udp-timeout 0 2>&1)
	check_match "[$mode] gc --udp-timeout 0 expires published UDP flows" \
		'gc: [0-9]+ flows, [2-9][0-9]* expired' "$out"
	check_jq "[$mode] nat list: no UDP flow left, TCP kept" \
		"$(nsf -n "$H" nat list --json)" \
		'all(.[]; .proto != "udp") and any(.[]; .proto == "tcp")'
	check "[$mode] udp $W -> $WAN_H:8080 again: a new flow" \
		send "$W" udp "$WAN_H" 8080 "again-udp" --want-tag B
	check "[$mode] $W -> $WAN_H:8082 (not published): no answer" \
		bash -c "! $(printf '%q ' timeout 10 ip netns exec "$W" \
			"$E2E_PY" "$PT" send --timeout 1 --proto tcp \
			"$WAN_H" 8082 x) >/dev/null 2>&1"
	check "[$mode] publish add 20000 $b:80 (inside the NAT range)" \
		nsf -n "$H" publish add 20000 "$b:80"
	check "[$mode] tcp $W -> $WAN_H:20000 reaches $b:80" \
		send "$W" tcp "$WAN_H" 20000 "in-nat-range" --want-tag B
	check "[$mode] publish del 20000" nsf -n "$H" publish del 20000

	# -- hairpin: pods through the host address --
	before=$(status_json "$H")
	check "[$mode] hairpin tcp $b -> $WAN_H:8080 (itself), seen from $WAN_H" \
		send "$b" tcp "$WAN_H" 8080 "self-tcp" --want-tag B \
		--want-peer "$WAN_H"
	check "[$mode] hairpin udp $b -> $WAN_H:8080 (itself)" \
		send "$b" udp "$WAN_H" 8080 "self-udp" --want-tag B \
		--want-peer "$WAN_H"
	check "[$mode] hairpin tcp $a -> $WAN_H:8080 ($b), seen from $WAN_H" \
		send "$a" tcp "$WAN_H" 8080 "a-to-b" --want-tag B \
		--want-peer "$WAN_H"
	check "[$mode] hairpin udp $a -> $WAN_H:8080 ($b)" \
		send "$a" udp "$WAN_H" 8080 "a-to-b-udp" --want-tag B \
		--want-peer "$WAN_H"
	after=$(status_json "$H")
	check_rises "[$mode] fwd-hairpin counted both directions" fwd-hairpin \
		"$before" "$after" 8

	# -- the host itself --
	check "[$mode] tcp from $H itself -> $WAN_H:8080 reaches $b" \
		send "$H" tcp "$WAN_H" 8080 "host-tcp" --want-tag B
	check "[$mode] udp from $H itself -> $WAN_H:8080 reaches $b" \
		send "$H" udp "$WAN_H" 8080 "host-udp" --want-tag B
	check "[$mode] tcp from $H itself -> $WAN_H:8081 reaches $a" \
		send "$H" tcp "$WAN_H" 8081 "host-a" --want-tag A

	# -- publish del ends the mapping's flows (world, hairpin, host) --
	check "[$mode] udp $W:40123 -> $WAN_H:8080 reaches $b" \
		send "$W" udp "$WAN_H" 8080 "pre-del" --sport 40123 \
		--want-tag B
	check "[$mode] publish del --proto udp 8080" \
		nsf -n "$H" publish del --proto udp 8080
	check_jq "[$mode] nat list: no flow through udp 8080 left" \
		"$(nsf -n "$H" nat list --json)" \
		'all(.[]; .proto != "udp" or
		(.translated.sport != 8080 and .original.dport != 8080))'
	check "[$mode] publish add --proto udp 8080 $a:81 (another pod)" \
		nsf -n "$H" publish add --proto udp 8080 "$a:81"
	check "[$mode] udp $W:40123 -> $WAN_H:8080 again reaches $a, not $b" \
		send "$W" udp "$WAN_H" 8080 "re-pub" --sport 40123 \
		--want-tag A
	check "[$mode] publish del --proto udp 8080 again" \
		nsf -n "$H" publish del --proto udp 8080

	# -- no netfilter involved --
	check_eq "[$mode] iptables -t nat -S in $H: policies only" "" \
		"$(pod_exec "$H" iptables -t nat -S 2>&1 | grep -v '^-P ')"

	# -- detach takes a pod's mappings with it --
	kill "$srv_b" 2>/dev/null
	wait "$srv_b" 2>/dev/null
	check "[$mode] detach $b" nsf -n "$H" detach "$b"
	out=$(nsf -n "$H" publish list 2>&1)
	check_eq "[$mode] publish list after detach: only $a's ports" \
		"tcp 8081 -> $a $ipa:81
udp 8081 -> $a $ipa:81" "$out"
	check "[$mode] $W -> $WAN_H:8081 still reaches $a" \
		send "$W" tcp "$WAN_H" 8081 "still-a" --want-tag A
	check "[$mode] publish del 8081" nsf -n "$H" publish del 8081
	check "[$mode] publish del --proto udp 8081" \
		nsf -n "$H" publish del --proto udp 8081
	check_eq "[$mode] publish list --json is empty" "[]" \
		"$(nsf -n "$H" publish list --json | jq -c .)"
	kill "$srv_a" 2>/dev/null
	wait "$srv_a" 2>/dev/null
	check "[$mode] reset $H" nsf -n "$H" reset
	check_eq "[$mode] reset left nothing on lo" "" \
		"$(tc -n "$H" filter show dev lo ingress; tc -n "$H" qdisc show dev lo | grep clsact)"
	check_eq "[$mode] lo accept_local back to 0" "0" \
		"$(ip netns exec "$H" sysctl -n net.ipv4.conf.lo.accept_local)"
	ip netns del "$W"
	ip netns del "$H"
}

# ---- validation, 1,000 ports, restore ----

# killed_publish_add PORT POD: publish add PORT POD, killed midway
# (NSFAST_FAULT=publish-add), on host $H.
killed_publish_add() {
	local out rc

	out=$(NSFAST_FAULT=publish-add nsf -n "$H" publish add "$@" 2>&1)
	rc=$?
	[[ $rc -eq 137 && $out == *"fault injected at publish-add"* ]]
	result "publish add $* killed midway (publish-add)" $? \
		"exit $rc: $out"
}

run_once() {
	local H="$P-v" W="$P-vw" a="$P-va" b="$P-vb" ipa ipb i srv hsrv
	local pins last=$((61000 + MANY - 1)) t0 json

	comment "==== validation, $MANY ports, restore: host $H ===="
	host_world "$H" "$W"
	pod_exec "$H" sysctl -qw net.ipv4.ip_local_port_range="32768 60999"
	check "init --uplink wan0 --nat-ports $NAT_PORTS" \
		nsf -n "$H" init --uplink wan0 --nat-ports "$NAT_PORTS"
	e2e_require $? "init"
	ipa=$(nsf -n "$H" attach "$a") && ipb=$(nsf -n "$H" attach "$b")
	e2e_require $? "pods"

	# -- errors: one line, non-zero, nothing changed --
	check "a port inside the NAT range may be published" \
		nsf -n "$H" publish add 20000 "$a:80"
	check "and removed" nsf -n "$H" publish del 20000
	fails_one_line "port inside ip_local_port_range refused" \
		'^nsfast: publish add: .*40000.*ip_local_port_range' \
		nsf -n "$H" publish add --proto udp 40000 "$a"
	fails_one_line "unknown pod refused" \
		'^nsfast: publish add: no endpoint nosuchpod' \
		nsf -n "$H" publish add 8080 nosuchpod:80
	fails_one_line "unknown pod address refused" \
		'^nsfast: publish add: no endpoint has address 10.244.9.9' \
		nsf -n "$H" publish add 8080 10.244.9.9:80
	fails_one_line "bad protocol refused" \
		"^nsfast: publish add: invalid protocol 'sctp'" \
		nsf -n "$H" publish add --proto sctp 8080 "$a"
	fails_one_line "port 0 refused" "^nsfast: publish add: invalid host port '0'" \
		nsf -n "$H" publish add 0 "$a"
	fails_one_line "pod port 70000 refused" \
		"^nsfast: publish add: invalid pod port '70000'" \
		nsf -n "$H" publish add 8080 "$a:70000"
	check "publish add 8080 $a:80" nsf -n "$H" publish add 8080 "$a:80"
	check "the same mapping again is a no-op" \
		nsf -n "$H" publish add 8080 "$a:80"
	fails_one_line "port published to another pod refused" \
		"^nsfast: publish add: tcp port 8080 is already published to $a \($ipa:80\)" \
		nsf -n "$H" publish add 8080 "$b:80"
	bg_pod "$H" 60 "$E2E_PY" "$PT" serve --ports 9090 --lifetime 50 \
		>/dev/null
	hsrv=$E2E_LAST_PID
	wait_until 5 listening "$H" 9090
	fails_one_line "port held by a listening socket of the host refused" \
		'^nsfast: publish add: tcp port 9090 is in use by a socket of the host' \
		nsf -n "$H" publish add 9090 "$b:80"
	kill "$hsrv" 2>/dev/null
	wait "$hsrv" 2>/dev/null
	fails_one_line "del of a port not published" \
		'^nsfast: publish del: udp port 8080 is not published' \
		nsf -n "$H" publish del --proto udp 8080
	check_eq "publish list: only the one mapping" "tcp 8080 -> $a $ipa:80" \
		"$(nsf -n "$H" publish list 2>&1)"

	# -- init restores what the map lost --
	pins=$(status_json "$H" | jq -r .pin_dir)
	bg_pod "$a" 100 "$E2E_PY" "$PT" serve --ports 80 --tag A \
		--lifetime 90 >/dev/null
	wait_until 5 listening "$a" 80
	check "$W -> $WAN_H:8080 reaches $a" \
		send "$W" tcp "$WAN_H" 8080 "before" --want-tag A
	check "the map entry of 8080 removed behind nsfast's back" \
		bpftool map delete pinned "$pins/nsf_publish4" \
		key 0x1f 0x90 0x06 0x00
	check "init (re-run) restores it" nsf -n "$H" init
	check "$W -> $WAN_H:8080 reaches $a again" \
		send "$W" tcp "$WAN_H" 8080 "after" --want-tag A

	# -- publish add killed midway: the record has it, any command goes on --
	killed_publish_add 8090 "$a:80"
	check_eq "publish list shows the mapping the killed add recorded" \
		"tcp 8080 -> $a $ipa:80
tcp 8090 -> $a $ipa:80" "$(nsf -n "$H" publish list 2>&1)"
	check "publish add again completes it" \
		nsf -n "$H" publish add 8090 "$a:80"
	check "the map holds 8090" bpftool map lookup pinned \
		"$pins/nsf_publish4" key 0x1f 0x9a 0x06 0x00
	check "$W -> $WAN_H:8090 reaches $a" \
		send "$W" tcp "$WAN_H" 8090 "completed" --want-tag A
	check "publish del 8090" nsf -n "$H" publish del 8090
	killed_publish_add 8090 "$a:80"
	check "publish del 8090 after a killed add" \
		nsf -n "$H" publish del 8090
	check "the map does not hold 8090" bash -c "! bpftool map lookup \
		pinned $pins/nsf_publish4 key 0x1f 0x9a 0x06 0x00 2>/dev/null"

	# -- 1,000 published ports --
	bg_pod "$b" 200 "$E2E_PY" "$PT" serve --ports "5000-$((5000 + MANY - 1))" \
		--tag B --lifetime 190 >"$TMP/many.srv" 2>&1
	srv=$E2E_LAST_PID
	wait_until 20 grep -q serving "$TMP/many.srv"
	t0=$SECONDS
	for ((i = 0; i < MANY; i++)); do
		nsf -n "$H" publish add $((61000 + i)) "$ipb:$((5000 + i))" &&
			nsf -n "$H" publish add --proto udp $((61000 + i)) \
				"$ipb:$((5000 + i))" || break
	done
	check_eq "$MANY TCP and $MANY UDP ports published (61000-$last -> $b:5000-...)" \
		"$MANY" "$i"
	comment "$((2 * MANY)) publish add commands: $((SECONDS - t0)) s"
	json=$(nsf -n "$H" publish list --json)
	check_jq "publish list --json: $((2 * MANY + 1)) mappings" "$json" \
		'length == $n' --argjson n $((2 * MANY + 1))
	check_eq "the map holds them all" "$((2 * MANY + 1))" \
		"$(bpftool map dump pinned "$pins/nsf_publish4" -j | jq length)"
	check "tcp from $W to all $MANY ports: each reaches its own pod port" \
		pod_exec "$W" "$E2E_PY" "$PT" sweep --proto tcp --tag B \
		"$WAN_H" "61000-$last" 5000
	check "udp from $W to all $MANY ports" \
		pod_exec "$W" "$E2E_PY" "$PT" sweep --proto udp --tag B \
		"$WAN_H" "61000-$last" 5000
	check "tcp hairpin $a -> $WAN_H:$last reaches $b:$((5000 + MANY - 1))" \
		send "$a" tcp "$WAN_H" "$last" "last" --want-tag B \
		--want-peer "$WAN_H"
	check "detach $b removes its $MANY mappings" nsf -n "$H" detach "$b"
	check_eq "publish list: $a's mapping only" "tcp 8080 -> $a $ipa:80" \
		"$(nsf -n "$H" publish list 2>&1)"
	check "$W -> $WAN_H:61000: refused once unpublished" \
		bash -c "! $(printf '%q ' timeout 10 ip netns exec "$W" \
			"$E2E_PY" "$PT" send --timeout 1 --proto tcp \
			"$WAN_H" 61000 x) >/dev/null 2>&1"
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	check "reset $H" nsf -n "$H" reset
	ip netns del "$W"
	ip netns del "$H"
}

# ---- a failed init: what it did on lo is undone or recorded ----

# init_ro_accept_local HOST: init --uplink wan0 with lo's accept_local
# read-only (as /proc/sys is in an unprivileged container), in a mount
# namespace of its own (unshare: private, so the mount goes with it).
# Fails with the file's name in $TMP/lo-fail.out, or says why not.
init_ro_accept_local() {
	local f=/proc/sys/net/ipv4/conf/lo/accept_local ro=$TMP/accept_local rc

	echo 0 >"$ro"
	# nsenter, not ip netns exec: that one hides the run's bpffs.
	timeout "$E2E_CMD_TIMEOUT" nsenter --net="/run/netns/$1" \
		unshare -m sh -c 'mount --bind "$1" "$2" &&
		mount -o remount,bind,ro "$2" && exec "$3" -n "$4" init \
		--uplink wan0' sh "$ro" "$f" "$NSFAST" "$1" \
		>"$TMP/lo-fail.out" 2>&1
	rc=$?
	((rc == 1)) && grep -q accept_local "$TMP/lo-fail.out" && return 0
	echo "exit $rc: $(cat "$TMP/lo-fail.out")"
	return 1
}

# lo_bare HOST: no filter and no clsact qdisc on HOST's lo.
lo_bare() {
	check_eq "$2" "" "$(tc -n "$1" filter show dev lo ingress
		tc -n "$1" qdisc show dev lo | grep clsact)"
}

run_lo_fail() {
	local H="$P-l" W="$P-lw"

	comment "==== init failing on lo: host $H ===="
	host_world "$H" "$W"
	check "a first init fails: lo's accept_local cannot be written" \
		init_ro_accept_local "$H"
	lo_bare "$H" "the failed first init left nothing on lo"
	check "init --no-uplink" nsf -n "$H" init --no-uplink
	check "init --uplink wan0 fails the same way" init_ro_accept_local "$H"
	check "reset $H" nsf -n "$H" reset
	lo_bare "$H" "reset left nothing on lo"
	ip netns del "$W"
	ip netns del "$H"
}

for m in $MODES; do
	run_mode "$m"
done
run_once
run_lo_fail
e2e_finish
