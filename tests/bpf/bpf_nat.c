// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Tests for masquerading: the SNAT path of nsf_from_pod (bpf/lib/snat.h),
 * NAT port allocation (bpf/lib/nat.h), and reverse NAT of replies and ICMP
 * errors in nsf_uplink_xdp and nsf_uplink_tc (bpf/lib/rnat.h), run with
 * BPF_PROG_TEST_RUN; one case sends real packets through veths instead.
 *
 * The SNAT path asks bpf_fib_lookup() where the kernel would forward the
 * packet, so the group runs in a private network namespace (unshare(), gone
 * when the process exits) holding:
 *   pod0 / pod0p   host-side veth of pod A (10.244.0.2) and its pod end
 *   pod1 / pod1p   the same for pod B (10.244.0.3)
 *   wan0 / wan0p   the uplink, 10.99.0.2/24; default via 10.99.0.1, whose
 *                  MAC is a permanent neighbour entry; 198.51.100.0/24 via
 *                  10.99.0.3, which has none; 203.0.113.0/24 via 10.99.0.1
 *                  with a route MTU of 400
 *   oth0 / oth0p   another interface, 192.0.2.1/24
 * with forwarding on pod0 and pod1 only (what attach does) and IPv6 off,
 * so nothing but our packets ever crosses the veths.
 *
 * What BPF_PROG_TEST_RUN can and cannot show here (kernel 6.18):
 *  - tc: skb->dev is the device ctx->ifindex names (pod0, wan0) and
 *    skb->ingress_ifindex is ctx->ingress_ifindex, so bpf_fib_lookup()
 *    runs exactly as on the real hook, MTU check against skb->len
 *    included. bpf_redirect(), bpf_redirect_neigh() and
 *    bpf_redirect_peer() only record their target and return
 *    TC_ACT_REDIRECT: where the packet would go is not observable, its
 *    MACs and the counters are.
 *  - tc: ip_summed is always CHECKSUM_NONE and cannot be set from ctx, so
 *    test_run cannot show what the checksum helpers do with a
 *    CHECKSUM_PARTIAL skb. test_snat_csum_partial therefore attaches
 *    nsf_from_pod to pod0 for real, sends a TCP and a UDP frame with a
 *    virtio-net header asking for checksum offload (the skb is then
 *    CHECKSUM_PARTIAL, as a pod's own packets are) and reads what leaves
 *    wan0 on wan0p. Complete checksums are covered by every other case,
 *    by a few hundred random flows and by forced 0x0000/0xffff edges.
 *  - tc: ctx->gso_size makes skb_is_gso() true, which is all the MTU
 *    check looks at; gso_type stays 0.
 *  - XDP: ctx->ingress_ifindex must name a device (wan0); the devmap
 *    redirect returns XDP_REDIRECT only for an ifindex in nsf_tx_ports,
 *    so the fixture fills it; nothing is transmitted.
 *
 * Cases where the datapath does not do what the kernel it replaces would
 * do are asserted with the correct outcome; when the result is exactly the
 * known wrong one, the case says so in a TAP comment and is skipped.
 *
 * The three objects are loaded without pin paths; the uplink objects
 * reuse pod_ingress's maps (bpf_map__reuse_fd), so NAT state is shared as
 * it is through the pins in production, and nothing appears under
 * /sys/fs/bpf.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <linux/virtio_net.h>

#include <nsfast/maps.h>
#include <nsfast/reasons.h>

#include "nat_frames.h"
#define TESTLIB_ERROR print_error
#include "testlib.h"
#include "datapath.h"

#define HOST_IP(a, b, c, d) \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

#define POD_A	  HOST_IP(10, 244, 0, 2)
#define POD_B	  HOST_IP(10, 244, 0, 3)
#define SNAT_IP	  HOST_IP(10, 99, 0, 2)
#define PEER	  HOST_IP(198, 18, 0, 10) /* via the default route */
#define PEER2	  HOST_IP(198, 18, 0, 20)
#define ROUTER	  HOST_IP(198, 18, 7, 1)   /* sends the ICMP errors */
#define OTHER_NET HOST_IP(192, 0, 2, 7)	   /* via oth0 */
#define NO_NEIGH  HOST_IP(198, 51, 100, 7) /* via 10.99.0.3, unresolved */
#define ROUTE_MTU HOST_IP(203, 0, 113, 7)  /* route with MTU 400 */

#define PORT_MIN 61000
#define PORT_MAX 61099

#define WAN_MTU	  1500
#define SMALL_MTU 400

#define IP_DF_FLAG 0x4000 /* host order */
#define IP_MF_FLAG 0x2000

/* Endpoint ids in use (0 included, which must stay untouched). */
#define NR_IDS 3

#define ULL(x) ((unsigned long long)(x))

/* Random flows the checksum cases send. */
#define RANDOM_FLOWS 400

static const uint8_t mac_bcast[ETH_ALEN] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff
};

static const char *const reason_names[NSF_R_MAX] = {
#define REASON_NAME(name, str, kind, help) [NSF_R_##name] = str,
	NSF_REASONS(REASON_NAME)
#undef REASON_NAME
};

/* The three programs, their shared maps and the namespace's devices. */
static struct harness {
	struct pod_ingress *pod;
	struct uplink_xdp *xdp;
	struct uplink_tc *tc;
	int from_pod_fd;
	int xdp_fd;
	int tc_fd;
	int config_fd;
	int ep4_fd;
	int stats_fd;
	int counters_fd;
	int nat_fd;
	int tx_fd;
	int pol_cfg_fd;
	int pol_groups_fd;
	int pol_rules_fd;
	int pol_cidr_fd;
	int ct_fd;
	int ncpus;
	void *percpu; /* one per-CPU value of the larger kind */
	void *zeros;
	int if_pod0, if_pod0p, if_pod1, if_wan0, if_wan0p, if_oth0;
	struct nsf_endpoint ep_a;
	struct nsf_endpoint ep_b;
	struct nsf_config cfg; /* as written to nsf_config */
} h;

/* What the counters must hold: every case adds what it sent. */
static struct model {
	struct nsf_counter ctr[NSF_MAX_REASONS];
	struct nsf_ep_stats ep[NR_IDS];
} want_ctr;

struct result {
	int err;
	uint32_t retval;
	struct frame out;
};

/* A masqueraded flow as the pod sees it. Addresses in network order,
 * ports in host order; ICMP echo: pod_port is the identifier, peer_port 0. */
struct flow {
	uint8_t proto;
	const struct nsf_endpoint *ep;
	uint32_t pod;
	uint16_t pod_port;
	uint32_t peer;
	uint16_t peer_port;
};

enum path {
	PATH_XDP,
	PATH_TC
};

/* ---- namespace ---------------------------------------------------------- */

static int set_forwarding(const char *dev)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding",
		 dev);
	return write_file(path, "1");
}

/* The MAC the kernel reports for @name must be the one we gave it. */
static int check_mac(const char *name, const uint8_t mac[ETH_ALEN])
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int err = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		err = -errno;
	else if (memcmp(ifr.ifr_hwaddr.sa_data, mac, ETH_ALEN))
		err = -EINVAL;
	close(fd);
	if (err)
		print_error("MAC of %s: %s\n", name, strerror(-err));
	return err;
}

/* The network described at the top of the file, in a new namespace. */
static int make_netns(void)
{
	static const char *const up[] = { "lo",	   "pod0",  "pod0p",
					  "pod1",  "pod1p", "wan0",
					  "wan0p", "oth0",  "oth0p" };
	size_t i;
	int err;

	if (unshare(CLONE_NEWNET)) {
		print_error("unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -errno;
	}
	/* No router solicitations or MLD reports on the veths. */
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	err = veth("pod0", mac_pod0, "pod0p", mac_pod0p);
	err = err ?: veth("pod1", mac_pod1, "pod1p", mac_pod1p);
	err = err ?: veth("wan0", mac_wan0, "wan0p", mac_wan0p);
	err = err ?: veth("oth0", NULL, "oth0p", NULL);
	for (i = 0; !err && i < sizeof(up) / sizeof(up[0]); i++)
		err = sh("ip link set %s up", up[i]);
	err = err ?: sh("ip addr add 10.99.0.2/24 dev wan0");
	err = err ?: sh("ip addr add 192.0.2.1/24 dev oth0");
	err = err ?: sh("ip route add default via 10.99.0.1 dev wan0");
	err = err ?: sh("ip route add 198.51.100.0/24 via 10.99.0.3 dev wan0");
	if (!err)
		/* Locked: bpf_fib_lookup() honours a route's MTU only then
		 * (or with net.ipv4.ip_forward_use_pmtu=1). */
		err = sh("ip route add 203.0.113.0/24 via 10.99.0.1 "
			 "dev wan0 mtu lock %d",
			 SMALL_MTU);
	if (!err)
		err = sh("ip neigh add 10.99.0.1 lladdr %s "
			 "dev wan0 nud permanent",
			 mac_str(mac_gw));
	err = err ?: set_forwarding("pod0");
	err = err ?: set_forwarding("pod1");
	err = err ?: if_index("pod0", &h.if_pod0);
	err = err ?: if_index("pod0p", &h.if_pod0p);
	err = err ?: if_index("pod1", &h.if_pod1);
	err = err ?: if_index("wan0", &h.if_wan0);
	err = err ?: if_index("wan0p", &h.if_wan0p);
	err = err ?: if_index("oth0", &h.if_oth0);
	err = err ?: check_mac("pod0", mac_pod0);
	err = err ?: check_mac("wan0", mac_wan0);
	return err;
}

/* ---- map state ---------------------------------------------------------- */

static int write_config(uint16_t port_min, uint16_t port_max)
{
	uint32_t zero = 0;

	h.cfg = (struct nsf_config){
		.pod_net4 = htonl(HOST_IP(10, 244, 0, 0)),
		.pod_mask4 = htonl(0xffff0000),
		.gateway4 = htonl(NSF_GATEWAY4),
		.uplink_ifindex = (uint32_t)h.if_wan0,
		.snat4 = htonl(SNAT_IP),
		.nat_port_min = port_min,
		.nat_port_max = port_max,
	};
	if (bpf_map_update_elem(h.config_fd, &zero, &h.cfg, BPF_ANY))
		return -errno;
	return 0;
}

static int add_endpoint(uint32_t addr, const struct nsf_endpoint *ep)
{
	uint32_t key = htonl(addr);

	return bpf_map_update_elem(h.ep4_fd, &key, ep, BPF_ANY) ? -errno : 0;
}

static int add_tx_port(int ifindex)
{
	struct bpf_devmap_val val = { .ifindex = (uint32_t)ifindex };
	uint32_t key = (uint32_t)ifindex;

	return bpf_map_update_elem(h.tx_fd, &key, &val, BPF_ANY) ? -errno : 0;
}

/* Policy off and empty: what a policy test leaves is gone. */
static int policy_reset(void)
{
	struct nsf_pol_cfg cfg = { 0 };
	struct nsf_pol_group g = { 0 };
	struct nsf_pol_cidr_key ck;
	struct nsf_pol_key rk;
	struct nsf_ct_key ctk;
	uint32_t key = 0;
	int err;

	if (bpf_map_update_elem(h.pol_cfg_fd, &key, &cfg, BPF_ANY))
		return -errno;
	for (; key < NSF_POL_MAX_GROUPS; key++)
		if (bpf_map_update_elem(h.pol_groups_fd, &key, &g, BPF_ANY))
			return -errno;
	err = clear_map(h.pol_rules_fd, &rk);
	err = err ?: clear_map(h.pol_cidr_fd, &ck);
	return err ?: clear_map(h.ct_fd, &ctk);
}

/* Empty NAT table, zero counters, default config, endpoints A and B. */
static int fixture_reset(void)
{
	struct nsf_nat_key nk;
	uint32_t key;
	int err;

	err = clear_map(h.ep4_fd, &key);
	err = err ?: clear_map(h.nat_fd, &nk);
	err = err ?: policy_reset();
	for (key = 0; !err && key < NSF_MAX_REASONS; key++)
		if (bpf_map_update_elem(h.counters_fd, &key, h.zeros, BPF_ANY))
			err = -errno;
	for (key = 0; !err && key < NR_IDS; key++)
		if (bpf_map_update_elem(h.stats_fd, &key, h.zeros, BPF_ANY))
			err = -errno;
	err = err ?: write_config(PORT_MIN, PORT_MAX);
	err = err ?: add_endpoint(POD_A, &h.ep_a);
	err = err ?: add_endpoint(POD_B, &h.ep_b);
	err = err ?: add_tx_port(h.if_pod0);
	err = err ?: add_tx_port(h.if_pod1);
	if (err)
		print_error("fixture reset: %s\n", strerror(-err));
	memset(&want_ctr, 0, sizeof(want_ctr));
	return err;
}

static void reset(void)
{
	assert_int_equal(fixture_reset(), 0);
}

static void set_ports(uint16_t port_min, uint16_t port_max)
{
	assert_int_equal(write_config(port_min, port_max), 0);
}

/* ---- running the programs ----------------------------------------------- */

static void run_skb(int prog_fd, const struct frame *in, struct __sk_buff *ctx,
		    struct result *r)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in->data,
		    .data_size_in = in->len, .data_out = r->out.data,
		    .data_size_out = sizeof(r->out.data), .ctx_in = ctx,
		    .ctx_size_in = sizeof(*ctx));

	memset(&r->out, 0, sizeof(r->out));
	r->err = bpf_prog_test_run_opts(prog_fd, &opts);
	r->retval = opts.retval;
	r->out.len = r->err ? 0 : opts.data_size_out;
}

/* nsf_from_pod, as on tc ingress of the host-side veth @ifindex. */
static void run_from(const struct frame *in, int ifindex, struct result *r)
{
	struct __sk_buff ctx = {
		.ifindex = (uint32_t)ifindex,
		.ingress_ifindex = (uint32_t)ifindex,
	};

	run_skb(h.from_pod_fd, in, &ctx, r);
}

static void run_xdp(const struct frame *in, struct result *r)
{
	struct xdp_md ctx = {
		.data_end = in->len,
		.ingress_ifindex = (uint32_t)h.if_wan0,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in->data,
		    .data_size_in = in->len, .data_out = r->out.data,
		    .data_size_out = sizeof(r->out.data), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx));

	memset(&r->out, 0, sizeof(r->out));
	r->err = bpf_prog_test_run_opts(h.xdp_fd, &opts);
	r->retval = opts.retval;
	r->out.len = r->err ? 0 : opts.data_size_out;
}

/* nsf_uplink_xdp, or nsf_uplink_tc on tc ingress of wan0. */
static void run_up(enum path p, const struct frame *in, struct result *r)
{
	struct __sk_buff ctx = {
		.ifindex = (uint32_t)h.if_wan0,
		.ingress_ifindex = (uint32_t)h.if_wan0,
	};

	if (p == PATH_XDP)
		run_xdp(in, r);
	else
		run_skb(h.tc_fd, in, &ctx, r);
}

static uint32_t act_redirect(enum path p)
{
	return p == PATH_XDP ? XDP_REDIRECT : TC_ACT_REDIRECT;
}

static uint32_t act_pass(enum path p)
{
	return p == PATH_XDP ? XDP_PASS : TC_ACT_OK;
}

static uint32_t act_drop(enum path p)
{
	return p == PATH_XDP ? XDP_DROP : TC_ACT_SHOT;
}

/* ---- counters ----------------------------------------------------------- */

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_ICMP:
		return "icmp";
	default:
		return "other";
	}
}

