// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Tests for nsf_from_pod (bpf/pod_ingress.bpf.c), the tc ingress program on
 * every pod's host-side veth, run with BPF_PROG_TEST_RUN. Each case checks
 * the return code, the frame that comes out and every counter.
 *
 * How test_run builds the skb of a SCHED_CLS program (net/bpf/test_run.c,
 * bpf_prog_test_run_skb(); test_ctx_ifindex checks it on the running kernel):
 *  - data_size_in < ETH_HLEN is refused with -EINVAL before the program
 *    runs, so frames shorter than an Ethernet header never reach it; since
 *    upstream commit 12bec2bd4b76 (in 6.18.44 here) so is an IPv4 or IPv6
 *    EtherType without a whole IPv4/IPv6 header (see test_truncated);
 *  - skb->dev is the device ctx->ifindex names if that is > 1 (-ENODEV if
 *    there is no such device), the netns's loopback otherwise, so the
 *    program's skb->ifindex is 1 unless we ask for another real device;
 *  - ctx->ingress_ifindex is copied as is into skb->skb_iif, which is what
 *    the program's skb->ingress_ifindex reads: it need not name a device,
 *    and without a ctx it is 0, which matches no endpoint;
 *  - only mark, priority, ingress_ifindex, ifindex, cb[], tstamp, wire_len,
 *    gso_segs, gso_size and hwtstamp may be set in ctx_in, any other
 *    non-zero field is -EINVAL.
 * So the source endpoint uses ifindex 1 (lo, present in every netns) and
 * each run passes ifindex = ingress_ifindex = 1, as on a real tc ingress
 * hook where skb_iif is the receiving device.
 *
 * bpf_redirect_peer() and bpf_redirect() only record their target and return
 * TC_ACT_REDIRECT; test_run does not carry out the redirect and cannot tell
 * where it would have gone. The destination endpoint's ifindex (4242, no
 * such device) is therefore not observable: the MAC rewrite to that
 * endpoint's pod_mac/host_mac and its to_pod counters identify the target.
 *
 * Maps are declared LIBBPF_PIN_BY_NAME; the test clears every pin path
 * before loading, so nothing is pinned or reused under /sys/fs/bpf.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

#include <nsfast/maps.h>
#include <nsfast/reasons.h>

#include "frames.h"
#define TESTLIB_ERROR print_error
#include "testlib.h"
#include "datapath.h"

#define HOST_IP(a, b, c, d) \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

#define ADDR_A	     HOST_IP(10, 244, 0, 2)
#define ADDR_B	     HOST_IP(10, 244, 0, 3)
#define ADDR_C	     HOST_IP(10, 244, 0, 4)
#define ADDR_UNKNOWN HOST_IP(10, 244, 0, 99)
#define ADDR_OUTSIDE HOST_IP(192, 0, 2, 1)

#define IFINDEX_LO 1
#define IFINDEX_B  4242 /* no such device: only MACs and counters show it */
#define IFINDEX_C  4243 /* another pod's veth, not the one we send from */

#define ULL(x) ((unsigned long long)(x)) /* __u64 is not uint64_t */

/* Endpoint ids the fixture uses, 0 (NSF_EP_ID_NONE) included. */
#define NR_IDS 4

#define ETH_MIN_FRAME 60 /* without FCS */

/* Keys per batch update when zeroing the per-CPU arrays. */
#define ZERO_CHUNK 1024

static const struct nsf_endpoint ep_a = {
	.ifindex = IFINDEX_LO,
	.id = 1,
	.pod_mac = { 0x02, 0x00, 0x0a, 0x00, 0x00, 0x02 },
	.host_mac = { 0xee, 0xee, 0xee, 0x00, 0x00, 0x01 },
	.flags = NSF_EP_F_LOCAL,
};

static const struct nsf_endpoint ep_b = {
	.ifindex = IFINDEX_B,
	.id = 2,
	.pod_mac = { 0x02, 0x00, 0x0b, 0x00, 0x00, 0x03 },
	.host_mac = { 0xee, 0xee, 0xee, 0x00, 0x00, 0x02 },
	.flags = NSF_EP_F_LOCAL,
};

static const struct nsf_endpoint ep_c = {
	.ifindex = IFINDEX_C,
	.id = 3,
	.pod_mac = { 0x02, 0x00, 0x0c, 0x00, 0x00, 0x04 },
	.host_mac = { 0xee, 0xee, 0xee, 0x00, 0x00, 0x03 },
	.flags = NSF_EP_F_LOCAL,
};

static const struct {
	uint32_t addr; /* host order */
	const struct nsf_endpoint *ep;
} fixture[] = {
	{ ADDR_A, &ep_a },
	{ ADDR_B, &ep_b },
	{ ADDR_C, &ep_c },
};

static const uint8_t mac_bcast[ETH_ALEN] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff
};
static const uint8_t mac_zero[ETH_ALEN];

static const char *const reason_names[NSF_R_MAX] = {
#define REASON_NAME(name, str, kind, help) [NSF_R_##name] = str,
	NSF_REASONS(REASON_NAME)
#undef REASON_NAME
};

_Static_assert(sizeof(struct nsf_counter) % 8 == 0, "per-CPU stride");
_Static_assert(sizeof(struct nsf_ep_stats) % 8 == 0, "per-CPU stride");

/* The loaded program and its maps, shared by every test of the group. */
static struct harness {
	struct pod_ingress *skel;
	int prog_fd;
	int config_fd;
	int ep4_fd;
	int stats_fd;
	int counters_fd;
	int ifx_fd;
	int pol_cfg_fd;
	int pol_groups_fd;
	int pol_rules_fd;
	int pol_cidr_fd;
	int ct_fd;
	int ncpus;
	void *percpu;	/* one lookup's worth of per-CPU values */
	void *zeros;	/* ZERO_CHUNK keys' worth of per-CPU zeros */
	uint32_t *keys; /* 0 .. NSF_MAX_ENDPOINTS - 1 */
} hn;

struct result {
	int err;
	uint32_t retval;
	struct frame out;
};

/* ---- map state ---------------------------------------------------------- */

/* Delete every key of hash or LPM map @fd (keys up to 16 bytes). */
static int clear_any(int fd)
{
	uint8_t key[16];

	return clear_map(fd, key);
}

static int clear_ep4(void)
{
	return clear_any(hn.ep4_fd);
}

/* No policy: zeroed config and groups, no rules, CIDRs or state. */
static int clear_policy(void)
{
	struct nsf_pol_group none = { 0 };
	struct nsf_pol_cfg cfg = { 0 };
	uint32_t zero = 0, g;
	int err;

	err = clear_any(hn.ifx_fd);
	if (!err)
		err = clear_any(hn.pol_rules_fd);
	if (!err)
		err = clear_any(hn.pol_cidr_fd);
	if (!err)
		err = clear_any(hn.ct_fd);
	if (!err && bpf_map_update_elem(hn.pol_cfg_fd, &zero, &cfg, BPF_ANY))
		err = -errno;
	for (g = 0; !err && g < 64; g++)
		if (bpf_map_update_elem(hn.pol_groups_fd, &g, &none, BPF_ANY))
			err = -errno;
	return err;
}

/* Zero keys 0 .. @entries - 1 of a per-CPU array, ZERO_CHUNK at a time. */
static int zero_percpu(int fd, uint32_t entries)
{
	uint32_t key, count;
	int err;

	for (key = 0; key < entries; key += count) {
		count = entries - key < ZERO_CHUNK ? entries - key : ZERO_CHUNK;
		err = bpf_map_update_batch(fd, hn.keys + key, hn.zeros, &count,
					   NULL);
		if (err)
			return err;
		if (!count)
			return -EIO;
	}
	return 0;
}

static int write_config(void)
{
	struct nsf_config cfg = {
		.pod_net4 = htonl(HOST_IP(10, 244, 0, 0)),
		.pod_mask4 = htonl(0xffff0000),
		.gateway4 = htonl(NSF_GATEWAY4),
	};
	uint32_t zero = 0;

	return bpf_map_update_elem(hn.config_fd, &zero, &cfg, BPF_ANY);
}

static int add_endpoints(void)
{
	size_t i;

	for (i = 0; i < sizeof(fixture) / sizeof(fixture[0]); i++) {
		uint32_t key = htonl(fixture[i].addr);

		if (bpf_map_update_elem(hn.ep4_fd, &key, fixture[i].ep,
					BPF_NOEXIST))
			return -errno;
		if (bpf_map_update_elem(hn.ifx_fd, &fixture[i].ep->ifindex,
					&key, BPF_NOEXIST))
			return -errno;
	}
	return 0;
}

/* Empty maps, then the config and the three endpoints of the fixture. */
static int fixture_reset(void)
{
	int err;

	err = clear_ep4();
	if (!err)
		err = clear_policy();
	if (!err)
		err = zero_percpu(hn.counters_fd, NSF_MAX_REASONS);
	if (!err)
		err = zero_percpu(hn.stats_fd, NSF_MAX_ENDPOINTS);
	if (!err)
		err = write_config();
	if (!err)
		err = add_endpoints();
	if (err)
		print_error("fixture reset: %s\n", strerror(-err));
	return err;
}

static void reset(void)
{
	assert_int_equal(fixture_reset(), 0);
}

/* ---- running the program ------------------------------------------------ */

