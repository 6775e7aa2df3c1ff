// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tc ingress on every pod's host-side veth: everything a pod sends starts
 * here. It must carry the pod's own identity (address, MAC; anti-spoofing)
 * or it is dropped; policy decides what the pod may reach. Pod-to-pod IPv4
 * is forwarded straight into the destination pod; ARP for the gateway is
 * answered; the rest goes to the kernel stack (TC_ACT_OK) with a counted
 * reason, so the fast path never decides what it does not understand.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/stats.h"
#include "lib/route.h"
#include "lib/arp.h"
#include "lib/snat.h"
#include "lib/publish.h"
#include "lib/remote.h"
#include "lib/antispoof.h"
#include "lib/policy.h"
#include "lib/monitor.h"
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

/* To the kernel, which delivers it to the host or routes it elsewhere:
 * only if policy lets the pod reach the host. */
static __always_inline int to_host(struct __sk_buff *skb, struct iphdr *ip,
				   void *data_end,
				   const struct nsf_endpoint *src,
				   enum nsf_reason reason, __u32 len)
{
	__u32 deny = policy_peer(skb, ip, data_end, src, NSF_POL_GROUP_HOST);

	if (deny)
		return drop_from(src, deny, len);
	return pass_from(src, reason, len);
}

/*
 * TTL expires at the host. For one of the host's own addresses (which the
 * FIB does not forward) the kernel would deliver it, so the host policy
 * decides; for anything the host would forward, the kernel only answers
 * with ICMP time exceeded (a traceroute's first hop): no policy withholds
 * that.
 */
