#!/usr/bin/env bash
# Policy: groups (attach --group, policy assign), per-group default deny
# for ingress and egress, allow/deny rules by group, protocol, port and
# CIDR; allowed flows and their replies pass (connection state), denied
# ones are dropped and counted; a change applies to a running flow at
# once, without reattaching anything.
E2E_DEADLINE=${E2E_DEADLINE:-240}
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

HOST="$P-h"
WORLD="$P-w"
WEB1="$P-web1"
WEB2="$P-web2"
DB="$P-db"
CLI="$P-cli"
NT="$E2E_LIB_DIR/nettool.py"
TMP=$E2E_TMPDIR

stats() { nsf -n "$HOST" stats --json; }
reason_delta() {
	echo $(($(jq -r ".reasons[\"$1\"].packets" <<<"$3") - \
		$(jq -r ".reasons[\"$1\"].packets" <<<"$2")))
}
pol() { nsf -n "$HOST" policy "$@"; }
tcp() { # tcp FROM IP: one TCP echo exchange on port 7000
	pod_exec "$1" timeout 6 "$E2E_PY" "$NT" send --proto tcp "$2" 7000 "hi from $1"
}
udp() {
	pod_exec "$1" timeout 6 "$E2E_PY" "$NT" send --proto udp "$2" 7000 "hi from $1"
}

# ---- setup: a host with an uplink to a world, four pods ----

host_create "$HOST"
e2e_require $? "host namespace $HOST"
ip netns add "$WORLD" && ip -n "$WORLD" link set lo up &&
	ip link add wan0 netns "$HOST" type veth peer name wan0 netns "$WORLD" &&
	ip -n "$HOST" addr add 10.99.0.2/24 dev wan0 &&
	ip -n "$HOST" link set wan0 up &&
	ip -n "$HOST" route add default via 10.99.0.1 &&
	ip -n "$WORLD" addr add 10.99.0.1/24 dev wan0 &&
	ip -n "$WORLD" addr add 10.99.1.1/32 dev lo &&
	ip -n "$WORLD" link set wan0 up
e2e_require $? "world namespace $WORLD"
ip netns exec "$WORLD" ethtool -K wan0 tx off >/dev/null
check "init $HOST --uplink wan0" nsf -n "$HOST" init --uplink wan0
e2e_require $? "nsfast init"

check "group add web --ingress deny" pol group add web --ingress deny
check "group add db --ingress deny --egress deny" \
	pol group add db --ingress deny --egress deny
IP1=$(nsf -n "$HOST" attach "$WEB1" --group web) &&
	IP2=$(nsf -n "$HOST" attach "$WEB2" --group web) &&
	IPD=$(nsf -n "$HOST" attach "$DB") &&
	IPC=$(nsf -n "$HOST" attach "$CLI")
e2e_require $? "pods"
check "policy assign $DB db" pol assign "$DB" db
comment "web1 $IP1, web2 $IP2, db $IPD, client $IPC"
check_eq "group list --json: members" "$WEB1 $WEB2|$DB" "$(
	pol group list --json | jq -r '[.[] | select(.name == "web") |
		.members[]] | join(" ")')|$(pol group list --json |
		jq -r '.[] | select(.name == "db") | .members | join(" ")')"
for p in "$WEB1" "$WEB2" "$DB" "$CLI"; do
	bg_pod "$p" 200 "$E2E_PY" "$NT" serve --port 7000 --lifetime 190 >/dev/null
done
sleep 0.5

# ---- default deny, and rules that open ports ----

before=$(stats)
check_fails "client -> web1 tcp: web's ingress default is deny" tcp "$CLI" "$IP1"
check_fails "client -> db udp: db's ingress default is deny" udp "$CLI" "$IPD"
check_fails "db -> client tcp: db's egress default is deny" tcp "$DB" "$IPC"
after=$(stats)
check_eq "drop-policy-ingress counted" ok "$(
	d=$(reason_delta drop-policy-ingress "$before" "$after")
	((d >= 2)) && echo ok || echo "+$d")"
