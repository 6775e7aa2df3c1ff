/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Where a packet goes: endpoint lookups and delivery to a local pod. */
#ifndef NSF_BPF_ROUTE_H
#define NSF_BPF_ROUTE_H

#include "maps.h"
#include "csum.h"

static __always_inline struct nsf_endpoint *endpoint_v4(__be32 addr)
{
	return bpf_map_lookup_elem(&nsf_ep4, &addr);
}

/*
 * The local pod with address @addr, if any. Endpoints only ever hold
 * addresses of the pod CIDR (attach refuses others), so a destination
 * outside it, all of pod-to-world traffic, needs no hash lookup.
 */
static __always_inline struct nsf_endpoint *
endpoint_dst_v4(const struct nsf_config *cfg, __be32 addr)
{
	if (cfg && (addr & cfg->pod_mask4) != cfg->pod_net4)
		return NULL;
	return endpoint_v4(addr);
}

/*
 * Deliver an IPv4 frame to a pod on this host, as a router would: MACs of
 * the destination's link, TTL down by one. bpf_redirect_peer() then moves
 * the skb straight into the pod's namespace, onto the ingress of the
 * veth peer, without a second pass through the host side's backlog. It
 * works only from tc ingress and returns TC_ACT_REDIRECT (TC_ACT_SHOT on
 * bad flags); a stale ifindex makes the kernel drop the skb afterwards.
 */
static __always_inline int deliver_local(struct ethhdr *eth, struct iphdr *ip,
					 const struct nsf_endpoint *dst)
{
	__builtin_memcpy(eth->h_dest, dst->pod_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, dst->host_mac, ETH_ALEN);
	ipv4_decrease_ttl(ip);
	return bpf_redirect_peer(dst->ifindex, 0);
}

#endif /* NSF_BPF_ROUTE_H */
