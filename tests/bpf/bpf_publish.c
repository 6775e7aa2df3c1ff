// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Tests for port publishing (bpf/lib/publish.h) and routes to other nodes
 * (bpf/lib/remote.h), run with BPF_PROG_TEST_RUN on crafted frames:
 *  - DNAT of a new flow to a published port in nsf_uplink_xdp and
 *    nsf_uplink_tc: the rewritten frame (address, port, MACs, TTL, both
 *    checksums recomputed from scratch), the pair of NAT entries, the
 *    counters; what must not start a flow (ACK, SYN-ACK, RST, an
 *    unpublished port); a first packet dropped for a pod that is gone
 *    or TTL 1 (also hairpin) leaves no entry;
 *  - the pod's reply leaving through nsf_from_pod's SNAT path as
 *    host:hport;
 *  - a published flow's state with the client as its opener: UDP
 *    UNREPLIED until the pod answers, TCP ESTABLISHED after the client's
 *    ACK, and gc judging them so;
 *  - a closed TCP tuple (RST, FIN both ways) reused by a new connection:
 *    masqueraded, published (XDP and tc) and hairpin flows start over and
 *    outlive gc; a SYN in a live connection changes nothing;
 *  - two host ports published to one pod port, reached from one client
 *    tuple: the second flow is dropped (drop-publish-clash), the first
 *    keeps its replies' port; a flow's first packet again after its
 *    ingress entry was evicted carries on;
 *  - hairpin: a pod to a published port via the uplink address, both
 *    directions (source and destination rewritten, four NAT entries); a
 *    hairpin flow refused for a clash leaves no entry behind;
 *  - unpublishing removes the flows of the port, and only those;
 *  - routes: a pod to another node's pod CIDR forwarded unchanged to the
 *    node's MAC (longest prefix wins, unresolved neighbour, unreachable
 *    node never masqueraded); a packet from another node for a local pod
 *    delivered by the uplink programs without NAT.
 *
 * As in bpf_nat.c, the group runs in a private network namespace
 * (unshare(), gone with the process):
 *   pod0 / pod0p   host-side veth of pod A (10.244.0.2) and its pod end
 *   pod1 / pod1p   the same for pod B (10.244.0.3)
 *   wan0 / wan0p   the uplink, 10.99.0.2/24; default via 10.99.0.1;
 *                  node 10.99.0.3 (permanent neighbour), node 10.99.0.4
 *                  (no neighbour entry), node 10.99.0.5 (permanent
 *                  neighbour, route MTU 300); 172.31.0.0/16 unreachable
 * and the three objects loaded without pins, sharing pod_ingress's maps.
 * test_run records redirect targets without sending anything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <nsfast/maps.h>
#include <nsfast/reasons.h>

#include "nat_frames.h"
#define TESTLIB_ERROR print_error
#include "testlib.h"
#include "datapath.h"
#include "nat.h" /* loader/nat.h: nsf_nat_foreach, nsf_nat_gc */

#define HOST_IP(a, b, c, d) \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

#define POD_A	   HOST_IP(10, 244, 0, 2)
#define POD_B	   HOST_IP(10, 244, 0, 3)
#define SNAT_IP	   HOST_IP(10, 99, 0, 2)
#define PEER	   HOST_IP(198, 18, 0, 10)
#define NODE_B	   HOST_IP(10, 99, 0, 3)
#define NODE_C	   HOST_IP(10, 99, 0, 4)    /* no neighbour entry */
#define NODE_X	   HOST_IP(172, 31, 0, 1)   /* unreachable */
#define REMOTE_POD HOST_IP(10, 245, 0, 7)   /* in 10.245.0.0/24 (node B) */
#define REMOTE_C   HOST_IP(10, 245, 0, 200) /* in 10.245.0.128/25 (C) */
#define REMOTE_X   HOST_IP(10, 246, 0, 7)   /* in 10.246.0.0/24 (X) */
#define NODE_M	   HOST_IP(10, 99, 0, 5)    /* route MTU 300 */
#define REMOTE_M   HOST_IP(10, 247, 0, 7)   /* in 10.247.0.0/24 (M) */
#define NODE_M_MTU 300

#define PORT_MIN 10000
#define PORT_MAX 10099
#define HPORT	 8080
#define PPORT	 80

static const uint8_t mac_node_b[ETH_ALEN] = { 0x02, 0, 0, 0x63, 0, 0x03 };

static struct harness {
	struct pod_ingress *pod;
	struct uplink_xdp *xdp;
	struct uplink_tc *tc;
	int from_pod_fd, xdp_fd, tc_fd;
	int config_fd, ep4_fd, stats_fd, counters_fd, nat_fd, tx_fd;
	int publish_fd, routes_fd;
	int ncpus;
	void *percpu;
	void *zeros;
	int if_pod0, if_pod1, if_wan0;
	struct nsf_endpoint ep_a, ep_b;
} h;

struct result {
	int err;
	uint32_t retval;
	struct frame out;
};

enum path {
	PATH_XDP,
	PATH_TC
};

/* ---- namespace ---------------------------------------------------------- */

static int make_netns(void)
{
	static const char *const up[] = { "lo",	   "pod0", "pod0p", "pod1",
					  "pod1p", "wan0", "wan0p" };
	int err = 0;

	if (unshare(CLONE_NEWNET)) {
		print_error("unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -errno;
	}
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	err = veth("pod0", mac_pod0, "pod0p", mac_pod0p);
	err = err ?: veth("pod1", mac_pod1, "pod1p", mac_pod1p);
	err = err ?: veth("wan0", mac_wan0, "wan0p", mac_wan0p);
	for (size_t i = 0; !err && i < sizeof(up) / sizeof(up[0]); i++)
		err = sh("ip link set %s up", up[i]);
	err = err ?: sh("ip addr add 10.99.0.2/24 dev wan0");
	err = err ?: sh("ip route add default via 10.99.0.1 dev wan0");
	err = err ?: sh("ip route add unreachable 172.31.0.0/16");
	err = err
		      ?: sh("ip neigh add 10.99.0.1 lladdr %s dev wan0 nud "
			    "permanent",
			    mac_str(mac_gw));
	err = err
		      ?: sh("ip neigh add 10.99.0.3 lladdr %s dev wan0 nud "
			    "permanent",
			    mac_str(mac_node_b));
	/* Locked: bpf_fib_lookup() honours a route's MTU only then. */
	err = err
		      ?: sh("ip route add 10.99.0.5/32 dev wan0 mtu lock %d",
			    NODE_M_MTU);
	err = err
		      ?: sh("ip neigh add 10.99.0.5 lladdr %s dev wan0 nud "
			    "permanent",
			    mac_str(mac_node_b));
	err = err ?: write_file("/proc/sys/net/ipv4/conf/pod0/forwarding", "1");
	err = err ?: write_file("/proc/sys/net/ipv4/conf/pod1/forwarding", "1");
	err = err ?: if_index("pod0", &h.if_pod0);
	err = err ?: if_index("pod1", &h.if_pod1);
	err = err ?: if_index("wan0", &h.if_wan0);
	return err;
}

/* ---- objects and maps --------------------------------------------------- */

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
	h.publish_fd = bpf_map__fd(h.pod->maps.nsf_publish4);
	h.routes_fd = bpf_map__fd(h.pod->maps.nsf_routes4);
	return 0;
}

static int put(int fd, const void *k, const void *v)
{
	return bpf_map_update_elem(fd, k, v, BPF_ANY) ? -errno : 0;
}

static void publish(uint8_t proto, uint16_t hport, uint32_t pod, uint16_t port)
{
	struct nsf_publish_key k = { .port = htons(hport), .proto = proto };
	struct nsf_publish_val v = { .pod_addr = htonl(pod),
				     .pod_port = htons(port) };

	assert_int_equal(put(h.publish_fd, &k, &v), 0);
}

static void route(uint32_t net, uint32_t prefix, uint32_t node)
{
	struct nsf_route4_key k = { .prefixlen = prefix, .addr = htonl(net) };
	struct nsf_route4_val v = { .node = htonl(node) };

	assert_int_equal(put(h.routes_fd, &k, &v), 0);
}