check_eq "drop-policy-egress counted" ok "$(
	d=$(reason_delta drop-policy-egress "$before" "$after")
	((d >= 1)) && echo ok || echo "+$d")"
check_fails "client -> web2 tcp: same group, denied too" tcp "$CLI" "$IP2"

out=$(pol rule add allow from any to web proto tcp port 7000)
check_match "rule add allow from any to web proto tcp port 7000" '^rule [0-9]+$' "$out"
check "client -> web1 tcp passes (and its replies)" tcp "$CLI" "$IP1"
check_fails "client -> web1 udp still denied (tcp only)" udp "$CLI" "$IP1"
check "rule add allow from web to db proto tcp port 7000" \
	pol rule add allow from web to db proto tcp port 7000
check "web1 -> db tcp passes; db's replies pass by connection state" \
	tcp "$WEB1" "$IPD"
check_fails "client -> db tcp still denied" tcp "$CLI" "$IPD"
check_fails "db -> client tcp: db's egress still denied (no rule)" \
	tcp "$DB" "$IPC"
check "db -> web1 tcp: the any->web rule covers db too (rules win over \
defaults)" tcp "$DB" "$IP1"
check_fails "ping web1 -> web2: web's ingress default deny" \
	pod_exec "$WEB1" ping -c 1 -W 1 "$IP2"
check "rule add allow from web to web proto icmp" \
	pol rule add allow from web to web proto icmp
check "ping web1 -> web2 passes" pod_exec "$WEB1" ping -c 2 -i 0.2 -W 2 "$IP2"
RID=$(pol rule add deny from any to web proto tcp port 7001)
check_match "a deny rule" '^rule [0-9]+$' "$RID"
check_eq "rule list --json shows 4 rules" 4 "$(pol rule list --json | jq length)"
check "rule del ${RID#rule }" pol rule del "${RID#rule }"

# ---- a change applies to a running flow ----

check "rule add allow from any to web proto icmp" \
	pol rule add allow from any to web proto icmp
RULE=$(pol rule list --json | jq -r '.[] | select(.from == "any" and
	.to == "web" and .proto == "icmp") | .id')
prog=$(nsf -n "$HOST" status --json | jq -r '.programs[0].id')
bg_pod "$CLI" 30 ping -c 50 -i 0.1 -W 1 "$IP1" >"$TMP/ping.out" 2>&1
PING=$E2E_LAST_PID
sleep 1.5
before=$(stats)
check "rule del $RULE while a ping runs" pol rule del "$RULE"
sleep 1.5
mid=$(stats)
check "rule add it again" pol rule add allow from any to web proto icmp
wait "$PING"
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$TMP/ping.out")
comment "ping: ${received:-?} of 50 replies"
check_eq "the ping stopped and resumed: 15..45 of 50 replies" ok "$(
	((received >= 15 && received <= 45)) && echo ok || echo "$received")"
check_eq "requests dropped while the rule was gone (drop-policy-ingress)" ok "$(
	d=$(reason_delta drop-policy-ingress "$before" "$mid")
	((d >= 8)) && echo ok || echo "+$d")"
check_eq "no reattach: same program" "$prog" \
	"$(nsf -n "$HOST" status --json | jq -r '.programs[0].id')"

# ---- CIDRs: destinations in the world ----

check "client -> world 10.99.0.1 (world is open)" \
	pod_exec "$CLI" ping -c 1 -W 2 10.99.0.1
check "client -> world 10.99.1.1" pod_exec "$CLI" ping -c 1 -W 2 10.99.1.1
check "rule add deny from any to 10.99.1.0/24" \
	pol rule add deny from any to 10.99.1.0/24
before=$(stats)
check_fails "client -> 10.99.1.1 now dropped" \
	pod_exec "$CLI" ping -c 2 -i 0.2 -W 1 10.99.1.1
