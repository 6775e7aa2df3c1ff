// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Datapath fuzzer: arbitrary frames into each BPF program (nsf_from_pod,
 * nsf_uplink_xdp, nsf_uplink_tc) through BPF_PROG_TEST_RUN, with the map
 * state of a working host, checking after every frame the invariants the
 * datapath promises (docs/guarantees.md):
 *
 *  I1 the kernel accepts the run, or refuses the input as too short/long;
 *  I2 exactly one reason is counted, with the frame's length in bytes
 *     (nsf_uplink_xdp: less a priority tag, which it takes for none);
 *  I3 the verdict matches the kind of that reason (FWD: redirect,
 *     PASS: to the stack, DROP: dropped);
 *  I4 a frame handed to the kernel stack (PASS) is unchanged;
 *  I5 a forwarded IPv4 frame keeps its length (nsf_uplink_xdp cuts a
 *     priority tag off, as the kernel would), its TTL went down by one,
 *     its IPv4 header checksum is valid, the validity of its L4 checksum
 *     (and, for ICMP errors, of the quoted IPv4 header) is what it was,
 *     and nothing past the IP total length (Ethernet padding) changed;
 *  I6 the NAT table gains entries only for a masqueraded frame (fwd-snat),
 *     and then the frame's egress entry is there; never more than two.
 *
 * One binary, two drivers. Built with clang -fsanitize=fuzzer
 * (-DNSF_LIBFUZZER, `make fuzz`) it is a libFuzzer target; the program is
 * chosen with NSF_FUZZ_TARGET=from_pod|uplink_xdp|uplink_tc. libFuzzer's
 * coverage sees the harness only (the programs run in the kernel), so the
 * harness turns what the kernel did (target, reason, verdict) into
 * distinct code edges to give it a signal. Built plainly, it is the TAP
 * suite of `make test`: it replays the seed corpus (tests/fuzz/corpus)
 * and then mutates it with a seeded PRNG for FUZZ_SECONDS (default 3) per
 * program, so the run is meaningful without libFuzzer too.
 *
 * Input: byte 0 is metadata, the rest the frame. Metadata bits 0-1 pick
 * the interface nsf_from_pod runs on (pod0, pod1, pod0, oth0: a foreign
 * one); bit 7 recomputes the IPv4 header checksum and bit 6 the L4 one
 * before the run, so mutations get past header validation.
 *
 * Everything happens in a private network namespace (unshare) built like
 * tests/bpf/bpf_nat.c's; objects are loaded without pins. test_run skbs
 * are CHECKSUM_NONE, so the tc checksum helpers edit complete checksums
 * here; CHECKSUM_PARTIAL is covered by bpf_nat's test_snat_csum_partial.
 *
 *   fuzz_datapath [--write-corpus DIR]   (TAP driver; or write the seeds)
 */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <nsfast/maps.h>
#include <nsfast/reasons.h>

#include "../bpf/frames.h"
#include "../bpf/nat_frames.h"
#define TESTLIB_ERROR(...) fprintf(stderr, "fuzz: " __VA_ARGS__)
#include "../bpf/testlib.h"
#include "../bpf/datapath.h"

#define HIP(a, b, c, d) \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define POD_A	  HIP(10, 244, 0, 2)
#define POD_B	  HIP(10, 244, 0, 3)
#define POD_GONE  HIP(10, 244, 0, 9) /* NAT entry, no endpoint */
#define SNAT_IP	  HIP(10, 99, 0, 2)
#define PEER	  HIP(198, 18, 0, 10)
#define ROUTER	  HIP(198, 18, 7, 1)
#define OTHER_NET HIP(192, 0, 2, 7)
#define NO_NEIGH  HIP(198, 51, 100, 7)
#define ROUTE_MTU HIP(203, 0, 113, 7)
#define PORT_MIN  61000
#define PORT_MAX  61099
#define NAT_SIZE  4096
#define MAX_FRAME 1514
#define MAX_IN	  (MAX_FRAME + 1)
#define MAX_BASE  16

enum target {
	T_FROM_POD,
	T_UPLINK_XDP,
	T_UPLINK_TC,
	T_COUNT
};
static const char *const target_names[T_COUNT] = { "from_pod", "uplink_xdp",
						   "uplink_tc" };