/* Empty NAT table, publish map and routes, zero counters, pods A and B. */
static void reset(void)
{
	struct nsf_config cfg = {
		.pod_net4 = htonl(HOST_IP(10, 244, 0, 0)),
		.pod_mask4 = htonl(0xffff0000),
		.gateway4 = htonl(NSF_GATEWAY4),
		.uplink_ifindex = (uint32_t)h.if_wan0,
		.snat4 = htonl(SNAT_IP),
		.nat_port_min = PORT_MIN,
		.nat_port_max = PORT_MAX,
	};
	struct nsf_route4_key rk;
	struct nsf_publish_key pk;
	struct nsf_nat_key nk;
	uint32_t key = 0, a = htonl(POD_A), b = htonl(POD_B);
	struct bpf_devmap_val dv = { 0 };
	int err;

	err = clear_map(h.nat_fd, &nk);
	err = err ?: clear_map(h.publish_fd, &pk);
	err = err ?: clear_map(h.routes_fd, &rk);
	for (key = 0; !err && key < NSF_MAX_REASONS; key++)
		err = put(h.counters_fd, &key, h.zeros);
	for (key = 0; !err && key < 3; key++)
		err = put(h.stats_fd, &key, h.zeros);
	key = 0;
	err = err ?: put(h.config_fd, &key, &cfg);
	err = err ?: put(h.ep4_fd, &a, &h.ep_a);
	err = err ?: put(h.ep4_fd, &b, &h.ep_b);
	dv.ifindex = (uint32_t)h.if_pod0;
	err = err ?: put(h.tx_fd, &h.if_pod0, &dv);
	dv.ifindex = (uint32_t)h.if_pod1;
	err = err ?: put(h.tx_fd, &h.if_pod1, &dv);
	assert_int_equal(err, 0);
}

static uint64_t counter(uint32_t reason)
{
	const struct nsf_counter *v = h.percpu;
	uint64_t sum = 0;

	assert_int_equal(bpf_map_lookup_elem(h.counters_fd, &reason, h.percpu),
			 0);
	for (int i = 0; i < h.ncpus; i++)
		sum += v[i].packets;
	return sum;
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

static struct nsf_nat_key nat_key(uint8_t dir, uint8_t proto, uint32_t saddr,
				  uint32_t daddr, uint16_t sport,
				  uint16_t dport)
{
	struct nsf_nat_key k = {
		.saddr = htonl(saddr),
		.daddr = htonl(daddr),
		.sport = htons(sport),
		.dport = htons(dport),
		.proto = proto,
		.dir = dir,
	};

	return k;
}

/* Entry @k must exist and translate to @addr:@port. */
static void expect_entry(struct nsf_nat_key k, uint32_t addr, uint16_t port)
{
	struct nsf_nat_entry e;

	if (bpf_map_lookup_elem(h.nat_fd, &k, &e))
		fail_msg("no NAT entry dir %u %08x:%u -> %08x:%u", k.dir,
			 ntohl(k.saddr), ntohs(k.sport), ntohl(k.daddr),
			 ntohs(k.dport));
	assert_int_equal(ntohl(e.addr), addr);
	assert_int_equal(ntohs(e.port), port);
}

/* ---- frames and runs ---------------------------------------------------- */

/* A frame @src:@sport -> @dst:@dport with TCP @flags (TCP) or UDP. */
static struct iphdr *build(struct frame *f, const uint8_t *dmac,
			   const uint8_t *smac, uint8_t proto, uint32_t src,
			   uint16_t sport, uint32_t dst, uint16_t dport,
			   uint8_t flags)
{
	struct ipv4_spec s = {
		.saddr = htonl(src),
		.daddr = htonl(dst),
		.proto = proto,
		.ttl = 64,
		.payload = 32,
	};
	struct iphdr *ip;

	frame_eth(f, dmac, smac, ETH_P_IP);
	ip = frame_ipv4(f, &s);
	nf_set_sport(ip, sport);
	nf_set_dport(ip, dport);
	if (proto == IPPROTO_TCP)
		nf_l4(ip)[13] = flags;
	nf_set_csums(ip);
	return ip;
}

static void run_skb(int fd, const struct frame *in, int ifindex,
		    struct result *r)
{
	struct __sk_buff ctx = {
		.ifindex = (uint32_t)ifindex,
		.ingress_ifindex = (uint32_t)ifindex,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in->data,
		    .data_size_in = in->len, .data_out = r->out.data,
		    .data_size_out = sizeof(r->out.data), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx));

	memset(&r->out, 0, sizeof(r->out));
	r->err = bpf_prog_test_run_opts(fd, &opts);
	r->retval = opts.retval;
	r->out.len = r->err ? 0 : opts.data_size_out;
	assert_int_equal(r->err, 0);
}

static void run_up(enum path p, const struct frame *in, struct result *r)
{
	struct xdp_md ctx = {
		.data_end = in->len,
		.ingress_ifindex = (uint32_t)h.if_wan0,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in->data,
		    .data_size_in = in->len, .data_out = r->out.data,
		    .data_size_out = sizeof(r->out.data), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx));

	if (p == PATH_TC)
		return run_skb(h.tc_fd, in, h.if_wan0, r);
	memset(&r->out, 0, sizeof(r->out));
	r->err = bpf_prog_test_run_opts(h.xdp_fd, &opts);
	r->retval = opts.retval;
	r->out.len = r->err ? 0 : opts.data_size_out;
	assert_int_equal(r->err, 0);
}

static uint32_t act_redirect(enum path p)
{
	return p == PATH_XDP ? XDP_REDIRECT : TC_ACT_REDIRECT;
}

static uint32_t act_pass(enum path p)
{
	return p == PATH_XDP ? XDP_PASS : TC_ACT_OK;
}

/* Both checksums of the output, recomputed from scratch, must hold. */
static struct iphdr *expect_valid(struct result *r)
{
	struct iphdr *ip = frame_ip_hdr(&r->out);

	assert_true(r->out.len > ETH_HLEN + sizeof(*ip));
	assert_true(ipv4_csum_valid(ip));
	assert_true(nf_l4_csum_valid(ip, nf_l4(ip), nf_l4_len(ip)));
	return ip;
}

static void expect_tuple(struct iphdr *ip, uint32_t src, uint16_t sport,
			 uint32_t dst, uint16_t dport)
{
	assert_int_equal(ntohl(ip->saddr), src);
	assert_int_equal(nf_sport(ip), sport);
	assert_int_equal(ntohl(ip->daddr), dst);
	assert_int_equal(nf_dport(ip), dport);
}

static void expect_macs(struct result *r, const uint8_t *dst,
			const uint8_t *src)
{
	struct ethhdr *eth = frame_eth_hdr(&r->out);

	assert_memory_equal(eth->h_dest, dst, ETH_ALEN);
	assert_memory_equal(eth->h_source, src, ETH_ALEN);
}

/* ---- DNAT on the uplink ------------------------------------------------- */

static void check_dnat(enum path p, uint8_t proto)
{
	uint8_t flags = proto == IPPROTO_TCP ? NF_TCP_SYN : 0;
	struct result r;
	struct frame in;
	struct iphdr *ip;

	reset();
	publish(proto, HPORT, POD_A, PPORT);
	build(&in, mac_wan0, mac_wan0p, proto, PEER, 40001, SNAT_IP, HPORT,
	      flags);
	run_up(p, &in, &r);
	assert_int_equal(r.retval, act_redirect(p));
	ip = expect_valid(&r);
	expect_tuple(ip, PEER, 40001, POD_A, PPORT);
	assert_int_equal(ip->ttl, 63);
	expect_macs(&r, mac_pod0p, mac_pod0);
	assert_int_equal(r.out.len, in.len);
	/* The pair, as the masquerade path would have made it reversed. */
	assert_int_equal(nat_count(), 2);
	expect_entry(
		nat_key(NSF_NAT_INGRESS, proto, PEER, SNAT_IP, 40001, HPORT),
		POD_A, PPORT);
	expect_entry(nat_key(NSF_NAT_EGRESS, proto, POD_A, PEER, PPORT, 40001),
		     SNAT_IP, HPORT);
	assert_int_equal(counter(NSF_R_FWD_PUBLISH), 1);

	/* The next packet of the flow is an ordinary reverse-NAT hit. */
	if (proto == IPPROTO_TCP) {
		ip = frame_ip_hdr(&in);
		nf_l4(ip)[13] = NF_TCP_ACK;
		nf_set_csums(ip);
	}
	run_up(p, &in, &r);
	assert_int_equal(r.retval, act_redirect(p));
	expect_tuple(expect_valid(&r), PEER, 40001, POD_A, PPORT);
	assert_int_equal(counter(NSF_R_FWD_RNAT), 1);
	assert_int_equal(counter(NSF_R_FWD_PUBLISH), 1);
	assert_int_equal(nat_count(), 2);
}

