#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq filters: their $variables come from --arg
# nsfast as a CNI plugin, driven the way a runtime drives it: a conflist
# chain run by lib/cnitool.py (libcni's order: ADD in order with
# prevResult, CHECK in order, DEL in reverse) inside the simulated host's
# network namespace, with the host never initialised by hand: the first
# ADD sets it up from the conflist (podCIDR, uplink, xdpMode).
#
# Checks: VERSION; ADD result field by field against the spec (cniVersion,
# interfaces with mac and sandbox, ips with gateway and interface index,
# routes, dns) and against the kernel; a following plugin (reference
# `tuning`, and a recorder that keeps its prevResult); CHECK, and CHECK
# catching a broken pod; IPAM ranges with gateway, exclusions, routes and
# static requests (CNI_ARGS IP=); traffic pod <-> pod and pod -> world
# through the uplink (masqueraded); 0.4.0 results; error codes for bad
# config, env and versions; DEL idempotent (twice, unknown container, netns
# gone); 50 parallel ADDs with no duplicate address, then 50 parallel DELs;
# state across invocations and an init re-run (next-fit continues, CHECK
# still passes); GC and STATUS (1.1); IPAM delegated to host-local; an ADD
# killed inside attach, then DEL; STATUS failing on a full range; a 1.1.0
# IPAM plugin (fakeipam): repeated ADD, STATUS and GC forwarded to it, GC
# going on past a failed DEL.
#
#   pods --veth-- H (nsfast)  wan0 10.98.0.2 ===== wan0 10.98.0.1  W
E2E_DEADLINE=${E2E_DEADLINE:-400}
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

TMP=$E2E_TMPDIR
H=$P-h
W=$P-w
WAN_H=10.98.0.2
WAN_W=10.98.0.1
GW=169.254.1.1
NPAR=${CNI_PARALLEL:-50}
BIN=$TMP/cnibin
CNI_PATH_DIRS=$BIN:/usr/lib/cni
CACHE=$TMP/cache

# ---- setup ----

host_world "$H" "$W"

mkdir -p "$BIN" "$CACHE"
ln -s "$NSFAST" "$BIN/nsfast"
# A test plugin for the chain: keeps the config it got (prevResult
# included) and passes prevResult on, as a well-behaved plugin must.
cat >"$BIN/recorder" <<EOF
#!/bin/bash
conf=\$(cat)
echo "\$conf" >"$TMP/recorder-\$CNI_COMMAND-\$CNI_CONTAINERID.json"
if [[ \$CNI_COMMAND == ADD ]]; then
	jq '.prevResult' <<<"\$conf"
elif [[ \$CNI_COMMAND == VERSION ]]; then
	echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}'
fi
EOF
chmod +x "$BIN/recorder"
# A delegated IPAM plugin that speaks CNI 1.1.0 and logs every call
# (command, container, ifname; GC's valid attachments). Files in its
# dataDir steer it: fail-del-<container> fails that DEL, full fails
# STATUS, fail-gc fails GC.
cat >"$BIN/fakeipam" <<'EOF'
#!/usr/bin/python3
import json, os, sys
conf = json.load(sys.stdin)
cmd = os.environ.get("CNI_COMMAND", "")
cid = os.environ.get("CNI_CONTAINERID", "")
ifn = os.environ.get("CNI_IFNAME", "")
if cmd == "VERSION":
    print(json.dumps({"cniVersion": "1.1.0",
                      "supportedVersions": ["0.4.0", "1.0.0", "1.1.0"]}))
    sys.exit(0)
d = conf["ipam"]["dataDir"]
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "log"), "a") as f:
    valid = conf.get("cni.dev/valid-attachments")
    f.write(" ".join([cmd, cid, ifn] +
                     ([json.dumps(valid, separators=(",", ":"))]
                      if cmd == "GC" else [])) + "\n")
def fail(code, msg):
    print(json.dumps({"cniVersion": conf.get("cniVersion"), "code": code,
                      "msg": msg}))
    sys.exit(1)
if cmd == "ADD":
    n = len([x for x in os.listdir(d) if x.startswith("a-")]) + 1
    open(os.path.join(d, "a-%s-%s" % (cid, ifn)), "w").write(str(n))
    print(json.dumps({"cniVersion": conf["cniVersion"],
                      "ips": [{"address": "10.77.8.%d/24" % n}],
                      "routes": [{"dst": "10.124.0.0/16"}],
                      "dns": {"nameservers": ["10.77.8.53"]}}))
elif cmd == "DEL":
    if os.path.exists(os.path.join(d, "fail-del-" + cid)):
        fail(11, "DEL of %s refused" % cid)
    try:
        os.unlink(os.path.join(d, "a-%s-%s" % (cid, ifn)))
    except FileNotFoundError:
        pass
elif cmd == "GC" and os.path.exists(os.path.join(d, "fail-gc")):
    fail(11, "GC refused")