static const int reason_kind[NSF_R_MAX] = {
#define R_KIND(name, str, kind, help) [NSF_R_##name] = NSF_KIND_##kind,
	NSF_REASONS(R_KIND)
#undef R_KIND
};
static const char *const reason_str[NSF_R_MAX] = {
#define R_STR(name, str, kind, help) [NSF_R_##name] = str,
	NSF_REASONS(R_STR)
#undef R_STR
};

static struct {
	struct pod_ingress *pod;
	struct uplink_xdp *xdp;
	struct uplink_tc *tc;
	int prog_fd[T_COUNT];
	int counters_fd, nat_fd, ep4_fd, config_fd, tx_fd;
	int if_pod0, if_pod1, if_wan0, if_oth0;
	int ncpus;
	struct nsf_counter *percpu;
	struct nsf_nat_key base[MAX_BASE]; /* the NAT table's baseline */
	int nbase;
	enum target target;
	uint64_t runs, refused, by_reason[T_COUNT][NSF_R_MAX];
	char failure[512];
} fz;

/* ---- setup ---------------------------------------------------------------- */

/* The network of tests/bpf/bpf_nat.c, in a namespace of our own. */
static int make_netns(void)
{
	int err;

	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "fuzz: unshare: %s\n", strerror(errno));
		return -1;
	}
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	err = veth("pod0", mac_pod0, "pod0p", mac_pod0p);
	err = err ?: veth("pod1", mac_pod1, "pod1p", mac_pod1p);
	err = err ?: veth("wan0", mac_wan0, "wan0p", mac_wan0p);
	err = err ?: veth("oth0", NULL, "oth0p", NULL);
	err = err
		      ?: sh("for d in lo pod0 pod0p pod1 pod1p wan0 wan0p oth0 "
			    "oth0p; do ip link set $d up || exit 1; done");
	err = err ?: sh("ip addr add 10.99.0.2/24 dev wan0");
	err = err ?: sh("ip addr add 192.0.2.1/24 dev oth0");
	err = err ?: sh("ip route add default via 10.99.0.1 dev wan0");
	err = err ?: sh("ip route add 198.51.100.0/24 via 10.99.0.3 dev wan0");
	err = err
		      ?: sh("ip route add 203.0.113.0/24 via 10.99.0.1 dev wan0 "
			    "mtu lock 400");
	err = err
		      ?: sh("ip neigh add 10.99.0.1 lladdr %s dev wan0 nud "
			    "permanent",
			    mac_str(mac_gw));
	if (err)
		return err;
	write_file("/proc/sys/net/ipv4/conf/pod0/forwarding", "1");
	write_file("/proc/sys/net/ipv4/conf/pod1/forwarding", "1");
	fz.if_pod0 = (int)if_nametoindex("pod0");
	fz.if_pod1 = (int)if_nametoindex("pod1");
	fz.if_wan0 = (int)if_nametoindex("wan0");
	fz.if_oth0 = (int)if_nametoindex("oth0");
	return fz.if_pod0 && fz.if_pod1 && fz.if_wan0 && fz.if_oth0 ? 0 : -1;
}

static int load(void)
{
	int err;

	/* A small NAT table keeps the baseline check cheap. */
	err = datapath_load(&fz.pod, &fz.xdp, &fz.tc, NAT_SIZE);
	if (err)
		return -1;
	fz.prog_fd[T_FROM_POD] = bpf_program__fd(fz.pod->progs.nsf_from_pod);
	fz.prog_fd[T_UPLINK_XDP] =
		bpf_program__fd(fz.xdp->progs.nsf_uplink_xdp);
	fz.prog_fd[T_UPLINK_TC] = bpf_program__fd(fz.tc->progs.nsf_uplink_tc);
	fz.counters_fd = bpf_map__fd(fz.pod->maps.nsf_counters);
	fz.nat_fd = bpf_map__fd(fz.pod->maps.nsf_nat4);
	fz.ep4_fd = bpf_map__fd(fz.pod->maps.nsf_ep4);
	fz.config_fd = bpf_map__fd(fz.pod->maps.nsf_config);
	fz.tx_fd = bpf_map__fd(fz.pod->maps.nsf_tx_ports);
	return 0;
}