static void run_ctx(const struct frame *in, struct __sk_buff *ctx,
		    struct result *r)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in->data,
		    .data_size_in = in->len, .data_out = r->out.data,
		    .data_size_out = sizeof(r->out.data), .ctx_in = ctx,
		    .ctx_size_in = ctx ? sizeof(*ctx) : 0, .ctx_out = ctx,
		    .ctx_size_out = ctx ? sizeof(*ctx) : 0);

	memset(&r->out, 0, sizeof(r->out));
	r->err = bpf_prog_test_run_opts(hn.prog_fd, &opts);
	r->retval = opts.retval;
	r->out.len = r->err ? 0 : opts.data_size_out;
}

/* Run @in as if received on the veth with index @ingress. */
static void run(const struct frame *in, uint32_t ingress, struct result *r)
{
	struct __sk_buff ctx = {
		.ifindex = IFINDEX_LO,
		.ingress_ifindex = ingress,
	};

	run_ctx(in, &ctx, r);
}

/* ---- expectations ------------------------------------------------------- */

static const char *reason_name(uint32_t r)
{
	return r < NSF_R_MAX ? reason_names[r] : "(unused)";
}

static struct nsf_counter counter_sum(uint32_t reason)
{
	const struct nsf_counter *v = hn.percpu;
	struct nsf_counter sum = { 0 };
	int i;

	if (bpf_map_lookup_elem(hn.counters_fd, &reason, hn.percpu))
		fail_msg("nsf_counters[%u]: %s", reason, strerror(errno));
	for (i = 0; i < hn.ncpus; i++) {
		sum.packets += v[i].packets;
		sum.bytes += v[i].bytes;
	}
	return sum;
}

/* @packets and @bytes under @reason and nothing under any other reason
 * (@reason NSF_R_MAX: nothing anywhere). */
static void expect_counter(uint32_t reason, uint64_t packets, uint64_t bytes)
{
	uint32_t r;

	for (r = 0; r < NSF_MAX_REASONS; r++) {
		struct nsf_counter c = counter_sum(r);
		uint64_t wp = r == reason ? packets : 0;
		uint64_t wb = r == reason ? bytes : 0;

		if (c.packets != wp || c.bytes != wb)
			fail_msg("counter %s: %llu packets %llu bytes, "
				 "want %llu/%llu",
				 reason_name(r), ULL(c.packets), ULL(c.bytes),
				 ULL(wp), ULL(wb));
	}
}

static void stats_add(struct nsf_ep_stats *sum, const struct nsf_ep_stats *v)
{
	sum->c[NSF_EP_FROM_POD].packets += v->c[NSF_EP_FROM_POD].packets;
	sum->c[NSF_EP_FROM_POD].bytes += v->c[NSF_EP_FROM_POD].bytes;
	sum->c[NSF_EP_TO_POD].packets += v->c[NSF_EP_TO_POD].packets;
	sum->c[NSF_EP_TO_POD].bytes += v->c[NSF_EP_TO_POD].bytes;
	sum->c[NSF_EP_FALLBACK].packets += v->c[NSF_EP_FALLBACK].packets;
	sum->c[NSF_EP_FALLBACK].bytes += v->c[NSF_EP_FALLBACK].bytes;
	sum->c[NSF_EP_DROP].packets += v->c[NSF_EP_DROP].packets;
	sum->c[NSF_EP_DROP].bytes += v->c[NSF_EP_DROP].bytes;
}

static struct nsf_ep_stats ep_stats_sum(uint32_t id)
{
	const struct nsf_ep_stats *v = hn.percpu;
	struct nsf_ep_stats sum = { 0 };
	int i;

	if (bpf_map_lookup_elem(hn.stats_fd, &id, hn.percpu))
		fail_msg("nsf_ep_stats[%u]: %s", id, strerror(errno));
	for (i = 0; i < hn.ncpus; i++)
		stats_add(&sum, &v[i]);
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

/* Every endpoint id of the fixture holds exactly @want[id]. */
static void expect_ep_stats(const struct nsf_ep_stats want[NR_IDS])
{
	uint32_t id;

	for (id = 0; id < NR_IDS; id++) {
		struct nsf_ep_stats got = ep_stats_sum(id);

		if (memcmp(&got, &want[id], sizeof(got)))
			fail_msg("ep %u: " STATS_FMT ", want " STATS_FMT, id,
				 STATS_ARGS(got), STATS_ARGS(want[id]));
	}
}

static void expect_no_ep_stats(void)
{
	static const struct nsf_ep_stats want[NR_IDS];

	expect_ep_stats(want);
}

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

/*
 * @r must be @in delivered to @dst: its MACs, TTL one less, a valid header
 * checksum (summed over the output header alone), all else identical.
 */
static void expect_forwarded(const struct frame *in, struct result *r,
			     const struct nsf_endpoint *dst)
{
	struct frame want = *in;
	struct iphdr *ip = frame_ip_hdr(&want);
	struct iphdr *out = frame_ip_hdr(&r->out);

	expect_retval(r, TC_ACT_REDIRECT);
	memcpy(frame_eth_hdr(&want)->h_dest, dst->pod_mac, ETH_ALEN);
	memcpy(frame_eth_hdr(&want)->h_source, dst->host_mac, ETH_ALEN);
	ip->ttl--;
	if (r->out.len < ETH_HLEN + sizeof(*out) || !ipv4_csum_valid(out))
		fail_msg("output IPv4 checksum 0x%04x is not valid",
			 csum_get(&out->check));
	/* Valid, and every other byte as expected: the checksum is right. */
	ip->check = out->check;
	expect_frame(&want, &r->out);
}

/*
 * @in, sent by endpoint @src_id and received on @ingress, is forwarded to
 * @dst and counted so.
 */
static void check_forward_on(const struct frame *in, uint32_t ingress,
			     uint32_t src_id, const struct nsf_endpoint *dst)
{
	struct nsf_ep_stats want[NR_IDS];
	struct result r;

	memset(want, 0, sizeof(want));
	reset();
	run(in, ingress, &r);
	expect_forwarded(in, &r, dst);
	expect_counter(NSF_R_FWD_LOCAL, 1, in->len);
	want[src_id].c[NSF_EP_FROM_POD].packets = 1;
	want[src_id].c[NSF_EP_FROM_POD].bytes = in->len;
	want[dst->id].c[NSF_EP_TO_POD].packets += 1;
	want[dst->id].c[NSF_EP_TO_POD].bytes += in->len;
	expect_ep_stats(want);
}

static void check_forward(const struct frame *in, uint32_t src_id,
			  const struct nsf_endpoint *dst)
{
	check_forward_on(in, IFINDEX_LO, src_id, dst);
}

/*
 * @in, received on @ingress, goes to the kernel untouched for @reason;
 * @fallback_id is the endpoint charged with a fallback (or NSF_EP_ID_NONE).
 */
static void check_pass(const struct frame *in, uint32_t ingress,
		       uint32_t reason, uint32_t fallback_id)
{
	struct nsf_ep_stats want[NR_IDS];
	struct result r;

	memset(want, 0, sizeof(want));
	reset();
	run(in, ingress, &r);
	expect_retval(&r, TC_ACT_OK);
	expect_frame(in, &r.out);
	expect_counter(reason, 1, in->len);
	if (fallback_id != NSF_EP_ID_NONE) {
		want[fallback_id].c[NSF_EP_FALLBACK].packets = 1;
		want[fallback_id].c[NSF_EP_FALLBACK].bytes = in->len;
	}
	expect_ep_stats(want);
}

/*
 * @in, received on @ingress, is dropped for @reason and charged to
 * endpoint @drop_id as a drop (NSF_EP_ID_NONE: to nobody).
 */
static void check_drop_run(const struct frame *in, uint32_t ingress,
			   uint32_t reason, uint32_t drop_id)
{
	struct nsf_ep_stats want[NR_IDS];
	struct result r;

	memset(want, 0, sizeof(want));
	run(in, ingress, &r);
	expect_retval(&r, TC_ACT_SHOT);
	expect_counter(reason, 1, in->len);
	if (drop_id != NSF_EP_ID_NONE) {
		want[drop_id].c[NSF_EP_DROP].packets = 1;
		want[drop_id].c[NSF_EP_DROP].bytes = in->len;
	}
	expect_ep_stats(want);
}

static void check_drop(const struct frame *in, uint32_t ingress,
		       uint32_t reason, uint32_t drop_id)
{
	reset();
	check_drop_run(in, ingress, reason, drop_id);
}

/* A pod sending a header the kernel would not accept either. */
static void check_malformed(const struct frame *in)
{
	check_drop(in, IFINDEX_LO, NSF_R_DROP_MALFORMED, ep_a.id);
}

/* @in is refused by test_run itself with @err: the program never ran. */
static void check_refused(const struct frame *in, struct __sk_buff *ctx,
			  int err)
{
	struct result r;

	reset();
	run_ctx(in, ctx, &r);
	if (r.err != err)
		fail_msg("%u-byte frame: test_run gave %d, want %d", in->len,
			 r.err, err);
	expect_counter(NSF_R_MAX, 0, 0);
	expect_no_ep_stats();
}

/* ---- frames ------------------------------------------------------------- */

static struct ipv4_spec spec(uint32_t saddr, uint32_t daddr, uint8_t proto)
{
	return (struct ipv4_spec){
		.saddr = htonl(saddr),
		.daddr = htonl(daddr),
		.proto = proto,
		.ttl = 64,
		.payload = 32,
	};
}

/* An IPv4 frame as the pod behind @src sends it: to its gateway's MAC. */
static struct iphdr *build_ipv4(struct frame *f, const struct nsf_endpoint *src,
				const struct ipv4_spec *s)
{
	frame_eth(f, src->host_mac, src->pod_mac, ETH_P_IP);
	return frame_ipv4(f, s);
}

/* UDP from A to B, the frame most cases start from. */
static struct iphdr *build_a_to_b(struct frame *f)
{
	struct ipv4_spec s = spec(ADDR_A, ADDR_B, IPPROTO_UDP);

