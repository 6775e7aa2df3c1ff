#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq filters: their $variables come from --arg
# The CNI plugin on hosts nobody set up: a failed first ADD (missing uplink)
# leaves nothing; 20 parallel first ADDs initialise the host exactly once
# and get 20 distinct addresses; a repeated ADD returns the same result;
# nsfast following another plugin (prevResult merged); the nsfast-cni name;
# 0.3.1 runtimes; an empty portMappings list; DEL without CNI_NETNS; GC
# keeping valid attachments; the stateDir field.
E2E_DEADLINE=${E2E_DEADLINE:-300}
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

TMP=$E2E_TMPDIR
H=$P-h
NPAR=${CNI_FRESH_PARALLEL:-20}
BIN=$TMP/cnibin
CNI_PATH_DIRS=$BIN:/usr/lib/cni
CACHE=$TMP/cache

host_create "$H"
e2e_require $? "host namespace"
mkdir -p "$BIN" "$CACHE"
ln -s "$NSFAST" "$BIN/nsfast"
ln -s "$NSFAST" "$BIN/nsfast-cni"
# A plugin placed before nsfast: makes a result of its own (one interface,
# no address), as e.g. a loopback or host-device plugin would.
cat >"$BIN/first" <<'EOF'
#!/bin/bash
cat >/dev/null
[[ $CNI_COMMAND == ADD ]] &&
	echo '{"cniVersion":"1.0.0","interfaces":[{"name":"dummy0"}],"ips":[],"dns":{"domain":"first.test"}}'
exit 0
EOF
chmod +x "$BIN/first"

# conflist NAME CNI-VERSION PLUGIN-JSON...: write $TMP/NAME.conflist
conflist() {
	local name=$1 ver=$2
	shift 2
	jq -n --arg n "$P-$name" --arg v "$ver" '{cniVersion: $v, name: $n,
		plugins: $ARGS.positional | map(fromjson)}' --args "$@" \
		>"$TMP/$name.conflist"
}

cni() { # cni CMD CONFLIST NS [cnitool options]
	local cmd=$1 conf=$2 ns=$3
	shift 3
	timeout 120 nsenter --net="/run/netns/$H" "$E2E_PY" \
		"$E2E_LIB_DIR/cnitool.py" "$cmd" "$TMP/$conf.conflist" \
		"${ns:+/run/netns/$ns}" --cni-path "$CNI_PATH_DIRS" \
		--cache "$CACHE" "$@"
}

n_endpoints() {
	nsf -n "$H" status --json | jq '.endpoints | length'
}

NS='{"type":"nsfast","podCIDR":"10.79.0.0/16","ipam":{"ranges":[[{"subnet":"10.79.0.0/24"}]]},"capabilities":{"portMappings":true}}'

# ---- a failed first ADD ----

conflist bad 1.0.0 "$(jq -c '.uplink="nope0"' <<<"$NS")"
ip netns add "$P-x"
out=$(cni add bad "$P-x" 2>/dev/null)
check_eq "first ADD with a missing uplink: code 103" "103" \
	"$(jq -r .code <<<"$out")"
check_match "the message names the uplink" "nope0" "$(jq -r .msg <<<"$out")"
check_eq "nothing left: no eth0 in the pod" "" \
	"$(ip -n "$P-x" -o link show eth0 2>/dev/null)"
check_eq "nothing left: the host is still not set up" "false" \
	"$(nsf -n "$H" status --json | jq .initialised)"
check_eq "nothing left: no host veth" "" \
	"$(ip -n "$H" -o link show type veth)"

# ---- parallel first ADDs ----

conflist net 1.0.0 "$NS"
pids=()
for i in $(seq 1 "$NPAR"); do
	ip netns add "$P-p$i"
done
for i in $(seq 1 "$NPAR"); do
	cni add net "$P-p$i" >"$TMP/p$i.json" 2>"$TMP/p$i.err" &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do
	wait "$p" || fails=$((fails + 1))