static int add_ep(uint32_t addr, int ifindex, uint32_t id,
		  const uint8_t *pod_mac, const uint8_t *host_mac)
{
	struct nsf_endpoint ep = local_endpoint(ifindex, id, pod_mac, host_mac);
	struct bpf_devmap_val dv = { .ifindex = (uint32_t)ifindex };
	uint32_t key = htonl(addr), dkey = (uint32_t)ifindex;

	if (bpf_map_update_elem(fz.ep4_fd, &key, &ep, BPF_ANY))
		return -1;
	return bpf_map_update_elem(fz.tx_fd, &dkey, &dv, BPF_ANY) ? -1 : 0;
}

/* A masqueraded flow, both entries, as the datapath would make them. */
static int add_flow(uint8_t proto, uint32_t pod, uint16_t pod_port,
		    uint16_t peer_port, uint16_t nat_port)
{
	struct nsf_nat_key eg = { .saddr = htonl(pod),
				  .daddr = htonl(PEER),
				  .sport = htons(pod_port),
				  .dport = htons(peer_port),
				  .proto = proto,
				  .dir = NSF_NAT_EGRESS },
			   in;
	struct nsf_nat_entry e = { .addr = htonl(SNAT_IP),
				   .port = htons(nat_port),
				   .created = 1,
				   .last_seen = 1 };

	nsf_nat_reply_key(&in, &eg, htonl(SNAT_IP), htons(nat_port));
	if (bpf_map_update_elem(fz.nat_fd, &eg, &e, BPF_NOEXIST))
		return -1;
	e.addr = htonl(pod);
	e.port = htons(pod_port);
	if (bpf_map_update_elem(fz.nat_fd, &in, &e, BPF_NOEXIST))
		return -1;
	fz.base[fz.nbase++] = eg;
	fz.base[fz.nbase++] = in;
	return 0;
}

static int fill_maps(void)
{
	struct nsf_config cfg = {
		.pod_net4 = htonl(HIP(10, 244, 0, 0)),
		.pod_mask4 = htonl(0xffff0000),
		.gateway4 = htonl(NSF_GATEWAY4),
		.uplink_ifindex = (uint32_t)fz.if_wan0,
		.snat4 = htonl(SNAT_IP),
		.nat_port_min = PORT_MIN,
		.nat_port_max = PORT_MAX,
	};
	uint32_t zero = 0;
	int err;

	if (bpf_map_update_elem(fz.config_fd, &zero, &cfg, BPF_ANY))
		return -1;
	err = add_ep(POD_A, fz.if_pod0, 1, mac_pod0p, mac_pod0);
	err = err ?: add_ep(POD_B, fz.if_pod1, 2, mac_pod1p, mac_pod1);
	/* Seeds in write_corpus() answer these flows. */
	err = err ?: add_flow(IPPROTO_UDP, POD_A, 40000, 53, PORT_MIN);
	err = err ?: add_flow(IPPROTO_TCP, POD_A, 40001, 443, PORT_MIN + 1);
	err = err ?: add_flow(IPPROTO_ICMP, POD_A, 0x4242, 0, PORT_MIN + 2);
	err = err ?: add_flow(IPPROTO_UDP, POD_GONE, 40000, 53, PORT_MIN + 3);
	err = err ?: add_flow(IPPROTO_TCP, POD_B, 40001, 443, PORT_MIN + 4);
	return err;
}

static int setup(void)
{
	if (make_netns() || load() || fill_maps()) {
		fprintf(stderr, "fuzz: setup failed\n");
		return -1;
	}
	fz.ncpus = libbpf_num_possible_cpus();
	fz.percpu = calloc((size_t)(fz.ncpus > 0 ? fz.ncpus : 1),
			   sizeof(*fz.percpu));
	return fz.ncpus > 0 && fz.percpu ? 0 : -1;
}

/* ---- observing ------------------------------------------------------------ */

static int read_counters(struct nsf_counter out[NSF_R_MAX])
{
	for (uint32_t r = 0; r < NSF_R_MAX; r++) {
		out[r] = (struct nsf_counter){ 0 };
		if (bpf_map_lookup_elem(fz.counters_fd, &r, fz.percpu))
			return -1;
		for (int c = 0; c < fz.ncpus; c++) {
			out[r].packets += fz.percpu[c].packets;
			out[r].bytes += fz.percpu[c].bytes;
		}
	}
	return 0;
}

static bool in_base(const struct nsf_nat_key *k)
{
	for (int i = 0; i < fz.nbase; i++)
		if (!memcmp(k, &fz.base[i], sizeof(*k)))
			return true;
	return false;
}

/* Keys the last run added to the NAT table (up to @max), then gone again:
 * every run starts from the baseline. Returns how many there were. */