	return build_ipv4(f, &ep_a, &s);
}

/* A broadcast ARP request with the MACs of @from. Addresses host order. */
static struct frame_arp *build_arp_request(struct frame *f,
					   const struct nsf_endpoint *from,
					   uint32_t spa, uint32_t tpa)
{
	frame_eth(f, mac_bcast, from->pod_mac, ETH_P_ARP);
	return frame_arp(f, 1, from->pod_mac, htonl(spa), mac_zero, htonl(tpa));
}

/* ---- 1. pod to pod ------------------------------------------------------ */

static void check_fwd_proto(uint8_t proto)
{
	struct ipv4_spec s = spec(ADDR_A, ADDR_B, proto);
	struct frame f;

	build_ipv4(&f, &ep_a, &s);
	check_forward(&f, ep_a.id, &ep_b);
}

static void test_fwd_udp(void **state)
{
	(void)state;
	check_fwd_proto(IPPROTO_UDP);
}

static void test_fwd_tcp(void **state)
{
	(void)state;
	check_fwd_proto(IPPROTO_TCP);
}

static void test_fwd_icmp(void **state)
{
	(void)state;
	check_fwd_proto(IPPROTO_ICMP);
}

/* B to C, received on B's veth: any endpoint to any other. */
static void test_fwd_other_pair(void **state)
{
	struct ipv4_spec s = spec(ADDR_B, ADDR_C, IPPROTO_TCP);
	struct frame f;

	(void)state;
	build_ipv4(&f, &ep_b, &s);
	check_forward_on(&f, IFINDEX_B, ep_b.id, &ep_c);
}

/* A pod talking to its own address through the gateway. */
static void test_fwd_to_self(void **state)
{
	struct ipv4_spec s = spec(ADDR_A, ADDR_A, IPPROTO_UDP);
	struct frame f;

	(void)state;
	build_ipv4(&f, &ep_a, &s);
	check_forward(&f, ep_a.id, &ep_a);
}

/* The lowest TTL still forwarded, and the highest. */
static void test_fwd_ttl_bounds(void **state)
{
	static const uint8_t ttls[] = { 2, 255 };
	struct frame f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ttls); i++) {
		build_a_to_b(&f)->ttl = ttls[i];
		ipv4_set_csum(frame_ip_hdr(&f));
		check_forward(&f, ep_a.id, &ep_b);
	}
}

/*
 * The incremental update (RFC 1624) must carry correctly whatever the
 * checksum was: values around 0xff00 and 0xffff wrap when 0x0100 is added,
 * and 0xffff is the -0 twin of 0x0000 some senders emit.
 */
static void test_fwd_checksum_wrap(void **state)
{
	static const uint16_t sums[] = { 0x0000, 0x00ff, 0x0100, 0xfeff,
					 0xff00, 0xff01, 0xfffe, 0xffff };
	struct frame f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sums) / sizeof(sums[0]); i++) {
		struct iphdr *ip = build_a_to_b(&f);

		assert_true(ipv4_force_csum(ip, sums[i]));
		assert_true(ipv4_csum_valid(ip));
		check_forward(&f, ep_a.id, &ep_b);
	}
}

/* ---- 2. IP options ------------------------------------------------------ */

static void test_fwd_ip_options(void **state)
{
	static const uint8_t opt_lens[] = { 4, 40 }; /* ihl 6 and 15 */
	struct frame f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(opt_lens); i++) {
		struct ipv4_spec s = spec(ADDR_A, ADDR_B, IPPROTO_UDP);
		struct iphdr *ip;

		s.opt_len = opt_lens[i];
		ip = build_ipv4(&f, &ep_a, &s);
		assert_int_equal(ip->ihl, 5 + opt_lens[i] / 4);
		check_forward(&f, ep_a.id, &ep_b);
	}
}

/* ---- 3. TTL ------------------------------------------------------------- */

static void test_pass_ttl(void **state)
{
	static const uint8_t ttls[] = { 1, 0 };
	struct frame f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ttls); i++) {
		build_a_to_b(&f)->ttl = ttls[i];
		ipv4_set_csum(frame_ip_hdr(&f));
		check_pass(&f, IFINDEX_LO, NSF_R_PASS_TTL, ep_a.id);
	}
}

/* A corrupted header checksum: ip_rcv() would drop it, so do not route it. */
static void test_pass_bad_csum(void **state)
{
	struct frame f;

	(void)state;
	build_a_to_b(&f)->check ^= htons(1);
	check_malformed(&f);
}

/*
 * Only frames sent to the gateway (the veth's own MAC) are routed, as a
 * router would: broadcast, multicast and other hosts' frames go to the
 * kernel, charged to the sender as fallback.
 */
static void test_pass_l2_other(void **state)
{
	static const uint8_t macs[][ETH_ALEN] = {
		{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		{ 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 },
		{ 0x02, 0x09, 0x09, 0x09, 0x09, 0x09 },
	};
	struct frame f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(macs) / sizeof(macs[0]); i++) {
		build_a_to_b(&f);
		memcpy(frame_eth_hdr(&f)->h_dest, macs[i], ETH_ALEN);
		check_pass(&f, IFINDEX_LO, NSF_R_PASS_L2_OTHER, ep_a.id);
	}
}

/* ---- 4. destination not a local pod ------------------------------------- */

static void test_pass_not_local(void **state)
{
	static const uint32_t dsts[] = { ADDR_OUTSIDE, NSF_GATEWAY4 };
	struct frame f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(dsts) / sizeof(dsts[0]); i++) {
		struct ipv4_spec s = spec(ADDR_A, dsts[i], IPPROTO_ICMP);

		build_ipv4(&f, &ep_a, &s);
		check_pass(&f, IFINDEX_LO, NSF_R_PASS_NOT_LOCAL, ep_a.id);
	}
}

/*
 * Addresses of the pod CIDR that no pod has (a free one, the network and
 * the broadcast address) are dropped, counted against the sender: they
 * must not follow the default route out of the host.
 */
static void test_drop_no_pod(void **state)
{
	static const uint32_t dsts[] = { ADDR_UNKNOWN, HOST_IP(10, 244, 0, 0),
					 HOST_IP(10, 244, 255, 255) };
	struct nsf_ep_stats want[NR_IDS];
	struct result r;
	struct frame f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(dsts) / sizeof(dsts[0]); i++) {
		struct ipv4_spec s = spec(ADDR_A, dsts[i], IPPROTO_UDP);

		build_ipv4(&f, &ep_a, &s);
		memset(want, 0, sizeof(want));
		reset();
		run(&f, IFINDEX_LO, &r);
		expect_retval(&r, TC_ACT_SHOT);
		expect_counter(NSF_R_DROP_NO_POD, 1, f.len);
		want[ep_a.id].c[NSF_EP_DROP].packets = 1;
		want[ep_a.id].c[NSF_EP_DROP].bytes = f.len;
		expect_ep_stats(want);
	}
}

/* Limited broadcast, multicast, class E and 0.0.0.0/8 go to the kernel
 * untouched, which handles them as a host would (never forwarded). */
static void test_pass_not_unicast(void **state)
{
	static const uint32_t dsts[] = { 0xffffffffu, HOST_IP(224, 0, 0, 1),
					 HOST_IP(239, 1, 2, 3),
					 HOST_IP(240, 0, 0, 1),
					 HOST_IP(0, 1, 2, 3) };
	struct frame f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(dsts) / sizeof(dsts[0]); i++) {
		struct ipv4_spec s = spec(ADDR_A, dsts[i], IPPROTO_UDP);

		build_ipv4(&f, &ep_a, &s);
		check_pass(&f, IFINDEX_LO, NSF_R_PASS_NOT_UNICAST, ep_a.id);
	}
}

/* ---- 5. anti-spoofing: the pod's own address and MAC only ---------------- */

/*
 * A made-up source (to another pod, to this veth's own pod, to the
 * world) and the gateway's address as source: dropped, charged to the pod
 * behind the veth (until the isolation work these went to the kernel as
 * pass-unknown-src).
 */
static void test_drop_spoofed_ip(void **state)
{
	static const uint32_t srcs[] = { ADDR_UNKNOWN, NSF_GATEWAY4,
					 ADDR_OUTSIDE };
	static const uint32_t dsts[] = { ADDR_B, ADDR_A, ADDR_OUTSIDE };
	struct frame f;
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
		for (j = 0; j < sizeof(dsts) / sizeof(dsts[0]); j++) {
			struct ipv4_spec s =
				spec(srcs[i], dsts[j], IPPROTO_UDP);

			build_ipv4(&f, &ep_a, &s);
			check_drop(&f, IFINDEX_LO, NSF_R_DROP_SPOOFED_IP,
				   ep_a.id);
		}
	}
}

/* C's address arriving on A's veth, and A's address on C's veth. */
static void test_drop_spoofed_other_pod(void **state)
{
	struct ipv4_spec s = spec(ADDR_C, ADDR_B, IPPROTO_UDP);
	struct frame f;

	(void)state;
	build_ipv4(&f, &ep_c, &s);
	check_drop(&f, IFINDEX_LO, NSF_R_DROP_SPOOFED_IP, ep_a.id);
	build_a_to_b(&f);
	check_drop(&f, IFINDEX_C, NSF_R_DROP_SPOOFED_IP, ep_c.id);
}