static void test_dnat_tcp_xdp(void **state)
{
	(void)state;
	check_dnat(PATH_XDP, IPPROTO_TCP);
}

static void test_dnat_tcp_tc(void **state)
{
	(void)state;
	check_dnat(PATH_TC, IPPROTO_TCP);
}

static void test_dnat_udp_xdp(void **state)
{
	(void)state;
	check_dnat(PATH_XDP, IPPROTO_UDP);
}

static void test_dnat_udp_tc(void **state)
{
	(void)state;
	check_dnat(PATH_TC, IPPROTO_UDP);
}

/* What must not start a flow: passes to the host untouched, no state. */
static void check_no_dnat(enum path p)
{
	static const uint8_t flags[] = { NF_TCP_ACK, NF_TCP_SYN | NF_TCP_ACK,
					 NF_TCP_RST, NF_TCP_SYN | NF_TCP_RST };
	struct result r;
	struct frame in;

	reset();
	publish(IPPROTO_TCP, HPORT, POD_A, PPORT);
	for (size_t i = 0; i < sizeof(flags); i++) {
		build(&in, mac_wan0, mac_wan0p, IPPROTO_TCP, PEER, 40001,
		      SNAT_IP, HPORT, flags[i]);
		run_up(p, &in, &r);
		assert_int_equal(r.retval, act_pass(p));
		assert_int_equal(frame_diff(&in, &r.out), -1);
	}
	/* Unpublished port, and the published port for the other proto. */
	build(&in, mac_wan0, mac_wan0p, IPPROTO_TCP, PEER, 40001, SNAT_IP,
	      HPORT + 1, NF_TCP_SYN);
	run_up(p, &in, &r);
	assert_int_equal(r.retval, act_pass(p));
	build(&in, mac_wan0, mac_wan0p, IPPROTO_UDP, PEER, 40001, SNAT_IP,
	      HPORT, 0);
	run_up(p, &in, &r);
	assert_int_equal(r.retval, act_pass(p));
	/* A SYN "from" the host address itself: a spoof, the kernel's. */
	build(&in, mac_wan0, mac_wan0p, IPPROTO_TCP, SNAT_IP, 40001, SNAT_IP,
	      HPORT, NF_TCP_SYN);
	run_up(p, &in, &r);
	assert_int_equal(r.retval, act_pass(p));
	assert_int_equal(nat_count(), 0);
	assert_int_equal(counter(NSF_R_PASS_HOST), sizeof(flags) + 3);
	assert_int_equal(counter(NSF_R_FWD_PUBLISH), 0);
}

static void test_no_dnat_xdp(void **state)
{
	(void)state;
	check_no_dnat(PATH_XDP);
}

static void test_no_dnat_tc(void **state)
{
	(void)state;
	check_no_dnat(PATH_TC);
}

/* A published port whose pod is gone: dropped, counted, and no flow
 * made for it (which would hold the client's tuple until gc). */
static void check_dnat_pod_gone(enum path p)
{
	uint32_t gone = HOST_IP(10, 244, 0, 99);
	struct result r;
	struct frame in;

	reset();
	publish(IPPROTO_UDP, HPORT, gone, PPORT);
	build(&in, mac_wan0, mac_wan0p, IPPROTO_UDP, PEER, 40001, SNAT_IP,
	      HPORT, 0);
	run_up(p, &in, &r);
	assert_int_equal(r.retval, p == PATH_XDP ? XDP_DROP : TC_ACT_SHOT);
	assert_int_equal(counter(NSF_R_DROP_NO_ENDPOINT), 1);
	assert_int_equal(nat_count(), 0);
}

static void test_dnat_pod_gone_xdp(void **state)
{
	(void)state;
	check_dnat_pod_gone(PATH_XDP);
}

static void test_dnat_pod_gone_tc(void **state)
{
	(void)state;
	check_dnat_pod_gone(PATH_TC);
}

/*
 * A first packet that would expire on the way to the pod (TTL 1) is
 * dropped as drop-ttl and makes no flow: the client's next SYN, with a
 * TTL that gets it there, is the flow's first packet (fwd-publish).
 */
static void check_dnat_ttl(enum path p)
{
	struct result r;
	struct frame in;
	struct iphdr *ip;

	reset();
	publish(IPPROTO_TCP, HPORT, POD_A, PPORT);
	ip = build(&in, mac_wan0, mac_wan0p, IPPROTO_TCP, PEER, 40001, SNAT_IP,
		   HPORT, NF_TCP_SYN);
	ip->ttl = 1;
	nf_set_csums(ip);
	run_up(p, &in, &r);
	assert_int_equal(r.retval, p == PATH_XDP ? XDP_DROP : TC_ACT_SHOT);
	assert_int_equal(counter(NSF_R_DROP_TTL), 1);
	assert_int_equal(nat_count(), 0);
	build(&in, mac_wan0, mac_wan0p, IPPROTO_TCP, PEER, 40001, SNAT_IP,
	      HPORT, NF_TCP_SYN);
	run_up(p, &in, &r);
	assert_int_equal(r.retval, act_redirect(p));
	assert_int_equal(counter(NSF_R_FWD_PUBLISH), 1);
	assert_int_equal(nat_count(), 2);
}

static void test_dnat_ttl_xdp(void **state)
{
	(void)state;
	check_dnat_ttl(PATH_XDP);
}

static void test_dnat_ttl_tc(void **state)
{
	(void)state;
	check_dnat_ttl(PATH_TC);
}