elif cmd == "STATUS" and os.path.exists(os.path.join(d, "full")):
    fail(50, "fakeipam has no addresses left")
EOF
chmod +x "$BIN/fakeipam"
[[ -x /usr/lib/cni/tuning ]]
e2e_require $? "reference CNI plugins in /usr/lib/cni (containernetworking-plugins)"

# The runtime's view: a conflist, the binary in CNI_PATH. Range .10-.200
# of 10.77.0.0/24 with .10 the gateway and .11 excluded: .12 comes first.
cat >"$TMP/net.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$P-net",
  "plugins": [
    {
      "type": "nsfast",
      "podCIDR": "10.77.0.0/16",
      "uplink": "wan0",
      "xdpMode": "native",
      "capabilities": {"portMappings": true, "ips": true},
      "ipam": {
        "type": "nsfast",
        "ranges": [[{"subnet": "10.77.0.0/24", "rangeStart": "10.77.0.10",
                     "rangeEnd": "10.77.0.200", "gateway": "10.77.0.10"},
                    {"subnet": "10.77.1.0/24"}]],
        "exclude": ["10.77.0.11"],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.123.0.0/16"}]
      },
      "dns": {"nameservers": ["10.77.0.53"], "search": ["pods.test"]}
    },
    {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.arp_ignore": "1"}},
    {"type": "recorder"}
  ]
}
EOF

# cni CMD NETNS [cnitool options]: the conflist chain inside H.
cni() {
	local cmd=$1 ns=$2
	shift 2
	timeout 120 nsenter --net="/run/netns/$H" "$E2E_PY" \
		"$E2E_LIB_DIR/cnitool.py" "$cmd" "${CONF:-$TMP/net.conflist}" \
		"${ns:+/run/netns/$ns}" --cni-path "$CNI_PATH_DIRS" \
		--cache "$CACHE" "$@"
}

# plugin CMD CONFIG-JSON [VAR=VALUE...]: nsfast alone, as a runtime runs it.
plugin() {
	local cmd=$1 conf=$2
	shift 2
	env CNI_COMMAND="$cmd" CNI_PATH="$CNI_PATH_DIRS" "$@" \
		timeout 60 nsenter --net="/run/netns/$H" "$NSFAST" <<<"$conf"
}

# ---- VERSION ----

out=$(plugin VERSION '{"cniVersion":"1.0.0"}')
check_eq "VERSION lists 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0" \
	"0.3.0 0.3.1 0.4.0 1.0.0 1.1.0" \
	"$(jq -r '.supportedVersions | join(" ")' <<<"$out")"
out=$(env CNI_COMMAND=VERSION "$NSFAST" </dev/null)
check_eq "VERSION without a config answers too" "1.1.0" \
	"$(jq -r .cniVersion <<<"$out")"

# ---- ADD on an uninitialised host ----

ip netns add "$P-a" && ip netns add "$P-b"
out=$(cni add "$P-a" 2>"$TMP/err")
rc=$?
result "ADD pod a through nsfast -> tuning -> recorder" $rc "$out" \
	"$(cat "$TMP/err")"