/* The pod's own address with another MAC (another pod's, a made-up one). */
static void test_drop_spoofed_mac(void **state)
{
	static const uint8_t macs[][ETH_ALEN] = {
		{ 0x02, 0x00, 0x0b, 0x00, 0x00, 0x03 }, /* B's */
		{ 0x02, 0x66, 0x66, 0x66, 0x66, 0x66 },
	};
	struct frame f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(macs) / sizeof(macs[0]); i++) {
		build_a_to_b(&f);
		memcpy(frame_eth_hdr(&f)->h_source, macs[i], ETH_ALEN);
		check_drop(&f, IFINDEX_LO, NSF_R_DROP_SPOOFED_MAC, ep_a.id);
	}
}

/* A veth that belongs to no endpoint (detached, stale): nothing passes. */
static void test_drop_unknown_endpoint(void **state)
{
	struct ipv4_spec s = spec(ADDR_B, ADDR_A, IPPROTO_UDP);
	struct frame f;

	(void)state;
	/* B's own, valid packet, on a veth (7777) that no endpoint owns. */
	build_ipv4(&f, &ep_b, &s);
	reset();
	check_drop_run(&f, 7777, NSF_R_DROP_UNKNOWN_EP, NSF_EP_ID_NONE);
	/* A forged ARP reply from there. */
	frame_eth(&f, mac_bcast, ep_b.pod_mac, ETH_P_ARP);
	frame_arp(&f, 2, ep_b.pod_mac, htonl(ADDR_B), mac_bcast, htonl(ADDR_B));
	reset();
	check_drop_run(&f, 7777, NSF_R_DROP_UNKNOWN_EP, NSF_EP_ID_NONE);
}

/* ---- 6. ARP ------------------------------------------------------------- */

/* @req must be answered with exactly @reply, sent back out of the veth. */
static void check_arp_reply(const struct frame *req, const struct frame *reply)
{
	struct result r;

	reset();
	run(req, IFINDEX_LO, &r);
	expect_retval(&r, TC_ACT_REDIRECT);
	expect_frame(reply, &r.out);
	expect_counter(NSF_R_ARP_REPLY, 1, req->len);
	expect_no_ep_stats();
}

static void build_gateway_reply(struct frame *f)
{
	frame_eth(f, ep_a.pod_mac, ep_a.host_mac, ETH_P_ARP);
	frame_arp(f, 2, ep_a.host_mac, htonl(NSF_GATEWAY4), ep_a.pod_mac,
		  htonl(ADDR_A));
}

static void test_arp_gateway_reply(void **state)
{
	struct frame req, reply;

	(void)state;
	build_arp_request(&req, &ep_a, ADDR_A, NSF_GATEWAY4);
	build_gateway_reply(&reply);
	check_arp_reply(&req, &reply);
	/* Padded to the Ethernet minimum, the padding comes back as is. */
	frame_pad(&req, ETH_MIN_FRAME);
	frame_pad(&reply, ETH_MIN_FRAME);
	check_arp_reply(&req, &reply);
}

/* The pod asks for an address other than the gateway's. */
static void test_arp_other_target(void **state)
{
	struct frame f;

	(void)state;
	build_arp_request(&f, &ep_a, ADDR_A, ADDR_B);
	check_pass(&f, IFINDEX_LO, NSF_R_PASS_ARP, NSF_EP_ID_NONE);
}

/* A reply (op 2) from the pod, even one naming the gateway. */
static void test_arp_reply_from_pod(void **state)
{
	struct frame f;

	(void)state;
	frame_eth(&f, ep_a.host_mac, ep_a.pod_mac, ETH_P_ARP);
	frame_arp(&f, 2, ep_a.pod_mac, htonl(ADDR_A), ep_a.host_mac,
		  htonl(NSF_GATEWAY4));
	check_pass(&f, IFINDEX_LO, NSF_R_PASS_ARP, NSF_EP_ID_NONE);
}

/* A sender address that is not the pod's: dropped, not answered. */
static void test_arp_unknown_sender(void **state)
{
	struct frame f;

	(void)state;
	build_arp_request(&f, &ep_a, ADDR_UNKNOWN, NSF_GATEWAY4);
	check_drop(&f, IFINDEX_LO, NSF_R_DROP_SPOOFED_ARP, ep_a.id);
}

/* C's address and MAC asking on A's veth. */
static void test_arp_sender_wrong_ifindex(void **state)
{
	struct frame f;

	(void)state;
	build_arp_request(&f, &ep_c, ADDR_C, NSF_GATEWAY4);
	check_drop(&f, IFINDEX_LO, NSF_R_DROP_SPOOFED_ARP, ep_a.id);
}

/*
 * Forged ARP from pod A: a reply claiming the gateway, a reply and a
 * gratuitous request claiming pod B, and A's address with a foreign
 * sender MAC or Ethernet source.
 */
static void test_arp_forged(void **state)
{
	static const uint8_t evil[ETH_ALEN] = { 0x02, 0x66, 0x66,
						0x66, 0x66, 0x66 };
	struct frame f;

	(void)state;
	frame_eth(&f, ep_a.host_mac, ep_a.pod_mac, ETH_P_ARP);
	frame_arp(&f, 2, ep_a.pod_mac, htonl(NSF_GATEWAY4), ep_a.host_mac,
		  htonl(ADDR_A));
	check_drop(&f, IFINDEX_LO, NSF_R_DROP_SPOOFED_ARP, ep_a.id);
	frame_eth(&f, mac_bcast, ep_a.pod_mac, ETH_P_ARP);
	frame_arp(&f, 2, ep_a.pod_mac, htonl(ADDR_B), mac_bcast, htonl(ADDR_B));
	check_drop(&f, IFINDEX_LO, NSF_R_DROP_SPOOFED_ARP, ep_a.id);
	build_arp_request(&f, &ep_a, ADDR_B, ADDR_B);
	check_drop(&f, IFINDEX_LO, NSF_R_DROP_SPOOFED_ARP, ep_a.id);
	build_arp_request(&f, &ep_a, ADDR_A, NSF_GATEWAY4);
	memcpy(frame_arp_hdr(&f)->sha, evil, ETH_ALEN);
	check_drop(&f, IFINDEX_LO, NSF_R_DROP_SPOOFED_ARP, ep_a.id);
	build_arp_request(&f, &ep_a, ADDR_A, NSF_GATEWAY4);
	memcpy(frame_eth_hdr(&f)->h_source, evil, ETH_ALEN);
	check_drop(&f, IFINDEX_LO, NSF_R_DROP_SPOOFED_ARP, ep_a.id);
}

/* ARP the program cannot parse is dropped as malformed. */
static void test_arp_unparsable(void **state)
{
	struct frame f;

	(void)state;
	build_arp_request(&f, &ep_a, ADDR_A, NSF_GATEWAY4);
	f.len--; /* tpa cut short */
	check_malformed(&f);
	build_arp_request(&f, &ep_a, ADDR_A, NSF_GATEWAY4)->htype = htons(6);
	check_malformed(&f);
	build_arp_request(&f, &ep_a, ADDR_A, NSF_GATEWAY4)->plen = 16;
	check_malformed(&f);
}

/* ---- 7. not IPv4 -------------------------------------------------------- */

/* Pods are IPv4-only: IPv6 would reach the host's link-local stack. */
static void test_drop_ipv6(void **state)
{
	struct frame f;

	(void)state;
	frame_eth(&f, ep_a.host_mac, ep_a.pod_mac, ETH_P_IPV6);
	frame_ipv6(&f, 16);
	check_drop(&f, IFINDEX_LO, NSF_R_DROP_NOT_IPV4, NSF_EP_ID_NONE);
}

static void test_drop_unknown_ethertype(void **state)
{
	static const uint16_t types[] = { 0x88b5, ETH_P_8021Q };
	struct frame f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		frame_eth(&f, ep_a.host_mac, ep_a.pod_mac, types[i]);
		frame_put_pattern(&f, 46);
		check_drop(&f, IFINDEX_LO, NSF_R_DROP_NOT_IPV4, NSF_EP_ID_NONE);
	}
}

/* ---- 8. truncated and invalid IPv4 -------------------------------------- */

/*
 * Whether test_run refuses an IPv4 EtherType without a whole IPv4 header.
 * Upstream commit 12bec2bd4b76 ("bpf: reject short IPv4/IPv6 inputs in
 * bpf_prog_test_run_skb"), also in stable kernels (6.18.44 has it), makes
 * it -EINVAL before the program runs; older kernels run the program.
 */
static bool short_ipv4_refused(const struct frame *full)
{
	struct frame f = *full;
	struct result r;

	f.len = ETH_HLEN;
	reset();
	run(&f, IFINDEX_LO, &r);
	if (r.err && r.err != -EINVAL)
		fail_msg("14-byte IPv4 frame: test_run gave %d", r.err);
	return r.err == -EINVAL;
}

/*
 * Every prefix of a valid frame shorter than Ethernet + IPv4 headers.
 * Below 14 bytes test_run always says -EINVAL. From 14 to 33 bytes the
 * program's own check is reached only on kernels that let such a frame
 * through; elsewhere the kernel must refuse every one of them.
 */