static int nat_new_keys(struct nsf_nat_key *out, int max)
{
	struct nsf_nat_key k, next, extra[64];
	int n = 0, i;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fz.nat_fd, prev, &next)) {
		k = next;
		prev = &k;
		if (!in_base(&k) && n < 64)
			extra[n++] = k;
	}
	for (i = 0; i < n; i++) {
		if (i < max)
			out[i] = extra[i];
		bpf_map_delete_elem(fz.nat_fd, &extra[i]);
	}
	return n;
}

/* ---- invariants ----------------------------------------------------------- */

enum csum_state {
	CS_NA,
	CS_NONE,
	CS_VALID,
	CS_BAD
};

struct ipv4_view {
	const uint8_t *l3; /* NULL: not a parseable IPv4 frame */
	uint32_t hlen, tot_len;
};

static struct ipv4_view view_ipv4(const uint8_t *f, uint32_t len)
{
	struct ipv4_view v = { 0 };
	const uint8_t *l3 = f + ETH_HLEN;

	if (len < ETH_HLEN + 20 || nf_get16(f + 12) != ETH_P_IP ||
	    (l3[0] >> 4) != 4)
		return v;
	v.hlen = (l3[0] & 15) * 4u;
	v.tot_len = nf_get16(l3 + 2);
	if (v.hlen < 20 || v.tot_len < v.hlen || ETH_HLEN + v.tot_len > len)
		return v;
	v.l3 = l3;
	return v;
}

static enum csum_state l4_csum_state(const struct ipv4_view *v)
{
	const uint8_t *l4 = v->l3 + v->hlen;
	uint32_t l4_len = v->tot_len - v->hlen, sum = 0;
	uint8_t proto = v->l3[9];

	if (nf_get16(v->l3 + 6) & 0x3fff)
		return CS_NA; /* a fragment: its checksum covers the whole */
	if (proto == IPPROTO_UDP) {
		if (l4_len < 8)
			return CS_NA;
		if (!nf_get16(l4 + 6))
			return CS_NONE;
	} else if (proto == IPPROTO_TCP) {
		if (l4_len < 20)
			return CS_NA;
	} else if (proto == IPPROTO_ICMP) {
		if (l4_len < 8)
			return CS_NA;
	} else {
		return CS_NA;
	}
	if (proto != IPPROTO_ICMP)
		sum = csum_add(0, v->l3 + 12, 8) + proto + l4_len;
	sum = csum_add(sum, l4, l4_len);
	return csum_fold(sum) == 0xffff ? CS_VALID : CS_BAD;
}

/* The quoted header of an ICMP error: its checksum state. */
static enum csum_state inner_ip_state(const struct ipv4_view *v)
{
	const uint8_t *in = v->l3 + v->hlen + 8;
	uint32_t avail = v->tot_len - v->hlen;

	if (v->l3[9] != IPPROTO_ICMP || avail < 8 + 20)
		return CS_NA;
	if ((in[0] & 15) * 4u > avail - 8 || (in[0] & 15) < 5)
		return CS_NA;
	return csum_fold(csum_add(0, in, (in[0] & 15) * 4u)) == 0xffff
		       ? CS_VALID
		       : CS_BAD;
}

__attribute__((format(printf, 1, 2))) static bool fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fz.failure, sizeof(fz.failure), fmt, ap);
	va_end(ap);
	return false;
}

static uint32_t verdict_of(enum target t, int kind)
{
	if (t == T_UPLINK_XDP)
		return kind == NSF_KIND_FWD    ? XDP_REDIRECT
		       : kind == NSF_KIND_PASS ? XDP_PASS
					       : XDP_DROP;
	return kind == NSF_KIND_FWD    ? TC_ACT_REDIRECT
	       : kind == NSF_KIND_PASS ? TC_ACT_OK
				       : TC_ACT_SHOT;
}