static __always_inline int ttl_expired(struct __sk_buff *skb, struct iphdr *ip,
				       void *data_end,
				       const struct nsf_endpoint *src,
				       __u32 len)
{
	struct bpf_fib_lookup fib;
	int rc = snat_fib(skb, ip, &fib, 0);

	if (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return pass_from(src, NSF_R_PASS_TTL, len);
	return to_host(skb, ip, data_end, src, NSF_R_PASS_TTL, len);
}

/*
 * Not for a local pod: masquerade it out of the uplink if it is routed
 * there, else leave it to the kernel (the host itself, other interfaces).
 */
static __always_inline int to_world(struct __sk_buff *skb, struct ethhdr *eth,
				    struct iphdr *ip,
				    const struct nsf_endpoint *src, __u32 len)
{
	void *data_end = (void *)(long)skb->data_end;
	struct nsf_config *cfg = config();
	enum nsf_reason why;
	struct snat_verdict v;

	if (martian_dst(ip, cfg, &why)) {
		/* Broadcast and multicast are the host's to handle. */
		if (why != NSF_R_DROP_NO_POD)
			return to_host(skb, ip, data_end, src, why, len);
		count_ep(src, NSF_EP_DROP, len);
		count_reason(why, len);
		return TC_ACT_SHOT;
	}
	if (!cfg || !cfg->uplink_ifindex)
		return to_host(skb, ip, data_end, src, NSF_R_PASS_NOT_LOCAL,
			       len);
	v = snat_to_uplink(skb, eth, ip, cfg, src);
	if (v.reason == NSF_R_PASS_NOT_UPLINK)
		return to_host(skb, ip, data_end, src, v.reason, len);
	count_reason(v.reason, len);
	if (v.reason == NSF_R_FWD_SNAT)
		count_ep(src, NSF_EP_FROM_POD, len);
	else if (v.action == TC_ACT_SHOT)
		count_ep(src, NSF_EP_DROP, len);
	else
		count_ep(src, NSF_EP_FALLBACK, len);
	return v.action;
}

/*
 * Not for a local pod: to a pod of another node (lib/remote.h), forwarded
 * without NAT? Then true with the verdict in *verdict.
 */
static __always_inline bool to_node(struct __sk_buff *skb, struct ethhdr *eth,
				    struct iphdr *ip,
				    const struct nsf_endpoint *src, __u32 len,
				    int *verdict)
{
	enum nsf_reason reason;

	if (!remote_forward(skb, eth, ip, src, &reason, verdict))
		return false;
	count_reason(reason, len);
	if (reason == NSF_R_FWD_ROUTE)
		count_ep(src, NSF_EP_FROM_POD, len);
	else if (*verdict == TC_ACT_SHOT)
		count_ep(src, NSF_EP_DROP, len);
	else
		count_ep(src, NSF_EP_FALLBACK, len);
	return true;
}

static __always_inline int from_pod(struct __sk_buff *skb)
{
	struct nsf_endpoint *src, *dst;
	struct arp_eth_ipv4 *arp;
	__u32 len = skb->len, deny;
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	int verdict;

	/*
	 * An 802.1Q/802.1ad frame: the kernel moved its tag into the skb
	 * before tc (skb_vlan_untag()), so the headers below look untagged,
	 * and a redirect would send it on with its tag, into that VLAN of
	 * the uplink or to another pod. Pods have no VLANs: any other
	 * EtherType, dropped as below, priority tags (VLAN 0) included.
	 */
	if (unlikely(skb->vlan_present)) {
		count_reason(NSF_R_DROP_NOT_IPV4, len);
		return TC_ACT_SHOT;
	}
	if (pull_headers(skb))
		return drop_on_veth(skb, NSF_R_DROP_MALFORMED, len);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = parse_eth(data, data_end);
	if (!eth)
		return drop_on_veth(skb, NSF_R_DROP_MALFORMED, len);
	if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
		arp = parse_arp(eth + 1, data_end);
		if (!arp)
			return drop_on_veth(skb, NSF_R_DROP_MALFORMED, len);
		return arp_respond(skb, eth, arp);
	}
	/*
	 * Pods are IPv4-only: IPv6 (even link-local) would reach the host.
	 * Counted globally, not against the pod: attach brings the pod's
	 * interface up without IPv6 addresses, but a pod that adds one sends
	 * router solicitations and MLD reports on its own, which is no misdeed.
	 */
	if (eth->h_proto != bpf_htons(ETH_P_IP)) {
		count_reason(NSF_R_DROP_NOT_IPV4, len);
		return TC_ACT_SHOT;
	}

	ip = parse_ipv4(eth + 1, data_end, len - sizeof(*eth));
	if (!ip)
		return drop_on_veth(skb, NSF_R_DROP_MALFORMED, len);

	/* Anti-spoofing: the pod's own address, from its own veth and MAC. */
	src = endpoint_v4(ip->saddr);
	if (!src || src->ifindex != skb->ingress_ifindex)
		return drop_on_veth(skb, NSF_R_DROP_SPOOFED_IP, len);
	if (!mac_equal(eth->h_source, src->pod_mac))
		return drop_from(src, NSF_R_DROP_SPOOFED_MAC, len);
	/* As a router: only frames sent to us (the gateway MAC) are routed;
	 * broadcast and multicast are for the host. */
	if (!mac_equal(eth->h_dest, src->host_mac))
		return to_host(skb, ip, data_end, src, NSF_R_PASS_L2_OTHER,
			       len);

	dst = endpoint_dst_v4(config(), ip->daddr);
	if (ip->ttl <= 1) {
		if (!dst)
			return ttl_expired(skb, ip, data_end, src, len);
		return pass_from(src, NSF_R_PASS_TTL, len);
	}

	/* To a published port via the uplink address (lib/publish.h). */
	if (publish_hairpin(skb, eth, ip, src, len, &verdict))
		return verdict;

	if (!dst) {
		if (to_node(skb, eth, ip, src, len, &verdict))
			return verdict;
		return to_world(skb, eth, ip, src, len);
	}

	deny = policy_pods(ip, data_end, src, dst);
	if (deny)
		return drop_from(src, deny, len);
	count_ep(src, NSF_EP_FROM_POD, len);
	count_ep(dst, NSF_EP_TO_POD, len);
	count_reason(NSF_R_FWD_LOCAL, len);
	return deliver_local(eth, ip, dst);
}

SEC("tc")
int nsf_from_pod(struct __sk_buff *skb)
{
	int verdict;

	mon_begin_skb(skb, NSF_HOOK_FROM_POD);
	verdict = from_pod(skb);
	mon_end();
	return verdict;
}

/* tc ingress of the host's lo: the host's own connections to published
 * ports on the uplink address (lib/publish.h). */
SEC("tc")
int nsf_from_host(struct __sk_buff *skb)
{
	int verdict;

	mon_begin_skb(skb, NSF_HOOK_FROM_HOST);
	verdict = publish_from_host(skb);
	mon_end();
	return verdict;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