done
check_eq "$NPAR parallel first ADDs on a fresh host all succeed" 0 "$fails"
check_eq "exactly one of them initialised the host, none reloaded it" "1 0" \
	"$(cat "$TMP"/p*.err | grep -c initialised) $(cat "$TMP"/p*.err | grep -c reloaded)"
check_eq "$NPAR distinct addresses" "$NPAR" \
	"$(for i in $(seq 1 "$NPAR"); do pod_ip "$P-p$i"; done | sort -u | grep -c '^10\.79\.0\.')"
check_eq "$NPAR endpoints" "$NPAR" "$(n_endpoints)"
check "pod 1 reaches pod $NPAR" \
	pod_exec "$P-p1" ping -c 1 -W 2 "$(pod_ip "$P-p$NPAR")"

# ---- repeated ADD ----

out=$(cni add net "$P-p1" 2>&1)
result "a repeated ADD succeeds" $? "$out"
check_eq "... with the same address, nothing new" \
	"$(jq -r .ips[0].address "$TMP/p1.json") $NPAR" \
	"$(jq -r .ips[0].address <<<"$out") $(n_endpoints)"

# ---- after another plugin ----

conflist chain 1.0.0 '{"type":"first"}' "$NS"
ip netns add "$P-c"
out=$(cni add chain "$P-c" 2>&1)
result "ADD with nsfast second in the chain" $? "$out"
check_eq "prevResult's interface kept, ours appended, index right" \
	"dummy0 eth0 2" \
	"$(jq -r '"\(.interfaces[0].name) \(.interfaces[2].name) \(.ips[0].interface)"' <<<"$out")"
check_eq "prevResult's dns kept (the config has none)" "first.test" \
	"$(jq -r .dns.domain <<<"$out")"
out=$(cni check chain "$P-c" 2>&1)
result "CHECK of the chain" $? "$out"
out=$(cni del chain "$P-c" 2>&1)
result "DEL of the chain" $? "$out"

# ---- nsfast-cni, 0.3.1, empty portMappings ----

conflist alias 1.0.0 "$(jq -c '.type="nsfast-cni"' <<<"$NS")"
ip netns add "$P-a"
out=$(cni add alias "$P-a" --runtime-config '{"portMappings":[]}' 2>&1)
result "ADD through the nsfast-cni name, empty portMappings" $? "$out"
out=$("$BIN/nsfast-cni" </dev/null 2>/dev/null)
check_eq "nsfast-cni without CNI_COMMAND: code 4" "4" "$(jq -r .code <<<"$out")"
out=$(cni del alias "$P-a" 2>&1)
result "DEL through nsfast-cni" $? "$out"

conflist old 0.3.1 "$NS"
ip netns add "$P-o"
out=$(cni add old "$P-o" 2>&1)
check_eq "0.3.1 ADD: version fields" "0.3.1 4" \
	"$(jq -r '"\(.cniVersion) \(.ips[0].version)"' <<<"$out" 2>/dev/null)"
out=$(cni check old "$P-o" 2>/dev/null)
check_eq "0.3.1 CHECK: code 1" "1" "$(jq -r .code <<<"$out")"
out=$(env CNI_COMMAND=DEL CNI_CONTAINERID="$P-o" CNI_IFNAME=eth0 \
	nsenter --net="/run/netns/$H" "$NSFAST" \
	<<<"$(jq -c '.plugins[0] + {cniVersion, name}' "$TMP/old.conflist")" 2>&1)
result "DEL without CNI_NETNS removes the attachment" $? "$out"
check_eq "... the endpoint is gone" "$NPAR" "$(n_endpoints)"

# ---- an ADD that died midway ----

# State as a runtime's timeout leaves it when it kills an ADD between the
# address claim and the attach: the record and the claimed address exist,
# the endpoint does not. DEL must release the address.
ip netns add "$P-k"
out=$(cni add net "$P-k" 2>&1)
result "ADD pod k" $? "$out"
ipk=$(pod_ip "$P-k")
state=${E2E_STATE[0]}
name=$(jq -r --arg c "$P-k" 'select(.containerId == $c) | .endpoint' \
	"$state"/cni-*.json)