static bool check_forwarded(const uint8_t *in, const uint8_t *out, uint32_t len,
			    uint32_t reason)
{
	struct ipv4_view vi = view_ipv4(in, len), vo = view_ipv4(out, len);
	uint32_t end;

	if (reason == NSF_R_ARP_REPLY)
		return true;
	if (!vi.l3 || !vo.l3)
		return fail("%s: forwarded frame is not well-formed IPv4",
			    reason_str[reason]);
	if (vi.l3[8] < 2 || vo.l3[8] != vi.l3[8] - 1)
		return fail("%s: TTL %u became %u", reason_str[reason],
			    vi.l3[8], vo.l3[8]);
	if (csum_fold(csum_add(0, vo.l3, vo.hlen)) != 0xffff)
		return fail("%s: IPv4 header checksum invalid after rewrite",
			    reason_str[reason]);
	if (vo.tot_len != vi.tot_len || vo.hlen != vi.hlen)
		return fail("%s: IP length changed", reason_str[reason]);
	if (l4_csum_state(&vi) != l4_csum_state(&vo))
		return fail("%s: L4 checksum state %d became %d",
			    reason_str[reason], l4_csum_state(&vi),
			    l4_csum_state(&vo));
	if (reason == NSF_R_FWD_RNAT_ICMP &&
	    inner_ip_state(&vi) != inner_ip_state(&vo))
		return fail("%s: quoted IPv4 checksum state %d became %d",
			    reason_str[reason], inner_ip_state(&vi),
			    inner_ip_state(&vo));
	end = ETH_HLEN + vi.tot_len;
	if (memcmp(in + end, out + end, len - end))
		return fail("%s: bytes past the IP total length (%u) changed",
			    reason_str[reason], vi.tot_len);
	return true;
}

/* The egress NAT entry of the masqueraded frame @in is in the table. */
static bool has_egress_entry(const uint8_t *in, uint32_t len)
{
	struct ipv4_view v = view_ipv4(in, len);
	struct nsf_nat_entry e;
	struct nsf_nat_key k = { 0 };
	const uint8_t *l4;

	if (!v.l3)
		return false;
	l4 = v.l3 + v.hlen;
	memcpy(&k.saddr, v.l3 + 12, 4);
	memcpy(&k.daddr, v.l3 + 16, 4);
	k.proto = v.l3[9];
	k.dir = NSF_NAT_EGRESS;
	if (k.proto == IPPROTO_ICMP) {
		memcpy(&k.sport, l4 + 4, 2);
	} else {
		memcpy(&k.sport, l4, 2);
		memcpy(&k.dport, l4 + 2, 2);
	}
	return !bpf_map_lookup_elem(fz.nat_fd, &k, &e);
}

/* test_run takes an skb only with its L3 header (IPv4: 20, IPv6: 40
 * bytes after Ethernet); XDP anything from a full Ethernet header. */
static bool test_run_may_refuse(enum target t, const uint8_t *f, uint32_t len)
{
	uint16_t proto;

	if (len < ETH_HLEN)
		return true;
	if (t == T_UPLINK_XDP)
		return false;
	proto = nf_get16(f + 12);
	return (proto == ETH_P_IP && len < ETH_HLEN + 20) ||
	       (proto == ETH_P_IPV6 && len < ETH_HLEN + 40);
}

/* Distinct code per (target, reason): libFuzzer's only view of the kernel. */
static volatile uint64_t edge_sink[T_COUNT][NSF_R_MAX + 1];