static const char *reason_name(uint32_t r)
{
	return r < NSF_R_MAX ? reason_names[r] : "(unused)";
}

static void count(uint32_t reason, uint32_t len)
{
	want_ctr.ctr[reason].packets++;
	want_ctr.ctr[reason].bytes += len;
}

static void count_from_pod(const struct nsf_endpoint *ep, uint32_t len)
{
	want_ctr.ep[ep->id].c[NSF_EP_FROM_POD].packets++;
	want_ctr.ep[ep->id].c[NSF_EP_FROM_POD].bytes += len;
}

static void count_to_pod(const struct nsf_endpoint *ep, uint32_t len)
{
	want_ctr.ep[ep->id].c[NSF_EP_TO_POD].packets++;
	want_ctr.ep[ep->id].c[NSF_EP_TO_POD].bytes += len;
}

static void count_fallback(const struct nsf_endpoint *ep, uint32_t len)
{
	want_ctr.ep[ep->id].c[NSF_EP_FALLBACK].packets++;
	want_ctr.ep[ep->id].c[NSF_EP_FALLBACK].bytes += len;
}

static void count_drop(const struct nsf_endpoint *ep, uint32_t len)
{
	want_ctr.ep[ep->id].c[NSF_EP_DROP].packets++;
	want_ctr.ep[ep->id].c[NSF_EP_DROP].bytes += len;
}

/* The packets counted under @reason, all CPUs. */
static uint64_t counter_packets(uint32_t reason)
{
	const struct nsf_counter *v = h.percpu;
	uint64_t sum = 0;
	int i;

	if (bpf_map_lookup_elem(h.counters_fd, &reason, h.percpu))
		fail_msg("nsf_counters[%u]: %s", reason, strerror(errno));
	for (i = 0; i < h.ncpus; i++)
		sum += v[i].packets;
	return sum;
}

static uint64_t ep_to_pod_packets(uint32_t id)
{
	const struct nsf_ep_stats *v = h.percpu;
	uint64_t sum = 0;
	int i;

	if (bpf_map_lookup_elem(h.stats_fd, &id, h.percpu))
		fail_msg("nsf_ep_stats[%u]: %s", id, strerror(errno));
	for (i = 0; i < h.ncpus; i++)
		sum += v[i].c[NSF_EP_TO_POD].packets;
	return sum;
}

#define STATS_FMT \
	"from %llu/%llu to %llu/%llu fallback %llu/%llu drop %llu/%llu"
#define STATS_ARGS(s)                                \
	ULL((s).c[NSF_EP_FROM_POD].packets),         \
		ULL((s).c[NSF_EP_FROM_POD].bytes),   \
		ULL((s).c[NSF_EP_TO_POD].packets),   \
		ULL((s).c[NSF_EP_TO_POD].bytes),     \
		ULL((s).c[NSF_EP_FALLBACK].packets), \
		ULL((s).c[NSF_EP_FALLBACK].bytes),   \
		ULL((s).c[NSF_EP_DROP].packets), ULL((s).c[NSF_EP_DROP].bytes)

/* Every reason counter and every endpoint in use hold what the model says. */
static void expect_counters(void)
{
	uint32_t key;
	int i;

	for (key = 0; key < NSF_MAX_REASONS; key++) {
		const struct nsf_counter *v = h.percpu;
		struct nsf_counter sum = { 0 }, *w = &want_ctr.ctr[key];

		if (bpf_map_lookup_elem(h.counters_fd, &key, h.percpu))
			fail_msg("nsf_counters[%u]: %s", key, strerror(errno));
		for (i = 0; i < h.ncpus; i++) {
			sum.packets += v[i].packets;
			sum.bytes += v[i].bytes;
		}
		if (sum.packets != w->packets || sum.bytes != w->bytes)
			fail_msg("counter %s: %llu packets %llu bytes, want "
				 "%llu/%llu",
				 reason_name(key), ULL(sum.packets),
				 ULL(sum.bytes), ULL(w->packets),
				 ULL(w->bytes));
	}
	for (key = 0; key < NR_IDS; key++) {
		const struct nsf_ep_stats *v = h.percpu;
		struct nsf_ep_stats sum = { 0 }, *w = &want_ctr.ep[key];

		if (bpf_map_lookup_elem(h.stats_fd, &key, h.percpu))
			fail_msg("nsf_ep_stats[%u]: %s", key, strerror(errno));
		for (i = 0; i < h.ncpus; i++) {
			sum.c[NSF_EP_FROM_POD].packets +=
				v[i].c[NSF_EP_FROM_POD].packets;
			sum.c[NSF_EP_FROM_POD].bytes +=
				v[i].c[NSF_EP_FROM_POD].bytes;
			sum.c[NSF_EP_TO_POD].packets +=
				v[i].c[NSF_EP_TO_POD].packets;
			sum.c[NSF_EP_TO_POD].bytes +=
				v[i].c[NSF_EP_TO_POD].bytes;
			sum.c[NSF_EP_FALLBACK].packets +=
				v[i].c[NSF_EP_FALLBACK].packets;
			sum.c[NSF_EP_FALLBACK].bytes +=
				v[i].c[NSF_EP_FALLBACK].bytes;
			sum.c[NSF_EP_DROP].packets +=
				v[i].c[NSF_EP_DROP].packets;
			sum.c[NSF_EP_DROP].bytes += v[i].c[NSF_EP_DROP].bytes;
		}
		if (memcmp(&sum, w, sizeof(sum)))
			fail_msg("ep %u: " STATS_FMT ", want " STATS_FMT, key,
				 STATS_ARGS(sum), STATS_ARGS(*w));
	}
}

/* ---- NAT table ---------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *key_str(const struct nsf_nat_key *k)
{
	static char buf[2][96];
	static int n;
	char *s = buf[n++ % 2], a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &k->saddr, a, sizeof(a));
	inet_ntop(AF_INET, &k->daddr, b, sizeof(b));
	snprintf(s, 96, "%s %s:%u -> %s:%u proto %u", k->dir ? "in" : "eg", a,
		 ntohs(k->sport), b, ntohs(k->dport), k->proto);
	return s;
}

static size_t nat_count(void)
{
	struct nsf_nat_key k, next;
	size_t n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(h.nat_fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

static void expect_nat_count(size_t n)
{
	size_t got = nat_count();

	if (got != n)
		fail_msg("NAT table holds %zu entries, want %zu", got, n);
}

static struct nsf_nat_key nat_key(uint8_t dir, uint32_t saddr, uint32_t daddr,
				  uint16_t sport, uint16_t dport, uint8_t proto)
{
	struct nsf_nat_key k = {
		.saddr = saddr,
		.daddr = daddr,
		.sport = htons(sport),
		.dport = htons(dport),
		.proto = proto,
		.dir = dir,
	};

	return k;
}

static struct nsf_nat_key egress_key(const struct flow *fl)
{
	return nat_key(NSF_NAT_EGRESS, fl->pod, fl->peer, fl->pod_port,
		       fl->peer_port, fl->proto);
}

static struct nsf_nat_key ingress_key(const struct flow *fl, uint16_t port)
{
	return nat_key(NSF_NAT_INGRESS, fl->peer, htonl(SNAT_IP), fl->peer_port,
		       port, fl->proto);
}

static bool nat_get(const struct nsf_nat_key *k, struct nsf_nat_entry *e)
{
	return !bpf_map_lookup_elem(h.nat_fd, k, e);
}

static void nat_put(const struct nsf_nat_key *k, const struct nsf_nat_entry *e)
{
	if (bpf_map_update_elem(h.nat_fd, k, e, BPF_NOEXIST))
		fail_msg("insert %s: %s", key_str(k), strerror(errno));
}

/* The entry under @k maps to @addr:@port and has seen what it should. */
static void expect_entry(const struct nsf_nat_key *k, uint32_t addr,
			 uint16_t port, uint64_t packets, uint64_t bytes,
			 uint32_t seen)
{
	uint64_t now = now_ns();
	struct nsf_nat_entry e;

	if (!nat_get(k, &e))
		fail_msg("no NAT entry %s", key_str(k));
	if (e.addr != addr || e.port != htons(port))
		fail_msg("%s maps to %08x:%u, want %08x:%u", key_str(k),
			 ntohl(e.addr), ntohs(e.port), ntohl(addr), port);
	if (e.pad || e.reserved)
		fail_msg("%s: pad %u reserved %u", key_str(k), e.pad,
			 e.reserved);
	if (e.packets != packets || e.bytes != bytes)
		fail_msg("%s: %llu packets %llu bytes, want %llu/%llu",
			 key_str(k), ULL(e.packets), ULL(e.bytes), ULL(packets),
			 ULL(bytes));
	if (e.seen != seen)
		fail_msg("%s: seen 0x%x, want 0x%x", key_str(k), e.seen, seen);
	if (!e.created || e.created > e.last_seen || e.last_seen > now)
		fail_msg("%s: created %llu last_seen %llu now %llu", key_str(k),
			 ULL(e.created), ULL(e.last_seen), ULL(now));
}

/* Egress and ingress entries of @fl, masqueraded to @port. */
static void expect_flow(const struct flow *fl, uint16_t port, uint64_t eg_pkts,
			uint64_t eg_bytes, uint32_t eg_seen, uint64_t in_pkts,
			uint64_t in_bytes, uint32_t in_seen)
{
	struct nsf_nat_key eg = egress_key(fl), in = ingress_key(fl, port);

	expect_entry(&eg, htonl(SNAT_IP), port, eg_pkts, eg_bytes, eg_seen);
	expect_entry(&in, fl->pod, fl->pod_port, in_pkts, in_bytes, in_seen);
}

/* ---- frames ------------------------------------------------------------- */

static struct flow mkflow(uint8_t proto, const struct nsf_endpoint *ep,
			  uint32_t pod, uint16_t pod_port, uint32_t peer,
			  uint16_t peer_port)
{
	struct flow fl = {
		.proto = proto,
		.ep = ep,
		.pod = htonl(pod),
		.pod_port = pod_port,
		.peer = htonl(peer),
		.peer_port = proto == IPPROTO_ICMP ? 0 : peer_port,
	};

	return fl;
}

/* A's flow to PEER: UDP 40000 -> 53, TCP 40001 -> 443, ICMP echo 0x4242. */
static struct flow flow_a(uint8_t proto)
{
	if (proto == IPPROTO_TCP)
		return mkflow(proto, &h.ep_a, POD_A, 40001, PEER, 443);
	if (proto == IPPROTO_UDP)
		return mkflow(proto, &h.ep_a, POD_A, 40000, PEER, 53);
	return mkflow(proto, &h.ep_a, POD_A, 0x4242, PEER, 0);
}

/* A packet of @fl as its pod sends it: to the gateway MAC, DF set. */
static struct iphdr *build_egress(struct frame *f, const struct flow *fl,
				  uint8_t tcp_flags, uint16_t payload)
{
	struct ipv4_spec s = {
		.saddr = fl->pod,
		.daddr = fl->peer,
		.proto = fl->proto,
		.ttl = 64,
		.frag_off = IP_DF_FLAG,
		.payload = payload,
	};
	struct iphdr *ip;

	frame_eth(f, fl->ep->host_mac, fl->ep->pod_mac, ETH_P_IP);
	ip = frame_ipv4(f, &s);
	nf_set_sport(ip, fl->pod_port);
	nf_set_dport(ip, fl->peer_port);
	if (fl->proto == IPPROTO_TCP)
		nf_l4(ip)[13] = tcp_flags;
	nf_set_csums(ip);
	return ip;
}

/* The world's reply to @fl, masqueraded to @port, as it reaches wan0. */
static struct iphdr *build_reply(struct frame *f, const struct flow *fl,
				 uint16_t port, uint8_t tcp_flags,
				 uint16_t payload)
{
	struct ipv4_spec s = {
		.saddr = fl->peer,
		.daddr = htonl(SNAT_IP),
		.proto = fl->proto,
		.ttl = 57,
		.frag_off = IP_DF_FLAG,
		.payload = payload,
	};
	struct iphdr *ip;

	frame_eth(f, mac_wan0, mac_gw, ETH_P_IP);
	ip = frame_ipv4(f, &s);
	if (fl->proto == IPPROTO_ICMP) {
		nf_l4(ip)[0] = NF_ICMP_ECHOREPLY;
		nf_set_sport(ip, port);
	} else {
		nf_set_sport(ip, fl->peer_port);
		nf_set_dport(ip, port);
	}
	if (fl->proto == IPPROTO_TCP)
		nf_l4(ip)[13] = tcp_flags;
	nf_set_csums(ip);
	return ip;
}

/* Give a UDP packet "no checksum". */
static void udp_no_csum(struct iphdr *ip)
{
	nf_put16(nf_l4(ip) + 6, 0);
}

/* @in as the uplink must send it, masqueraded to @port; checksums are
 * left as in @in for expect_translated() to judge. */
static void want_snat(struct frame *want, const struct frame *in, uint16_t port,
		      bool resolved)
{
	struct iphdr *ip;

	*want = *in;
	ip = frame_ip_hdr(want);
	if (resolved) {
		memcpy(frame_eth_hdr(want)->h_dest, mac_gw, ETH_ALEN);
		memcpy(frame_eth_hdr(want)->h_source, mac_wan0, ETH_ALEN);
	}
	ip->ttl--;
	ip->saddr = htonl(SNAT_IP);
	nf_set_sport(ip, port);
}

/* @in, a reply of @fl, as the pod must receive it. */
static void want_rnat(struct frame *want, const struct frame *in,
		      const struct flow *fl)
{
	struct iphdr *ip;

	*want = *in;
	ip = frame_ip_hdr(want);
	memcpy(frame_eth_hdr(want)->h_dest, fl->ep->pod_mac, ETH_ALEN);
	memcpy(frame_eth_hdr(want)->h_source, fl->ep->host_mac, ETH_ALEN);
	ip->ttl--;
	ip->daddr = fl->pod;
	if (fl->proto == IPPROTO_ICMP)
		nf_set_sport(ip, fl->pod_port);
	else
		nf_set_dport(ip, fl->pod_port);
}

/* ---- expectations ------------------------------------------------------- */

static void expect_retval(const struct result *r, uint32_t want)
{
	if (r->err)
		fail_msg("test_run: %s", strerror(-r->err));
	if (r->retval != want)
		fail_msg("retval %u, want %u", r->retval, want);
}

static void expect_frame(const struct frame *want, const struct frame *got)
{
	long off = frame_diff(want, got);

	if (off < 0)
		return;
	if (got->len != want->len)
		fail_msg("output %u bytes, want %u", got->len, want->len);
	fail_msg("output byte %ld is 0x%02x, want 0x%02x", off, got->data[off],
		 want->data[off]);
}

/* The header checksum of @ip, recomputed from scratch. */
static uint16_t ip_csum_scratch(const struct iphdr *ip)
{
	uint8_t hdr[60];
	struct iphdr *copy = (struct iphdr *)hdr;

	memcpy(hdr, ip, ip->ihl * 4u);
	copy->check = 0;
	return (uint16_t)~csum_fold(csum_add(0, hdr, ip->ihl * 4u));
}

static void expect_ip_csum(const struct iphdr *ip, const char *what)
{
	uint16_t got = csum_get(&ip->check), want = ip_csum_scratch(ip);

	if (!nf_csum_equiv(got, want) || !ipv4_csum_valid(ip))
		fail_msg("%s header checksum 0x%04x, recomputed 0x%04x", what,
			 got, want);
}