after=$(stats)
check_eq "drop-policy +2, no NAT entry made for it" "2 0" \
	"$(reason_delta drop-policy "$before" "$after") $(reason_delta fwd-snat "$before" "$after")"
check "client -> 10.99.0.1 still passes" pod_exec "$CLI" ping -c 1 -W 2 10.99.0.1
check "group set world --ingress deny" pol group set world --ingress deny
check_fails "client -> 10.99.0.1 denied with the world closed" \
	pod_exec "$CLI" ping -c 1 -W 1 10.99.0.1
check "rule add allow from web to world" pol rule add allow from web to world
check "web1 -> 10.99.0.1 passes (rule for web)" \
	pod_exec "$WEB1" ping -c 1 -W 2 10.99.0.1

# ---- bad input: one line, non-zero, nothing changed ----

snap=$(pol show --json)
check_fails "rule to an unknown group" pol rule add allow from any to nosuch
check_fails "rule from a CIDR" pol rule add allow from 10.0.0.0/8 to web
check_fails "port without tcp/udp" pol rule add allow from any to web port 80
check_fails "duplicate rule" pol rule add allow from web to db proto tcp port 7000
check_fails "group del web while pods and rules use it" pol group del web
check_fails "group add host (reserved)" pol group add host
check_fails "assign an unknown pod" pol assign nosuchpod web
check_fails "assign to a reserved group" pol assign "$CLI" host
check_fails "attach --group nosuch" nsf -n "$HOST" attach "$P-x" --group nosuch
check_eq "policy unchanged by the failures" "$snap" "$(pol show --json)"
check_fails "the failed attach left no endpoint" \
	bash -c "nsf() { :; }; test -n \"\$(timeout 20 $NSFAST -n $HOST status --json | jq -r '.endpoints[] | select(.name == \"$P-x\") | .name')\""
err=$(pol rule add allow from any to nosuch 2>&1 >/dev/null)
check_match "errors are one line naming the problem" \
	"^nsfast: policy: no group 'nosuch'" "$err"
err=$(pol rule del abc 2>&1 >/dev/null)
check_match "rule del abc: not a rule id" \
	"^nsfast: policy: rule 'abc': not a rule id" "$err"
err=$(pol rule add deny from any to 10.0.0.1/8 2>&1 >/dev/null)
check_match "a CIDR with host bits set is named as such" \
	"^nsfast: policy: 10\.0\.0\.1/8: host bits set \(did you mean 10\.0\.0\.0/8\?\)" \
	"$err"

# ---- a change the maps refuse is not made: file and maps stay old ----

PINS=${E2E_PINS[0]}
POLICY_FILE=${E2E_STATE[0]}/policy.json
pol_maps() { # the policy maps the loader writes (groups without flags left out)
	local m
	for m in nsf_pol_groups nsf_pol_rules nsf_pol_cidr; do
		bpftool -j map dump pinned "$PINS/$m" | jq -c '[.[] |
			select(.value != ["0x00", "0x00", "0x00", "0x00"]) |
			.formatted // [.key, .value]] | sort_by(tostring)'
	done
}
snap=$(pol show --json)
file=$(cat "$POLICY_FILE")
maps=$(pol_maps)
mv "$PINS/nsf_pol_rules" "$PINS/nsf_pol_rules_away"
check_fails "rule add with nsf_pol_rules missing fails" \
	pol rule add allow from any to db proto tcp port 22
mv "$PINS/nsf_pol_rules_away" "$PINS/nsf_pol_rules"
check_eq "... and policy show is unchanged" "$snap" "$(pol show --json)"
check_eq "... and policy.json is unchanged" "$file" "$(cat "$POLICY_FILE")"
# A CIDR map with room for the CIDRs there are and no more, in place of
# the real one (the datapath keeps using that): a rule to a new CIDR
# gets its group flags and rule written, then fails on the CIDR.
ncidrs=$(jq '.cidrs | length' <<<"$snap")
mv "$PINS/nsf_pol_cidr" "$PINS/nsf_pol_cidr_real"
bpftool map create "$PINS/nsf_pol_cidr" type lpm_trie key 8 value 4 \
	entries "$ncidrs" name nsf_pol_cidr flags 1