static void coverage_edge(enum target t, uint32_t reason)
{
	switch (t * 64 + reason) {
#define R_EDGE(name, str, kind, help)                      \
	case T_FROM_POD * 64 + NSF_R_##name:               \
		edge_sink[T_FROM_POD][NSF_R_##name]++;     \
		break;                                     \
	case T_UPLINK_XDP * 64 + NSF_R_##name:             \
		edge_sink[T_UPLINK_XDP][NSF_R_##name]++;   \
		break;                                     \
	case T_UPLINK_TC * 64 + NSF_R_##name:              \
		edge_sink[T_UPLINK_TC][NSF_R_##name] += 3; \
		break;
		NSF_REASONS(R_EDGE)
#undef R_EDGE
	default:
		edge_sink[t][NSF_R_MAX]++;
	}
}

static void prepare(uint8_t meta, uint8_t *f, uint32_t len)
{
	struct ipv4_view v;
	struct iphdr *ip;

	if (!(meta & 0xc0) || len < ETH_HLEN + 20 ||
	    nf_get16(f + 12) != ETH_P_IP)
		return;
	ip = (struct iphdr *)(f + ETH_HLEN);
	if ((meta & 0x80) && ip->ihl >= 5 && ETH_HLEN + ip->ihl * 4u <= len)
		ipv4_set_csum(ip);
	v = view_ipv4(f, len);
	if ((meta & 0x40) && v.l3 && !(ntohs(ip->frag_off) & 0x3fff) &&
	    l4_csum_state(&v) != CS_NA)
		nf_l4_set_csum(ip);
}

/*
 * Bytes of a priority tag (802.1Q or 802.1ad, VLAN 0) after the MACs of
 * the frame @f that @t runs on: nsf_uplink_xdp takes such a frame as
 * untagged, counts it without the tag and, if it forwards it, cuts the
 * tag off. 0 for anything else (tc never sees a tag in the frame on a
 * real uplink: the kernel moves it into the skb first).
 */
static uint32_t prio_tag_len(enum target t, const uint8_t *f, uint32_t len)
{
	uint16_t tpid;

	if (t != T_UPLINK_XDP || len < 2 * ETH_ALEN + 4)
		return 0;
	tpid = nf_get16(f + 2 * ETH_ALEN);
	if (tpid != ETH_P_8021Q && tpid != ETH_P_8021AD)
		return 0;
	return nf_get16(f + 2 * ETH_ALEN + 2) & 0x0fff ? 0 : 4;
}

/* Run one input through @t; false (and fz.failure) if an invariant broke. */
static bool run_one(enum target t, const uint8_t *data, size_t size)
{
	/* Two bytes of headroom: the IPv4 header 4-byte aligned (frames.h). */
	static uint8_t in_buf[MAX_FRAME + 66] __attribute__((aligned(8)));
	static uint8_t out_buf[MAX_FRAME + 66] __attribute__((aligned(8)));
	uint8_t *in = in_buf + 2, *out = out_buf + 2;
	struct nsf_counter before[NSF_R_MAX], after[NSF_R_MAX];
	struct nsf_nat_key added[4];
	static uint8_t untagged[MAX_FRAME];
	uint32_t len, reason = NSF_R_MAX, counted = 0, ifindex, tag, out_len;
	static const int *const ifs[4] = { &fz.if_pod0, &fz.if_pod1,
					   &fz.if_pod0, &fz.if_oth0 };
	bool egress_ok = false;
	int err, n_added;
	uint8_t meta;

	if (size < 1)
		return true;
	meta = data[0];
	len = (uint32_t)(size - 1 > MAX_FRAME ? MAX_FRAME : size - 1);
	memcpy(in, data + 1, len);
	prepare(meta, in, len);
	tag = prio_tag_len(t, in, len);
	out_len = len;
	memset(out_buf, 0, sizeof(out_buf));
	if (read_counters(before))
		return fail("reading counters: %s", strerror(errno));

	ifindex = (uint32_t)(t == T_FROM_POD ? *ifs[meta & 3] : fz.if_wan0);
	if (t == T_UPLINK_XDP) {
		struct xdp_md ctx = { .data_end = len,
				      .ingress_ifindex = ifindex };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in,
			    .data_size_in = len, .data_out = out,
			    .data_size_out = MAX_FRAME + 64, .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx));
		err = bpf_prog_test_run_opts(fz.prog_fd[t], &o);
		if (!err && o.data_size_out != len &&
		    (!tag || o.data_size_out != len - tag))
			return fail("xdp: output %u bytes, input %u",
				    o.data_size_out, len);
		out_len = o.data_size_out;
		if (!err)
			reason = o.retval; /* verdict, checked below */
	} else {
		struct __sk_buff ctx = { .ifindex = ifindex,
					 .ingress_ifindex = ifindex };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in,
			    .data_size_in = len, .data_out = out,
			    .data_size_out = MAX_FRAME + 64, .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx));
		err = bpf_prog_test_run_opts(fz.prog_fd[t], &o);
		if (!err && o.data_size_out != len)
			return fail("tc: output %u bytes, input %u",
				    o.data_size_out, len);
		if (!err)
			reason = o.retval;
	}
	fz.runs++;
	if (err) {
		/* I1: only sizes the kernel does not take may be refused. */
		if (!test_run_may_refuse(t, in, len))
			return fail("test_run refused a %u-byte frame: %s", len,
				    strerror(errno));
		fz.refused++;
		return true;
	}
	{
		uint32_t verdict = reason;

		if (read_counters(after))
			return fail("reading counters: %s", strerror(errno));
		reason = NSF_R_MAX;
		for (uint32_t r = 0; r < NSF_R_MAX; r++) {
			uint64_t dp = after[r].packets - before[r].packets;

			if (!dp)
				continue;
			counted += (uint32_t)dp;
			reason = r;
			if (after[r].bytes - before[r].bytes !=
			    dp * (len - tag))
				return fail(
					"%s counted %llu bytes for a "
					"%u-byte frame (%u of tag)",
					reason_str[r],
					(unsigned long long)(after[r].bytes -
							     before[r].bytes),
					len, tag);
		}
		egress_ok = has_egress_entry(in, len);
		n_added = nat_new_keys(added, 4);
		/* I2 */
		if (counted != 1)
			return fail("%u reasons counted for one frame (verdict "
				    "%u)",
				    counted, verdict);
		fz.by_reason[t][reason]++;
		coverage_edge(t, reason);
		/* I3 */
		if (verdict != verdict_of(t, reason_kind[reason]))
			return fail("%s: verdict %u", reason_str[reason],
				    verdict);
	}
	/* I4 */
	if (reason_kind[reason] == NSF_KIND_PASS &&
	    (out_len != len || memcmp(in, out, len)))
		return fail("%s: frame passed to the stack was modified",
			    reason_str[reason]);
	/* I5, on the frame without its priority tag, as it is forwarded */
	if (reason_kind[reason] == NSF_KIND_FWD && out_len != len - tag)
		return fail("%s: output %u bytes, input %u (%u of tag)",
			    reason_str[reason], out_len, len, tag);
	if (tag) {
		memcpy(untagged, in, 2 * ETH_ALEN);
		memcpy(untagged + 2 * ETH_ALEN, in + 2 * ETH_ALEN + tag,
		       len - 2 * ETH_ALEN - tag);
	}
	if (reason_kind[reason] == NSF_KIND_FWD &&
	    !check_forwarded(tag ? untagged : in, out, len - tag, reason))
		return false;
	/* I6 */
	if (reason != NSF_R_FWD_SNAT && n_added)
		return fail("%s: %d NAT entries created", reason_str[reason],
			    n_added);
	if (reason == NSF_R_FWD_SNAT && (n_added > 2 || !egress_ok))
		return fail("fwd-snat: %d NAT entries added, egress entry %s",
			    n_added, egress_ok ? "there" : "missing");
	return true;
}