e2e_require $rc "first ADD"
echo "$out" >"$TMP/a.json"
st=$(nsf -n "$H" status --json)
check_eq "the first ADD initialised the host from the conflist" \
	"10.77.0.0/16 wan0" \
	"$(jq -r '"\(.pod_cidr) \(.uplink.name // .uplink)"' <<<"$st")"

IPA=$(pod_ip "$P-a")
check_eq "result: cniVersion" "1.0.0" "$(jq -r .cniVersion <<<"$out")"
check_eq "IPAM: first address skips the gateway and the excluded one" \
	"10.77.0.12" "$IPA"
check_eq "result: ips[0] address/gateway/interface" \
	"10.77.0.12/32 $GW 1" \
	"$(jq -r '.ips[0] | "\(.address) \(.gateway) \(.interface)"' <<<"$out")"
check_eq "result: 1.0.0 ips carry no version field" "null" \
	"$(jq -r '.ips[0].version' <<<"$out")"
check_eq "result: interfaces[1] is eth0 in the sandbox" \
	"eth0 /run/netns/$P-a" \
	"$(jq -r '.interfaces[1] | "\(.name) \(.sandbox)"' <<<"$out")"
check_eq "result: pod mac is the kernel's" \
	"$(ip -n "$P-a" -o link show eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)" \
	"$(jq -r '.interfaces[1].mac' <<<"$out")"
hostif=$(jq -r '.interfaces[0].name' <<<"$out")
check_eq "result: interfaces[0] is the host veth (no sandbox), mac matches" \
	"$(ip -n "$H" -o link show "$hostif" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2) null" \
	"$(jq -r '.interfaces[0] | "\(.mac) \(.sandbox)"' <<<"$out")"
check_eq "result: routes (default and ipam.routes, via the gateway)" \
	"0.0.0.0/0>$GW 10.123.0.0/16>$GW" \
	"$(jq -r '[.routes[] | "\(.dst)>\(.gw)"] | join(" ")' <<<"$out")"
check_eq "result: dns from the config" '{"nameservers":["10.77.0.53"],"search":["pods.test"]}' \
	"$(jq -c .dns <<<"$out")"
check_eq "pod a's eth0 has no IPv6 address (IPv4-only, as attach makes it)" "" \
	"$(ip -n "$P-a" -6 -o addr show dev eth0)"
check_match "pod a has the ipam route 10.123.0.0/16 via the gateway" \
	"^10.123.0.0/16 via $GW dev eth0" "$(ip -n "$P-a" route)"
check_eq "tuning (next in the chain) ran on eth0" "1" \
	"$(ip netns exec "$P-a" sysctl -n net.ipv4.conf.eth0.arp_ignore)"
check_eq "recorder got nsfast's result as prevResult" "10.77.0.12/32" \
	"$(jq -r '.prevResult.ips[0].address' "$TMP/recorder-ADD-$P-a.json")"

out=$(cni check "$P-a" 2>&1)
result "CHECK pod a (whole chain, with prevResult)" $? "$out"

# ---- a second pod, traffic ----

out=$(cni add "$P-b" 2>&1)
result "ADD pod b" $? "$out"
IPB=$(pod_ip "$P-b")
check_eq "pod b gets the next address" "10.77.0.13" "$IPB"
check "pod a pings pod b" pod_exec "$P-a" ping -c 2 -W 2 -i 0.2 "$IPB"
check "pod b pings the world through the uplink" \
	pod_exec "$P-b" ping -c 2 -W 2 -i 0.2 "$WAN_W"
out=$(nsf -n "$H" nat list 2>&1)
check_match "pod b was masqueraded to the uplink address $WAN_H" \
	"$WAN_H" "$out"

# ---- CHECK catches breakage ----

ip -n "$P-b" route del default
out=$(cni check "$P-b" 2>/dev/null)
rc=$?
check_eq "CHECK fails (104) when the pod lost its default route" "104 104" \
	"$rc $(jq -r .code <<<"$out" 2>/dev/null)" || true
ip -n "$P-b" route add default via "$GW" dev eth0

# ---- static requests ----

ip netns add "$P-s"
out=$(cni add "$P-s" --args "IgnoreUnknown=1;IP=10.77.1.7" 2>&1)
result "CNI_ARGS IP= asks for a static address in the second range" $? "$out"
check_eq "the static address is assigned" "10.77.1.7" "$(pod_ip "$P-s")"
ip netns add "$P-s2"
out=$(cni add "$P-s2" --args "IgnoreUnknown=1;IP=10.77.1.7" 2>/dev/null)
check_eq "requesting an address in use: code 102" "102" \
	"$(jq -r .code <<<"$out")"
check_match "... the message names the owner, details the attachment" \
	"in use by cni-$P-s-eth0-.*container $P-s2, ifname eth0" \
	"$(jq -r '"\(.msg) \(.details)"' <<<"$out")"
out=$(cni add "$P-s2" --runtime-config '{"ips":["10.77.0.11/24"]}' 2>/dev/null)
check_eq "requesting an excluded address (runtimeConfig.ips): code 7" "7" \
	"$(jq -r .code <<<"$out")"
check_eq "failed ADDs left no endpoint behind (a, b, s)" "3" \
	"$(nsf -n "$H" status --json | jq '.endpoints | length')"

# ---- a failed attach rolls back ----

ip netns add "$P-dup"
ip -n "$P-dup" link add eth0 type veth peer name eth0p
nips=$(find "${E2E_STATE[0]}/ipam" -name '10.*' | wc -l)
out=$(cni add "$P-dup" 2>/dev/null)
check_eq "ADD into a netns that has eth0 already: code 100" "100" \
	"$(jq -r .code <<<"$out")"
check_match "... naming the interface" "eth0: File exists" \
	"$(jq -r .msg <<<"$out")"
check_eq "... no address, record or endpoint left" "$nips 0 3" \
	"$(find "${E2E_STATE[0]}/ipam" -name '10.*' | wc -l) $(grep -l "\"$P-dup\"" "${E2E_STATE[0]}"/cni-*.json | wc -l) $(nsf -n "$H" status --json | jq '.endpoints | length')"

# ---- an ADD killed inside attach, then the runtime's DEL ----

# The runtime's timeout kills ADD after the program is attached but before
# the endpoint is saved: the journal names the attach. DEL must undo all
# of it (veth, map entry, id) before it frees the address.
ip netns add "$P-kill"
kill_ids=(CNI_CONTAINERID="$P-kill" CNI_IFNAME=eth0 CNI_NETNS="/run/netns/$P-kill")
kill_conf=$(jq -c '.plugins[0] + {cniVersion, name}' "$TMP/net.conflist")
nveth=$(ip -n "$H" -o link show type veth | wc -l)
nid=$(find "${E2E_STATE[0]}/ids" -type f | wc -l)
plugin ADD "$kill_conf" "${kill_ids[@]}" NSFAST_FAULT=attach-prog \
	>/dev/null 2>&1