static void test_truncated(void **state)
{
	struct __sk_buff ctx = { .ifindex = IFINDEX_LO,
				 .ingress_ifindex = IFINDEX_LO };
	struct frame full, f;
	uint32_t len;
	bool refused;

	(void)state;
	build_a_to_b(&full);
	refused = short_ipv4_refused(&full);
	if (refused)
		print_message("# test_run refuses IPv4 frames under 34 bytes: "
			      "the program's short-header check is not "
			      "reachable on this kernel\n");
	for (len = 0; len < ETH_HLEN + sizeof(struct iphdr); len++) {
		f = full;
		f.len = len;
		if (len < ETH_HLEN || refused)
			check_refused(&f, &ctx, -EINVAL);
		else
			check_malformed(&f);
	}
}

static void test_bad_version(void **state)
{
	struct frame f;

	(void)state;
	build_a_to_b(&f)->version = 6;
	ipv4_set_csum(frame_ip_hdr(&f));
	check_malformed(&f);
}

static void test_bad_ihl_short(void **state)
{
	struct frame f;
	uint8_t ihl;

	(void)state;
	for (ihl = 0; ihl < 5; ihl++) {
		build_a_to_b(&f)->ihl = ihl;
		check_malformed(&f);
	}
}

/*
 * A 60-byte header (ihl 15) in a frame with 28 bytes of IPv4. Its tot_len
 * (28) is then below the header length too: with test_run's linear skb no
 * frame can fail the header-in-frame check alone, so that check of
 * parse_ipv4() cannot be told apart from the tot_len ones here.
 */
static void test_bad_ihl_beyond_frame(void **state)
{
	struct ipv4_spec s = spec(ADDR_A, ADDR_B, IPPROTO_UDP);
	struct frame f;

	(void)state;
	s.payload = 0;
	build_ipv4(&f, &ep_a, &s)->ihl = 15;
	assert_int_equal(f.len, ETH_HLEN + 28);
	check_malformed(&f);
}

static void check_tot_len(struct frame *f, uint16_t tot_len)
{
	struct iphdr *ip = frame_ip_hdr(f);

	ip->tot_len = htons(tot_len);
	ipv4_set_csum(ip);
	check_malformed(f);
}

/* tot_len shorter than the header: 19 for ihl 5, 23 for ihl 6, and 0. */
static void test_bad_tot_len_short(void **state)
{
	struct ipv4_spec s = spec(ADDR_A, ADDR_B, IPPROTO_UDP);
	struct frame f;

	(void)state;
	build_a_to_b(&f);
	check_tot_len(&f, 19);
	build_a_to_b(&f);
	check_tot_len(&f, 0);
	s.opt_len = 4;
	build_ipv4(&f, &ep_a, &s);
	check_tot_len(&f, 23);
}

/* tot_len one past the frame, and the largest possible. */
static void test_bad_tot_len_long(void **state)
{
	struct frame f;

	(void)state;
	build_a_to_b(&f);
	check_tot_len(&f, f.len - ETH_HLEN + 1);
	build_a_to_b(&f);
	check_tot_len(&f, 0xffff);
}

/* The limits that are still valid: a bare 20-byte header, nothing after. */
static void test_header_only_accepted(void **state)
{
	struct ipv4_spec s = spec(ADDR_A, ADDR_B, 253); /* RFC 3692 */
	struct frame f;

	(void)state;
	s.payload = 0;
	build_ipv4(&f, &ep_a, &s);
	assert_int_equal(f.len, ETH_HLEN + sizeof(struct iphdr));
	check_forward(&f, ep_a.id, &ep_b);
}

/* ---- 9. fragments ------------------------------------------------------- */

/* First (MF), middle (MF + offset), last (offset) fragment and DF. */
static void test_fwd_fragments(void **state)
{
	static const uint16_t frag_offs[] = { 0x2000, 0x20b9, 0x00b9, 0x4000 };
	struct frame f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(frag_offs) / sizeof(frag_offs[0]); i++) {
		struct ipv4_spec s = spec(ADDR_A, ADDR_B, IPPROTO_UDP);

		s.frag_off = frag_offs[i];
		build_ipv4(&f, &ep_a, &s);
		check_forward(&f, ep_a.id, &ep_b);
	}
}

/* ---- 10. Ethernet padding ----------------------------------------------- */

/* 44 bytes of frame (2 bytes of UDP data) padded to 60: tot_len < frame. */
static void test_fwd_padded(void **state)
{
	struct ipv4_spec s = spec(ADDR_A, ADDR_B, IPPROTO_UDP);
	struct frame f;

	(void)state;
	s.payload = 2;
	build_ipv4(&f, &ep_a, &s);
	assert_int_equal(f.len, 44);
	frame_pad(&f, ETH_MIN_FRAME);
	check_forward(&f, ep_a.id, &ep_b);
}

/* ---- 11. policy --------------------------------------------------------- */

#define GROUP_WEB 20
#define GROUP_NET 30 /* a CIDR identity */

static void pol_cfg(uint32_t flags, uint32_t gen)
{
	struct nsf_pol_cfg cfg = { .flags = flags, .gen = gen };
	uint32_t zero = 0;

	assert_int_equal(
		bpf_map_update_elem(hn.pol_cfg_fd, &zero, &cfg, BPF_ANY), 0);
}

static void pol_group(uint32_t id, uint32_t flags)
{
	struct nsf_pol_group g = { .flags = flags };

	assert_int_equal(
		bpf_map_update_elem(hn.pol_groups_fd, &id, &g, BPF_ANY), 0);
}

static void pol_rule(uint32_t src, uint32_t dst, uint8_t proto, uint16_t port,
		     uint32_t action)
{
	struct nsf_pol_key k = {
		.src = src, .dst = dst, .proto = proto, .port = htons(port)
	};
	struct nsf_pol_rule r = { .action = action, .id = 1 };

	assert_int_equal(bpf_map_update_elem(hn.pol_rules_fd, &k, &r, BPF_ANY),
			 0);
}

static void pol_rule_del(uint32_t src, uint32_t dst, uint8_t proto,
			 uint16_t port)
{
	struct nsf_pol_key k = {
		.src = src, .dst = dst, .proto = proto, .port = htons(port)
	};

	assert_int_equal(bpf_map_delete_elem(hn.pol_rules_fd, &k), 0);
}

/* Put the endpoint at @addr (host order) into group @group. */
static void ep_group(uint32_t addr, uint32_t group)
{
	struct nsf_endpoint ep;
	uint32_t key = htonl(addr);

	assert_int_equal(bpf_map_lookup_elem(hn.ep4_fd, &key, &ep), 0);
	ep.group = group;
	assert_int_equal(bpf_map_update_elem(hn.ep4_fd, &key, &ep, BPF_EXIST),
			 0);
}

static int count_keys(int fd)
{
	uint8_t key[16], next[16];
	void *prev = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, sizeof(key));
		prev = key;
		n++;
	}
	return n;
}

static void zero_counters(void)
{
	assert_int_equal(zero_percpu(hn.counters_fd, NSF_MAX_REASONS), 0);
	assert_int_equal(zero_percpu(hn.stats_fd, NSF_MAX_ENDPOINTS), 0);
}

/* Run without resetting the maps: the policy state of the test holds. */
static void expect_fwd_now(const struct frame *in,
			   const struct nsf_endpoint *dst)
{
	struct result r;

	zero_counters();
	run(in, IFINDEX_LO, &r);
	expect_forwarded(in, &r, dst);
	expect_counter(NSF_R_FWD_LOCAL, 1, in->len);
}

static void expect_drop_now(const struct frame *in, uint32_t reason)
{
	zero_counters();
	check_drop_run(in, IFINDEX_LO, reason, ep_a.id);
}

/* UDP 40000 -> 53 from A to B, and B's answer 53 -> 40000 to A. */
static void build_udp_pair(struct frame *req, struct frame *reply)
{
	struct ipv4_spec s = spec(ADDR_B, ADDR_A, IPPROTO_UDP);
	struct udphdr *uh;

	build_a_to_b(req);
	build_ipv4(reply, &ep_b, &s);
	uh = (struct udphdr *)(frame_ip_hdr(reply) + 1);
	uh->source = htons(53);
	uh->dest = htons(40000);
}

/* Groups configured but policy off: forwarded, no state written. */
static void test_policy_off(void **state)
{
	struct frame f;

	(void)state;
	reset();
	ep_group(ADDR_B, GROUP_WEB);
	pol_group(GROUP_WEB, NSF_PG_F_ENFORCED | NSF_PG_F_INGRESS_DENY);
	build_a_to_b(&f);
	expect_fwd_now(&f, &ep_b);
	assert_int_equal(count_keys(hn.ct_fd), 0);
	/* On, but no group of A or B enforced: still nothing written. */
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS, 1);
	pol_group(GROUP_WEB, 0);
	expect_fwd_now(&f, &ep_b);
	assert_int_equal(count_keys(hn.ct_fd), 0);
}

/* Default deny on the destination's ingress; an allow rule opens one
 * port; B's replies pass by connection state although B's egress is
 * denied by default. */