#ifdef NSF_LIBFUZZER
static enum target target_from_env(void)
{
	const char *s = getenv("NSF_FUZZ_TARGET");

	for (int t = 0; s && t < T_COUNT; t++)
		if (!strcmp(s, target_names[t]))
			return (enum target)t;
	return T_FROM_POD;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz.target = target_from_env();
	if (setup())
		exit(1);
	fprintf(stderr, "fuzz: target %s\n", target_names[fz.target]);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!run_one(fz.target, data, size)) {
		fprintf(stderr, "fuzz: %s: invariant broken: %s\n",
			target_names[fz.target], fz.failure);
		abort();
	}
	return 0;
}

#else /* the TAP driver of `make test` */

#define MAX_SEEDS 128

static struct seed {
	uint8_t data[MAX_IN];
	size_t size;
	char name[256];
} seeds[MAX_SEEDS];
static int nseeds;

static int load_corpus(const char *dir)
{
	struct dirent **names;
	char path[512];
	int n = scandir(dir, &names, NULL, alphasort);

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		struct seed *s = &seeds[nseeds];
		FILE *f;

		if (names[i]->d_name[0] != '.' && nseeds < MAX_SEEDS) {
			snprintf(path, sizeof(path), "%s/%s", dir,
				 names[i]->d_name);
			f = fopen(path, "rb");
			if (f) {
				s->size = fread(s->data, 1, sizeof(s->data), f);
				fclose(f);
				snprintf(s->name, sizeof(s->name), "%s",
					 names[i]->d_name);
				nseeds++;
			}
		}
		free(names[i]);
	}
	free(names);
	return 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* A few random edits of a seed: bit flips, interesting bytes, resizing,
 * splices; header-checksum repair most of the time (metadata bit 7). */