check_eq "ADD killed at attach-prog (status 137)" "137" "$?"
ipk=$(pod_ip "$P-kill")
check_match "... leaving the pod's eth0 with its address" '^10\.77\.' "$ipk"
out=$(plugin DEL "$kill_conf" "${kill_ids[@]}" 2>&1)
result "the runtime's DEL after the killed ADD" $? "$out"
check_eq "DEL removed the pod's eth0 and the host veth" "none $nveth" \
	"$(ip -n "$P-kill" -o link show eth0 >/dev/null 2>&1 && echo eth0 || echo none) $(ip -n "$H" -o link show type veth | wc -l)"
check_eq "... freed the id and emptied the journal" "$nid 0" \
	"$(find "${E2E_STATE[0]}/ids" -type f | wc -l) $(wc -c <"${E2E_STATE[0]}/attaching")"
check_eq "... released the address, no record left" "free 0" \
	"$(test -e "${E2E_STATE[0]}/ipam/$ipk" && echo taken || echo free) $(grep -l "\"$P-kill\"" "${E2E_STATE[0]}"/cni-*.json | wc -l)"
ip netns del "$P-kill"

# ---- a second attachment in one pod (CNI_IFNAME eth1) ----

# The spec: "another network might have already configured the default
# route, the CNI plugin should be prepared to skip over its default route
# definition". eth1 finds eth0's default route and gateway /32 and leaves
# them: it routes the pod CIDR through the gateway (onlink) instead, and
# its DEL leaves eth0's routes as they were (it used to replace them and
# leave the pod with none).
ip netns add "$P-two"
two0=(CNI_CONTAINERID="$P-two" CNI_IFNAME=eth0 CNI_NETNS="/run/netns/$P-two")
two1=(CNI_CONTAINERID="$P-two" CNI_IFNAME=eth1 CNI_NETNS="/run/netns/$P-two")
res0=$(plugin ADD "$kill_conf" "${two0[@]}" 2>&1)
result "ADD eth0 of $P-two" $? "$res0"
routes0=$(ip -n "$P-two" route show)
res1=$(plugin ADD "$kill_conf" "${two1[@]}" 2>&1)
result "ADD eth1 of the same pod" $? "$res1"
check_match "eth0 keeps the pod's default route" "^default via $GW dev eth0" \
	"$(ip -n "$P-two" route show default)"
check_match "eth1 routes the pod CIDR through the gateway, onlink" \
	"^10\.77\.0\.0/16 via $GW dev eth1 .*onlink" \
	"$(ip -n "$P-two" route show 10.77.0.0/16)"
with_prev() { jq -c --argjson r "$1" '. + {prevResult: $r}' <<<"$kill_conf"; }
out=$(plugin CHECK "$(with_prev "$res0")" "${two0[@]}" 2>&1)
result "CHECK eth0" $? "$out"
out=$(plugin CHECK "$(with_prev "$res1")" "${two1[@]}" 2>&1)
result "CHECK eth1" $? "$out"
out=$(plugin DEL "$kill_conf" "${two1[@]}" 2>&1)
result "DEL eth1" $? "$out"
check_eq "eth0's routes are as they were" "$routes0" \
	"$(ip -n "$P-two" route show)"
out=$(plugin DEL "$kill_conf" "${two0[@]}" 2>&1)
result "DEL eth0" $? "$out"
ip netns del "$P-two"

# ---- errors ----

good=$(jq -c '.plugins[0] + {cniVersion, name}' "$TMP/net.conflist")
ns_s2=/run/netns/$P-s2
err_code() { # err_code CMD CONF [VAR=VALUE...]: code of the error printed
	local out rc
	out=$(plugin "$@" 2>/dev/null)
	rc=$?
	if ((rc == 0)); then
		echo "exit0"
		return
	fi
	jq -e 'has("cniVersion") and has("code") and has("msg")' \
		<<<"$out" >/dev/null || {
		echo "not-spec-error: $out"
		return
	}
	jq -r .code <<<"$out"
}
ids=(CNI_CONTAINERID=e1 CNI_IFNAME=eth0 CNI_NETNS="$ns_s2")
check_eq "bad JSON: code 6" "6" "$(err_code ADD '{"cniVersion":' "${ids[@]}")"
check_eq "no cniVersion: code 1" "1" \
	"$(err_code ADD "$(jq -c 'del(.cniVersion)' <<<"$good")" "${ids[@]}")"
check_eq "cniVersion 9.9.9: code 1" "1" \
	"$(err_code ADD "$(jq -c '.cniVersion="9.9.9"' <<<"$good")" "${ids[@]}")"
check_eq "CHECK with cniVersion 0.3.1: code 1" "1" \
	"$(err_code CHECK "$(jq -c '.cniVersion="0.3.1"' <<<"$good")" "${ids[@]}")"