static void test_policy_default_deny_and_reply(void **state)
{
	struct frame req, reply;

	(void)state;
	reset();
	ep_group(ADDR_B, GROUP_WEB);
	pol_group(GROUP_WEB, NSF_PG_F_ENFORCED | NSF_PG_F_INGRESS_DENY |
				     NSF_PG_F_EGRESS_DENY);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS, 1);
	build_udp_pair(&req, &reply);
	expect_drop_now(&req, NSF_R_DROP_POLICY_INGRESS);
	/* B cannot start anything towards A either. */
	zero_counters();
	check_drop_run(&reply, IFINDEX_B, NSF_R_DROP_POLICY_EGRESS, ep_b.id);

	pol_rule(NSF_POL_GROUP_NONE, GROUP_WEB, IPPROTO_UDP, 53, NSF_POL_ALLOW);
	expect_fwd_now(&req, &ep_b);
	assert_int_equal(count_keys(hn.ct_fd), 1);
	{
		struct result r;

		zero_counters();
		run(&reply, IFINDEX_B, &r);
		expect_forwarded(&reply, &r, &ep_a);
	}
	/* Another port is still closed. */
	{
		struct frame other = req;
		struct udphdr *uh = (struct udphdr *)(frame_ip_hdr(&other) + 1);

		uh->dest = htons(54);
		expect_drop_now(&other, NSF_R_DROP_POLICY_INGRESS);
	}
}

/* An explicit deny rule, and "any" rules below exact ones. */
static void test_policy_deny_and_specificity(void **state)
{
	struct ipv4_spec s = spec(ADDR_A, ADDR_B, IPPROTO_TCP);
	struct frame udp, tcp;

	(void)state;
	reset();
	ep_group(ADDR_B, GROUP_WEB);
	pol_group(GROUP_WEB, NSF_PG_F_ENFORCED);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS, 1);
	pol_rule(NSF_POL_ANY, GROUP_WEB, 0, 0, NSF_POL_DENY);
	pol_rule(NSF_POL_GROUP_NONE, GROUP_WEB, IPPROTO_UDP, 53, NSF_POL_ALLOW);
	build_a_to_b(&udp);
	build_ipv4(&tcp, &ep_a, &s);
	expect_fwd_now(&udp, &ep_b);
	expect_drop_now(&tcp, NSF_R_DROP_POLICY);
	/* Without a rule and default allow: forwarded. */
	pol_rule_del(NSF_POL_ANY, GROUP_WEB, 0, 0);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS, 2);
	expect_fwd_now(&tcp, &ep_b);
}

/* A policy change applies to a flow that already has state. */
static void test_policy_generation(void **state)
{
	struct frame req, reply;

	(void)state;
	reset();
	ep_group(ADDR_B, GROUP_WEB);
	pol_group(GROUP_WEB, NSF_PG_F_ENFORCED | NSF_PG_F_INGRESS_DENY);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS, 7);
	pol_rule(NSF_POL_GROUP_NONE, GROUP_WEB, IPPROTO_UDP, 53, NSF_POL_ALLOW);
	build_udp_pair(&req, &reply);
	expect_fwd_now(&req, &ep_b);
	expect_fwd_now(&req, &ep_b);
	assert_int_equal(count_keys(hn.ct_fd), 1);
	/* Same generation: the state alone lets it pass, rule or not. */
	pol_rule_del(NSF_POL_GROUP_NONE, GROUP_WEB, IPPROTO_UDP, 53);
	expect_fwd_now(&req, &ep_b);
	/* New generation: judged again, denied; its state stays, at the old
	 * generation, so that B's answers are dropped with it. */
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS, 8);
	expect_drop_now(&req, NSF_R_DROP_POLICY_INGRESS);
	assert_int_equal(count_keys(hn.ct_fd), 1);
	/* Allowed again under generation 9. */
	pol_rule(NSF_POL_GROUP_NONE, GROUP_WEB, IPPROTO_UDP, 53, NSF_POL_ALLOW);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS, 9);
	expect_fwd_now(&req, &ep_b);
}

/* The host: denied by default except what cannot open a connection;
 * opened by a rule; TTL 1 and L2 broadcast to it are judged too. */
static void test_policy_host(void **state)
{
	struct ipv4_spec su = spec(ADDR_A, ADDR_OUTSIDE, IPPROTO_UDP);
	struct ipv4_spec st = spec(ADDR_A, ADDR_OUTSIDE, IPPROTO_TCP);
	struct ipv4_spec si = spec(ADDR_A, ADDR_OUTSIDE, IPPROTO_ICMP);
	struct frame udp, tcp_ack, icmp;
	struct result r;

	(void)state;
	reset();
	pol_group(NSF_POL_GROUP_HOST,
		  NSF_PG_F_ENFORCED | NSF_PG_F_INGRESS_DENY);
	pol_cfg(NSF_POL_F_ACTIVE, 1);
	build_ipv4(&udp, &ep_a, &su);
	build_ipv4(&tcp_ack, &ep_a, &st); /* frames.h sets ACK, no SYN */
	build_ipv4(&icmp, &ep_a, &si);
	expect_drop_now(&udp, NSF_R_DROP_POLICY_HOST);
	expect_drop_now(&icmp, NSF_R_DROP_POLICY_HOST);
	zero_counters();
	run(&tcp_ack, IFINDEX_LO, &r);
	expect_retval(&r, TC_ACT_OK);
	expect_counter(NSF_R_PASS_NOT_LOCAL, 1, tcp_ack.len);
	/* TTL 1 to the host: the kernel would deliver it locally. */
	frame_ip_hdr(&udp)->ttl = 1;
	ipv4_set_csum(frame_ip_hdr(&udp));
	expect_drop_now(&udp, NSF_R_DROP_POLICY_HOST);
	/* Broadcast frames go to the host as well. */
	build_ipv4(&udp, &ep_a, &su);
	memcpy(frame_eth_hdr(&udp)->h_dest, mac_bcast, ETH_ALEN);
	expect_drop_now(&udp, NSF_R_DROP_POLICY_HOST);
	/* Open ICMP to the host. */
	pol_rule(NSF_POL_ANY, NSF_POL_GROUP_HOST, IPPROTO_ICMP, 0,
		 NSF_POL_ALLOW);
	pol_cfg(NSF_POL_F_ACTIVE, 2);
	zero_counters();
	run(&icmp, IFINDEX_LO, &r);
	expect_retval(&r, TC_ACT_OK);
	expect_counter(NSF_R_PASS_NOT_LOCAL, 1, icmp.len);
	build_ipv4(&udp, &ep_a, &su);
	expect_drop_now(&udp, NSF_R_DROP_POLICY_HOST);
}

/* A CIDR identity from the LPM trie, longest prefix, else the host. */
static void test_policy_cidr(void **state)
{
	struct nsf_pol_cidr_key k = { .prefixlen = 24,
				      .addr = htonl(ADDR_OUTSIDE & ~0xffu) };
	struct ipv4_spec in = spec(ADDR_A, ADDR_OUTSIDE, IPPROTO_UDP);
	struct ipv4_spec out =
		spec(ADDR_A, HOST_IP(198, 51, 100, 1), IPPROTO_UDP);
	uint32_t id = GROUP_NET;
	struct frame f;
	struct result r;

	(void)state;
	reset();
	assert_int_equal(bpf_map_update_elem(hn.pol_cidr_fd, &k, &id, BPF_ANY),
			 0);
	pol_group(GROUP_NET, NSF_PG_F_ENFORCED);
	pol_rule(NSF_POL_ANY, GROUP_NET, 0, 0, NSF_POL_DENY);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_CIDRS, 1);
	build_ipv4(&f, &ep_a, &in);
	expect_drop_now(&f, NSF_R_DROP_POLICY);
	build_ipv4(&f, &ep_a, &out);
	zero_counters();
	run(&f, IFINDEX_LO, &r);
	expect_retval(&r, TC_ACT_OK);
	expect_counter(NSF_R_PASS_NOT_LOCAL, 1, f.len);
}

/* TCP A -> the host port 22, SYN and ACK as given. */
static void build_tcp_host(struct frame *f, bool syn, bool ack)
{
	struct ipv4_spec s = spec(ADDR_A, ADDR_OUTSIDE, IPPROTO_TCP);
	struct tcphdr *th;

	build_ipv4(f, &ep_a, &s);
	th = (struct tcphdr *)(frame_ip_hdr(f) + 1);
	th->dest = htons(22);
	th->syn = syn;
	th->ack = ack;
	th->psh = 0;
}

/* A bare ACK passes the closed host statelessly and leaves no state
 * behind: a SYN on the same tuple is still refused. */
static void test_policy_host_syn_after_ack(void **state)
{
	struct frame syn, ack;
	struct result r;

	(void)state;
	reset();
	pol_group(NSF_POL_GROUP_HOST,
		  NSF_PG_F_ENFORCED | NSF_PG_F_INGRESS_DENY);
	pol_cfg(NSF_POL_F_ACTIVE, 1);
	build_tcp_host(&syn, true, false);
	build_tcp_host(&ack, false, true);
	expect_drop_now(&syn, NSF_R_DROP_POLICY_HOST);
	zero_counters();
	run(&ack, IFINDEX_LO, &r);
	expect_retval(&r, TC_ACT_OK);
	assert_int_equal(count_keys(hn.ct_fd), 0);
	expect_drop_now(&syn, NSF_R_DROP_POLICY_HOST);
}

