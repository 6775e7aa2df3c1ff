/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Anti-spoofing on a pod's host-side veth. Whatever arrives there was sent
 * by the pod behind it, so it must carry that pod's identity: its IPv4
 * address and its MAC, in IP packets and in ARP. Anything else (another
 * pod's or the gateway's address, a made-up one, a foreign MAC, IPv6 or
 * other EtherTypes the fast path does not check) is dropped and counted,
 * never handed to the kernel, which would route or answer it.
 *
 * The good path costs nothing extra: the source lookup the fast path does
 * anyway (nsf_ep4[saddr], on this very veth) proves the address; the MAC
 * check is a compare. Only a packet that fails looks its veth up in
 * nsf_ep_ifx, to charge the drop to the right pod (or to notice that the
 * veth belongs to no endpoint at all).
 */
#ifndef NSF_BPF_ANTISPOOF_H
#define NSF_BPF_ANTISPOOF_H

#include "maps.h"
#include "parse.h"
#include "route.h"
#include "stats.h"

/* Host-side veth ifindex -> address of the endpoint behind it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NSF_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, __be32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_ep_ifx SEC(".maps");

/* The endpoint behind veth @ifindex, or NULL if it is none of ours. */
static __always_inline struct nsf_endpoint *endpoint_of_veth(__u32 ifindex)
{
	__be32 *addr = bpf_map_lookup_elem(&nsf_ep_ifx, &ifindex);
	struct nsf_endpoint *ep;

	if (!addr)
		return NULL;
	ep = endpoint_v4(*addr);
	return ep && ep->ifindex == ifindex ? ep : NULL;
}

/*
 * Drop what arrived on @skb's veth for @reason, charged to the pod behind
 * it; a veth with no endpoint counts as drop-unknown-endpoint instead.
 */
static __always_inline int drop_on_veth(struct __sk_buff *skb,
					enum nsf_reason reason, __u32 len)
{
	struct nsf_endpoint *ep = endpoint_of_veth(skb->ingress_ifindex);

	if (!ep)
		reason = NSF_R_DROP_UNKNOWN_EP;
	else
		count_ep(ep, NSF_EP_DROP, len);
	count_reason(reason, len);
	return TC_ACT_SHOT;
}

/* Dropped, sent by @src (already proven to be the sender). */
static __always_inline int drop_from(const struct nsf_endpoint *src,
				     enum nsf_reason reason, __u32 len)
{
	count_ep(src, NSF_EP_DROP, len);
	count_reason(reason, len);
	return TC_ACT_SHOT;
}

/*
 * An ARP packet from a pod must speak for that pod only: the sender
 * protocol address its own, the sender hardware address and the Ethernet
 * source its MAC. A forged request or reply (claiming the gateway, another
 * pod, any other address) would poison neighbour caches. Returns the
 * sending endpoint, or NULL after counting the drop (*verdict set).
 */
static __always_inline struct nsf_endpoint *
arp_sender_check(struct __sk_buff *skb, const struct ethhdr *eth,
		 const struct arp_eth_ipv4 *arp, int *verdict)
{
	struct nsf_endpoint *ep = endpoint_v4(arp->spa);

	if (ep && ep->ifindex == skb->ingress_ifindex &&
	    mac_equal(arp->sha, ep->pod_mac) &&
	    mac_equal(eth->h_source, ep->pod_mac))
		return ep;
	*verdict = drop_on_veth(skb, NSF_R_DROP_SPOOFED_ARP, skb->len);
	return NULL;
}

#endif /* NSF_BPF_ANTISPOOF_H */