check_eq "no CNI_CONTAINERID: code 4" "4" \
	"$(err_code ADD "$good" CNI_IFNAME=eth0 CNI_NETNS="$ns_s2")"
check_eq "invalid CNI_IFNAME: code 4" "4" \
	"$(err_code ADD "$good" CNI_CONTAINERID=e1 CNI_IFNAME=a/b CNI_NETNS="$ns_s2")"
check_eq "missing netns: code 4" "4" \
	"$(err_code ADD "$good" CNI_CONTAINERID=e1 CNI_IFNAME=eth0 CNI_NETNS="/run/netns/$P-nope")"
check_eq "unknown CNI_COMMAND: code 4" "4" \
	"$(err_code FROB "$good" "${ids[@]}")"
check_eq "unknown CNI_ARGS key: code 2" "2" \
	"$(err_code ADD "$good" "${ids[@]}" CNI_ARGS=FOO=1)"
out=$(plugin DEL "$good" "${ids[@]}" CNI_ARGS=garbage 2>&1)
result "DEL ignores CNI_ARGS it has no use for (malformed here)" $? "$out"
check_eq "range outside the pod CIDR: code 7" "7" \
	"$(err_code ADD "$(jq -c '.ipam.ranges=[[{"subnet":"10.78.0.0/24"}]]' <<<"$good")" "${ids[@]}")"
check_eq "podCIDR differing from the host's: code 7" "7" \
	"$(err_code ADD "$(jq -c '.podCIDR="10.66.0.0/16"' <<<"$good")" "${ids[@]}")"
check_eq "IPv6 range: code 7" "7" \
	"$(err_code ADD "$(jq -c '.ipam.ranges=[[{"subnet":"fd00::/64"}]]' <<<"$good")" "${ids[@]}")"
check_eq "portMappings with a hostIP other than the uplink's: code 7" "7" \
	"$(err_code ADD "$(jq -c '.runtimeConfig={"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":"10.1.2.3"}]}' <<<"$good")" "${ids[@]}")"
check_eq "bad portMappings protocol: code 7" "7" \
	"$(err_code ADD "$(jq -c '.runtimeConfig={"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"sctp"}]}' <<<"$good")" "${ids[@]}")"
check_eq "CHECK of an unknown container: code 3" "3" \
	"$(err_code CHECK "$good" "${ids[@]}")"
check_eq "the failed ADDs above left no endpoint (a, b, s)" "3" \
	"$(nsf -n "$H" status --json | jq '.endpoints | length')"
out=$(plugin ADD '{"cniVersion":' "${ids[@]}" 2>/dev/null)
check_eq "error JSON is the only thing on stdout" "1" \
	"$(jq -s 'length' <<<"$out" 2>/dev/null)"

# ---- portMappings: published ports of the uplink address ----

PT=$E2E_LIB_DIR/pubtool.py
PM='{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},
	{"hostPort":8053,"containerPort":53,"protocol":"udp","hostIP":"'$WAN_H'"}]}'
ip netns add "$P-pm"
out=$(cni add "$P-pm" --runtime-config "$PM" 2>&1)
result "ADD with portMappings tcp 8080->80, udp 8053->53" $? "$out"
IPPM=$(pod_ip "$P-pm")
PMEP=$(nsf -n "$H" status --json |
	jq -r --arg ip "$IPPM" '.endpoints[] | select(.ip == $ip) | .name')
check_eq "publish list: both mappings, owned by the container's endpoint" \
	"tcp 8080 -> $PMEP $IPPM:80
udp 8053 -> $PMEP $IPPM:53" "$(nsf -n "$H" publish list 2>&1)"
bg_pod "$P-pm" 60 "$E2E_PY" "$PT" serve --ports 53-80 --tag PM \
	--lifetime 50 >/dev/null
for _ in $(seq 50); do
	[[ -n $(ip netns exec "$P-pm" ss -Hltn "sport = :80") ]] && break
	sleep 0.1
done
check "tcp from the world to $WAN_H:8080 reaches the container's port 80" \
	pod_exec "$W" "$E2E_PY" "$PT" send --proto tcp --want-tag PM \
	"$WAN_H" 8080 hello-pm
check "udp from the world to $WAN_H:8053 reaches the container's port 53" \
	pod_exec "$W" "$E2E_PY" "$PT" send --proto udp --want-tag PM \
	"$WAN_H" 8053 hello-pm-udp
out=$(plugin ADD "$(jq -c '.runtimeConfig={"portMappings":[{"hostPort":8081,"containerPort":81,"protocol":"tcp"},{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}' <<<"$good")" "${ids[@]}" 2>/dev/null)
check_eq "hostPort 8080 published already: ADD fails with code 7" "7" \
	"$(jq -r .code <<<"$out")"
check_match "... and the message names the conflict, not just the field" \
	"^runtimeConfig.portMappings: .*8080" "$(jq -r .msg <<<"$out")"
