// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tc ingress on every pod's host-side veth: everything a pod sends starts
 * here. Pod-to-pod IPv4 is forwarded straight into the destination pod;
 * ARP for the gateway is answered; everything else goes to the kernel
 * stack (TC_ACT_OK) with a counted reason, so the fast path never decides
 * what it does not understand.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/stats.h"
#include "lib/route.h"
#include "lib/arp.h"
#include "lib/snat.h"
#include "lib/martian.h"

static __always_inline int pass(enum nsf_reason reason, __u32 len)
{
	count_reason(reason, len);
	return TC_ACT_OK;
}

static __always_inline int pass_from(const struct nsf_endpoint *src,
				     enum nsf_reason reason, __u32 len)
{
	count_ep(src, NSF_EP_FALLBACK, len);
	return pass(reason, len);
}

/*
 * Not for a local pod: masquerade it out of the uplink if it is routed
 * there, else leave it to the kernel (the host itself, other interfaces).
 */
static __always_inline int to_world(struct __sk_buff *skb, struct ethhdr *eth,
				    struct iphdr *ip,
				    const struct nsf_endpoint *src, __u32 len)
{
	struct nsf_config *cfg = config();
	enum nsf_reason why;
	struct snat_verdict v;

	if (martian_dst(ip, cfg, &why)) {
		if (why != NSF_R_DROP_NO_POD)
			return pass_from(src, why, len);
		count_ep(src, NSF_EP_DROP, len);
		count_reason(why, len);
		return TC_ACT_SHOT;
	}
	if (!cfg || !cfg->uplink_ifindex)
		return pass_from(src, NSF_R_PASS_NOT_LOCAL, len);
	v = snat_to_uplink(skb, eth, ip, cfg);
	count_reason(v.reason, len);
	if (v.reason == NSF_R_FWD_SNAT)
		count_ep(src, NSF_EP_FROM_POD, len);
	else if (v.action == TC_ACT_SHOT)
		count_ep(src, NSF_EP_DROP, len);
	else
		count_ep(src, NSF_EP_FALLBACK, len);
	return v.action;
}

SEC("tc")
int nsf_from_pod(struct __sk_buff *skb)
{
	struct nsf_endpoint *src, *dst;
	struct arp_eth_ipv4 *arp;
	__u32 len = skb->len;
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;

	if (pull_headers(skb))
		return pass(NSF_R_PASS_MALFORMED, len);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = parse_eth(data, data_end);
	if (!eth)
		return pass(NSF_R_PASS_MALFORMED, len);
	if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
		arp = parse_arp(eth + 1, data_end);
		if (!arp)
			return pass(NSF_R_PASS_ARP, len);
		return arp_respond(skb, eth, arp);
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return pass(NSF_R_PASS_NOT_IPV4, len);

	ip = parse_ipv4(eth + 1, data_end, len - sizeof(*eth));
	if (!ip)
		return pass(NSF_R_PASS_MALFORMED, len);

	/* Only an endpoint's own address, from its own veth, is fast-pathed. */
	src = endpoint_v4(ip->saddr);
	if (!src || src->ifindex != skb->ingress_ifindex)
		return pass(NSF_R_PASS_UNKNOWN_SRC, len);
	/* As a router: only frames sent to us (the gateway MAC) are routed. */
	if (!mac_equal(eth->h_dest, src->host_mac))
		return pass_from(src, NSF_R_PASS_L2_OTHER, len);
	if (ip->ttl <= 1)
		return pass_from(src, NSF_R_PASS_TTL, len);

	dst = endpoint_v4(ip->daddr);
	if (!dst)
		return to_world(skb, eth, ip, src, len);

	count_ep(src, NSF_EP_FROM_POD, len);
	count_ep(dst, NSF_EP_TO_POD, len);
	count_reason(NSF_R_FWD_LOCAL, len);
	return deliver_local(eth, ip, dst);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