/* The L4 checksum of the @len bytes at @l4 (under @ip), from scratch. */
static uint16_t l4_csum_scratch(const struct iphdr *ip, const uint8_t *l4,
				uint16_t len)
{
	uint8_t buf[FRAME_MAX];
	size_t off = nf_csum_off(ip->protocol);
	uint16_t c;

	memcpy(buf, l4, len);
	nf_put16(buf + off, 0);
	c = (uint16_t)~csum_fold(nf_l4_sum(ip, buf, len));
	if (ip->protocol == IPPROTO_UDP && !c)
		c = 0xffff;
	return c;
}

/* UDP must match exactly (0 means "none"); the others up to 0 == -0. */
static bool l4_csum_matches(uint8_t proto, uint16_t got, uint16_t want)
{
	return proto == IPPROTO_UDP ? got == want : nf_csum_equiv(got, want);
}

static void expect_l4_csum(const struct iphdr *ip, const uint8_t *l4,
			   uint16_t len, const char *what)
{
	uint16_t got = nf_get16(l4 + nf_csum_off(ip->protocol));
	uint16_t want = l4_csum_scratch(ip, l4, len);

	if (!l4_csum_matches(ip->protocol, got, want) ||
	    !nf_l4_csum_valid(ip, l4, len))
		fail_msg("%s checksum 0x%04x, recomputed 0x%04x", what, got,
			 want);
}

/*
 * @out must be @want once its checksums are judged: each is recomputed
 * from scratch over @out and must match (UDP "no checksum" in @want must
 * stay 0), then copied into @want and the frames compared byte for byte.
 */
static void expect_translated(struct frame *want, struct frame *out)
{
	struct iphdr *wip = frame_ip_hdr(want), *oip = frame_ip_hdr(out);
	size_t off = nf_csum_off(wip->protocol);
	uint8_t *wl4 = nf_l4(wip), *ol4 = nf_l4(oip);

	if (out->len != want->len)
		fail_msg("output %u bytes, want %u", out->len, want->len);
	expect_ip_csum(oip, "IPv4");
	if (off && !(wip->protocol == IPPROTO_UDP && !nf_get16(wl4 + off))) {
		expect_l4_csum(oip, ol4, nf_l4_len(oip), "L4");
		memcpy(wl4 + off, ol4 + off, 2);
	}
	wip->check = oip->check;
	expect_frame(want, out);
}

/* ---- sending ------------------------------------------------------------ */

/*
 * Send @in, a packet of @fl, through nsf_from_pod: it must leave through
 * the uplink masqueraded to a port of the configured range, with the
 * neighbour's MACs (@resolved) or its own. Returns the port; the output
 * goes to @out if not NULL.
 */
static uint16_t send_snat_out(const struct frame *in, const struct flow *fl,
			      bool resolved, struct frame *out)
{
	struct frame want;
	struct result r;
	uint16_t port;

	run_from(in, (int)fl->ep->ifindex, &r);
	expect_retval(&r, TC_ACT_REDIRECT);
	if (r.out.len < ETH_HLEN + sizeof(struct iphdr) + 8)
		fail_msg("output of %u bytes", r.out.len);
	port = nf_sport(frame_ip_hdr(&r.out));
	if ((port < h.cfg.nat_port_min || port > h.cfg.nat_port_max) &&
	    (port < h.cfg.nat_port_min2 || port > h.cfg.nat_port_max2))
		fail_msg("NAT port %u outside %u-%u and %u-%u", port,
			 h.cfg.nat_port_min, h.cfg.nat_port_max,
			 h.cfg.nat_port_min2, h.cfg.nat_port_max2);
	want_snat(&want, in, port, resolved);
	expect_translated(&want, &r.out);
	count(NSF_R_FWD_SNAT, in->len);
	count_from_pod(fl->ep, in->len);
	expect_counters();
	if (out)
		*out = r.out;
	return port;
}

static uint16_t send_snat(const struct frame *in, const struct flow *fl)
{
	return send_snat_out(in, fl, true, NULL);
}

/* @in from @fl's pod is not masqueraded: @retval, @reason, unchanged. */
static void send_snat_not(const struct frame *in, const struct flow *fl,
			  uint32_t retval, uint32_t reason)
{
	struct result r;

	run_from(in, (int)fl->ep->ifindex, &r);
	expect_retval(&r, retval);
	expect_frame(in, &r.out);
	count(reason, in->len);
	if (retval == TC_ACT_SHOT)
		count_drop(fl->ep, in->len);
	else
		count_fallback(fl->ep, in->len);
	expect_counters();
}

/* A reply of @fl goes back to its pod: frame, verdict and counters. */
static void send_reply(enum path p, const struct frame *in,
		       const struct flow *fl)
{
	struct frame want;
	struct result r;

	run_up(p, in, &r);
	expect_retval(&r, act_redirect(p));
	want_rnat(&want, in, fl);
	expect_translated(&want, &r.out);
	count(NSF_R_FWD_RNAT, in->len);
	count_to_pod(fl->ep, in->len);
	expect_counters();
}

/* @in reaches the uplink and is not ours: @retval for @reason, untouched. */
/* The same, counted as @len bytes (XDP counts a frame behind a priority
 * tag without it). */
static void send_up_not_len(enum path p, const struct frame *in,
			    uint32_t retval, uint32_t reason, uint32_t len)
{
	struct result r;

	run_up(p, in, &r);
	expect_retval(&r, retval);
	expect_frame(in, &r.out);
	count(reason, len);
	expect_counters();
}

static void send_up_not(enum path p, const struct frame *in, uint32_t retval,
			uint32_t reason)
{
	send_up_not_len(p, in, retval, reason, in->len);
}

static uint32_t l3_len(const struct frame *f)
{
	return f->len - ETH_HLEN;
}

/*
 * A way the datapath once went wrong (each use explains it), now fixed:
 * if @regressed holds, fail with that explanation; otherwise the case goes
 * on to assert the full correct outcome.
 */
#define FIXED_BUG(regressed, ...)                             \
	do {                                                  \
		if (regressed)                                \
			fail_msg("regression: " __VA_ARGS__); \
	} while (0)

/* ---- 1. SNAT ------------------------------------------------------------ */

static struct nsf_nat_entry entry_of(const struct nsf_nat_key *k)
{
	struct nsf_nat_entry e;

	if (!nat_get(k, &e))
		fail_msg("no NAT entry %s", key_str(k));
	return e;
}

/*
 * A first packet of @proto creates the flow's two entries; a second one
 * reuses its port and is counted on the egress entry only.
 */
static void check_snat_proto(uint8_t proto)
{
	struct flow fl = flow_a(proto);
	uint8_t flags = NF_TCP_SYN;
	uint32_t seen = proto == IPPROTO_TCP ? NSF_SEEN_SYN : 0;
	struct nsf_nat_entry first, second;
	struct nsf_nat_key eg = egress_key(&fl);
	struct frame f1, f2;
	uint16_t port;

	reset();
	build_egress(&f1, &fl, flags, 32);
	port = send_snat(&f1, &fl);
	expect_nat_count(2);
	expect_flow(&fl, port, 1, l3_len(&f1), seen, 0, 0, 0);
	first = entry_of(&eg);

	build_egress(&f2, &fl, NF_TCP_ACK, 100);
	if (proto == IPPROTO_ICMP)
		nf_put16(nf_l4(frame_ip_hdr(&f2)) + 6, 8); /* next sequence */
	nf_set_csums(frame_ip_hdr(&f2));
	if (proto == IPPROTO_TCP)
		seen |= NSF_SEEN_ACK;
	assert_int_equal(send_snat(&f2, &fl), port);
	expect_nat_count(2);
	expect_flow(&fl, port, 2, l3_len(&f1) + l3_len(&f2), seen, 0, 0, 0);
	second = entry_of(&eg);
	if (second.created != first.created ||
	    second.last_seen < first.last_seen)
		fail_msg("created %llu -> %llu, last_seen %llu -> %llu",
			 ULL(first.created), ULL(second.created),
			 ULL(first.last_seen), ULL(second.last_seen));
}

static void test_snat_udp(void **state)
{
	(void)state;
	check_snat_proto(IPPROTO_UDP);
}

static void test_snat_tcp(void **state)
{
	(void)state;
	check_snat_proto(IPPROTO_TCP);
}

static void test_snat_icmp_echo(void **state)
{
	(void)state;
	check_snat_proto(IPPROTO_ICMP);
}

/* The pod's TCP flags accumulate in the egress entry (nat.h tcp_seen():
 * SYN, else ACK; FIN and RST on top). */
static void test_snat_tcp_seen(void **state)
{
	static const struct {
		uint8_t flags;
		uint32_t seen; /* accumulated */
	} steps[] = {
		{ NF_TCP_SYN, NSF_SEEN_SYN },
		{ NF_TCP_ACK, NSF_SEEN_SYN | NSF_SEEN_ACK },
		{ NF_TCP_ACK | NF_TCP_PSH, NSF_SEEN_SYN | NSF_SEEN_ACK },
		{ NF_TCP_FIN | NF_TCP_ACK,
		  NSF_SEEN_SYN | NSF_SEEN_ACK | NSF_SEEN_FIN },
		{ NF_TCP_RST,
		  NSF_SEEN_SYN | NSF_SEEN_ACK | NSF_SEEN_FIN | NSF_SEEN_RST },
	};
	struct flow fl = flow_a(IPPROTO_TCP);
	uint64_t bytes = 0;
	uint16_t port = 0;
	struct frame f;
	size_t i;

	(void)state;
	reset();
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		build_egress(&f, &fl, steps[i].flags, 8);
		bytes += l3_len(&f);
		if (!i)
			port = send_snat(&f, &fl);
		else
			assert_int_equal(send_snat(&f, &fl), port);
		expect_flow(&fl, port, i + 1, bytes, steps[i].seen, 0, 0, 0);
	}
	/* A SYN with ACK (as a pod answering would send) is a SYN. */
	reset();
	build_egress(&f, &fl, NF_TCP_SYN | NF_TCP_ACK, 0);
	port = send_snat(&f, &fl);
	expect_flow(&fl, port, 1, l3_len(&f), NSF_SEEN_SYN, 0, 0, 0);
}

/* UDP without a checksum keeps none. */
static void test_snat_udp_no_csum(void **state)
{
	struct flow fl = flow_a(IPPROTO_UDP);
	struct frame f;
	uint16_t port;

	(void)state;
	reset();
	udp_no_csum(build_egress(&f, &fl, 0, 40));
	port = send_snat(&f, &fl);
	expect_flow(&fl, port, 1, l3_len(&f), 0, 0, 0, 0);
}

/* Two pods, same source port, same destination: two different ports. */
static void test_snat_two_pods(void **state)
{
	struct flow fa = flow_a(IPPROTO_UDP);
	struct flow fb = mkflow(IPPROTO_UDP, &h.ep_b, POD_B, fa.pod_port, PEER,
				fa.peer_port);
	struct frame f;
	uint16_t pa, pb;

	(void)state;
	reset();
	build_egress(&f, &fa, 0, 16);
	pa = send_snat(&f, &fa);
	build_egress(&f, &fb, 0, 16);
	pb = send_snat(&f, &fb);
	if (pa == pb)
		fail_msg("both pods masqueraded to port %u", pa);
	expect_nat_count(4);
	expect_flow(&fa, pa, 1, l3_len(&f), 0, 0, 0, 0);
	expect_flow(&fb, pb, 1, l3_len(&f), 0, 0, 0, 0);
}

/* Routed elsewhere than the uplink: the kernel's, untouched, no state. */
static void test_snat_not_uplink(void **state)
{
	static const uint32_t dests[] = {
		OTHER_NET,		 /* on-link via oth0 */
		SNAT_IP,		 /* the host's uplink address */
		HOST_IP(192, 0, 2, 1),	 /* the host's address on oth0 */
		HOST_IP(127, 0, 0, 1),	 /* loopback */
		HOST_IP(10, 99, 0, 255), /* the uplink subnet's broadcast */
	};
	static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP,
					  IPPROTO_ICMP };
	struct frame f;
	size_t i, j;

	(void)state;
	reset();
	for (i = 0; i < sizeof(dests) / sizeof(dests[0]); i++) {
		for (j = 0; j < sizeof(protos); j++) {
			struct flow fl = flow_a(protos[j]);

			fl.peer = htonl(dests[i]);
			build_egress(&f, &fl, NF_TCP_SYN, 20);
			send_snat_not(&f, &fl, TC_ACT_OK,
				      NSF_R_PASS_NOT_UPLINK);
		}
	}
	expect_nat_count(0);
}

/* Routed to the uplink but not masqueradable: dropped, no state. */
static void test_snat_drop_no_nat(void **state)
{
	struct flow fl = flow_a(IPPROTO_UDP);
	struct iphdr *ip;
	struct frame f;

	(void)state;
	reset();
	/* First fragment (MF), then a later one (offset 185 * 8). */
	ip = build_egress(&f, &fl, 0, 64);
	ip->frag_off = htons(IP_MF_FLAG);
	ipv4_set_csum(ip);
	send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_NO_NAT);
	ip->frag_off = htons(185);
	ipv4_set_csum(ip);
	send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_NO_NAT);
	ip->frag_off = htons(IP_MF_FLAG | 185);
	ipv4_set_csum(ip);
	send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_NO_NAT);

	/* GRE (47) and SCTP (132). */
	fl.proto = 47;
	build_egress(&f, &fl, 0, 40);
	send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_NO_NAT);
	fl.proto = 132;
	build_egress(&f, &fl, 0, 40);
	send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_NO_NAT);

	/* ICMP that does not start a flow: an error, an echo reply. */
	fl = flow_a(IPPROTO_ICMP);
	ip = build_egress(&f, &fl, 0, 28);
	nf_l4(ip)[0] = NF_ICMP_DEST_UNREACH;
	nf_l4(ip)[1] = NF_ICMP_PORT_UNREACH;
	nf_set_csums(ip);
	send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_NO_NAT);
	nf_l4(ip)[0] = NF_ICMP_TIME_EXCEEDED;
	nf_l4(ip)[1] = 0;
	nf_set_csums(ip);
	send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_NO_NAT);
	nf_l4(ip)[0] = NF_ICMP_ECHOREPLY;
	nf_set_csums(ip);
	send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_NO_NAT);
	/* Timestamp request (13): not echo. */
	nf_l4(ip)[0] = 13;
	nf_set_csums(ip);
	send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_NO_NAT);
	expect_nat_count(0);
}

static void pol_set_cfg(uint32_t flags, uint32_t gen)
{
	struct nsf_pol_cfg cfg = { .flags = flags, .gen = gen };
	uint32_t zero = 0;

	assert_int_equal(
		bpf_map_update_elem(h.pol_cfg_fd, &zero, &cfg, BPF_ANY), 0);
}

static void pol_set_group(uint32_t id, uint32_t flags)
{
	struct nsf_pol_group g = { .flags = flags };

	assert_int_equal(bpf_map_update_elem(h.pol_groups_fd, &id, &g, BPF_ANY),
			 0);
}

/*
 * A CIDR that a rule names for one group keeps the world's default deny
 * for the other pods: where no rule for the CIDR matches, the world's
 * rules and defaults decide (it used to replace them with an allow).
 */