check_eq "... and took back its first mapping (8081) and its endpoint" \
	"2 4" "$(nsf -n "$H" publish list | wc -l) $(nsf -n "$H" status --json | jq '.endpoints | length')"
out=$(cni del "$P-pm" 2>&1)
result "DEL of the container with portMappings" $? "$out"
check_eq "DEL removed its published ports" "" \
	"$(nsf -n "$H" publish list 2>&1)"
check "the port is closed again (no answer)" \
	bash -c "! $(printf '%q ' timeout 10 ip netns exec "$W" "$E2E_PY" \
		"$PT" send --timeout 1 --proto tcp "$WAN_H" 8080 x) \
		>/dev/null 2>&1"
ip netns del "$P-pm"

# ---- 0.4.0 ----

conf04=$(jq -c '.cniVersion="0.4.0"' <<<"$good")
out=$(plugin ADD "$conf04" CNI_CONTAINERID=v04 CNI_IFNAME=eth0 CNI_NETNS="$ns_s2" 2>&1)
check_eq "0.4.0 result: cniVersion and ips[].version 4" "0.4.0 4" \
	"$(jq -r '"\(.cniVersion) \(.ips[0].version)"' <<<"$out" 2>/dev/null)"
out=$(plugin CHECK "$(jq -c --argjson r "$out" '.prevResult=$r' <<<"$conf04")" \
	CNI_CONTAINERID=v04 CNI_IFNAME=eth0 CNI_NETNS="$ns_s2" 2>&1)
result "0.4.0 CHECK with prevResult" $? "$out"
out=$(plugin DEL "$conf04" CNI_CONTAINERID=v04 CNI_IFNAME=eth0 CNI_NETNS="$ns_s2" 2>&1)
result "0.4.0 DEL" $? "$out"

# ---- DEL ----

out=$(cni del "$P-a" 2>&1)
result "DEL pod a (reverse chain)" $? "$out"
check_eq "pod a's eth0 is gone" "" \
	"$(ip -n "$P-a" -o link show eth0 2>/dev/null)"
check_eq "pod a's host veth is gone" "" \
	"$(ip -n "$H" -o link show "$hostif" 2>/dev/null)"
out=$(cni del "$P-a" 2>&1)
result "DEL pod a again succeeds" $? "$out"
out=$(plugin DEL "$good" CNI_CONTAINERID=never-seen CNI_IFNAME=eth0 CNI_NETNS= 2>&1)
result "DEL of an unknown container, no CNI_NETNS, succeeds" $? "$out"
ip netns del "$P-b"
out=$(cni del "$P-b" 2>&1)
result "DEL after the pod's netns was removed succeeds" $? "$out"
check_eq "pod b's address was released" "free" \
	"$(test -e "${E2E_STATE[0]}/ipam/$IPB" && echo taken || echo free)"

# ---- persistence: state on disk, next-fit, init re-run ----

ip netns add "$P-c"
out=$(cni add "$P-c" 2>&1)
result "ADD pod c after a and b left" $? "$out"
IPC=$(pod_ip "$P-c")
check_match "next-fit: the freed .12 and .13 are not reused at once" \
	'^10\.77\.0\.(1[4-9]|[2-9][0-9])$' "$IPC"
check_match "the allocation is on disk, owned by the CNI endpoint" \
	"^cni-$P-c" "$(cat "${E2E_STATE[0]}/ipam/$IPC" 2>&1)"
out=$(nsf -n "$H" init 2>&1)
result "nsfast init re-run (reload) with CNI endpoints" $? "$out"
out=$(cni check "$P-c" 2>&1)
result "CHECK pod c after the reload" $? "$out"
check "pod c still reaches the world" \
	pod_exec "$P-c" ping -c 1 -W 2 "$WAN_W"
ip netns add "$P-e"
out=$(cni add "$P-e" 2>&1)
result "ADD pod e after the reload" $? "$out"
check_eq "allocation continues after the last one on disk" \
	"10.77.0.$((${IPC##*.} + 1))" "$(pod_ip "$P-e")"

# ---- 50 parallel ADDs ----

pids=()
for i in $(seq 1 "$NPAR"); do
	ip netns add "$P-p$i"
done
t0=$(date +%s%N)
for i in $(seq 1 "$NPAR"); do
	cni add "$P-p$i" >"$TMP/par-$i.json" 2>"$TMP/par-$i.err" &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do
	wait "$p" || fails=$((fails + 1))
done
comment "$NPAR parallel ADDs (3-plugin chain each) took $((($(date +%s%N) - t0) / 1000000)) ms"
check_eq "$NPAR parallel ADDs all succeed" 0 "$fails"
addrs=$(for i in $(seq 1 "$NPAR"); do jq -r '.ips[0].address' "$TMP/par-$i.json"; done)
check_eq "$NPAR parallel ADDs: $NPAR distinct addresses" "$NPAR" \
	"$(sort -u <<<"$addrs" | grep -c /32)"