static size_t mutate(uint8_t *buf, size_t size)
{
	static const uint8_t interesting[] = { 0,    1,	   2,	 4,    5,
					       6,    0x0f, 0x10, 0x11, 0x3f,
					       0x40, 0x45, 0x46, 0x4f, 0x7f,
					       0x80, 0xfe, 0xff };
	int edits = 1 + (int)(rng() % 4);

	for (int i = 0; i < edits; i++) {
		size_t pos = size > 1 ? 1 + rng() % (size - 1) : 0;
		/* Headers matter most: bias positions to the first 64. */
		if (size > 2 && rng() % 4)
			pos = 1 + rng() % (size - 1 < 64 ? size - 1 : 64);
		switch (rng() % 6) {
		case 0:
			buf[pos] ^= (uint8_t)(1u << (rng() % 8));
			break;
		case 1:
			buf[pos] = interesting[rng() % sizeof(interesting)];
			break;
		case 2:
			buf[pos] = (uint8_t)rng();
			break;
		case 3: /* truncate */
			size = 1 + rng() % (size > 1 ? size : 1);
			break;
		case 4: /* grow with padding */
			if (size < MAX_IN - 64) {
				size_t add = rng() % 64;

				memset(buf + size, (int)(rng() & 0xff), add);
				size += add;
			}
			break;
		default: { /* splice from another seed */
			const struct seed *o = &seeds[rng() % nseeds];
			size_t at = 1 + rng() % 60, n = rng() % 40;

			if (at + n <= size && at + n <= o->size)
				memcpy(buf + at, o->data + at, n);
		}
		}
	}
	buf[0] = (uint8_t)((buf[0] & 0x3f) | (rng() % 8 ? 0x80 : 0) |
			   (rng() % 2 ? 0x40 : 0));
	return size;
}

static int tap_n;

static void tap(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void dump_failure(const uint8_t *data, size_t size)
{
	printf("#   %s\n#   input (%zu bytes):", fz.failure, size);
	for (size_t i = 0; i < size && i < 96; i++)
		printf("%s%02x", i % 32 ? " " : "\n#     ", data[i]);
	printf("\n");
}

static void show_reasons(enum target t)
{
	printf("#   %s reasons:", target_names[t]);
	for (int r = 0; r < NSF_R_MAX; r++)
		if (fz.by_reason[t][r])
			printf(" %s=%llu", reason_str[r],
			       (unsigned long long)fz.by_reason[t][r]);
	printf("\n");
}

static void fuzz_target(enum target t, double seconds)
{
	static uint8_t buf[MAX_IN + 64];
	struct timespec t0, now;
	bool ok = true;
	uint64_t n = 0;
	size_t size = 0;
	int i;

	for (i = 0; i < nseeds && ok; i++)
		ok = run_one(t, seeds[i].data, seeds[i].size);
	tap(ok, "%s: %d seed frames keep the invariants", target_names[t],
	    nseeds);
	if (!ok) {
		printf("#   seed %s\n", seeds[i - 1].name);
		dump_failure(seeds[i - 1].data, seeds[i - 1].size);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ok = true;
	do {
		const struct seed *s = &seeds[rng() % nseeds];

		memcpy(buf, s->data, s->size);
		size = mutate(buf, s->size);
		ok = run_one(t, buf, size);
		n++;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (ok &&
		 (double)(now.tv_sec - t0.tv_sec) +
				 (double)(now.tv_nsec - t0.tv_nsec) / 1e9 <
			 seconds);
	tap(ok, "%s: %llu mutated frames keep the invariants", target_names[t],
	    (unsigned long long)n);
	if (!ok)
		dump_failure(buf, size);
	show_reasons(t);
}

int write_corpus(const char *dir);

int main(int argc, char **argv)
{
	const char *corpus = getenv("FUZZ_CORPUS");
	const char *secs = getenv("FUZZ_SECONDS");
	const char *seed = getenv("FUZZ_SEED");

	if (argc == 3 && !strcmp(argv[1], "--write-corpus"))
		return write_corpus(argv[2]) ? 1 : 0;
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (network namespace, BPF)\n");
		return 0;
	}
	if (load_corpus(corpus ? corpus : "tests/fuzz/corpus") || !nseeds) {
		printf("Bail out! no seed corpus in %s\n",
		       corpus ? corpus : "tests/fuzz/corpus");
		return 1;
	}
	if (seed)
		rng_state = strtoull(seed, NULL, 0) | 1;
	printf("1..%d\n", 2 * T_COUNT);
	printf("# seed 0x%llx, %d seed frames\n", (unsigned long long)rng_state,
	       nseeds);
	if (setup()) {
		printf("Bail out! setup failed\n");
		return 1;
	}
	for (int t = 0; t < T_COUNT; t++)
		fuzz_target((enum target)t, secs ? atof(secs) : 3.0);
	return 0;
}

#endif /* NSF_LIBFUZZER */