static void test_snat_policy_cidr_keeps_world_deny(void **state)
{
	struct nsf_pol_cidr_key ck = { .prefixlen = 24,
				       .addr = htonl(PEER & ~0xffu) };
	struct nsf_pol_key rk = { .src = 20, .dst = 30 }; /* web -> CIDR */
	struct nsf_pol_rule rule = { .action = NSF_POL_DENY, .id = 1 };
	struct flow fl = flow_a(IPPROTO_UDP);
	uint32_t net = 30;
	struct frame f;

	(void)state;
	reset();
	pol_set_group(NSF_POL_GROUP_WORLD,
		      NSF_PG_F_ENFORCED | NSF_PG_F_INGRESS_DENY);
	pol_set_cfg(NSF_POL_F_ACTIVE, 1);
	build_egress(&f, &fl, 0, 32);
	send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_POLICY_INGRESS);
	/* = nsfast policy rule add deny from web to 198.18.0.0/24, A not
	 * in web */
	assert_int_equal(bpf_map_update_elem(h.pol_cidr_fd, &ck, &net, BPF_ANY),
			 0);
	pol_set_group(20, NSF_PG_F_ENFORCED);
	pol_set_group(30, NSF_PG_F_ENFORCED);
	assert_int_equal(
		bpf_map_update_elem(h.pol_rules_fd, &rk, &rule, BPF_ANY), 0);
	pol_set_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS | NSF_POL_F_CIDRS, 2);
	send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_POLICY_INGRESS);
	expect_nat_count(0);
	/* The world opened: masqueraded. */
	pol_set_group(NSF_POL_GROUP_WORLD, NSF_PG_F_ENFORCED);
	pol_set_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS | NSF_POL_F_CIDRS, 3);
	send_snat(&f, &fl);
	assert_int_equal(policy_reset(), 0);
}

/* No neighbour entry for the next hop: masqueraded all the same, MACs
 * left for bpf_redirect_neigh() to fill. */
static void test_snat_no_neigh(void **state)
{
	struct flow fl = flow_a(IPPROTO_TCP);
	struct frame f;
	uint16_t port;

	(void)state;
	reset();
	fl.peer = htonl(NO_NEIGH);
	build_egress(&f, &fl, NF_TCP_SYN, 0);
	port = send_snat_out(&f, &fl, false, NULL);
	expect_nat_count(2);
	expect_flow(&fl, port, 1, l3_len(&f), NSF_SEEN_SYN, 0, 0, 0);
}

/*
 * Frames padded to Ethernet's 60-byte minimum keep their padding and
 * their checksums cover the IP packet only. Known bug: the entry's byte
 * count, documented as the L3 length, counts the padding too (it takes
 * skb->len - 14). Expected bytes = IP total length (28); got 46.
 */
static void test_snat_padded(void **state)
{
	struct flow fl = flow_a(IPPROTO_UDP);
	struct nsf_nat_entry e;
	struct nsf_nat_key k;
	struct frame f;
	uint16_t port;

	(void)state;
	reset();
	build_egress(&f, &fl, 0, 0);
	frame_pad(&f, 60);
	port = send_snat(&f, &fl);
	k = egress_key(&fl);
	e = entry_of(&k);
	FIXED_BUG(e.bytes == 60 - ETH_HLEN,
		  "a padded frame counted %llu bytes on its NAT entry, its "
		  "IP packet has 28",
		  ULL(e.bytes));
	expect_flow(&fl, port, 1, 28, 0, 0, 0, 0);
}

/* A UDP packet of @fl with an IP total length of @tot_len. */
static struct iphdr *build_sized(struct frame *f, const struct flow *fl,
				 uint16_t tot_len, bool df)
{
	struct iphdr *ip = build_egress(f, fl, NF_TCP_ACK,
					tot_len - 20 - l4_hdr_len(fl->proto));

	if (!df) {
		ip->frag_off = 0;
		ipv4_set_csum(ip);
	}
	return ip;
}

static void set_wan_mtu(int mtu)
{
	assert_int_equal(sh("ip link set wan0 mtu %d", mtu), 0);
}

static int restore_mtu(void **state)
{
	(void)state;
	return sh("ip link set wan0 mtu %d", WAN_MTU);
}

/*
 * Too big for the uplink (MTU 400): with DF the kernel must answer with
 * "fragmentation needed", without DF the packet is dropped (the kernel
 * would fragment it, and fragments cannot be masqueraded). The check is
 * the kernel's is_skb_forwardable() on the skb, which test_run exercises
 * as the real hook does; it allows the 14-byte Ethernet header plus a
 * 4-byte VLAN tag beyond the MTU (see test_snat_mtu_slack). frames.h
 * frames hold 512 bytes, hence an MTU of 400 rather than a larger one.
 */
static void test_snat_mtu(void **state)
{
	static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP,
					  IPPROTO_ICMP };
	struct frame f;
	size_t i;

	(void)state;
	reset();
	set_wan_mtu(SMALL_MTU);
	for (i = 0; i < sizeof(protos); i++) {
		struct flow fl = flow_a(protos[i]);
		uint16_t port;

		build_sized(&f, &fl, SMALL_MTU + 5, true);
		send_snat_not(&f, &fl, TC_ACT_OK, NSF_R_PASS_FRAG_NEEDED);
		build_sized(&f, &fl, 500 - ETH_HLEN, true);
		send_snat_not(&f, &fl, TC_ACT_OK, NSF_R_PASS_FRAG_NEEDED);
		build_sized(&f, &fl, SMALL_MTU + 5, false);
		send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_MTU);
		build_sized(&f, &fl, 500 - ETH_HLEN, false);
		send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_MTU);
		expect_nat_count(2 * i);
		/* Exactly the MTU fits, with DF or without. */
		build_sized(&f, &fl, SMALL_MTU, true);
		port = send_snat(&f, &fl);
		build_sized(&f, &fl, SMALL_MTU, false);
		assert_int_equal(send_snat(&f, &fl), port);
		assert_int_equal(nat_count(), 2 * (i + 1));
	}
}

/*
 * Known bug: IP packets of MTU+1 .. MTU+4 bytes pass the skb-based MTU
 * check (is_skb_forwardable() allows mtu + hard_header_len + VLAN_HLEN of
 * frame) and are masqueraded onto a link they do not fit. ip_forward()
 * compares the IP length with the MTU: DF set means "fragmentation
 * needed". Expected pass-frag-needed, TC_ACT_OK; got fwd-snat, redirect.
 */
static void test_snat_mtu_slack(void **state)
{
	struct flow fl = flow_a(IPPROTO_UDP);
	struct result r;
	struct frame f;
	uint16_t extra;

	(void)state;
	reset();
	set_wan_mtu(SMALL_MTU);
	for (extra = 1; extra <= 4; extra++) {
		build_sized(&f, &fl, SMALL_MTU + extra, true);
		run_from(&f, (int)fl.ep->ifindex, &r);
		FIXED_BUG(!r.err && r.retval == TC_ACT_REDIRECT,
			  "a %u-byte packet with DF was masqueraded onto a "
			  "link with MTU %u (is_skb_forwardable slack)",
			  SMALL_MTU + extra, SMALL_MTU);
		expect_retval(&r, TC_ACT_OK);
		expect_frame(&f, &r.out);
		count(NSF_R_PASS_FRAG_NEEDED, f.len);
		count_fallback(fl.ep, f.len);
		expect_counters();
	}
}

/*
 * Known bug: with no neighbour entry for the next hop, bpf_fib_lookup()
 * returns NO_NEIGH before it would check the skb against the MTU (that
 * check only follows SUCCESS), so a packet too big for the uplink is
 * masqueraded and handed to bpf_redirect_neigh(). Expected
 * pass-frag-needed; got fwd-snat, TC_ACT_REDIRECT.
 */
static void test_snat_mtu_no_neigh(void **state)
{
	struct flow fl = flow_a(IPPROTO_UDP);
	struct result r;
	struct frame f;

	(void)state;
	reset();
	set_wan_mtu(SMALL_MTU);
	fl.peer = htonl(NO_NEIGH);
	build_sized(&f, &fl, 480, true);
	run_from(&f, (int)fl.ep->ifindex, &r);
	FIXED_BUG(!r.err && r.retval == TC_ACT_REDIRECT,
		  "a 480-byte packet with DF to an unresolved next hop was "
		  "masqueraded onto a link with MTU %u",
		  SMALL_MTU);
	expect_retval(&r, TC_ACT_OK);
	expect_frame(&f, &r.out);
	count(NSF_R_PASS_FRAG_NEEDED, f.len);
	count_fallback(fl.ep, f.len);
	expect_counters();
}

/*
 * Known bug: the MTU of the route (here 400 on 203.0.113.0/24, the
 * device's is 1500) is not checked: with tot_len = 0 the helper only
 * compares the skb with the device MTU. ip_forward() honours the route
 * MTU. Expected pass-frag-needed; got fwd-snat, TC_ACT_REDIRECT.
 */
static void test_snat_mtu_route(void **state)
{
	struct flow fl = flow_a(IPPROTO_UDP);
	struct result r;
	struct frame f;

	(void)state;
	reset();
	fl.peer = htonl(ROUTE_MTU);
	build_sized(&f, &fl, 480, true);
	run_from(&f, (int)fl.ep->ifindex, &r);
	FIXED_BUG(!r.err && r.retval == TC_ACT_REDIRECT,
		  "a 480-byte packet with DF was masqueraded along a route "
		  "with MTU %u",
		  SMALL_MTU);
	expect_retval(&r, TC_ACT_OK);
	expect_frame(&f, &r.out);
	count(NSF_R_PASS_FRAG_NEEDED, f.len);
	count_fallback(fl.ep, f.len);
	expect_counters();
}

static void run_from_gso(const struct frame *in, int ifindex, uint32_t gso_size,
			 uint32_t gso_segs, struct result *r)
{
	struct __sk_buff ctx = {
		.ifindex = (uint32_t)ifindex,
		.ingress_ifindex = (uint32_t)ifindex,
		.gso_size = gso_size,
		.gso_segs = gso_segs,
	};

	run_skb(h.from_pod_fd, in, &ctx, r);
}

/*
 * GSO (a pod's TSO super-packet, or GRO on the veth): longer than the MTU
 * but made of segments that fit, it is masqueraded whole. Segments that
 * do not fit (the pod's MTU is larger than the uplink's) must get
 * "fragmentation needed", as ip_forward() sends after
 * skb_gso_validate_network_len(). Known bug: is_skb_forwardable() takes
 * any GSO skb as fitting, so they are masqueraded (fwd-snat, redirect)
 * and the segments are too big for the uplink.
 */
static void test_snat_gso(void **state)
{
	struct flow fl = flow_a(IPPROTO_TCP);
	struct frame want;
	struct result r;
	struct frame f;
	uint16_t port;

	(void)state;
	reset();
	set_wan_mtu(SMALL_MTU);
	build_sized(&f, &fl, 480, true);
	run_from_gso(&f, (int)fl.ep->ifindex, 220, 2, &r);
	expect_retval(&r, TC_ACT_REDIRECT);
	port = nf_sport(frame_ip_hdr(&r.out));
	want_snat(&want, &f, port, true);
	expect_translated(&want, &r.out);
	count(NSF_R_FWD_SNAT, f.len);
	count_from_pod(fl.ep, f.len);
	expect_counters();
	expect_flow(&fl, port, 1, l3_len(&f), NSF_SEEN_ACK, 0, 0, 0);

	/* 420 of payload + 40 of headers per segment: over the MTU. */
	fl.pod_port++;
	build_sized(&f, &fl, 480, true);
	run_from_gso(&f, (int)fl.ep->ifindex, 420, 2, &r);
	FIXED_BUG(!r.err && r.retval == TC_ACT_REDIRECT,
		  "a GSO packet with %u-byte segments was masqueraded onto "
		  "a link with MTU %u",
		  420 + 40, SMALL_MTU);
	expect_retval(&r, TC_ACT_OK);
	expect_frame(&f, &r.out);
	count(NSF_R_PASS_FRAG_NEEDED, f.len);
	count_fallback(fl.ep, f.len);
	expect_counters();
}

/* ---- 2. port allocation ------------------------------------------------- */

/* An ingress entry owned by someone else: pod 10.244.9.@n, port 50000+@n. */
static struct nsf_nat_entry foreign_entry(uint8_t n)
{
	struct nsf_nat_entry e = {
		.addr = htonl(HOST_IP(10, 244, 9, n)),
		.port = htons(50000 + n),
		.seen = NSF_SEEN_SYN,
		.created = 1000 + n,
		.last_seen = 2000 + n,
		.packets = 7 + n,
		.bytes = 700 + n,
	};

	return e;
}

static void expect_entry_is(const struct nsf_nat_key *k,
			    const struct nsf_nat_entry *want)
{
	struct nsf_nat_entry got = entry_of(k);

	if (memcmp(&got, want, sizeof(got)))
		fail_msg("%s changed: %08x:%u packets %llu last_seen %llu",
			 key_str(k), ntohl(got.addr), ntohs(got.port),
			 ULL(got.packets), ULL(got.last_seen));
}

/*
 * Every port of a 4-port range is taken towards PEER:53 (by other pods):
 * a new flow there is dropped and nothing is created or overwritten. A
 * flow to another destination port, or address, still gets a port.
 */
static void test_port_exhausted(void **state)
{
	static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP,
					  IPPROTO_ICMP };
	struct nsf_nat_entry taken[4];
	struct nsf_nat_key keys[4];
	struct frame f;
	size_t i, j;

	(void)state;
	for (j = 0; j < sizeof(protos); j++) {
		struct flow fl = flow_a(protos[j]), other;
		uint16_t port;

		reset();
		set_ports(61000, 61003);
		for (i = 0; i < 4; i++) {
			keys[i] = ingress_key(&fl, 61000 + i);
			taken[i] = foreign_entry(i + 1);
			nat_put(&keys[i], &taken[i]);
		}
		build_egress(&f, &fl, NF_TCP_SYN, 10);
		send_snat_not(&f, &fl, TC_ACT_SHOT, NSF_R_DROP_NAT_EXHAUSTED);
		expect_nat_count(4);
		for (i = 0; i < 4; i++)
			expect_entry_is(&keys[i], &taken[i]);

		/* ICMP has no destination port: a different address. */
		other = fl;
		if (fl.proto == IPPROTO_ICMP)
			other.peer = htonl(PEER2);
		else
			other.peer_port++;
		build_egress(&f, &other, NF_TCP_SYN, 10);
		port = send_snat(&f, &other);
		expect_nat_count(6);
		expect_flow(&other, port, 1, l3_len(&f),
			    fl.proto == IPPROTO_TCP ? NSF_SEEN_SYN : 0, 0, 0,
			    0);
		for (i = 0; i < 4; i++)
			expect_entry_is(&keys[i], &taken[i]);
	}
}

/* A range of one port serves one flow per destination; an empty range
 * (min > max) none. */
static void test_port_range_edges(void **state)
{
	struct flow fa = flow_a(IPPROTO_UDP), fb, fc;
	struct frame f;

	(void)state;
	fb = mkflow(IPPROTO_UDP, &h.ep_b, POD_B, 40000, PEER, 53);
	fc = fa;
	fc.peer = htonl(PEER2);
	reset();
	set_ports(61005, 61005);
	build_egress(&f, &fa, 0, 10);
	assert_int_equal(send_snat(&f, &fa), 61005);
	build_egress(&f, &fb, 0, 10);
	send_snat_not(&f, &fb, TC_ACT_SHOT, NSF_R_DROP_NAT_EXHAUSTED);
	build_egress(&f, &fc, 0, 10);
	assert_int_equal(send_snat(&f, &fc), 61005);
	expect_nat_count(4);

	reset();
	set_ports(61010, 61000);
	build_egress(&f, &fa, 0, 10);
	send_snat_not(&f, &fa, TC_ACT_SHOT, NSF_R_DROP_NAT_EXHAUSTED);
	expect_nat_count(0);

	/* The widest range: 1-65535 (port 0 is never handed out). */
	reset();
	set_ports(1, 65535);
	build_egress(&f, &fa, 0, 10);
	send_snat(&f, &fa);
}