/* Likewise an ICMP error (no ports) does not open echo id 0. */
static void test_policy_host_ping_after_icmp_error(void **state)
{
	struct ipv4_spec si = spec(ADDR_A, ADDR_OUTSIDE, IPPROTO_ICMP);
	struct frame err, ping;
	struct result r;
	uint8_t *l4;

	(void)state;
	reset();
	pol_group(NSF_POL_GROUP_HOST,
		  NSF_PG_F_ENFORCED | NSF_PG_F_INGRESS_DENY);
	pol_cfg(NSF_POL_F_ACTIVE, 1);
	build_ipv4(&ping, &ep_a, &si);
	l4 = (uint8_t *)(frame_ip_hdr(&ping) + 1);
	l4[4] = l4[5] = 0; /* echo id 0 */
	expect_drop_now(&ping, NSF_R_DROP_POLICY_HOST);
	build_ipv4(&err, &ep_a, &si);
	l4 = (uint8_t *)(frame_ip_hdr(&err) + 1);
	l4[0] = 3; /* destination unreachable */
	l4[1] = 3; /* port */
	zero_counters();
	run(&err, IFINDEX_LO, &r);
	expect_retval(&r, TC_ACT_OK);
	expect_drop_now(&ping, NSF_R_DROP_POLICY_HOST);
}

/* Pod to pod: the state of an allowed ICMP error (no ports) does not let
 * the other side's echo requests with id 0 pass as its replies. */
static void test_policy_icmp_error_no_state(void **state)
{
	struct ipv4_spec si = spec(ADDR_A, ADDR_B, IPPROTO_ICMP);
	struct ipv4_spec sp = spec(ADDR_B, ADDR_A, IPPROTO_ICMP);
	struct frame err, ping;
	uint8_t *l4;

	(void)state;
	reset();
	ep_group(ADDR_B, GROUP_WEB);
	pol_group(GROUP_WEB, NSF_PG_F_ENFORCED | NSF_PG_F_INGRESS_DENY |
				     NSF_PG_F_EGRESS_DENY);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS, 1);
	pol_rule(NSF_POL_ANY, GROUP_WEB, IPPROTO_ICMP, 0, NSF_POL_ALLOW);
	build_ipv4(&err, &ep_a, &si);
	l4 = (uint8_t *)(frame_ip_hdr(&err) + 1);
	l4[0] = 3; /* destination unreachable */
	l4[1] = 3; /* port */
	expect_fwd_now(&err, &ep_b);
	build_ipv4(&ping, &ep_b, &sp);
	l4 = (uint8_t *)(frame_ip_hdr(&ping) + 1);
	l4[4] = l4[5] = 0; /* echo id 0 */
	zero_counters();
	check_drop_run(&ping, IFINDEX_B, NSF_R_DROP_POLICY_EGRESS, ep_b.id);
}

/* TCP A:40001 -> B:80 and B's answer 80 -> 40001 (both ACK). */
static void build_tcp_pair(struct frame *req, struct frame *reply)
{
	struct ipv4_spec s = spec(ADDR_A, ADDR_B, IPPROTO_TCP);
	struct ipv4_spec sr = spec(ADDR_B, ADDR_A, IPPROTO_TCP);
	struct tcphdr *th;

	build_ipv4(req, &ep_a, &s);
	build_ipv4(reply, &ep_b, &sr);
	th = (struct tcphdr *)(frame_ip_hdr(reply) + 1);
	th->source = htons(80);
	th->dest = htons(40001);
}

/* A (no group) -> B (web, ingress deny) tcp/80, allowed by a rule, its
 * first packet forwarded: @req, and @reply its answer. */
static void allowed_web_flow(struct frame *req, struct frame *reply)
{
	reset();
	ep_group(ADDR_B, GROUP_WEB);
	pol_group(GROUP_WEB, NSF_PG_F_ENFORCED | NSF_PG_F_INGRESS_DENY);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS, 1);
	pol_rule(NSF_POL_ANY, GROUP_WEB, IPPROTO_TCP, 80, NSF_POL_ALLOW);
	build_tcp_pair(req, reply);
	expect_fwd_now(req, &ep_b);
}

/* A flow whose rule is removed stays stopped when the server sends
 * first: B's packets are replies of the revoked flow, not a new flow
 * B -> A that web's egress default would allow. */
static void test_policy_revoked_flow_server_first(void **state)
{
	struct frame req, reply;
	struct result r;

	(void)state;
	allowed_web_flow(&req, &reply);
	zero_counters();
	run(&reply, IFINDEX_B, &r);
	expect_forwarded(&reply, &r, &ep_a);
	pol_rule_del(NSF_POL_ANY, GROUP_WEB, IPPROTO_TCP, 80);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS, 2);
	for (int i = 0; i < 2; i++) {
		zero_counters();
		check_drop_run(&reply, IFINDEX_B, NSF_R_DROP_POLICY_INGRESS,
			       ep_b.id);
	}
	expect_drop_now(&req, NSF_R_DROP_POLICY_INGRESS);
	/* Nor when the client sends first. */
	zero_counters();
	check_drop_run(&reply, IFINDEX_B, NSF_R_DROP_POLICY_INGRESS, ep_b.id);
	/* The rule back: the flow resumes. */
	pol_rule(NSF_POL_ANY, GROUP_WEB, IPPROTO_TCP, 80, NSF_POL_ALLOW);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS, 3);
	zero_counters();
	run(&reply, IFINDEX_B, &r);
	expect_forwarded(&reply, &r, &ep_a);
	expect_fwd_now(&req, &ep_b);
}

/* The same, the client sending first after the change. */
static void test_policy_revoked_flow_client_first(void **state)
{
	struct frame req, reply;
	struct result r;

	(void)state;
	allowed_web_flow(&req, &reply);
	pol_rule_del(NSF_POL_ANY, GROUP_WEB, IPPROTO_TCP, 80);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS, 2);
	expect_drop_now(&req, NSF_R_DROP_POLICY_INGRESS);
	zero_counters();
	check_drop_run(&reply, IFINDEX_B, NSF_R_DROP_POLICY_INGRESS, ep_b.id);
	expect_drop_now(&req, NSF_R_DROP_POLICY_INGRESS);
	/* A bare SYN from B can open a flow of its own (web may send). */
	{
		struct tcphdr *th = (struct tcphdr *)(frame_ip_hdr(&reply) + 1);

		th->syn = 1;
		th->ack = 0;
		zero_counters();
		run(&reply, IFINDEX_B, &r);
		expect_forwarded(&reply, &r, &ep_a);
	}
}

/* A CIDR named by a rule that does not match a pod keeps, for that pod,
 * the host's default deny (the CIDR is routed to the host here). */
static void test_policy_cidr_keeps_host_deny(void **state)
{
	struct nsf_pol_cidr_key k = { .prefixlen = 24,
				      .addr = htonl(ADDR_OUTSIDE & ~0xffu) };
	struct ipv4_spec su = spec(ADDR_A, ADDR_OUTSIDE, IPPROTO_UDP);
	uint32_t id = GROUP_NET;
	struct frame f;

	(void)state;
	reset();
	pol_group(NSF_POL_GROUP_HOST,
		  NSF_PG_F_ENFORCED | NSF_PG_F_INGRESS_DENY);
	pol_cfg(NSF_POL_F_ACTIVE, 1);
	build_ipv4(&f, &ep_a, &su);
	expect_drop_now(&f, NSF_R_DROP_POLICY_HOST);
	/* = nsfast policy rule add deny from web to 192.0.2.0/24 (A not in
	 * web) */
	assert_int_equal(bpf_map_update_elem(hn.pol_cidr_fd, &k, &id, BPF_ANY),
			 0);
	pol_group(GROUP_NET, NSF_PG_F_ENFORCED);
	pol_group(GROUP_WEB, NSF_PG_F_ENFORCED);
	pol_rule(GROUP_WEB, GROUP_NET, 0, 0, NSF_POL_DENY);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS | NSF_POL_F_CIDRS, 2);
	expect_drop_now(&f, NSF_R_DROP_POLICY_HOST);
	/* A rule for the host applies to the CIDR's addresses too. */
	pol_rule(NSF_POL_ANY, NSF_POL_GROUP_HOST, IPPROTO_UDP, 0,
		 NSF_POL_ALLOW);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS | NSF_POL_F_CIDRS, 3);
	{
		struct result r;

		zero_counters();
		run(&f, IFINDEX_LO, &r);
		expect_retval(&r, TC_ACT_OK);
		expect_counter(NSF_R_PASS_NOT_LOCAL, 1, f.len);
	}
	/* The CIDR's own rule still wins for the group it names. */
	ep_group(ADDR_A, GROUP_WEB);
	pol_cfg(NSF_POL_F_ACTIVE | NSF_POL_F_PODS | NSF_POL_F_CIDRS, 4);
	expect_drop_now(&f, NSF_R_DROP_POLICY);
}

/* ---- test_run itself ---------------------------------------------------- */

static uint32_t missing_ifindex(void)
{
	char name[IF_NAMESIZE];
	uint32_t i = 0x7ffff000;

	while (if_indextoname(i, name))
		i++;
	return i;
}