out=$(pol rule add deny from any to 10.99.2.0/24 2>&1)
rc=$?
rm -f "$PINS/nsf_pol_cidr"
mv "$PINS/nsf_pol_cidr_real" "$PINS/nsf_pol_cidr"
check_eq "rule add with the CIDR map full fails (exit 1)" 1 "$rc"
check_match "... naming the map" "^nsfast: policy: map nsf_pol_cidr" "$out"
check_eq "... and policy show is unchanged" "$snap" "$(pol show --json)"
check_eq "... and policy.json is unchanged" "$file" "$(cat "$POLICY_FILE")"
check_eq "... and the group and rule maps are as before" "$maps" "$(pol_maps)"
check "policy changes work again" pol rule add deny from any to 10.99.2.0/24
check "rule del of it" pol rule del "$(pol rule list --json | jq -r '.[-1].id')"
check_eq "back to the policy before" "$snap" "$(pol show --json)"

# ---- detach forgets membership ----

check "detach $DB" nsf -n "$HOST" detach "$DB"
check_eq "db has no members left" "" "$(pol group list --json |
	jq -r '.[] | select(.name == "db") | .members | join(" ")')"

# ---- an address that changes hands takes no connection state along ----
# Pod ra1 (group ra) is allowed UDP 7100 from anyone; the client's flow to
# it has connection state. ra1 goes, rb1 (group rb: ingress denied, no
# rule) gets its address: the client's next datagram on the same tuple is
# a new flow to rb1 and is denied, not passed on ra1's state.
udp_fixed() { # udp_fixed IP MESSAGE: from the client's port 5100
	pod_exec "$CLI" "$E2E_PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5100))
s.sendto(sys.argv[2].encode(), (sys.argv[1], 7100))' "$1" "$2"
}
udp_recv() { # udp_recv POD OUT: what POD receives on 7100 within 3 s
	bg_pod "$1" 10 "$E2E_PY" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7100))
s.settimeout(3)
try:
    print(s.recvfrom(100)[0].decode())
except socket.timeout:
    print("nothing")' >"$2"
	wait_until 5 udp_bound "$1" 7100
}
check "group add ra, rb --ingress deny" bash -c "$NSFAST -n $HOST policy \
	group add ra --ingress deny && $NSFAST -n $HOST policy group add rb \
	--ingress deny"
check "rule add allow from any to ra proto udp port 7100" \
	pol rule add allow from any to ra proto udp port 7100
IPR=$(nsf -n "$HOST" attach "$P-ra1" --group ra)
e2e_require $? "pod $P-ra1"
udp_recv "$P-ra1" "$TMP/ra1.got"
udp_fixed "$IPR" "to ra1"
wait "$E2E_LAST_PID"
check_eq "client -> ra1 udp 7100 passes (rule)" "to ra1" "$(cat "$TMP/ra1.got")"
check "detach $P-ra1" nsf -n "$HOST" detach "$P-ra1"
check_eq "attach $P-rb1 --group rb with $IPR" "$IPR" \
	"$(nsf -n "$HOST" attach "$P-rb1" --group rb --ip "$IPR" 2>&1)"
udp_recv "$P-rb1" "$TMP/rb1.got"
udp_fixed "$IPR" "to rb1 on ra1's state"
wait "$E2E_LAST_PID"
check_eq "the same tuple to rb1 is denied" "nothing" "$(cat "$TMP/rb1.got")"
check "detach $P-rb1" nsf -n "$HOST" detach "$P-rb1"

e2e_finish