/*
 * Two ranges (init's default: below and above the host's ephemeral range)
 * are one sequence of candidates: four flows to one destination take the
 * four ports of 61000-61001 and 62000-62001, a fifth finds none.
 */
static void test_two_port_ranges(void **state)
{
	struct flow fifth = flow_a(IPPROTO_UDP);
	bool taken[4] = { false };
	uint32_t zero = 0;
	struct frame f;

	(void)state;
	reset();
	set_ports(61000, 61001);
	h.cfg.nat_port_min2 = 62000;
	h.cfg.nat_port_max2 = 62001;
	assert_int_equal(
		bpf_map_update_elem(h.config_fd, &zero, &h.cfg, BPF_ANY), 0);
	for (uint16_t i = 0; i < 4; i++) {
		struct flow fl = flow_a(IPPROTO_UDP);
		uint16_t port, slot;

		fl.pod_port = (uint16_t)(40000 + i);
		build_egress(&f, &fl, 0, 10);
		port = send_snat(&f, &fl);
		slot = port < 62000 ? port - 61000 : port - 62000 + 2;
		if (taken[slot])
			fail_msg("port %u handed out twice", port);
		taken[slot] = true;
	}
	fifth.pod_port = 40004;
	build_egress(&f, &fifth, 0, 10);
	send_snat_not(&f, &fifth, TC_ACT_SHOT, NSF_R_DROP_NAT_EXHAUSTED);
	expect_nat_count(8);
}

/*
 * The port a flow's hash picks is held by another pod's flow to the same
 * destination: the flow gets another port, the other entry is untouched.
 */
static void test_port_collision(void **state)
{
	static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP,
					  IPPROTO_ICMP };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(protos); i++) {
		struct flow fl = flow_a(protos[i]);
		struct nsf_nat_entry foreign = foreign_entry(9);
		struct nsf_nat_key fk;
		struct frame f;
		uint16_t first, port;

		reset();
		build_egress(&f, &fl, NF_TCP_SYN, 10);
		first = send_snat(&f, &fl);
		/* Deterministic: the same tuple hashes to the same port. */
		assert_int_equal(clear_map(h.nat_fd, &fk), 0);
		assert_int_equal(send_snat(&f, &fl), first);
		assert_int_equal(clear_map(h.nat_fd, &fk), 0);

		fk = ingress_key(&fl, first);
		nat_put(&fk, &foreign);
		port = send_snat(&f, &fl);
		if (port == first)
			fail_msg("took port %u from another flow", port);
		expect_nat_count(3);
		expect_entry_is(&fk, &foreign);
		expect_flow(&fl, port, 1, l3_len(&f),
			    fl.proto == IPPROTO_TCP ? NSF_SEEN_SYN : 0, 0, 0,
			    0);
	}
}

/*
 * The egress entry is gone (LRU eviction) but the ingress one lives: the
 * flow gets its old port back and the ingress entry is left as it was.
 */
static void test_port_restore(void **state)
{
	static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP,
					  IPPROTO_ICMP };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(protos); i++) {
		struct flow fl = flow_a(protos[i]);
		struct nsf_nat_key eg = egress_key(&fl), in;
		uint32_t seen = fl.proto == IPPROTO_TCP ? NSF_SEEN_ACK : 0;
		struct nsf_nat_entry before;
		struct frame f, reply;
		uint16_t port;

		reset();
		build_egress(&f, &fl, NF_TCP_ACK, 10);
		port = send_snat(&f, &fl);
		/* A reply, so the ingress entry has something to keep. */
		build_reply(&reply, &fl, port, NF_TCP_ACK, 10);
		send_reply(PATH_TC, &reply, &fl);
		in = ingress_key(&fl, port);
		before = entry_of(&in);

		assert_int_equal(bpf_map_delete_elem(h.nat_fd, &eg), 0);
		assert_int_equal(send_snat(&f, &fl), port);
		expect_nat_count(2);
		expect_entry_is(&in, &before);
		expect_flow(&fl, port, 1, l3_len(&f), seen, 1, l3_len(&reply),
			    seen);
	}
}

/*
 * The ingress entry is gone (the LRU evicts it first for a flow that only
 * sends: replies are what touch it) but the egress one lives: the next
 * packet puts it back, so the flow's replies still reach the pod. If
 * another flow to the same destination claimed the port meanwhile, the
 * flow moves to a new port and leaves the other flow's entry alone,
 * instead of sharing a reply key with it (hijacked replies).
 */
static void test_reply_entry_restore(void **state)
{
	struct flow fl = flow_a(IPPROTO_UDP);
	struct nsf_nat_entry foreign = foreign_entry(9);
	struct nsf_nat_key in;
	struct frame f;
	uint16_t port, moved;

	(void)state;
	reset();
	build_egress(&f, &fl, 0, 10);
	port = send_snat(&f, &fl);
	in = ingress_key(&fl, port);

	assert_int_equal(bpf_map_delete_elem(h.nat_fd, &in), 0);
	assert_int_equal(send_snat(&f, &fl), port);
	expect_nat_count(2);
	expect_entry(&in, fl.pod, fl.pod_port, 0, 0, 0);

	/* Evicted again, and the port taken by someone else meanwhile. */
	assert_int_equal(bpf_map_delete_elem(h.nat_fd, &in), 0);
	nat_put(&in, &foreign);
	moved = send_snat(&f, &fl);
	assert_int_not_equal(moved, port);
	expect_entry_is(&in, &foreign);
	expect_flow(&fl, moved, 1, l3_len(&f), 0, 0, 0, 0);
	expect_nat_count(3);
}

/*
 * Known bug (or a limit the design notes do not state): a flow whose port
 * came from a random probe, because its hash port was taken, does not get
 * it back when its egress entry is evicted: the hash port is still taken
 * and the next probe picks some other free port. Expected: the old port
 * (its ingress entry still maps to it); got: a new port (the remote end
 * sees the source port change, which breaks a TCP connection), with the
 * old ingress entry left behind. With 100 ports the random probes find
 * the old port first about once in a hundred runs; the case then passes.
 */
static void test_port_restore_after_collision(void **state)
{
	struct flow fl = flow_a(IPPROTO_TCP);
	struct nsf_nat_entry foreign = foreign_entry(9);
	struct nsf_nat_key fk, eg = egress_key(&fl);
	uint16_t hashed, port, again;
	struct frame f;

	(void)state;
	reset();
	build_egress(&f, &fl, NF_TCP_ACK, 10);
	hashed = send_snat(&f, &fl);
	assert_int_equal(clear_map(h.nat_fd, &fk), 0);
	fk = ingress_key(&fl, hashed);
	nat_put(&fk, &foreign);
	port = send_snat(&f, &fl);
	assert_int_not_equal(port, hashed);

	assert_int_equal(bpf_map_delete_elem(h.nat_fd, &eg), 0);
	again = send_snat(&f, &fl);
	FIXED_BUG(again != port && nat_count() == 4,
		  "after losing its egress entry the flow moved from port %u "
		  "to %u, leaving the old ingress entry behind",
		  port, again);
	assert_int_equal(again, port);
	expect_nat_count(3);
	expect_entry_is(&fk, &foreign);
}

/* ---- 3. reverse NAT ----------------------------------------------------- */

/* Start @fl with one packet from its pod; returns the NAT port. */
static uint16_t open_flow(const struct flow *fl, struct frame *first)
{
	build_egress(first, fl, NF_TCP_SYN, 20);
	return send_snat(first, fl);
}

/*
 * Replies of @proto go back to the pod, un-masqueraded, and are counted
 * on the ingress entry; the egress entry is left alone.
 */
static void check_reply_proto(enum path p, uint8_t proto)
{
	struct flow fl = flow_a(proto);
	uint32_t eg_seen = proto == IPPROTO_TCP ? NSF_SEEN_SYN : 0;
	uint32_t in_seen = proto == IPPROTO_TCP ? NSF_SEEN_SYN : 0;
	struct frame first, r1, r2;
	uint16_t port;

	reset();
	port = open_flow(&fl, &first);
	build_reply(&r1, &fl, port, NF_TCP_SYN | NF_TCP_ACK, 24);
	send_reply(p, &r1, &fl);
	expect_nat_count(2);
	expect_flow(&fl, port, 1, l3_len(&first), eg_seen, 1, l3_len(&r1),
		    in_seen);

	build_reply(&r2, &fl, port, NF_TCP_ACK, 200);
	if (proto == IPPROTO_TCP)
		in_seen |= NSF_SEEN_ACK;
	send_reply(p, &r2, &fl);
	expect_flow(&fl, port, 1, l3_len(&first), eg_seen, 2,
		    l3_len(&r1) + l3_len(&r2), in_seen);
}

static void test_rnat_udp_xdp(void **state)
{
	(void)state;
	check_reply_proto(PATH_XDP, IPPROTO_UDP);
}

static void test_rnat_udp_tc(void **state)
{
	(void)state;
	check_reply_proto(PATH_TC, IPPROTO_UDP);
}

static void test_rnat_tcp_xdp(void **state)
{
	(void)state;
	check_reply_proto(PATH_XDP, IPPROTO_TCP);
}

static void test_rnat_tcp_tc(void **state)
{
	(void)state;
	check_reply_proto(PATH_TC, IPPROTO_TCP);
}

static void test_rnat_icmp_xdp(void **state)
{
	(void)state;
	check_reply_proto(PATH_XDP, IPPROTO_ICMP);
}

static void test_rnat_icmp_tc(void **state)
{
	(void)state;
	check_reply_proto(PATH_TC, IPPROTO_ICMP);
}

/*
 * The world's TCP flags accumulate in the ingress entry: a SYN-ACK is
 * recorded as SYN only (ACK means "a packet without SYN"), then ACK, FIN
 * and RST; the egress entry keeps what the pod sent.
 */
static void check_reply_seen(enum path p)
{
	static const struct {
		uint8_t flags;
		uint32_t seen;
	} steps[] = {
		{ NF_TCP_SYN | NF_TCP_ACK, NSF_SEEN_SYN },
		{ NF_TCP_ACK, NSF_SEEN_SYN | NSF_SEEN_ACK },
		{ NF_TCP_FIN | NF_TCP_ACK,
		  NSF_SEEN_SYN | NSF_SEEN_ACK | NSF_SEEN_FIN },
		{ NF_TCP_RST | NF_TCP_ACK,
		  NSF_SEEN_SYN | NSF_SEEN_ACK | NSF_SEEN_FIN | NSF_SEEN_RST },
	};
	struct flow fl = flow_a(IPPROTO_TCP);
	struct frame first, r;
	uint64_t bytes = 0;
	uint16_t port;
	size_t i;

	reset();
	port = open_flow(&fl, &first);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		build_reply(&r, &fl, port, steps[i].flags, 0);
		bytes += l3_len(&r);
		send_reply(p, &r, &fl);
		expect_flow(&fl, port, 1, l3_len(&first), NSF_SEEN_SYN, i + 1,
			    bytes, steps[i].seen);
	}
	/* A bare RST as the first reply is RST | ACK ("no SYN"). */
	reset();
	port = open_flow(&fl, &first);
	build_reply(&r, &fl, port, NF_TCP_RST, 0);
	send_reply(p, &r, &fl);
	expect_flow(&fl, port, 1, l3_len(&first), NSF_SEEN_SYN, 1, l3_len(&r),
		    NSF_SEEN_RST | NSF_SEEN_ACK);
}

static void test_rnat_tcp_seen_xdp(void **state)
{
	(void)state;
	check_reply_seen(PATH_XDP);
}

static void test_rnat_tcp_seen_tc(void **state)
{
	(void)state;
	check_reply_seen(PATH_TC);
}

/* A UDP reply without a checksum keeps none. */
static void check_reply_udp_no_csum(enum path p)
{
	struct flow fl = flow_a(IPPROTO_UDP);
	struct frame first, r;
	uint16_t port;

	reset();
	port = open_flow(&fl, &first);
	udp_no_csum(build_reply(&r, &fl, port, 0, 33));
	send_reply(p, &r, &fl);
	expect_flow(&fl, port, 1, l3_len(&first), 0, 1, l3_len(&r), 0);
}

static void test_rnat_udp_no_csum_xdp(void **state)
{
	(void)state;
	check_reply_udp_no_csum(PATH_XDP);
}

static void test_rnat_udp_no_csum_tc(void **state)
{
	(void)state;
	check_reply_udp_no_csum(PATH_TC);
}

/*
 * Uplink traffic that is not a reply to a masqueraded flow is the host's:
 * passed untouched, counted pass-host, no entry touched.
 */
static void check_reply_not_ours(enum path p)
{
	struct flow udp = flow_a(IPPROTO_UDP), icmp = flow_a(IPPROTO_ICMP);
	struct frame first, ifirst, f;
	uint16_t port, iport;
	struct iphdr *ip;
	struct flow o;

	reset();
	port = open_flow(&udp, &first);
	iport = open_flow(&icmp, &ifirst);

	/* Another NAT port, another remote port, another remote address. */
	build_reply(&f, &udp, port + 1, 0, 10);
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);
	o = udp;
	o.peer_port++;
	build_reply(&f, &o, port, 0, 10);
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);
	o = udp;
	o.peer = htonl(PEER2);
	build_reply(&f, &o, port, 0, 10);
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);
	/* Right ports, other protocol. */
	o = udp;
	o.proto = IPPROTO_TCP;
	build_reply(&f, &o, port, NF_TCP_ACK, 10);
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);
	/* To another address of the host, and to somewhere else. */
	ip = build_reply(&f, &udp, port, 0, 10);
	ip->daddr = htonl(HOST_IP(10, 99, 0, 5));
	nf_set_csums(ip);
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);
	ip->daddr = htonl(HOST_IP(192, 0, 2, 1));
	nf_set_csums(ip);
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);

	/* Fragments of a matching reply: first, middle, last. */
	ip = build_reply(&f, &udp, port, 0, 64);
	ip->frag_off = htons(IP_MF_FLAG);
	ipv4_set_csum(ip);
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);
	ip->frag_off = htons(IP_MF_FLAG | 9);
	ipv4_set_csum(ip);
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);
	ip->frag_off = htons(9);
	ipv4_set_csum(ip);
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);
	/* TTL 1 on a live flow: dropped as a NAT router would (handed to
	 * the host, it would be answered with a reset or port unreachable). */
	ip = build_reply(&f, &udp, port, 0, 10);
	ip->ttl = 1;
	nf_set_csums(ip);
	send_up_not(p, &f, act_drop(p), NSF_R_DROP_TTL);
	/* Bad header checksum. */
	ip = build_reply(&f, &udp, port, 0, 10);
	ip->check ^= htons(0x0100);
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);
	/* An echo request (not a reply) carrying the echo flow's id. */
	ip = build_reply(&f, &icmp, iport, 0, 10);
	nf_l4(ip)[0] = NF_ICMP_ECHO;
	nf_set_csums(ip);
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);
	/* ARP for the uplink address, IPv6, another EtherType. */
	frame_eth(&f, mac_bcast, mac_gw, ETH_P_ARP);
	frame_arp(&f, 1, mac_gw, htonl(HOST_IP(10, 99, 0, 1)), mac_bcast,
		  htonl(SNAT_IP));
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);
	frame_eth(&f, mac_wan0, mac_gw, ETH_P_IPV6);
	frame_ipv6(&f, 16);
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);
	build_reply(&f, &udp, port, 0, 10);
	frame_eth_hdr(&f)->h_proto = htons(0x88b5);
	send_up_not(p, &f, act_pass(p), NSF_R_PASS_HOST);

	expect_nat_count(4);
	expect_flow(&udp, port, 1, l3_len(&first), 0, 0, 0, 0);
	expect_flow(&icmp, iport, 1, l3_len(&ifirst), 0, 0, 0, 0);
}