kern=$(for i in $(seq 1 "$NPAR"); do pod_ip "$P-p$i"; done | sort -u | wc -l)
check_eq "the kernel agrees: $NPAR distinct pod addresses" "$NPAR" "$kern"
check "a parallel-added pod reaches another" \
	pod_exec "$P-p1" ping -c 1 -W 2 "$(pod_ip "$P-p$NPAR")"
pids=()
for i in $(seq 1 "$NPAR"); do
	cni del "$P-p$i" >/dev/null 2>&1 &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do
	wait "$p" || fails=$((fails + 1))
done
check_eq "$NPAR parallel DELs all succeed" 0 "$fails"

# ---- GC and STATUS (1.1) ----

conf11=$(jq -c '.cniVersion="1.1.0"' <<<"$good")
out=$(plugin STATUS "$conf11" 2>&1)
result "STATUS: available" $? "$out"
# A /30 range holds two addresses: STATUS fails while both are taken.
conf30=$(jq -c '.ipam={"ranges":[[{"subnet":"10.77.5.0/30"}]]}' <<<"$conf11")
for i in 1 2; do
	ip netns add "$P-f$i"
	out=$(plugin ADD "$conf30" CNI_CONTAINERID="$P-f$i" CNI_IFNAME=eth0 \
		CNI_NETNS="/run/netns/$P-f$i" 2>&1)
	result "ADD f$i into a /30 range" $? "$out"
done
out=$(plugin STATUS "$conf30" 2>/dev/null)
check_eq "STATUS with the range full: code 50, naming it" \
	"50 no free address left in the ipam ranges" \
	"$(jq -r '"\(.code) \(.msg)"' <<<"$out")"
out=$(plugin DEL "$conf30" CNI_CONTAINERID="$P-f1" CNI_IFNAME=eth0 2>&1)
result "DEL f1" $? "$out"
out=$(plugin STATUS "$conf30" 2>&1)
result "STATUS once a DEL freed an address" $? "$out"
out=$(plugin GC "$(jq -c '.["cni.dev/valid-attachments"]=[]' <<<"$conf11")" 2>&1)
result "GC with no valid attachments" $? "$out"
ip netns del "$P-f1"
ip netns del "$P-f2"
check_eq "GC removed every attachment of the network" "0" \
	"$(nsf -n "$H" status --json | jq '.endpoints | length')"

# ---- delegated IPAM: host-local ----

CONF=$TMP/hl.conflist
cat >"$CONF" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$P-hl",
  "plugins": [{
    "type": "nsfast", "podCIDR": "10.77.0.0/16",
    "ipam": {"type": "host-local", "dataDir": "$TMP/host-local",
             "ranges": [[{"subnet": "10.77.9.0/24"}]]}
  }]
}
EOF
ip netns add "$P-d"
out=$(CONF=$CONF cni add "$P-d" 2>&1)
result "ADD with ipam.type host-local (delegated)" $? "$out"
ipd=$(pod_ip "$P-d")
check_match "host-local chose the address, in its range" "^10\.77\.9\." "$ipd"
check "host-local recorded it in its dataDir" \
	test -e "$TMP/host-local/$P-hl/$ipd"
check "pod d reaches the world" pod_exec "$P-d" ping -c 1 -W 2 "$WAN_W"
out=$(CONF=$CONF cni check "$P-d" 2>&1)
result "CHECK with delegated IPAM (host-local checks its part)" $? "$out"
mv "$TMP/host-local/$P-hl/$ipd" "$TMP/hl-saved"
out=$(CONF=$CONF cni check "$P-d" 2>/dev/null)
check_match "... and CHECK fails once host-local lost its record" \
	'"code"' "$out"
mv "$TMP/hl-saved" "$TMP/host-local/$P-hl/$ipd"
out=$(CONF=$CONF cni del "$P-d" 2>&1)
result "DEL releases through host-local" $? "$out"
check_eq "host-local's record is gone" "no" \
	"$(test -e "$TMP/host-local/$P-hl/$ipd" && echo yes || echo no)"

# GC of an attachment whose runtime never called DEL: nsfast asks the
# delegate to release it (DEL, in a CNI version host-local 1.1 speaks).
out=$(CONF=$CONF cni add "$P-d" 2>&1)
result "ADD again with host-local" $? "$out"
ipd=$(pod_ip "$P-d")
check "host-local recorded $ipd" test -e "$TMP/host-local/$P-hl/$ipd"
neps=$(nsf -n "$H" status --json | jq '.endpoints | length')
hl11=$(jq -c '.plugins[0] + {cniVersion: "1.1.0", name: .name,
	"cni.dev/valid-attachments": []}' "$CONF")
out=$(plugin GC "$hl11" 2>&1)
result "GC with delegated IPAM" $? "$out"
check_eq "GC removed the attachment" "$((neps - 1))" \
	"$(nsf -n "$H" status --json | jq '.endpoints | length')"