/* The pod's reply leaves masqueraded as host:hport (nsf_from_pod). */
static void check_reply(uint8_t proto)
{
	uint8_t flags = proto == IPPROTO_TCP ? NF_TCP_SYN : 0;
	struct result r;
	struct frame in;

	reset();
	publish(proto, HPORT, POD_A, PPORT);
	build(&in, mac_wan0, mac_wan0p, proto, PEER, 40001, SNAT_IP, HPORT,
	      flags);
	run_up(PATH_TC, &in, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	build(&in, mac_pod0, mac_pod0p, proto, POD_A, PPORT, PEER, 40001,
	      proto == IPPROTO_TCP ? NF_TCP_SYN | NF_TCP_ACK : 0);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	expect_tuple(expect_valid(&r), SNAT_IP, HPORT, PEER, 40001);
	expect_macs(&r, mac_gw, mac_wan0);
	assert_int_equal(counter(NSF_R_FWD_SNAT), 1);
	assert_int_equal(nat_count(), 2); /* no new flow */
}

static void test_reply_tcp(void **state)
{
	(void)state;
	check_reply(IPPROTO_TCP);
}

static void test_reply_udp(void **state)
{
	(void)state;
	check_reply(IPPROTO_UDP);
}

/* ---- a closed TCP tuple reused by a new connection ---------------------- */

struct flow_seen {
	char state[32];
	uint32_t timeout;
	int n;
};

static int grab_flow(const struct nsf_nat_flow *f, void *arg)
{
	struct flow_seen *s = arg;

	snprintf(s->state, sizeof(s->state), "%s", f->state);
	s->timeout = f->timeout;
	s->n++;
	return 0;
}

/* Make entry @k look @secs older (last packet and creation). */
static void age_entry(struct nsf_nat_key k, uint64_t secs)
{
	struct nsf_nat_entry e;

	assert_int_equal(bpf_map_lookup_elem(h.nat_fd, &k, &e), 0);
	e.last_seen -= secs * 1000000000ull;
	e.created -= secs * 1000000000ull;
	assert_int_equal(put(h.nat_fd, &k, &e), 0);
}

static struct nsf_nat_entry conn_entry(struct nsf_nat_key k)
{
	struct nsf_nat_entry e;

	assert_int_equal(bpf_map_lookup_elem(h.nat_fd, &k, &e), 0);
	return e;
}

/* One TCP segment from the pod (pod A:@sport -> @dst:@dport), tc verdict. */
static uint32_t conn_pod(uint16_t sport, uint32_t dst, uint16_t dport,
			 uint8_t flags, struct result *r)
{
	struct frame in;

	build(&in, mac_pod0, mac_pod0p, IPPROTO_TCP, POD_A, sport, dst, dport,
	      flags);
	run_skb(h.from_pod_fd, &in, h.if_pod0, r);
	return r->retval;
}

/* One TCP segment from the world (PEER:@sport -> host:@dport), uplink @p. */
static uint32_t conn_world(enum path p, uint16_t sport, uint16_t dport,
			   uint8_t flags, struct result *r)
{
	struct frame in;

	build(&in, mac_wan0, mac_wan0p, IPPROTO_TCP, PEER, sport, SNAT_IP,
	      dport, flags);
	run_up(p, &in, r);
	return r->retval;
}

/*
 * After @secs idle, the flow of egress key @eg (reply key @in) must be
 * ESTABLISHED, survive gc and still carry the world's next segment
 * (PEER:@wport -> host:@hport) into the pod, to A:@pport.
 */
static void conn_expect_survives(struct nsf_nat_key eg, struct nsf_nat_key in,
				 uint64_t secs, uint16_t wport, uint16_t hport,
				 uint16_t pport)
{
	struct nsf_nat_gc_result gc;
	struct nsf_nat_timeouts t;
	struct flow_seen st = { 0 };
	struct result r;

	nsf_nat_default_timeouts(&t);
	assert_int_equal(nsf_nat_foreach(h.nat_fd, &t, grab_flow, &st), 0);
	assert_int_equal(st.n, 1);
	assert_string_equal(st.state, "ESTABLISHED");
	age_entry(eg, secs);
	age_entry(in, secs);
	assert_int_equal(nsf_nat_gc(h.nat_fd, &t, &gc), 0);
	assert_int_equal(gc.expired, 0);
	assert_int_equal(nat_count(), 2);
	assert_int_equal(conn_world(PATH_TC, wport, hport, NF_TCP_ACK, &r),
			 TC_ACT_REDIRECT);
	expect_tuple(expect_valid(&r), PEER, wport, POD_A, pport);
}

/* Pod A:40001 -> PEER:443 starts (SYN); returns its NAT port. */
static uint16_t conn_syn(void)
{
	struct result r;

	assert_int_equal(conn_pod(40001, PEER, 443, NF_TCP_SYN, &r),
			 TC_ACT_REDIRECT);
	return nf_sport(frame_ip_hdr(&r.out));
}

/* A:40001 connects to PEER:443 (SYN, SYN-ACK, ACK); @r holds the last
 * packet. Returns the NAT port. */
static uint16_t conn_establish(struct result *r)
{
	uint16_t np = conn_syn();

	assert_int_equal(
		conn_world(PATH_TC, 443, np, NF_TCP_SYN | NF_TCP_ACK, r),
		TC_ACT_REDIRECT);
	assert_int_equal(conn_pod(40001, PEER, 443, NF_TCP_ACK, r),
			 TC_ACT_REDIRECT);
	return np;
}

/* The pod's three-way handshake from A:40001 to PEER:443 via NAT port @np. */
static void conn_handshake(uint16_t np)
{
	struct result r;

	assert_int_equal(conn_pod(40001, PEER, 443, NF_TCP_SYN, &r),
			 TC_ACT_REDIRECT);
	assert_int_equal(nf_sport(frame_ip_hdr(&r.out)), np);
	assert_int_equal(
		conn_world(PATH_TC, 443, np, NF_TCP_SYN | NF_TCP_ACK, &r),
		TC_ACT_REDIRECT);
	assert_int_equal(conn_pod(40001, PEER, 443, NF_TCP_ACK, &r),
			 TC_ACT_REDIRECT);
	assert_int_equal(conn_world(PATH_TC, 443, np, NF_TCP_ACK, &r),
			 TC_ACT_REDIRECT);
}

/* Refused (RST), then the same tuple connects: a new connection, not a
 * CLOSE that gc ends 10 s later. */
static void test_tcp_reopen_after_rst(void **state)
{
	struct nsf_nat_key eg, in;
	struct result r;
	uint16_t np;

	(void)state;
	reset();
	np = conn_syn();
	assert_int_equal(
		conn_world(PATH_TC, 443, np, NF_TCP_RST | NF_TCP_ACK, &r),
		TC_ACT_REDIRECT);
	conn_handshake(np);
	eg = nat_key(NSF_NAT_EGRESS, IPPROTO_TCP, POD_A, PEER, 40001, 443);
	in = nat_key(NSF_NAT_INGRESS, IPPROTO_TCP, PEER, SNAT_IP, 443, np);
	/* A new connection: counters and age start again. */
	assert_int_equal(conn_entry(eg).packets, 2);
	assert_int_equal(conn_entry(in).packets, 2);
	assert_int_equal(conn_entry(eg).seen, NSF_SEEN_SYN | NSF_SEEN_ACK);
	assert_int_equal(conn_entry(in).seen, NSF_SEEN_SYN | NSF_SEEN_ACK);
	conn_expect_survives(eg, in, 11, 443, np, 40001);
}

/* Closed with FIN both ways (TIME_WAIT), then the same tuple connects. */
static void test_tcp_reopen_after_fin(void **state)
{
	struct nsf_nat_key eg, in;
	struct result r;
	uint16_t np;

	(void)state;
	reset();
	np = conn_establish(&r);
	assert_int_equal(
		conn_pod(40001, PEER, 443, NF_TCP_FIN | NF_TCP_ACK, &r),
		TC_ACT_REDIRECT);
	assert_int_equal(
		conn_world(PATH_TC, 443, np, NF_TCP_FIN | NF_TCP_ACK, &r),
		TC_ACT_REDIRECT);
	assert_int_equal(conn_pod(40001, PEER, 443, NF_TCP_ACK, &r),
			 TC_ACT_REDIRECT);
	conn_handshake(np);
	eg = nat_key(NSF_NAT_EGRESS, IPPROTO_TCP, POD_A, PEER, 40001, 443);
	in = nat_key(NSF_NAT_INGRESS, IPPROTO_TCP, PEER, SNAT_IP, 443, np);
	conn_expect_survives(eg, in, 121, 443, np, 40001);
}

/* A SYN retransmitted in a live connection (or a half-closed one) starts
 * nothing over: counters, flags and age stay. */
static void test_tcp_syn_in_live_flow(void **state)
{
	struct nsf_nat_entry e0, i0, e1, i1;
	struct nsf_nat_key eg, in;
	struct result r;
	uint16_t np;

	(void)state;
	reset();
	np = conn_establish(&r);
	/* Half-closed by the world: not closed (conntrack: CLOSE_WAIT). */
	assert_int_equal(
		conn_world(PATH_TC, 443, np, NF_TCP_FIN | NF_TCP_ACK, &r),
		TC_ACT_REDIRECT);
	eg = nat_key(NSF_NAT_EGRESS, IPPROTO_TCP, POD_A, PEER, 40001, 443);
	in = nat_key(NSF_NAT_INGRESS, IPPROTO_TCP, PEER, SNAT_IP, 443, np);
	age_entry(eg, 5);
	age_entry(in, 5);
	e0 = conn_entry(eg);
	i0 = conn_entry(in);
	assert_int_equal(conn_pod(40001, PEER, 443, NF_TCP_SYN, &r),
			 TC_ACT_REDIRECT);
	assert_int_equal(nf_sport(frame_ip_hdr(&r.out)), np);
	e1 = conn_entry(eg);
	i1 = conn_entry(in);
	assert_int_equal(e1.packets, e0.packets + 1);
	assert_int_equal(e1.seen, e0.seen);
	assert_true(e1.created == e0.created);
	assert_int_equal(i1.packets, i0.packets);
	assert_int_equal(i1.seen, i0.seen);
	assert_true(i1.created == i0.created);
}

/* A published flow reset by the client, then the client's same tuple
 * connects again: a new published connection. */
static void check_publish_reopen(enum path p)
{
	struct nsf_nat_key eg, in;
	struct result r;

	reset();
	publish(IPPROTO_TCP, HPORT, POD_A, PPORT);
	assert_int_equal(conn_world(p, 40001, HPORT, NF_TCP_SYN, &r),
			 act_redirect(p));
	assert_int_equal(
		conn_pod(PPORT, PEER, 40001, NF_TCP_SYN | NF_TCP_ACK, &r),
		TC_ACT_REDIRECT);
	assert_int_equal(conn_world(p, 40001, HPORT, NF_TCP_RST, &r),
			 act_redirect(p));
	assert_int_equal(conn_world(p, 40001, HPORT, NF_TCP_SYN, &r),
			 act_redirect(p));
	expect_tuple(expect_valid(&r), PEER, 40001, POD_A, PPORT);
	assert_int_equal(
		conn_pod(PPORT, PEER, 40001, NF_TCP_SYN | NF_TCP_ACK, &r),
		TC_ACT_REDIRECT);
	expect_tuple(expect_valid(&r), SNAT_IP, HPORT, PEER, 40001);
	assert_int_equal(conn_world(p, 40001, HPORT, NF_TCP_ACK, &r),
			 act_redirect(p));
	assert_int_equal(conn_pod(PPORT, PEER, 40001, NF_TCP_ACK, &r),
			 TC_ACT_REDIRECT);
	eg = nat_key(NSF_NAT_EGRESS, IPPROTO_TCP, POD_A, PEER, PPORT, 40001);
	in = nat_key(NSF_NAT_INGRESS, IPPROTO_TCP, PEER, SNAT_IP, 40001, HPORT);
	assert_int_equal(conn_entry(in).packets, 2);
	assert_int_equal(conn_entry(eg).packets, 2);
	conn_expect_survives(eg, in, 11, 40001, HPORT, PPORT);
}

static void test_publish_reopen_after_rst_xdp(void **state)
{
	(void)state;
	check_publish_reopen(PATH_XDP);
}

static void test_publish_reopen_after_rst_tc(void **state)
{
	(void)state;
	check_publish_reopen(PATH_TC);
}

/* Hairpin: pod B's connection to host:HPORT refused by pod A (RST), then
 * B's same tuple connects again: both pairs start over. */
static void test_hairpin_reopen_after_rst(void **state)
{
	struct nsf_nat_key k[4];
	struct result r;
	struct frame in;
	uint16_t np;

	(void)state;
	reset();
	publish(IPPROTO_TCP, HPORT, POD_A, PPORT);
	build(&in, mac_pod1, mac_pod1p, IPPROTO_TCP, POD_B, 5555, SNAT_IP,
	      HPORT, NF_TCP_SYN);
	run_skb(h.from_pod_fd, &in, h.if_pod1, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	np = nf_sport(frame_ip_hdr(&r.out));
	assert_int_equal(
		conn_pod(PPORT, SNAT_IP, np, NF_TCP_RST | NF_TCP_ACK, &r),
		TC_ACT_REDIRECT);
	k[0] = nat_key(NSF_NAT_EGRESS, IPPROTO_TCP, POD_B, SNAT_IP, 5555,
		       HPORT);
	k[1] = nat_key(NSF_NAT_INGRESS, IPPROTO_TCP, SNAT_IP, SNAT_IP, np,
		       HPORT);
	k[2] = nat_key(NSF_NAT_INGRESS, IPPROTO_TCP, SNAT_IP, SNAT_IP, HPORT,
		       np);
	k[3] = nat_key(NSF_NAT_EGRESS, IPPROTO_TCP, POD_A, SNAT_IP, PPORT, np);
	assert_int_equal(conn_entry(k[2]).seen, NSF_SEEN_ACK | NSF_SEEN_RST);
	assert_int_equal(conn_entry(k[3]).seen, NSF_SEEN_ACK | NSF_SEEN_RST);
	run_skb(h.from_pod_fd, &in, h.if_pod1, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	expect_tuple(expect_valid(&r), SNAT_IP, np, POD_A, PPORT);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(conn_entry(k[i]).seen, NSF_SEEN_SYN);
		assert_int_equal(conn_entry(k[i]).packets, 1);
	}
	for (int i = 2; i < 4; i++) {
		assert_int_equal(conn_entry(k[i]).seen, 0);
		assert_int_equal(conn_entry(k[i]).packets, 0);
	}
	assert_int_equal(nat_count(), 4);
}

/* ---- two published ports, one pod port, one client tuple ---------------- */

/*
 * Host ports HPORT and HPORT+1 both go to A:PPORT. The same client
 * address and port reaching both would need the same egress entry (A:PPORT
 * -> PEER:40001): the first flow keeps it, the second is dropped and
 * leaves nothing behind (conntrack refuses the clashing connection).
 */
static void check_publish_clash(enum path p)
{
	struct result r;
	struct frame in;

	reset();
	publish(IPPROTO_UDP, HPORT, POD_A, PPORT);
	publish(IPPROTO_UDP, HPORT + 1, POD_A, PPORT);
	build(&in, mac_wan0, mac_wan0p, IPPROTO_UDP, PEER, 40001, SNAT_IP,
	      HPORT, 0);
	run_up(p, &in, &r);
	assert_int_equal(r.retval, act_redirect(p));
	build(&in, mac_pod0, mac_pod0p, IPPROTO_UDP, POD_A, PPORT, PEER, 40001,
	      0);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	expect_tuple(expect_valid(&r), SNAT_IP, HPORT, PEER, 40001);

	build(&in, mac_wan0, mac_wan0p, IPPROTO_UDP, PEER, 40001, SNAT_IP,
	      HPORT + 1, 0);
	run_up(p, &in, &r);
	assert_int_equal(r.retval, p == PATH_XDP ? XDP_DROP : TC_ACT_SHOT);
	assert_int_equal(counter(NSF_R_DROP_PUBLISH_CLASH), 1);
	assert_int_equal(counter(NSF_R_FWD_PUBLISH), 1);
	assert_int_equal(nat_count(), 2); /* no ingress entry for HPORT+1 */
	expect_entry(
		nat_key(NSF_NAT_EGRESS, IPPROTO_UDP, POD_A, PEER, PPORT, 40001),
		SNAT_IP, HPORT);

	build(&in, mac_pod0, mac_pod0p, IPPROTO_UDP, POD_A, PPORT, PEER, 40001,
	      0);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	expect_tuple(expect_valid(&r), SNAT_IP, HPORT, PEER, 40001);
}

static void test_publish_clash_xdp(void **state)
{
	(void)state;
	check_publish_clash(PATH_XDP);
}

static void test_publish_clash_tc(void **state)
{
	(void)state;
	check_publish_clash(PATH_TC);
}

/* The first packet again after the flow's ingress entry was evicted: its
 * egress entry is the same mapping, so the flow carries on. */
static void test_publish_ingress_evicted(void **state)
{
	struct nsf_nat_key k = nat_key(NSF_NAT_INGRESS, IPPROTO_UDP, PEER,
				       SNAT_IP, 40001, HPORT);
	struct result r;
	struct frame in;

	(void)state;
	reset();
	publish(IPPROTO_UDP, HPORT, POD_A, PPORT);
	build(&in, mac_wan0, mac_wan0p, IPPROTO_UDP, PEER, 40001, SNAT_IP,
	      HPORT, 0);
	run_up(PATH_TC, &in, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	assert_int_equal(bpf_map_delete_elem(h.nat_fd, &k), 0);
	run_up(PATH_TC, &in, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	expect_tuple(expect_valid(&r), PEER, 40001, POD_A, PPORT);
	expect_entry(k, POD_A, PPORT);
	assert_int_equal(nat_count(), 2);
	assert_int_equal(counter(NSF_R_FWD_PUBLISH), 2);
}

/*
 * A published UDP flow the pod has not answered is UNREPLIED (30 s), as
 * conntrack has it, though its ingress entry, the client's, counted the
 * first datagram; the pod's answer makes it REPLIED (120 s).
 */
static void test_publish_udp_unreplied(void **state)
{
	struct nsf_nat_key in = nat_key(NSF_NAT_INGRESS, IPPROTO_UDP, PEER,
					SNAT_IP, 40001, HPORT);
	struct nsf_nat_key eg =
		nat_key(NSF_NAT_EGRESS, IPPROTO_UDP, POD_A, PEER, PPORT, 40001);
	struct nsf_nat_gc_result gc;
	struct nsf_nat_timeouts t;
	struct flow_seen st = { 0 };
	struct result r;
	struct frame f;

	(void)state;
	reset();
	nsf_nat_default_timeouts(&t);
	publish(IPPROTO_UDP, HPORT, POD_A, PPORT);
	build(&f, mac_wan0, mac_wan0p, IPPROTO_UDP, PEER, 40001, SNAT_IP, HPORT,
	      0);
	run_up(PATH_TC, &f, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	assert_int_equal(nsf_nat_foreach(h.nat_fd, &t, grab_flow, &st), 0);
	assert_int_equal(st.n, 1);
	assert_string_equal(st.state, "UNREPLIED");
	assert_int_equal(st.timeout, t.udp);
	age_entry(eg, t.udp + 10);
	age_entry(in, t.udp + 10);
	assert_int_equal(nsf_nat_gc(h.nat_fd, &t, &gc), 0);
	assert_int_equal(gc.expired, 1);
	assert_int_equal(nat_count(), 0);

	run_up(PATH_TC, &f, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	build(&f, mac_pod0, mac_pod0p, IPPROTO_UDP, POD_A, PPORT, PEER, 40001,
	      0);
	run_skb(h.from_pod_fd, &f, h.if_pod0, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	st.n = 0;
	assert_int_equal(nsf_nat_foreach(h.nat_fd, &t, grab_flow, &st), 0);
	assert_int_equal(st.n, 1);
	assert_string_equal(st.state, "REPLIED");
	assert_int_equal(st.timeout, t.udp_stream);
}

/*
 * A published TCP connection is opened by the client: after its ACK of
 * the pod's SYN-ACK it is ESTABLISHED, though the pod has sent nothing
 * since, and stays so when idle (an idle SYN_RECV, 120 s, was cut).
 */
static void test_publish_tcp_idle_after_handshake(void **state)
{
	struct nsf_nat_key in = nat_key(NSF_NAT_INGRESS, IPPROTO_TCP, PEER,
					SNAT_IP, 40001, HPORT);
	struct nsf_nat_key eg =
		nat_key(NSF_NAT_EGRESS, IPPROTO_TCP, POD_A, PEER, PPORT, 40001);
	struct result r;

	(void)state;
	reset();
	publish(IPPROTO_TCP, HPORT, POD_A, PPORT);
	assert_int_equal(conn_world(PATH_TC, 40001, HPORT, NF_TCP_SYN, &r),
			 TC_ACT_REDIRECT);
	assert_int_equal(
		conn_pod(PPORT, PEER, 40001, NF_TCP_SYN | NF_TCP_ACK, &r),
		TC_ACT_REDIRECT);
	assert_int_equal(conn_world(PATH_TC, 40001, HPORT, NF_TCP_ACK, &r),
			 TC_ACT_REDIRECT);
	conn_expect_survives(eg, in, 600, 40001, HPORT, PPORT);
}

/* ---- hairpin ------------------------------------------------------------ */

static void check_hairpin(uint8_t proto)
{
	uint8_t syn = proto == IPPROTO_TCP ? NF_TCP_SYN : 0;
	uint8_t synack = proto == IPPROTO_TCP ? NF_TCP_SYN | NF_TCP_ACK : 0;
	struct result r;
	struct frame in;
	struct iphdr *ip;
	uint16_t np;

	reset();
	publish(proto, HPORT, POD_A, PPORT);
	/* Pod B -> host:8080: masqueraded to host:np, DNATed to A:80. */
	build(&in, mac_pod1, mac_pod1p, proto, POD_B, 5555, SNAT_IP, HPORT,
	      syn);
	run_skb(h.from_pod_fd, &in, h.if_pod1, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	ip = expect_valid(&r);
	np = nf_sport(ip);
	assert_true(np >= PORT_MIN && np <= PORT_MAX);
	expect_tuple(ip, SNAT_IP, np, POD_A, PPORT);
	assert_int_equal(ip->ttl, 63);
	expect_macs(&r, mac_pod0p, mac_pod0);
	assert_int_equal(nat_count(), 4);
	expect_entry(
		nat_key(NSF_NAT_EGRESS, proto, POD_B, SNAT_IP, 5555, HPORT),
		SNAT_IP, np);
	expect_entry(
		nat_key(NSF_NAT_INGRESS, proto, SNAT_IP, SNAT_IP, HPORT, np),
		POD_B, 5555);
	expect_entry(
		nat_key(NSF_NAT_INGRESS, proto, SNAT_IP, SNAT_IP, np, HPORT),
		POD_A, PPORT);
	expect_entry(nat_key(NSF_NAT_EGRESS, proto, POD_A, SNAT_IP, PPORT, np),
		     SNAT_IP, HPORT);

	/* Pod A answers host:np: back to B as coming from host:8080. */
	build(&in, mac_pod0, mac_pod0p, proto, POD_A, PPORT, SNAT_IP, np,
	      synack);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	ip = expect_valid(&r);
	expect_tuple(ip, SNAT_IP, HPORT, POD_B, 5555);
	expect_macs(&r, mac_pod1p, mac_pod1);
	assert_int_equal(counter(NSF_R_FWD_HAIRPIN), 2);
	assert_int_equal(nat_count(), 4);

	/* The pod reaching its own published port works the same way. */
	build(&in, mac_pod0, mac_pod0p, proto, POD_A, 6666, SNAT_IP, HPORT,
	      syn);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	ip = expect_valid(&r);
	assert_int_equal(ntohl(ip->saddr), SNAT_IP);
	assert_int_equal(ntohl(ip->daddr), POD_A);
	assert_int_equal(nf_dport(ip), PPORT);
	assert_int_equal(nat_count(), 8);
}

static void test_hairpin_tcp(void **state)
{
	(void)state;
	check_hairpin(IPPROTO_TCP);
}

static void test_hairpin_udp(void **state)
{
	(void)state;
	check_hairpin(IPPROTO_UDP);
}

/*
 * Pod B's one tuple to host ports HPORT and HPORT+1, both published to
 * A:PPORT, with a single NAT port: both flows are masqueraded to
 * host:PORT_MIN, so the second's DNAT pair would need the first's egress
 * entry (A:PPORT -> host:PORT_MIN). The second is dropped
 * (drop-publish-clash) and takes back the SNAT pair it had made first:
 * the first flow's four entries stay, nothing else until gc.
 */
static void test_hairpin_clash(void **state)
{
	struct nsf_config cfg;
	struct result r;
	struct frame in;
	uint32_t key = 0;

	(void)state;
	reset();
	assert_int_equal(bpf_map_lookup_elem(h.config_fd, &key, &cfg), 0);
	cfg.nat_port_max = PORT_MIN;
	assert_int_equal(put(h.config_fd, &key, &cfg), 0);
	publish(IPPROTO_UDP, HPORT, POD_A, PPORT);
	publish(IPPROTO_UDP, HPORT + 1, POD_A, PPORT);
	build(&in, mac_pod1, mac_pod1p, IPPROTO_UDP, POD_B, 5555, SNAT_IP,
	      HPORT, 0);
	run_skb(h.from_pod_fd, &in, h.if_pod1, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	expect_tuple(expect_valid(&r), SNAT_IP, PORT_MIN, POD_A, PPORT);
	assert_int_equal(nat_count(), 4);

	build(&in, mac_pod1, mac_pod1p, IPPROTO_UDP, POD_B, 5555, SNAT_IP,
	      HPORT + 1, 0);
	for (int i = 0; i < 2; i++) { /* and its retransmission */
		run_skb(h.from_pod_fd, &in, h.if_pod1, &r);
		assert_int_equal(r.retval, TC_ACT_SHOT);
		assert_int_equal(counter(NSF_R_DROP_PUBLISH_CLASH), i + 1);
		assert_int_equal(nat_count(), 4);
	}
	expect_entry(nat_key(NSF_NAT_EGRESS, IPPROTO_UDP, POD_B, SNAT_IP, 5555,
			     HPORT),
		     SNAT_IP, PORT_MIN);
	expect_entry(nat_key(NSF_NAT_INGRESS, IPPROTO_UDP, SNAT_IP, SNAT_IP,
			     HPORT, PORT_MIN),
		     POD_B, 5555);
	expect_entry(nat_key(NSF_NAT_INGRESS, IPPROTO_UDP, SNAT_IP, SNAT_IP,
			     PORT_MIN, HPORT),
		     POD_A, PPORT);
	expect_entry(nat_key(NSF_NAT_EGRESS, IPPROTO_UDP, POD_A, SNAT_IP, PPORT,
			     PORT_MIN),
		     SNAT_IP, HPORT);

	/* The first flow's replies still reach B. */
	build(&in, mac_pod0, mac_pod0p, IPPROTO_UDP, POD_A, PPORT, SNAT_IP,
	      PORT_MIN, 0);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	expect_tuple(expect_valid(&r), SNAT_IP, HPORT, POD_B, 5555);
}

/*
 * Pod B to a port published to a pod that is gone: dropped as
 * drop-no-endpoint, with nothing left in the table; not handed to lo,
 * the way to the host, with the gone pod's address as destination.
 */
static void test_hairpin_pod_gone(void **state)
{
	uint32_t gone = HOST_IP(10, 244, 0, 99);
	struct result r;
	struct frame in;

	(void)state;
	reset();
	publish(IPPROTO_UDP, HPORT, gone, PPORT);
	build(&in, mac_pod1, mac_pod1p, IPPROTO_UDP, POD_B, 5555, SNAT_IP,
	      HPORT, 0);
	run_skb(h.from_pod_fd, &in, h.if_pod1, &r);
	assert_int_equal(r.retval, TC_ACT_SHOT);
	assert_int_equal(counter(NSF_R_DROP_NO_ENDPOINT), 1);
	assert_int_equal(counter(NSF_R_FWD_HAIRPIN), 0);
	assert_int_equal(nat_count(), 0);
}

/* To the host address but no published port: the host's business. */
static void test_hairpin_not_published(void **state)
{
	struct result r;
	struct frame in;

	(void)state;
	reset();
	publish(IPPROTO_TCP, HPORT, POD_A, PPORT);
	build(&in, mac_pod1, mac_pod1p, IPPROTO_TCP, POD_B, 5555, SNAT_IP, 22,
	      NF_TCP_SYN);
	run_skb(h.from_pod_fd, &in, h.if_pod1, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(frame_diff(&in, &r.out), -1);
	assert_int_equal(nat_count(), 0);
	assert_int_equal(counter(NSF_R_PASS_NOT_UPLINK), 1);
}

/* ---- routes to other nodes ---------------------------------------------- */

static void test_route_forward(void **state)
{
	struct result r;
	struct frame in;
	struct iphdr *ip;

	(void)state;
	reset();
	route(HOST_IP(10, 245, 0, 0), 24, NODE_B);
	build(&in, mac_pod0, mac_pod0p, IPPROTO_TCP, POD_A, 40000, REMOTE_POD,
	      80, NF_TCP_SYN);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	ip = expect_valid(&r);
	expect_tuple(ip, POD_A, 40000, REMOTE_POD, 80); /* no NAT */
	assert_int_equal(ip->ttl, 63);
	expect_macs(&r, mac_node_b, mac_wan0); /* the node, not the gw */
	assert_int_equal(nat_count(), 0);
	assert_int_equal(counter(NSF_R_FWD_ROUTE), 1);
	assert_int_equal(counter(NSF_R_FWD_SNAT), 0);
}

/* Longest prefix wins; a node without neighbour entry: redirect_neigh. */
static void test_route_lpm_no_neigh(void **state)
{
	struct result r;
	struct frame in;

	(void)state;
	reset();
	route(HOST_IP(10, 245, 0, 0), 24, NODE_B);
	route(HOST_IP(10, 245, 0, 128), 25, NODE_C);
	build(&in, mac_pod0, mac_pod0p, IPPROTO_UDP, POD_A, 40000, REMOTE_C, 53,
	      0);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	/* The MACs are left to the kernel's neighbour code: unchanged. */
	expect_macs(&r, mac_pod0, mac_pod0p);
	expect_tuple(expect_valid(&r), POD_A, 40000, REMOTE_C, 53);
	assert_int_equal(counter(NSF_R_FWD_ROUTE), 1);
	assert_int_equal(nat_count(), 0);
}

/*
 * A pod of another node connected to a published port of this host: the
 * reply to it must leave as host:hport (SNAT), not routed unchanged.
 */
static void test_route_published_reply(void **state)
{
	struct result r;
	struct frame in;

	(void)state;
	reset();
	route(HOST_IP(10, 245, 0, 0), 24, NODE_B);
	publish(IPPROTO_TCP, HPORT, POD_A, PPORT);
	build(&in, mac_wan0, mac_node_b, IPPROTO_TCP, REMOTE_POD, 40001,
	      SNAT_IP, HPORT, NF_TCP_SYN);
	run_up(PATH_XDP, &in, &r);
	assert_int_equal(r.retval, XDP_REDIRECT);
	build(&in, mac_pod0, mac_pod0p, IPPROTO_TCP, POD_A, PPORT, REMOTE_POD,
	      40001, NF_TCP_SYN | NF_TCP_ACK);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	expect_tuple(expect_valid(&r), SNAT_IP, HPORT, REMOTE_POD, 40001);
	assert_int_equal(counter(NSF_R_FWD_SNAT), 1);
	assert_int_equal(counter(NSF_R_FWD_ROUTE), 0);
	/* Other flows of the pod to that pod CIDR are routed unchanged. */
	build(&in, mac_pod0, mac_pod0p, IPPROTO_TCP, POD_A, 40002, REMOTE_POD,
	      80, NF_TCP_SYN);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	expect_tuple(expect_valid(&r), POD_A, 40002, REMOTE_POD, 80);
	assert_int_equal(counter(NSF_R_FWD_ROUTE), 1);
}

/* A node the FIB cannot reach: the kernel's, never masqueraded. */
static void test_route_unreachable(void **state)
{
	struct result r;
	struct frame in;

	(void)state;
	reset();
	route(HOST_IP(10, 246, 0, 0), 24, NODE_X);
	build(&in, mac_pod0, mac_pod0p, IPPROTO_TCP, POD_A, 40000, REMOTE_X, 80,
	      NF_TCP_SYN);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(frame_diff(&in, &r.out), -1);
	assert_int_equal(counter(NSF_R_PASS_ROUTE), 1);
	assert_int_equal(nat_count(), 0);
}

/*
 * Too big for the route to the node. With DF the kernel must answer
 * "fragmentation needed"; without DF it fragments the packet, as a router
 * does: routed traffic keeps its addresses, so unlike masqueraded traffic
 * (drop-mtu) there is nothing fragments would lose. Either way the kernel
 * gets the packet unchanged; one that fits is forwarded (control).
 */
static void test_route_mtu(void **state)
{
	struct ipv4_spec s = {
		.saddr = htonl(POD_A),
		.daddr = htonl(REMOTE_M),
		.proto = IPPROTO_UDP,
		.ttl = 64,
	};
	static const uint16_t df[] = { 0x4000, 0 };
	struct result r;
	struct frame in;

	(void)state;
	reset();
	route(HOST_IP(10, 247, 0, 0), 24, NODE_M);
	for (size_t i = 0; i < sizeof(df) / sizeof(df[0]); i++) {
		s.frag_off = df[i];
		s.payload = NODE_M_MTU; /* IP length: 20 + 8 + 300 */
		frame_eth(&in, mac_pod0, mac_pod0p, ETH_P_IP);
		frame_ipv4(&in, &s);
		run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
		assert_int_equal(r.retval, TC_ACT_OK);
		assert_int_equal(frame_diff(&in, &r.out), -1);
		assert_int_equal(counter(df[i] ? NSF_R_PASS_FRAG_NEEDED
					       : NSF_R_PASS_FRAGMENT),
				 1);
		assert_int_equal(counter(NSF_R_DROP_MTU), 0);

		s.payload = NODE_M_MTU - 28; /* exactly the MTU */
		frame_eth(&in, mac_pod0, mac_pod0p, ETH_P_IP);
		frame_ipv4(&in, &s);
		run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
		assert_int_equal(r.retval, TC_ACT_REDIRECT);
		assert_int_equal(counter(NSF_R_FWD_ROUTE), i + 1);
	}
	assert_int_equal(nat_count(), 0);
}

/* Without a route the same destination is masqueraded (control). */
static void test_route_absent_snat(void **state)
{
	struct result r;
	struct frame in;

	(void)state;
	reset();
	build(&in, mac_pod0, mac_pod0p, IPPROTO_TCP, POD_A, 40000, REMOTE_POD,
	      80, NF_TCP_SYN);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	assert_int_equal(ntohl(expect_valid(&r)->saddr), SNAT_IP);
	assert_int_equal(counter(NSF_R_FWD_SNAT), 1);
	assert_int_equal(counter(NSF_R_FWD_ROUTE), 0);
}

/* From another node's pod to a local pod, on the uplink: no NAT. */
static void check_from_node(enum path p)
{
	struct result r;
	struct frame in;
	struct iphdr *ip;

	reset();
	/* No route covers the source: the world, not a node. The kernel's. */
	build(&in, mac_wan0, mac_node_b, IPPROTO_TCP, REMOTE_POD, 40000, POD_B,
	      80, NF_TCP_SYN);
	run_up(p, &in, &r);
	assert_int_equal(r.retval, act_pass(p));
	assert_int_equal(frame_diff(&in, &r.out), -1);
	assert_int_equal(counter(NSF_R_FWD_FROM_NODE), 0);

	route(HOST_IP(10, 245, 0, 0), 24, NODE_B);
	run_up(p, &in, &r);
	assert_int_equal(r.retval, act_redirect(p));
	ip = expect_valid(&r);
	expect_tuple(ip, REMOTE_POD, 40000, POD_B, 80);
	assert_int_equal(ip->ttl, 63);
	expect_macs(&r, mac_pod1p, mac_pod1);
	assert_int_equal(counter(NSF_R_FWD_FROM_NODE), 1);
	assert_int_equal(nat_count(), 0);
	/* Not a local pod: the host's. */
	build(&in, mac_wan0, mac_node_b, IPPROTO_TCP, REMOTE_POD, 40000,
	      HOST_IP(10, 244, 0, 99), 80, NF_TCP_SYN);
	run_up(p, &in, &r);
	assert_int_equal(r.retval, act_pass(p));
	assert_int_equal(frame_diff(&in, &r.out), -1);
	/* TTL 1: the kernel's (it answers with time exceeded). */
	build(&in, mac_wan0, mac_node_b, IPPROTO_TCP, REMOTE_POD, 40000, POD_B,
	      80, NF_TCP_SYN);
	ip = frame_ip_hdr(&in);
	ip->ttl = 1;
	ipv4_set_csum(ip);
	run_up(p, &in, &r);
	assert_int_equal(r.retval, act_pass(p));
	assert_int_equal(counter(NSF_R_FWD_FROM_NODE), 1);
}

static void test_from_node_xdp(void **state)
{
	(void)state;
	check_from_node(PATH_XDP);
}

static void test_from_node_tc(void **state)
{
	(void)state;
	check_from_node(PATH_TC);
}

/*
 * gc removes a reply entry whose egress entry is gone (evicted) once it
 * idled for its protocol's shortest timeout: for UDP its own (no reply
 * yet), not ICMP's, which it used to take.
 */
static void test_gc_orphan_udp(void **state)
{
	struct nsf_nat_key eg =
		nat_key(NSF_NAT_EGRESS, IPPROTO_UDP, POD_A, PEER, 40000, 53);
	struct nsf_nat_gc_result gc;
	struct nsf_nat_timeouts t;
	struct result r;
	struct frame in;
	uint16_t np;

	(void)state;
	reset();
	build(&in, mac_pod0, mac_pod0p, IPPROTO_UDP, POD_A, 40000, PEER, 53, 0);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	np = nf_sport(frame_ip_hdr(&r.out));
	assert_int_equal(bpf_map_delete_elem(h.nat_fd, &eg), 0);
	age_entry(nat_key(NSF_NAT_INGRESS, IPPROTO_UDP, PEER, SNAT_IP, 53, np),
		  20);
	nsf_nat_default_timeouts(&t);
	t.udp = 30;
	t.icmp = 10;
	assert_int_equal(nsf_nat_gc(h.nat_fd, &t, &gc), 0);
	assert_int_equal(gc.orphans, 0); /* 20 s < UDP's 30 */
	t.udp = 10;
	t.icmp = 100;
	assert_int_equal(nsf_nat_gc(h.nat_fd, &t, &gc), 0);
	assert_int_equal(gc.orphans, 1); /* 20 s > UDP's 10 */
}

/*
 * Unpublishing a port removes the flows it made (nsf_nat_del_published,
 * loader/nat.c): a world client's pair and pod B's hairpin flow (its
 * SNAT and its DNAT pair); the flows of another published port and a
 * masqueraded flow of the same pod port stay.
 */
static void test_unpublish_flows(void **state)
{
	struct nsf_nat_published pub = { .snat = htonl(SNAT_IP),
					 .pod = htonl(POD_A),
					 .host_port = htons(HPORT),
					 .pod_port = htons(PPORT),
					 .proto = IPPROTO_UDP };
	struct nsf_nat_entry e;
	struct nsf_nat_key eg;
	struct result r;
	struct frame in;
	uint64_t n;

	(void)state;
	reset();
	publish(IPPROTO_UDP, HPORT, POD_A, PPORT);
	publish(IPPROTO_UDP, HPORT + 1, POD_A, PPORT);
	build(&in, mac_wan0, mac_wan0p, IPPROTO_UDP, PEER, 40001, SNAT_IP,
	      HPORT, 0);
	run_up(PATH_TC, &in, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	build(&in, mac_pod1, mac_pod1p, IPPROTO_UDP, POD_B, 5555, SNAT_IP,
	      HPORT, 0);
	run_skb(h.from_pod_fd, &in, h.if_pod1, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	/* What stays: HPORT + 1's flow, A's own flow to the world. */
	build(&in, mac_wan0, mac_wan0p, IPPROTO_UDP, PEER, 40002, SNAT_IP,
	      HPORT + 1, 0);
	run_up(PATH_TC, &in, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	build(&in, mac_pod0, mac_pod0p, IPPROTO_UDP, POD_A, PPORT, PEER, 53, 0);
	run_skb(h.from_pod_fd, &in, h.if_pod0, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	assert_int_equal(nat_count(), 10);

	assert_int_equal(nsf_nat_del_published(h.nat_fd, &pub, &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(nat_count(), 4);
	expect_entry(nat_key(NSF_NAT_INGRESS, IPPROTO_UDP, PEER, SNAT_IP, 40002,
			     HPORT + 1),
		     POD_A, PPORT);
	expect_entry(
		nat_key(NSF_NAT_EGRESS, IPPROTO_UDP, POD_A, PEER, PPORT, 40002),
		SNAT_IP, HPORT + 1);
	eg = nat_key(NSF_NAT_EGRESS, IPPROTO_UDP, POD_A, PEER, PPORT, 53);
	assert_int_equal(bpf_map_lookup_elem(h.nat_fd, &eg, &e), 0);
}

/* ---- setup -------------------------------------------------------------- */

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
	h.ep_a = local_endpoint(h.if_pod0, 1, mac_pod0p, mac_pod0);
	h.ep_b = local_endpoint(h.if_pod1, 2, mac_pod1p, mac_pod1);
	return 0;
}

#define T(f) cmocka_unit_test(f)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_dnat_tcp_xdp),
		T(test_dnat_tcp_tc),
		T(test_dnat_udp_xdp),
		T(test_dnat_udp_tc),
		T(test_no_dnat_xdp),
		T(test_no_dnat_tc),
		T(test_dnat_pod_gone_xdp),
		T(test_dnat_pod_gone_tc),
		T(test_dnat_ttl_xdp),
		T(test_dnat_ttl_tc),
		T(test_reply_tcp),
		T(test_reply_udp),
		T(test_gc_orphan_udp),
		T(test_tcp_reopen_after_rst),
		T(test_tcp_reopen_after_fin),
		T(test_tcp_syn_in_live_flow),
		T(test_publish_reopen_after_rst_xdp),
		T(test_publish_reopen_after_rst_tc),
		T(test_hairpin_reopen_after_rst),
		T(test_publish_clash_xdp),
		T(test_publish_clash_tc),
		T(test_publish_ingress_evicted),
		T(test_publish_udp_unreplied),
		T(test_publish_tcp_idle_after_handshake),
		T(test_hairpin_tcp),
		T(test_hairpin_udp),
		T(test_hairpin_not_published),
		T(test_hairpin_pod_gone),
		T(test_hairpin_clash),
		T(test_unpublish_flows),
		T(test_route_forward),
		T(test_route_lpm_no_neigh),
		T(test_route_published_reply),
		T(test_route_unreachable),
		T(test_route_mtu),
		T(test_route_absent_snat),
		T(test_from_node_xdp),
		T(test_from_node_tc),
	};

	return cmocka_run_group_tests_name("bpf_publish", tests, group_setup,
					   group_teardown);
}