static void test_rnat_not_ours_xdp(void **state)
{
	(void)state;
	check_reply_not_ours(PATH_XDP);
}

static void test_rnat_not_ours_tc(void **state)
{
	(void)state;
	check_reply_not_ours(PATH_TC);
}

/* A TCP ACK from the world, padded to 60 bytes; see test_snat_padded. */
static void check_reply_padded(enum path p)
{
	struct flow fl = flow_a(IPPROTO_TCP);
	struct nsf_nat_entry e;
	struct nsf_nat_key k;
	struct frame first, r;
	uint16_t port;

	reset();
	port = open_flow(&fl, &first);
	build_reply(&r, &fl, port, NF_TCP_ACK, 0);
	frame_pad(&r, 60);
	send_reply(p, &r, &fl);
	k = ingress_key(&fl, port);
	e = entry_of(&k);
	FIXED_BUG(e.bytes == 60 - ETH_HLEN,
		  "a padded frame counted %llu bytes on its NAT entry, its "
		  "IP packet has 40",
		  ULL(e.bytes));
	expect_flow(&fl, port, 1, l3_len(&first), NSF_SEEN_SYN, 1, 40,
		    NSF_SEEN_ACK);
}

static void test_rnat_padded_xdp(void **state)
{
	(void)state;
	check_reply_padded(PATH_XDP);
}

static void test_rnat_padded_tc(void **state)
{
	(void)state;
	check_reply_padded(PATH_TC);
}

/* Put an 802.1Q (or 802.1ad) tag with @tci after the MACs of @f. */
static void frame_tag(struct frame *f, uint16_t tpid, uint16_t tci)
{
	memmove(f->data + 2 * ETH_ALEN + 4, f->data + 2 * ETH_ALEN,
		f->len - 2 * ETH_ALEN);
	nf_put16(f->data + 2 * ETH_ALEN, tpid);
	nf_put16(f->data + 2 * ETH_ALEN + 2, tci);
	f->len += 4;
}

/*
 * XDP sees an 802.1Q tag in the frame; tc, on a real uplink, only after
 * the kernel moved it into the skb (test_run leaves it in the frame, so
 * this is XDP's case alone; e2e_nat sends tagged frames through both).
 * A priority tag (VLAN 0, any priority) is no VLAN: the kernel and
 * nsf_uplink_tc take the frame as untagged, so a reply in it goes to the
 * pod, untagged. A frame of VLAN 100 is the host's, untouched.
 */
static void test_rnat_prio_tag_xdp(void **state)
{
	static const uint16_t tpids[] = { ETH_P_8021Q, ETH_P_8021AD };
	struct flow fl = flow_a(IPPROTO_TCP);
	struct frame first, plain, f, want;
	struct result r;
	uint64_t bytes = 0;
	uint16_t port;
	size_t i;

	(void)state;
	reset();
	port = open_flow(&fl, &first);
	build_reply(&plain, &fl, port, NF_TCP_ACK, 20);
	for (i = 0; i < 2; i++) {
		f = plain;
		frame_tag(&f, tpids[i], 5 << 13); /* PCP 5, VLAN 0 */
		run_up(PATH_XDP, &f, &r);
		FIXED_BUG(!r.err && r.retval == XDP_PASS,
			  "a reply behind a priority tag (TPID 0x%04x) went "
			  "to the host, which resets the pod's connection",
			  tpids[i]);
		expect_retval(&r, XDP_REDIRECT);
		want_rnat(&want, &plain, &fl);
		expect_translated(&want, &r.out);
		count(NSF_R_FWD_RNAT, plain.len);
		count_to_pod(fl.ep, plain.len);
		expect_counters();
		bytes += l3_len(&plain);
	}
	expect_flow(&fl, port, 1, l3_len(&first), NSF_SEEN_SYN, 2, bytes,
		    NSF_SEEN_ACK);

	/* VLAN 100, and a priority tag in front of VLAN 100's tag. */
	f = plain;
	frame_tag(&f, ETH_P_8021Q, 100);
	send_up_not(PATH_XDP, &f, XDP_PASS, NSF_R_PASS_HOST);
	f = plain;
	frame_tag(&f, ETH_P_8021Q, 100);
	frame_tag(&f, ETH_P_8021AD, 0);
	send_up_not_len(PATH_XDP, &f, XDP_PASS, NSF_R_PASS_HOST, f.len - 4);
	/* A priority-tagged frame that is no reply: the host's, as it is. */
	f = plain;
	nf_set_dport(frame_ip_hdr(&f), port + 1);
	nf_set_csums(frame_ip_hdr(&f));
	frame_tag(&f, ETH_P_8021Q, 0);
	send_up_not_len(PATH_XDP, &f, XDP_PASS, NSF_R_PASS_HOST, f.len - 4);
	expect_flow(&fl, port, 1, l3_len(&first), NSF_SEEN_SYN, 2, bytes,
		    NSF_SEEN_ACK);
}

/*
 * XDP: the pod's veth is missing from nsf_tx_ports (attach adds it after
 * the endpoint, so there is a window; or it was deleted). Known bug:
 * bpf_redirect_map() with flags 0 returns XDP_ABORTED on a miss, after
 * the frame was rewritten and counted fwd-rnat and to_pod: the reply is
 * lost without a drop counter. Expected: not aborted (XDP_PASS, e.g. with
 * XDP_PASS as the flags argument, or a counted drop), not counted as
 * delivered.
 */
static void test_rnat_xdp_no_tx_port(void **state)
{
	struct flow fl = flow_a(IPPROTO_UDP);
	uint32_t key = (uint32_t)h.if_pod0;
	struct frame first, f;
	struct result r;
	uint16_t port;

	(void)state;
	reset();
	port = open_flow(&fl, &first);
	assert_int_equal(bpf_map_delete_elem(h.tx_fd, &key), 0);
	build_reply(&f, &fl, port, 0, 10);
	run_xdp(&f, &r);
	FIXED_BUG(!r.err && r.retval == XDP_ABORTED,
		  "XDP_ABORTED for a reply whose pod has no nsf_tx_ports "
		  "entry, counted as fwd-rnat");
	if (r.err || (r.retval != XDP_PASS && r.retval != XDP_DROP))
		fail_msg("test_run %d, retval %u", r.err, r.retval);
	if (counter_packets(NSF_R_FWD_RNAT) || ep_to_pod_packets(h.ep_a.id))
		fail_msg("counted as delivered");
}

/* The flow's pod is gone: its replies are dropped, the entry untouched. */
static void check_reply_no_endpoint(enum path p)
{
	static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP,
					  IPPROTO_ICMP };
	struct frame first, f;
	uint32_t key = htonl(POD_A);
	size_t i;

	reset();
	for (i = 0; i < sizeof(protos); i++) {
		struct flow fl = flow_a(protos[i]);
		uint16_t port = open_flow(&fl, &first);

		build_reply(&f, &fl, port, NF_TCP_SYN | NF_TCP_ACK, 10);
		assert_int_equal(bpf_map_delete_elem(h.ep4_fd, &key), 0);
		send_up_not(p, &f, act_drop(p), NSF_R_DROP_NO_ENDPOINT);
		expect_flow(&fl, port, 1, l3_len(&first),
			    fl.proto == IPPROTO_TCP ? NSF_SEEN_SYN : 0, 0, 0,
			    0);
		assert_int_equal(add_endpoint(POD_A, &h.ep_a), 0);
	}
}

static void test_rnat_no_endpoint_xdp(void **state)
{
	(void)state;
	check_reply_no_endpoint(PATH_XDP);
}

static void test_rnat_no_endpoint_tc(void **state)
{
	(void)state;
	check_reply_no_endpoint(PATH_TC);
}

/* ---- 4. ICMP errors ----------------------------------------------------- */

#define QUOTE_ALL 0xffff

/*
 * An ICMP error from ROUTER about the masqueraded packet @sent (as it left
 * the uplink, an IPv4 packet), quoting its header and @quote_l4 bytes of
 * what follows. Time exceeded quotes the packet as it arrived with TTL 1.
 */
static void build_icmp_error(struct frame *f, const struct frame *sent,
			     uint8_t type, uint8_t code, uint16_t quote_l4)
{
	uint8_t quote[FRAME_MAX];
	struct iphdr *q = (struct iphdr *)quote;
	const struct iphdr *s = (const struct iphdr *)(sent->data + ETH_HLEN);
	uint16_t tot = ntohs(s->tot_len), hl = s->ihl * 4;
	uint16_t len = quote_l4 >= tot - hl ? tot : hl + quote_l4;

	memcpy(quote, s, tot);
	q->ttl = type == NF_ICMP_TIME_EXCEEDED ? 1 : 50;
	ipv4_set_csum(q);
	frame_eth(f, mac_wan0, mac_gw, ETH_P_IP);
	frame_icmp_error(f, htonl(ROUTER), htonl(SNAT_IP), 250, type, code,
			 quote, len);
}

/*
 * The L4 checksum the quoted packet would carry had it not been
 * masqueraded: the checksum of the whole of @sent with its source put
 * back to the pod's, computed from scratch.
 */
static uint16_t inner_csum_untranslated(const struct frame *sent,
					const struct flow *fl)
{
	struct frame copy = *sent;
	struct iphdr *ip = frame_ip_hdr(&copy);
	uint8_t *field = nf_l4(ip) + nf_csum_off(ip->protocol);

	if (ip->protocol == IPPROTO_UDP && !nf_get16(field))
		return 0;
	ip->saddr = fl->pod;
	nf_set_sport(ip, fl->pod_port);
	return l4_csum_scratch(ip, nf_l4(ip), nf_l4_len(ip));
}

/*
 * @out must be the ICMP error @in translated for @fl: outer destination,
 * quoted source and port back to the pod's, MACs and TTL as delivered.
 * Every checksum is recomputed from scratch over @out: outer header, ICMP
 * over the whole message, quoted header, and the quoted L4 checksum over
 * the quoted packet if it is quoted in full, else compared with the
 * checksum of the whole untranslated packet (@inner_want).
 */
static void expect_icmp_translated(const struct frame *in, struct frame *out,
				   const struct flow *fl, uint16_t inner_want)
{
	struct iphdr *wip, *win, *oip = frame_ip_hdr(out);
	struct iphdr *oin = nf_icmp_inner(oip);
	uint16_t quoted = nf_l4_len(oip) - 8 - oin->ihl * 4;
	size_t off = nf_csum_off(oin->protocol);
	uint8_t *wl4, *ol4 = nf_l4(oin);
	struct frame want;

	want_rnat(&want, in, fl);
	wip = frame_ip_hdr(&want);
	win = nf_icmp_inner(wip);
	wl4 = nf_l4(win);
	/* want_rnat() set the outer "port": undo, ICMP errors have none. */
	memcpy(nf_l4(wip), nf_l4(frame_ip_hdr((struct frame *)in)), 8);
	win->saddr = fl->pod;
	nf_set_sport(win, fl->pod_port);
	if (out->len != want.len)
		fail_msg("output %u bytes, want %u", out->len, want.len);
	expect_ip_csum(oip, "outer IPv4");
	expect_l4_csum(oip, nf_l4(oip), nf_l4_len(oip), "ICMP");
	expect_ip_csum(oin, "quoted IPv4");
	memcpy(nf_l4(wip) + 2, nf_l4(oip) + 2, 2);
	wip->check = oip->check;
	win->check = oin->check;
	if (quoted >= off + 2 &&
	    !(oin->protocol == IPPROTO_UDP && !nf_get16(wl4 + off))) {
		uint16_t got = nf_get16(ol4 + off);

		if (quoted >= nf_l4_len(oin))
			expect_l4_csum(oin, ol4, nf_l4_len(oin),
				       "quoted L4 (in full)");
		else if (!l4_csum_matches(oin->protocol, got, inner_want))
			fail_msg("quoted L4 checksum 0x%04x, want 0x%04x", got,
				 inner_want);
		memcpy(wl4 + off, ol4 + off, 2);
	}
	expect_frame(&want, out);
}

/*
 * @fl's pod sends a packet; ROUTER answers with ICMP @type/@code quoting
 * @quote_l4 bytes of it: the error goes to the pod, translated.
 */
static void check_icmp_error(enum path p, struct flow *fl, uint8_t type,
			     uint8_t code, uint16_t quote_l4, uint16_t payload)
{
	struct frame pod, sent, err;
	uint32_t eg_seen = fl->proto == IPPROTO_TCP ? NSF_SEEN_ACK : 0;
	struct result r;
	uint16_t port;

	reset();
	build_egress(&pod, fl, NF_TCP_ACK | NF_TCP_PSH, payload);
	port = send_snat_out(&pod, fl, true, &sent);
	build_icmp_error(&err, &sent, type, code, quote_l4);
	run_up(p, &err, &r);
	expect_retval(&r, act_redirect(p));
	expect_icmp_translated(&err, &r.out, fl,
			       inner_csum_untranslated(&sent, fl));
	count(NSF_R_FWD_RNAT_ICMP, err.len);
	count_to_pod(fl->ep, err.len);
	expect_counters();
	/* Not counted on the flow (conntrack: RELATED): no reply yet. */
	expect_flow(fl, port, 1, l3_len(&pod), eg_seen, 0, 0, 0);
}

struct icmp_case {
	uint8_t type;
	uint8_t code;
	uint16_t quote_l4;
	uint16_t payload;
};

static const struct icmp_case icmp_cases[] = {
	/* Linux quotes as much as fits in 576 bytes: here all of it. */
	{ NF_ICMP_DEST_UNREACH, NF_ICMP_PORT_UNREACH, QUOTE_ALL, 40 },
	{ NF_ICMP_DEST_UNREACH, NF_ICMP_FRAG_NEEDED, QUOTE_ALL, 0 },
	{ NF_ICMP_TIME_EXCEEDED, 0, QUOTE_ALL, 40 },
	/* RFC 792's minimum: the header and 8 bytes. */
	{ NF_ICMP_DEST_UNREACH, NF_ICMP_PORT_UNREACH, 8, 40 },
	{ NF_ICMP_TIME_EXCEEDED, 0, 8, 40 },
	/* A whole TCP header but not the payload; odd lengths. */
	{ NF_ICMP_DEST_UNREACH, 1, 20, 40 },
	{ NF_ICMP_TIME_EXCEEDED, 0, 19, 40 },
	{ NF_ICMP_DEST_UNREACH, 13, 33, 40 },
};

static void check_icmp_errors(enum path p, uint8_t proto)
{
	size_t i;

	for (i = 0; i < sizeof(icmp_cases) / sizeof(icmp_cases[0]); i++) {
		const struct icmp_case *c = &icmp_cases[i];
		struct flow fl = flow_a(proto);

		check_icmp_error(p, &fl, c->type, c->code, c->quote_l4,
				 c->payload);
	}
}

static void test_icmp_err_udp_xdp(void **state)
{
	(void)state;
	check_icmp_errors(PATH_XDP, IPPROTO_UDP);
}