/* What the comment at the top says about ctx, checked on this kernel. */
static void test_ctx_ifindex(void **state)
{
	struct __sk_buff ctx = { .ifindex = IFINDEX_LO,
				 .ingress_ifindex = IFINDEX_C };
	struct ipv4_spec s = spec(ADDR_C, ADDR_B, IPPROTO_UDP);
	struct result r;
	struct frame f;

	(void)state;
	/* ingress_ifindex is taken verbatim, even with no such device. */
	build_ipv4(&f, &ep_c, &s);
	reset();
	run_ctx(&f, &ctx, &r);
	expect_forwarded(&f, &r, &ep_b);
	assert_int_equal(ctx.ingress_ifindex, IFINDEX_C);
	assert_int_equal(ctx.ifindex, IFINDEX_LO);
	/* Without a ctx it is 0, although skb->dev is lo: no endpoint. */
	build_a_to_b(&f);
	reset();
	run_ctx(&f, NULL, &r);
	expect_retval(&r, TC_ACT_SHOT);
	expect_counter(NSF_R_DROP_UNKNOWN_EP, 1, f.len);
	expect_no_ep_stats();
	/* ifindex must name a device; other fields must stay zero. */
	ctx = (struct __sk_buff){ .ifindex = missing_ifindex() };
	check_refused(&f, &ctx, -ENODEV);
	ctx = (struct __sk_buff){ .ifindex = IFINDEX_LO, .protocol = 8 };
	check_refused(&f, &ctx, -EINVAL);
}

/* The map layout the loader will rely on matches include/nsfast/maps.h. */
static void test_map_layout(void **state)
{
	struct pod_ingress *skel = hn.skel;

	(void)state;
	assert_int_equal(bpf_map__value_size(skel->maps.nsf_ep4),
			 sizeof(struct nsf_endpoint));
	assert_int_equal(bpf_map__key_size(skel->maps.nsf_ep4), 4);
	assert_int_equal(bpf_map__value_size(skel->maps.nsf_config),
			 sizeof(struct nsf_config));
	assert_int_equal(bpf_map__value_size(skel->maps.nsf_ep_stats),
			 sizeof(struct nsf_ep_stats));
	assert_int_equal(bpf_map__max_entries(skel->maps.nsf_ep_stats),
			 NSF_MAX_ENDPOINTS);
	assert_int_equal(bpf_map__value_size(skel->maps.nsf_counters),
			 sizeof(struct nsf_counter));
	assert_int_equal(bpf_map__max_entries(skel->maps.nsf_counters),
			 NSF_MAX_REASONS);
}

/* ---- verifier budget ---------------------------------------------------- */

/*
 * The kernel refuses a program whose verification walks more than
 * 1,000,000 instructions (BPF_COMPLEXITY_LIMIT_INSNS): `nsfast init` then
 * fails on the user's host. The count is not the program's size: it grows
 * with the paths the verifier must tell apart, so a small change can add
 * 100,000s (the policy fix for CIDR identities added 124,142 to
 * nsf_from_pod, which reached 842,279 before policy_decide() and
 * nat_claim_port() became global functions). The budget is half the limit:
 * a program over it is caught here, while the kernel would still load it,
 * and a kernel whose verifier counts up to twice what this one does
 * (pruning differs between versions) still loads one under it.
 */
#define VERIFIER_BUDGET 500000

/* Small: the table's size does not change what the verifier walks. */
#define BUDGET_NAT_ENTRIES 1024

/* Print and check the count of each program of @obj; false if one is over
 * the budget. *@seen counts the programs whose count the kernel reports. */
static bool within_budget(struct bpf_object *obj, int *seen)
{
	struct bpf_program *prog;
	bool ok = true;

	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info = { 0 };
		uint32_t len = sizeof(info);

		assert_int_equal(bpf_obj_get_info_by_fd(bpf_program__fd(prog),
							&info, &len),
				 0);
		print_message("# verified_insns %-16s %7u (budget %u)\n",
			      bpf_program__name(prog), info.verified_insns,
			      VERIFIER_BUDGET);
		if (info.verified_insns)
			(*seen)++;
		if (info.verified_insns > VERIFIER_BUDGET) {
			print_error("%s: %u instructions verified, budget %u\n",
				    bpf_program__name(prog),
				    info.verified_insns, VERIFIER_BUDGET);
			ok = false;
		}
	}
	return ok;
}

/* Every datapath program verifies within VERIFIER_BUDGET instructions. */
static void test_verifier_budget(void **state)
{
	struct uplink_xdp *xdp = NULL;
	struct pod_ingress *pod = NULL;
	struct uplink_tc *tc = NULL;
	int err, seen = 0;
	bool ok = false;

	(void)state;
	err = datapath_load(&pod, &xdp, &tc, BUDGET_NAT_ENTRIES);
	if (err) {
		print_error("load: %s\n", strerror(-err));
	} else {
		ok = within_budget(pod->obj, &seen);
		ok = within_budget(xdp->obj, &seen) && ok;
		ok = within_budget(tc->obj, &seen) && ok;
	}
	uplink_tc__destroy(tc);
	uplink_xdp__destroy(xdp);
	pod_ingress__destroy(pod);
	assert_true(ok);
	if (!seen)
		skip(); /* before 5.16 the kernel does not report the count */
}

/* ---- group setup -------------------------------------------------------- */

static int check_unpinned(struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		if (bpf_map__pin_path(map) || bpf_map__is_pinned(map)) {
			print_error("map %s is pinned\n", bpf_map__name(map));
			return -EEXIST;
		}
	}
	return 0;
}

static int alloc_buffers(void)
{
	uint32_t i;

	hn.ncpus = libbpf_num_possible_cpus();
	if (hn.ncpus <= 0)
		return -EINVAL;
	hn.percpu = calloc(hn.ncpus, sizeof(struct nsf_ep_stats));
	hn.zeros = calloc((size_t)hn.ncpus * ZERO_CHUNK,
			  sizeof(struct nsf_ep_stats));
	hn.keys = calloc(NSF_MAX_ENDPOINTS, sizeof(*hn.keys));
	if (!hn.percpu || !hn.zeros || !hn.keys)
		return -ENOMEM;
	for (i = 0; i < NSF_MAX_ENDPOINTS; i++)
		hn.keys[i] = i;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	pod_ingress__destroy(hn.skel);
	free(hn.percpu);
	free(hn.zeros);
	free(hn.keys);
	memset(&hn, 0, sizeof(hn));
	return 0;
}

static int group_setup(void **state)
{
	int err;

	hn.skel = pod_ingress__open();
	if (!hn.skel) {
		print_error("open: %s\n", strerror(errno));
		return -1;
	}
	err = unpin_all(hn.skel->obj);
	if (!err)
		err = pod_ingress__load(hn.skel);
	if (!err)
		err = check_unpinned(hn.skel->obj);
	if (!err)
		err = alloc_buffers();
	if (err) {
		print_error("setup: %s\n", strerror(-err));
		group_teardown(state);
		return -1;
	}
	hn.prog_fd = bpf_program__fd(hn.skel->progs.nsf_from_pod);
	hn.config_fd = bpf_map__fd(hn.skel->maps.nsf_config);
	hn.ep4_fd = bpf_map__fd(hn.skel->maps.nsf_ep4);
	hn.stats_fd = bpf_map__fd(hn.skel->maps.nsf_ep_stats);
	hn.counters_fd = bpf_map__fd(hn.skel->maps.nsf_counters);
	hn.ifx_fd = bpf_map__fd(hn.skel->maps.nsf_ep_ifx);
	hn.pol_cfg_fd = bpf_map__fd(hn.skel->maps.nsf_pol_cfg);
	hn.pol_groups_fd = bpf_map__fd(hn.skel->maps.nsf_pol_groups);
	hn.pol_rules_fd = bpf_map__fd(hn.skel->maps.nsf_pol_rules);
	hn.pol_cidr_fd = bpf_map__fd(hn.skel->maps.nsf_pol_cidr);
	hn.ct_fd = bpf_map__fd(hn.skel->maps.nsf_ct4);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return fixture_reset();
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_fwd_udp),
		T(test_fwd_tcp),
		T(test_fwd_icmp),
		T(test_fwd_other_pair),
		T(test_fwd_to_self),
		T(test_fwd_ttl_bounds),
		T(test_fwd_checksum_wrap),
		T(test_fwd_ip_options),
		T(test_pass_ttl),
		T(test_pass_bad_csum),
		T(test_pass_l2_other),
		T(test_pass_not_local),
		T(test_drop_spoofed_ip),
		T(test_drop_spoofed_other_pod),
		T(test_drop_spoofed_mac),
		T(test_drop_unknown_endpoint),
		T(test_drop_no_pod),
		T(test_pass_not_unicast),
		T(test_arp_gateway_reply),
		T(test_arp_other_target),
		T(test_arp_reply_from_pod),
		T(test_arp_unknown_sender),
		T(test_arp_sender_wrong_ifindex),
		T(test_arp_forged),
		T(test_arp_unparsable),
		T(test_drop_ipv6),
		T(test_drop_unknown_ethertype),
		T(test_truncated),
		T(test_bad_version),
		T(test_bad_ihl_short),
		T(test_bad_ihl_beyond_frame),
		T(test_bad_tot_len_short),
		T(test_bad_tot_len_long),
		T(test_header_only_accepted),
		T(test_fwd_fragments),
		T(test_fwd_padded),
		T(test_policy_off),
		T(test_policy_default_deny_and_reply),
		T(test_policy_deny_and_specificity),
		T(test_policy_generation),
		T(test_policy_host),
		T(test_policy_cidr),
		T(test_policy_host_syn_after_ack),
		T(test_policy_host_ping_after_icmp_error),
		T(test_policy_revoked_flow_server_first),
		T(test_policy_revoked_flow_client_first),
		T(test_policy_icmp_error_no_state),
		T(test_policy_cidr_keeps_host_deny),
		T(test_ctx_ifindex),
		T(test_map_layout),
		T(test_verifier_budget),
	};

	return cmocka_run_group_tests_name("bpf_pod_ingress", tests,
					   group_setup, group_teardown);
}