check_eq "... and host-local released $ipd (its record is gone)" "no" \
	"$(test -e "$TMP/host-local/$P-hl/$ipd" && echo yes || echo no)"
out=$(plugin GC "$hl11" 2>&1)
result "a second GC has nothing to do" $? "$out"

# ---- a delegated IPAM plugin that speaks 1.1.0 (fakeipam) ----

FK=$TMP/fakeipam
fk=$(jq -nc --arg n "$P-fk" --arg d "$FK" '{cniVersion: "1.1.0", name: $n,
	type: "nsfast", podCIDR: "10.77.0.0/16",
	ipam: {type: "fakeipam", dataDir: $d}}')
fk_plugin() { # fk_plugin CMD POD: nsfast with fakeipam, for pod $P-POD
	plugin "$1" "$fk" CNI_CONTAINERID="$P-$2" CNI_IFNAME=eth0 \
		CNI_NETNS="/run/netns/$P-$2"
}
n_eps() { nsf -n "$H" status --json | jq '.endpoints | length'; }
ip netns add "$P-fx"
ip netns add "$P-fy"
out=$(fk_plugin ADD fx 2>&1)
result "ADD with fakeipam" $? "$out"
check_eq "the delegate's routes and dns are in the result" \
	"10.124.0.0/16 10.77.8.53" \
	"$(jq -r '"\(.routes[1].dst) \(.dns.nameservers[0])"' <<<"$out" 2>&1)"
out2=$(fk_plugin ADD fx 2>&1)
check_eq "a repeated ADD returns the same result, routes and dns too" \
	"$(jq -cS . <<<"$out" 2>&1)" "$(jq -cS . <<<"$out2" 2>&1)"
check_eq "... without a second ADD of the delegate" "1" \
	"$(grep -c "^ADD $P-fx " "$FK/log")"
out=$(fk_plugin ADD fy 2>&1)
result "ADD a second pod with fakeipam" $? "$out"

out=$(plugin STATUS "$fk" 2>&1)
result "STATUS with a delegate that is fine" $? "$out"
check_eq "... asked the delegate (it speaks 1.1.0)" "1" \
	"$(grep -c '^STATUS ' "$FK/log")"
touch "$FK/full"
out=$(plugin STATUS "$fk" 2>/dev/null)
check_eq "STATUS when the delegate has no addresses: its error" \
	"50 ipam plugin fakeipam: fakeipam has no addresses left" \
	"$(jq -r '"\(.code) \(.msg)"' <<<"$out")"
rm "$FK/full"

# GC: the DEL of fx fails; GC goes on with fy, the orphan-address sweep
# and the delegate's own GC, then reports the failure.
touch "$FK/fail-del-$P-fx"
printf 'cni-ghost-eth0-00000000' >"${E2E_STATE[0]}/ipam/10.77.0.250"
valid=$(jq -nc --arg c "$P-keep" '[{containerID: $c, ifname: "eth0"}]')
fkgc=$(jq -c --argjson v "$valid" '.["cni.dev/valid-attachments"]=$v' <<<"$fk")
neps=$(n_eps)
out=$(plugin GC "$fkgc" 2>/dev/null)
check_eq "GC with a stale attachment whose DEL fails: the delegate's code" \
	"11" "$(jq -r .code <<<"$out")"
check_match "... the message counts and names the failure" \
	"gc: 1 failure.*first: cni-[^:]*: ipam plugin fakeipam: DEL of $P-fx refused" \
	"$(jq -r .msg <<<"$out")"
check_eq "... yet fy was collected, fx kept for the next GC" \
	"$((neps - 1)) 1" \
	"$(n_eps) $(grep -ls "\"$P-fx\"" "${E2E_STATE[0]}"/cni-*.json | wc -l)"
check_eq "... and the orphaned address released" "free" \
	"$(test -e "${E2E_STATE[0]}/ipam/10.77.0.250" && echo taken || echo free)"
check_eq "GC was forwarded to the delegate, valid attachments as given" \
	"GC   $valid" "$(grep '^GC ' "$FK/log")"
rm "$FK/fail-del-$P-fx"
touch "$FK/fail-gc"
out=$(plugin GC "$fkgc" 2>/dev/null)
check_match "the delegate's GC failing is reported" \
	"first: ipam plugin gc: ipam plugin fakeipam: GC refused" \
	"$(jq -r .msg <<<"$out")"
check_eq "... after nsfast's own GC collected fx" "$((neps - 2)) 0" \
	"$(n_eps) $(grep -ls "\"$P-fx\"" "${E2E_STATE[0]}"/cni-*.json | wc -l)"
rm "$FK/fail-gc"
out=$(plugin GC "$fkgc" 2>&1)
result "GC with nothing stale and a willing delegate" $? "$out"
ip netns del "$P-fx"
ip netns del "$P-fy"

e2e_finish