static void test_icmp_err_udp_tc(void **state)
{
	(void)state;
	check_icmp_errors(PATH_TC, IPPROTO_UDP);
}

static void test_icmp_err_tcp_xdp(void **state)
{
	(void)state;
	check_icmp_errors(PATH_XDP, IPPROTO_TCP);
}

static void test_icmp_err_tcp_tc(void **state)
{
	(void)state;
	check_icmp_errors(PATH_TC, IPPROTO_TCP);
}

static void test_icmp_err_echo_xdp(void **state)
{
	(void)state;
	check_icmp_errors(PATH_XDP, IPPROTO_ICMP);
}

static void test_icmp_err_echo_tc(void **state)
{
	(void)state;
	check_icmp_errors(PATH_TC, IPPROTO_ICMP);
}

/* A quoted UDP packet that had no checksum: it keeps none. */
static void check_icmp_err_udp_no_csum(enum path p)
{
	struct flow fl = flow_a(IPPROTO_UDP);
	struct frame pod, sent, err;
	struct result r;

	reset();
	udp_no_csum(build_egress(&pod, &fl, 0, 24));
	send_snat_out(&pod, &fl, true, &sent);
	build_icmp_error(&err, &sent, NF_ICMP_DEST_UNREACH,
			 NF_ICMP_PORT_UNREACH, QUOTE_ALL);
	run_up(p, &err, &r);
	expect_retval(&r, act_redirect(p));
	if (nf_get16(nf_l4(nf_icmp_inner(frame_ip_hdr(&r.out))) + 6))
		fail_msg("quoted UDP checksum 0 became 0x%04x",
			 nf_get16(nf_l4(nf_icmp_inner(frame_ip_hdr(&r.out))) +
				  6));
	expect_icmp_translated(&err, &r.out, &fl, 0);
	count(NSF_R_FWD_RNAT_ICMP, err.len);
	count_to_pod(fl.ep, err.len);
	expect_counters();
}

static void test_icmp_err_udp_no_csum_xdp(void **state)
{
	(void)state;
	check_icmp_err_udp_no_csum(PATH_XDP);
}

static void test_icmp_err_udp_no_csum_tc(void **state)
{
	(void)state;
	check_icmp_err_udp_no_csum(PATH_TC);
}

/*
 * ICMP errors that are not about a masqueraded flow, or that the datapath
 * does not translate, reach the host untouched (pass-host): a quote of a
 * port no flow has, of another remote, of a packet not from the SNAT
 * address, of a fragment, of an echo reply, with less than 8 bytes, and
 * with IP options in the quote (documented: 20-byte inner headers only).
 */
static void check_icmp_err_not_ours(enum path p)
{
	struct flow fl = flow_a(IPPROTO_UDP), ofl = fl;
	struct frame pod, sent, s2, err;
	struct iphdr *q;
	uint16_t port;

	reset();
	build_egress(&pod, &fl, 0, 24);
	port = send_snat_out(&pod, &fl, true, &sent);

	s2 = sent;
	q = frame_ip_hdr(&s2);
	nf_set_sport(q, port + 1);
	nf_set_csums(q);
	build_icmp_error(&err, &s2, NF_ICMP_DEST_UNREACH, 3, QUOTE_ALL);
	send_up_not(p, &err, act_pass(p), NSF_R_PASS_HOST);

	s2 = sent;
	q = frame_ip_hdr(&s2);
	q->daddr = htonl(PEER2);
	nf_set_csums(q);
	build_icmp_error(&err, &s2, NF_ICMP_DEST_UNREACH, 3, QUOTE_ALL);
	send_up_not(p, &err, act_pass(p), NSF_R_PASS_HOST);

	s2 = sent;
	q = frame_ip_hdr(&s2);
	q->saddr = htonl(HOST_IP(10, 99, 0, 5));
	nf_set_csums(q);
	build_icmp_error(&err, &s2, NF_ICMP_DEST_UNREACH, 3, QUOTE_ALL);
	send_up_not(p, &err, act_pass(p), NSF_R_PASS_HOST);

	s2 = sent;
	q = frame_ip_hdr(&s2);
	q->frag_off = htons(IP_MF_FLAG);
	nf_set_csums(q);
	build_icmp_error(&err, &s2, NF_ICMP_TIME_EXCEEDED, 1, QUOTE_ALL);
	send_up_not(p, &err, act_pass(p), NSF_R_PASS_HOST);

	build_icmp_error(&err, &sent, NF_ICMP_DEST_UNREACH, 3, 7);
	send_up_not(p, &err, act_pass(p), NSF_R_PASS_HOST);

	/* Echo flow: the quote is an echo reply, not our request. */
	ofl = flow_a(IPPROTO_ICMP);
	build_egress(&pod, &ofl, 0, 24);
	send_snat_out(&pod, &ofl, true, &s2);
	q = frame_ip_hdr(&s2);
	nf_l4(q)[0] = NF_ICMP_ECHOREPLY;
	nf_set_csums(q);
	build_icmp_error(&err, &s2, NF_ICMP_DEST_UNREACH, 3, QUOTE_ALL);
	send_up_not(p, &err, act_pass(p), NSF_R_PASS_HOST);

	/* A pod packet with IP options (4 bytes of NOPs/EOL). */
	ofl = fl;
	ofl.pod_port++;
	{
		struct ipv4_spec s = {
			.saddr = ofl.pod,
			.daddr = ofl.peer,
			.proto = IPPROTO_UDP,
			.ttl = 64,
			.opt_len = 4,
			.payload = 16,
		};

		frame_eth(&pod, ofl.ep->host_mac, ofl.ep->pod_mac, ETH_P_IP);
		q = frame_ipv4(&pod, &s);
		nf_set_sport(q, ofl.pod_port);
		nf_set_dport(q, ofl.peer_port);
		nf_set_csums(q);
	}
	send_snat_out(&pod, &ofl, true, &s2);
	build_icmp_error(&err, &s2, NF_ICMP_DEST_UNREACH, 3, QUOTE_ALL);
	send_up_not(p, &err, act_pass(p), NSF_R_PASS_HOST);

	expect_nat_count(6);
	expect_flow(&fl, port, 1, l3_len(&sent), 0, 0, 0, 0);
}

static void test_icmp_err_not_ours_xdp(void **state)
{
	(void)state;
	check_icmp_err_not_ours(PATH_XDP);
}

static void test_icmp_err_not_ours_tc(void **state)
{
	(void)state;
	check_icmp_err_not_ours(PATH_TC);
}

/* An ICMP error about a flow whose pod is gone is dropped. */
static void check_icmp_err_no_endpoint(enum path p)
{
	struct flow fl = flow_a(IPPROTO_TCP);
	struct frame pod, sent, err;
	uint32_t key = htonl(POD_A);

	reset();
	build_egress(&pod, &fl, NF_TCP_SYN, 0);
	send_snat_out(&pod, &fl, true, &sent);
	build_icmp_error(&err, &sent, NF_ICMP_DEST_UNREACH, 1, QUOTE_ALL);
	assert_int_equal(bpf_map_delete_elem(h.ep4_fd, &key), 0);
	send_up_not(p, &err, act_drop(p), NSF_R_DROP_NO_ENDPOINT);
}

static void test_icmp_err_no_endpoint_xdp(void **state)
{
	(void)state;
	check_icmp_err_no_endpoint(PATH_XDP);
}

static void test_icmp_err_no_endpoint_tc(void **state)
{
	(void)state;
	check_icmp_err_no_endpoint(PATH_TC);
}

/* ---- checksums: edges, random flows, CHECKSUM_PARTIAL ------------------- */

/* Edge cases of one's complement checksums a translation must get right. */
enum edge {
	EDGE_L4_IN_ZERO,    /* input L4 checksum computes to 0x0000 */
	EDGE_L4_IN_NEGZERO, /* ... and is sent as 0xffff (-0) */
	EDGE_L4_OUT_ZERO,   /* the translated L4 checksum computes to 0 */
	EDGE_IP_IN_ZERO,    /* input header checksum 0x0000 */
	EDGE_IP_IN_NEGZERO, /* input header checksum 0xffff (-0) */
	EDGE_IP_OUT_ZERO,   /* the translated header checksum is 0 */
	EDGE_MAX
};

static const char *const edge_names[EDGE_MAX] = {
	"L4 in 0", "L4 in -0", "L4 out 0", "IP in 0", "IP in -0", "IP out 0",
};

/*
 * Make @in hit @e; @model is @in as translated (checksums aside) and gets
 * the same edits. Payload word 0 is the one adjusted for L4 edges, the IP
 * id for IP edges.
 */
static void force_edge(struct frame *in, struct frame *model, enum edge e)
{
	struct iphdr *ip = frame_ip_hdr(in), *mip = frame_ip_hdr(model);
	size_t hl = l4_hdr_len(ip->protocol);
	uint8_t *word = nf_l4(ip) + hl, *mword = nf_l4(mip) + hl;
	uint32_t id;

	switch (e) {
	case EDGE_L4_IN_ZERO:
		nf_force_l4_zero(ip, word);
		nf_l4_set_csum(ip); /* 0x0000, UDP 0xffff */
		break;
	case EDGE_L4_IN_NEGZERO:
		nf_force_l4_zero(ip, word);
		nf_put16(nf_l4(ip) + nf_csum_off(ip->protocol), 0xffff);
		break;
	case EDGE_L4_OUT_ZERO:
		nf_force_l4_zero(mip, mword);
		memcpy(word, mword, 2);
		nf_l4_set_csum(ip);
		/* Not 0, which would mean "UDP without checksum" to
		 * expect_translated(); the output's replaces it. */
		memcpy(nf_l4(mip) + nf_csum_off(ip->protocol),
		       nf_l4(ip) + nf_csum_off(ip->protocol), 2);
		break;
	case EDGE_IP_IN_ZERO:
		assert_true(ipv4_force_csum(ip, 0x0000));
		break;
	case EDGE_IP_IN_NEGZERO:
		assert_true(ipv4_force_csum(ip, 0xffff));
		break;
	case EDGE_IP_OUT_ZERO:
		for (id = 0; id <= 0xffff; id++) {
			ip->id = mip->id = htons((uint16_t)id);
			if (!ip_csum_scratch(mip))
				break;
		}
		assert_true(id <= 0xffff);
		ipv4_set_csum(ip);
		break;
	default:
		fail();
	}
	memcpy(mword, word, 2);
	mip->id = ip->id;
}

/* The output really hit the edge @e aimed at (else the case proves
 * nothing). */
static void expect_edge_hit(struct frame *out, enum edge e)
{
	struct iphdr *ip = frame_ip_hdr(out);
	uint16_t c;

	if (e == EDGE_IP_OUT_ZERO) {
		c = csum_get(&ip->check);
	} else if (e == EDGE_L4_OUT_ZERO) {
		c = nf_get16(nf_l4(ip) + nf_csum_off(ip->protocol));
		if (ip->protocol == IPPROTO_UDP && c != 0xffff)
			fail_msg("UDP checksum computing to 0 sent as 0x%04x",
				 c);
	} else {
		return;
	}
	if (c && c != 0xffff)
		fail_msg("%s: output checksum 0x%04x, not an edge",
			 edge_names[e], c);
}

static void check_edges(uint8_t proto)
{
	struct flow fl = flow_a(proto);
	struct frame f, model;
	struct result r;
	enum path p;
	int e;

	for (e = 0; e < EDGE_MAX; e++) {
		uint16_t port;

		if (proto == IPPROTO_UDP && e == EDGE_L4_IN_NEGZERO)
			continue; /* same as EDGE_L4_IN_ZERO for UDP */
		print_message("# %s %s\n", proto_name(proto), edge_names[e]);
		reset();
		port = open_flow(&fl, &f);

		build_egress(&f, &fl, NF_TCP_ACK, 32);
		want_snat(&model, &f, port, true);
		force_edge(&f, &model, (enum edge)e);
		run_from(&f, (int)fl.ep->ifindex, &r);
		expect_retval(&r, TC_ACT_REDIRECT);
		expect_edge_hit(&r.out, (enum edge)e);
		expect_translated(&model, &r.out);

		for (p = PATH_XDP; p <= PATH_TC; p++) {
			build_reply(&f, &fl, port, NF_TCP_ACK, 32);
			want_rnat(&model, &f, &fl);
			force_edge(&f, &model, (enum edge)e);
			run_up(p, &f, &r);
			expect_retval(&r, act_redirect(p));
			expect_edge_hit(&r.out, (enum edge)e);
			expect_translated(&model, &r.out);
		}
	}
}

static void test_csum_edges_udp(void **state)
{
	(void)state;
	check_edges(IPPROTO_UDP);
}

static void test_csum_edges_tcp(void **state)
{
	(void)state;
	check_edges(IPPROTO_TCP);
}

static void test_csum_edges_icmp(void **state)
{
	(void)state;
	check_edges(IPPROTO_ICMP);
}

static uint32_t rnd_state;

/* xorshift32: reproducible from the seed the case prints. */
static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static void seed_rnd(void)
{
	const char *env = getenv("NSF_TEST_SEED");

	rnd_state = env ? (uint32_t)strtoul(env, NULL, 0) : 0x6e736661;
	if (!rnd_state)
		rnd_state = 1;
	print_message("# seed 0x%08x (NSF_TEST_SEED)\n", rnd_state);
}

/* An address the default route sends to the uplink: 1-126.x.x.x but 10/8. */
static uint32_t rnd_peer(void)
{
	uint32_t a;

	do {
		a = rnd() % 126 + 1;
	} while (a == 10);
	return HOST_IP(a, rnd() & 0xff, rnd() & 0xff, rnd() % 254 + 1);
}

/* Random TTL, IP id and options, DF or not, payload bytes; checksums
 * recomputed (UDP sometimes without one). */
static void randomize(struct frame *f, struct iphdr *ip)
{
	uint8_t *l4 = nf_l4(ip);
	size_t hl = l4_hdr_len(ip->protocol), i;

	ip->ttl = (uint8_t)(rnd() % 254 + 2);
	ip->id = (uint16_t)rnd();
	ip->frag_off = rnd() & 1 ? htons(IP_DF_FLAG) : 0;
	if (ip->protocol == IPPROTO_TCP)
		l4[13] = (uint8_t)rnd() & 0x1f;
	for (i = l4 - f->data + hl; i < f->len; i++)
		f->data[i] = (uint8_t)rnd();
	nf_set_csums(ip);
	if (ip->protocol == IPPROTO_UDP && !(rnd() % 8))
		udp_no_csum(ip);
}

/* A packet of @fl with @opt_len bytes of IP options and random content. */
static void build_random(struct frame *f, const struct flow *fl, bool reply,
			 uint16_t port)
{
	struct ipv4_spec s = {
		.saddr = reply ? fl->peer : fl->pod,
		.daddr = reply ? htonl(SNAT_IP) : fl->peer,
		.proto = fl->proto,
		.ttl = 64,
		.opt_len = (uint8_t)((rnd() % 4 ? 0 : rnd() % 11) * 4),
		.payload = (uint16_t)(rnd() % 300),
	};
	struct iphdr *ip;

	if (reply)
		frame_eth(f, mac_wan0, mac_gw, ETH_P_IP);
	else
		frame_eth(f, fl->ep->host_mac, fl->ep->pod_mac, ETH_P_IP);
	ip = frame_ipv4(f, &s);
	if (reply && fl->proto == IPPROTO_ICMP) {
		nf_l4(ip)[0] = NF_ICMP_ECHOREPLY;
		nf_set_sport(ip, port);
	} else if (reply) {
		nf_set_sport(ip, fl->peer_port);
		nf_set_dport(ip, port);
	} else {
		nf_set_sport(ip, fl->pod_port);
		nf_set_dport(ip, fl->peer_port);
	}
	randomize(f, ip);
}