nsf -n "$H" detach "$name" >/dev/null
printf '%s' "$name" >"$state/ipam/$ipk"
check "a record names the orphaned address" test -e "$state/cni-$name.json"
out=$(cni del net "$P-k" 2>&1)
result "DEL after an ADD died midway" $? "$out"
check_eq "DEL released the orphaned address and the record" "free gone" \
	"$(test -e "$state/ipam/$ipk" && echo taken || echo free) $(test -e "$state/cni-$name.json" && echo kept || echo gone)"

# ---- GC keeps the valid ----

conflist gc 1.1.0 "$NS"
valid=$(jq -nc --arg a "$P-p1" --arg b "$P-p2" \
	'[{containerID: $a, ifname: "eth0"}, {containerID: $b, ifname: "eth0"}]')
conflist net11 1.1.0 "$NS"
jq --arg n "$P-net" '.name=$n' "$TMP/net11.conflist" >"$TMP/net11b.conflist"
# An address claimed by an ADD that died before writing anything else,
# and one of a CLI endpoint that GC must leave alone.
printf 'cni-ghost-eth0-00000000' >"${E2E_STATE[0]}/ipam/10.79.0.250"
printf 'web' >"${E2E_STATE[0]}/ipam/10.79.0.251"
out=$(cni gc net11b "" --valid "$valid" 2>&1)
result "GC with two valid attachments" $? "$out"
check_eq "GC released the orphaned CNI address, not the CLI one" "free taken" \
	"$(test -e "${E2E_STATE[0]}/ipam/10.79.0.250" && echo taken || echo free) $(test -e "${E2E_STATE[0]}/ipam/10.79.0.251" && echo taken || echo free)"
rm -f "${E2E_STATE[0]}/ipam/10.79.0.251"
check_eq "GC left exactly the two valid endpoints" "2" "$(n_endpoints)"
out=$(cni check net "$P-p1" 2>&1)
result "a kept attachment still passes CHECK" $? "$out"
check_eq "a collected pod lost its interface" "" \
	"$(ip -n "$P-p3" -o link show eth0 2>/dev/null)"
out=$(cni status net11b "" 2>&1)
result "STATUS" $? "$out"

# ---- stateDir / bpffs fields ----

H2=$P-h2
host_create "$H2"
conflist moved 1.0.0 "$(jq -c --arg d "$TMP/state2" '.stateDir=$d' <<<"$NS")"
ip netns add "$P-m"
out=$(H=$H2 cni add moved "$P-m" 2>&1)
result "ADD with stateDir" $? "$out"
check_eq "state went to stateDir" "1" \
	"$(find "$TMP/state2" -maxdepth 2 -name "cni-*.json" | wc -l)"
out=$(H=$H2 cni del moved "$P-m" 2>&1)
result "DEL with stateDir" $? "$out"
NSFAST_STATE_DIR=$TMP/state2 nsf -n "$H2" reset >/dev/null 2>&1

# ---- no bpffs ----

nobpf=$(jq -c --arg d "$TMP/nobpffs" '.plugins[0] + {cniVersion: "1.1.0",
	name, bpffs: $d}' "$TMP/net.conflist")
out=$(env CNI_COMMAND=DEL CNI_CONTAINERID=gone CNI_IFNAME=eth0 \
	nsenter --net="/run/netns/$H2" "$NSFAST" <<<"$nobpf" 2>&1)
result "DEL on a host never set up succeeds even without bpffs" $? "$out"
out=$(env CNI_COMMAND=STATUS nsenter --net="/run/netns/$H2" "$NSFAST" \
	<<<"$nobpf" 2>/dev/null)
check_eq "STATUS without bpffs: code 50" "50" "$(jq -r .code <<<"$out")"

e2e_finish