/*
 * Random flows (addresses, ports, identifiers, options, lengths, payload,
 * TTL, flags): each packet out and its reply back through XDP or tc must
 * come out with checksums that match a from-scratch computation.
 */
static void test_csum_random(void **state)
{
	static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP,
					  IPPROTO_ICMP };
	struct frame f, model;
	struct result r;
	int i;

	(void)state;
	seed_rnd();
	reset();
	for (i = 0; i < RANDOM_FLOWS; i++) {
		uint32_t pod =
			HOST_IP(10, 244, 1 + rnd() % 255, rnd() % 254 + 1);
		struct flow fl =
			mkflow(protos[rnd() % 3], &h.ep_a, pod, (uint16_t)rnd(),
			       rnd_peer(), (uint16_t)(rnd() % 65535 + 1));
		uint32_t key = fl.pod;
		enum path p = rnd() & 1 ? PATH_XDP : PATH_TC;
		uint16_t port;

		assert_int_equal(add_endpoint(pod, &h.ep_a), 0);
		build_random(&f, &fl, false, 0);
		port = send_snat(&f, &fl);

		build_random(&f, &fl, true, port);
		run_up(p, &f, &r);
		expect_retval(&r, act_redirect(p));
		want_rnat(&model, &f, &fl);
		expect_translated(&model, &r.out);
		count(NSF_R_FWD_RNAT, f.len);
		count_to_pod(fl.ep, f.len);
		assert_int_equal(bpf_map_delete_elem(h.ep4_fd, &key), 0);
	}
	expect_counters();
}

/* Sockets and hook of test_snat_csum_partial, released by its teardown. */
static struct {
	int tx;
	int rx;
	bool hooked;
} live = { -1, -1, false };

static int packet_socket(int ifindex, uint16_t proto)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(proto),
		.sll_ifindex = ifindex,
	};
	struct timeval tv = { .tv_sec = 2 };
	int one = 1;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(proto));

	if (fd < 0)
		fail_msg("packet socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		int err = errno;

		close(fd);
		fail_msg("packet socket on %d: %s", ifindex, strerror(err));
	}
	return fd;
}

/* libbpf refuses non-zero padding: zero the whole struct first. */
static void pod0_hook(struct bpf_tc_hook *hook, enum bpf_tc_attach_point at)
{
	memset(hook, 0, sizeof(*hook));
	hook->sz = sizeof(*hook);
	hook->ifindex = h.if_pod0;
	hook->attach_point = at;
}

static int live_teardown(void **state)
{
	struct bpf_tc_hook hook;

	(void)state;
	if (live.tx >= 0)
		close(live.tx);
	if (live.rx >= 0)
		close(live.rx);
	live.tx = live.rx = -1;
	if (live.hooked) {
		pod0_hook(&hook, BPF_TC_INGRESS | BPF_TC_EGRESS);
		bpf_tc_hook_destroy(&hook);
		live.hooked = false;
	}
	return 0;
}

/* Wait on wan0p for the masqueraded packet of @fl; returns its vnet
 * header, and the frame in @out. */
static struct virtio_net_hdr receive_snat(const struct flow *fl,
					  struct frame *out)
{
	uint8_t buf[sizeof(struct virtio_net_hdr) + FRAME_MAX];
	struct virtio_net_hdr vh;
	int tries;

	for (tries = 0; tries < 32; tries++) {
		struct sockaddr_ll from;
		socklen_t fl_len = sizeof(from);
		ssize_t n = recvfrom(live.rx, buf, sizeof(buf), 0,
				     (struct sockaddr *)&from, &fl_len);
		struct iphdr *ip;

		if (n < 0)
			fail_msg("nothing left wan0: %s", strerror(errno));
		if (from.sll_pkttype == PACKET_OUTGOING ||
		    (size_t)n < sizeof(vh) + ETH_HLEN + sizeof(*ip))
			continue;
		memcpy(&vh, buf, sizeof(vh));
		memset(out, 0, sizeof(*out));
		out->len = (uint32_t)(n - (ssize_t)sizeof(vh));
		memcpy(out->data, buf + sizeof(vh), out->len);
		ip = frame_ip_hdr(out);
		if (frame_eth_hdr(out)->h_proto == htons(ETH_P_IP) &&
		    ip->protocol == fl->proto && ip->daddr == fl->peer)
			return vh;
	}
	fail_msg("no masqueraded packet on wan0p");
	return vh;
}

/*
 * A pod's own TCP and UDP packets are CHECKSUM_PARTIAL: the checksum field
 * holds the pseudo-header sum and the NIC (or the kernel) adds the rest.
 * test_run cannot make such an skb, so this sends one for real: a
 * virtio-net header with NEEDS_CSUM on a packet socket of pod0p, received
 * on pod0 where nsf_from_pod is attached to tc ingress, redirected out of
 * wan0 and read from wan0p, again with a virtio-net header. Out there the
 * field must hold the pseudo-header sum of the translated addresses (the
 * port is not part of it), and completing it as a NIC would must give a
 * valid checksum. If the kernel completed it on the way, it must be valid
 * as it is.
 */
static void check_partial(uint8_t proto, uint16_t payload)
{
	struct flow fl = flow_a(proto);
	uint8_t buf[sizeof(struct virtio_net_hdr) + FRAME_MAX];
	struct virtio_net_hdr vh = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_NONE,
		.csum_start = htole16(ETH_HLEN + sizeof(struct iphdr)),
		.csum_offset = htole16((uint16_t)nf_csum_off(proto)),
	};
	struct frame f, out, want;
	struct iphdr *ip, *oip;
	uint16_t port, start, off;

	reset();
	fl.pod_port = (uint16_t)(43000 + proto);
	ip = build_egress(&f, &fl, NF_TCP_SYN, payload);
	nf_put16(nf_l4(ip) + nf_csum_off(proto), nf_partial_csum(ip));
	memcpy(buf, &vh, sizeof(vh));
	memcpy(buf + sizeof(vh), f.data, f.len);
	if (send(live.tx, buf, sizeof(vh) + f.len, 0) < 0)
		fail_msg("send on pod0p: %s", strerror(errno));
	vh = receive_snat(&fl, &out);

	oip = frame_ip_hdr(&out);
	port = nf_sport(oip);
	if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		uint16_t got = nf_get16(nf_l4(oip) + nf_csum_off(proto));

		start = le16toh(vh.csum_start);
		off = le16toh(vh.csum_offset);
		assert_int_equal(start, ETH_HLEN + sizeof(struct iphdr));
		assert_int_equal(off, nf_csum_off(proto));
		if (!nf_csum_equiv(got, nf_partial_csum(oip)))
			fail_msg("partial sum 0x%04x, want 0x%04x for the "
				 "translated pseudo header",
				 got, nf_partial_csum(oip));
		nf_complete_csum(out.data, out.len, start, off,
				 proto == IPPROTO_UDP);
		print_message("# %s: CHECKSUM_PARTIAL kept, completed here\n",
			      proto_name(proto));
	} else {
		print_message("# %s: checksum completed by the kernel\n",
			      proto_name(proto));
	}
	/* The checksum the pod's NIC would have completed, to compare. */
	nf_l4_set_csum(ip);
	want_snat(&want, &f, port, true);
	expect_translated(&want, &out);
	count(NSF_R_FWD_SNAT, f.len);
	count_from_pod(fl.ep, f.len);
	expect_counters();
	expect_flow(&fl, port, 1, l3_len(&f),
		    proto == IPPROTO_TCP ? NSF_SEEN_SYN : 0, 0, 0, 0);
}

static void test_snat_csum_partial(void **state)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = h.from_pod_fd);
	struct bpf_tc_hook hook;
	int err;

	(void)state;
	pod0_hook(&hook, BPF_TC_INGRESS);
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		fail_msg("clsact on pod0: %s", strerror(-err));
	live.hooked = true;
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		fail_msg("attach to pod0: %s", strerror(-err));
	live.rx = packet_socket(h.if_wan0p, ETH_P_ALL);
	live.tx = packet_socket(h.if_pod0p, ETH_P_IP);
	check_partial(IPPROTO_TCP, 100);
	check_partial(IPPROTO_UDP, 61);
	check_partial(IPPROTO_TCP, 0);
}

/* ---- setup -------------------------------------------------------------- */

/* The uplink objects and pod_ingress see the same maps. */
static void test_maps_shared(void **state)
{
	static const char *const names[] = {
		NSF_MAP_CONFIG,	  NSF_MAP_EP4,	NSF_MAP_EP_STATS,
		NSF_MAP_COUNTERS, NSF_MAP_NAT4, NSF_MAP_TX_PORTS
	};
	struct bpf_object *objs[] = { h.xdp->obj, h.tc->obj };
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct bpf_map *m =
			bpf_object__find_map_by_name(h.pod->obj, names[i]);
		struct bpf_map_info a = { 0 }, b = { 0 };
		uint32_t la = sizeof(a), lb = sizeof(b);

		assert_non_null(m);
		assert_int_equal(
			bpf_obj_get_info_by_fd(bpf_map__fd(m), &a, &la), 0);
		for (j = 0; j < 2; j++) {
			struct bpf_map *o =
				bpf_object__find_map_by_name(objs[j], names[i]);

			if (!o)
				continue;
			assert_int_equal(
				bpf_obj_get_info_by_fd(bpf_map__fd(o), &b, &lb),
				0);
			if (a.id != b.id)
				fail_msg("%s: map %u vs %u", names[i], a.id,
					 b.id);
		}
	}
	assert_int_equal(bpf_map__value_size(h.pod->maps.nsf_nat4),
			 sizeof(struct nsf_nat_entry));
	assert_int_equal(bpf_map__key_size(h.pod->maps.nsf_nat4),
			 sizeof(struct nsf_nat_key));
}

static int load_objects(void)
{
	int err;

	err = datapath_load(&h.pod, &h.xdp, &h.tc, 0);
	if (err)
		return err;
	h.from_pod_fd = bpf_program__fd(h.pod->progs.nsf_from_pod);
	h.xdp_fd = bpf_program__fd(h.xdp->progs.nsf_uplink_xdp);
	h.tc_fd = bpf_program__fd(h.tc->progs.nsf_uplink_tc);
	h.config_fd = bpf_map__fd(h.pod->maps.nsf_config);
	h.ep4_fd = bpf_map__fd(h.pod->maps.nsf_ep4);
	h.stats_fd = bpf_map__fd(h.pod->maps.nsf_ep_stats);
	h.counters_fd = bpf_map__fd(h.pod->maps.nsf_counters);
	h.nat_fd = bpf_map__fd(h.pod->maps.nsf_nat4);
	h.tx_fd = bpf_map__fd(h.pod->maps.nsf_tx_ports);
	h.pol_cfg_fd = bpf_map__fd(h.pod->maps.nsf_pol_cfg);
	h.pol_groups_fd = bpf_map__fd(h.pod->maps.nsf_pol_groups);
	h.pol_rules_fd = bpf_map__fd(h.pod->maps.nsf_pol_rules);
	h.pol_cidr_fd = bpf_map__fd(h.pod->maps.nsf_pol_cidr);
	h.ct_fd = bpf_map__fd(h.pod->maps.nsf_ct4);
	return 0;
}

static void make_endpoints(void)
{
	h.ep_a = local_endpoint(h.if_pod0, 1, mac_pod0p, mac_pod0);
	h.ep_b = local_endpoint(h.if_pod1, 2, mac_pod1p, mac_pod1);
}

static int group_teardown(void **state)
{
	(void)state;
	uplink_tc__destroy(h.tc);
	uplink_xdp__destroy(h.xdp);
	pod_ingress__destroy(h.pod);
	free(h.percpu);
	free(h.zeros);
	memset(&h, 0, sizeof(h));
	return 0;
}

static int group_setup(void **state)
{
	size_t size;
	int err;

	err = make_netns();
	err = err ?: load_objects();
	if (!err) {
		h.ncpus = libbpf_num_possible_cpus();
		size = sizeof(struct nsf_ep_stats) *
		       (size_t)(h.ncpus > 0 ? h.ncpus : 1);
		h.percpu = calloc(1, size);
		h.zeros = calloc(1, size);
		if (h.ncpus <= 0 || !h.percpu || !h.zeros)
			err = -ENOMEM;
	}
	if (err) {
		print_error("setup: %s\n", strerror(-err));
		group_teardown(state);
		return -1;
	}
	make_endpoints();
	return 0;
}

#define T(f)  cmocka_unit_test(f)
#define TM(f) cmocka_unit_test_teardown(f, restore_mtu)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_maps_shared),
		/* 1. SNAT */
		T(test_snat_udp),
		T(test_snat_tcp),
		T(test_snat_icmp_echo),
		T(test_snat_tcp_seen),
		T(test_snat_udp_no_csum),
		T(test_snat_two_pods),
		T(test_snat_not_uplink),
		T(test_snat_drop_no_nat),
		T(test_snat_policy_cidr_keeps_world_deny),
		T(test_snat_no_neigh),
		T(test_snat_padded),
		TM(test_snat_mtu),
		TM(test_snat_mtu_slack),
		TM(test_snat_mtu_no_neigh),
		T(test_snat_mtu_route),
		TM(test_snat_gso),
		cmocka_unit_test_teardown(test_snat_csum_partial,
					  live_teardown),
		T(test_csum_edges_udp),
		T(test_csum_edges_tcp),
		T(test_csum_edges_icmp),
		T(test_csum_random),
		/* 2. port allocation */
		T(test_port_exhausted),
		T(test_two_port_ranges),
		T(test_port_range_edges),
		T(test_port_collision),
		T(test_port_restore),
		T(test_reply_entry_restore),
		T(test_port_restore_after_collision),
		/* 3. reverse NAT */
		T(test_rnat_udp_xdp),
		T(test_rnat_udp_tc),
		T(test_rnat_tcp_xdp),
		T(test_rnat_tcp_tc),
		T(test_rnat_icmp_xdp),
		T(test_rnat_icmp_tc),
		T(test_rnat_tcp_seen_xdp),
		T(test_rnat_tcp_seen_tc),
		T(test_rnat_udp_no_csum_xdp),
		T(test_rnat_udp_no_csum_tc),
		T(test_rnat_not_ours_xdp),
		T(test_rnat_not_ours_tc),
		T(test_rnat_no_endpoint_xdp),
		T(test_rnat_no_endpoint_tc),
		T(test_rnat_padded_xdp),
		T(test_rnat_padded_tc),
		T(test_rnat_xdp_no_tx_port),
		T(test_rnat_prio_tag_xdp),
		/* 4. ICMP errors */
		T(test_icmp_err_udp_xdp),
		T(test_icmp_err_udp_tc),
		T(test_icmp_err_tcp_xdp),
		T(test_icmp_err_tcp_tc),
		T(test_icmp_err_echo_xdp),
		T(test_icmp_err_echo_tc),
		T(test_icmp_err_udp_no_csum_xdp),
		T(test_icmp_err_udp_no_csum_tc),
		T(test_icmp_err_not_ours_xdp),
		T(test_icmp_err_not_ours_tc),
		T(test_icmp_err_no_endpoint_xdp),
		T(test_icmp_err_no_endpoint_tc),
	};

	return cmocka_run_group_tests_name("bpf_nat", tests, group_setup,
					   group_teardown);
}
