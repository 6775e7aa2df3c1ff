/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Routes to other nodes (native routing, as Kubernetes nodes with
 * host-gw/Calico/Cilium native routing use it): every node owns a pod
 * CIDR, and pod addresses are routed, never translated, between nodes.
 *
 *  - From a pod (tc ingress of its veth): a destination in another node's
 *    pod CIDR (LPM trie nsf_routes4) is forwarded unchanged towards that
 *    node's address: bpf_fib_lookup() on the node address finds the
 *    interface and the node's MAC (bpf_redirect_neigh() resolves it when
 *    the neighbour is not known yet). Masquerading never applies.
 *  - On the uplink (XDP or tc): a packet for a local pod from another node
 *    is delivered into it with no translation (from_node_endpoint(),
 *    called by rnat_find()).
 */
#ifndef NSF_BPF_REMOTE_H
#define NSF_BPF_REMOTE_H

#include "snat.h"

/* Another node's pod CIDR -> that node. Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NSF_ROUTES_MAX);
	__type(key, struct nsf_route4_key);
	__type(value, struct nsf_route4_val);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required for LPM tries */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_routes4 SEC(".maps");

static __always_inline struct nsf_route4_val *remote_route(__be32 daddr)
{
	struct nsf_route4_key key = { .prefixlen = 32, .addr = daddr };

	return bpf_map_lookup_elem(&nsf_routes4, &key);
}

/* Where the kernel would send a packet for @node, as forwarded from the
 * pod's veth; @tot_len makes the FIB check the MTU (0: no check). */
static __always_inline int remote_fib(struct __sk_buff *skb,
				      const struct iphdr *ip, __be32 node,
				      struct bpf_fib_lookup *fib, __u16 tot_len)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = AF_INET;
	fib->tos = ip->tos;
	fib->l4_protocol = ip->protocol;
	fib->tot_len = tot_len;
	fib->ipv4_src = ip->saddr;
	fib->ipv4_dst = node;
	fib->ifindex = skb->ingress_ifindex;
	return bpf_fib_lookup(skb, fib, sizeof(*fib), 0);
}

/*
 * A pod's reply in a flow that came in through one of this host's
 * published ports (a pod of another node connected to host:hport): it
 * has a NAT egress entry and must leave masqueraded as host:hport, not
 * routed unchanged. One NAT lookup for TCP and UDP to other nodes.
 */
static __always_inline bool remote_is_published_reply(struct __sk_buff *skb,
						      struct iphdr *ip)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct nsf_nat_key key;
	struct nat_l4 l4;

	if ((ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP) ||
	    ipv4_is_fragment(ip) || !nat_parse_l4(data, data_end, ip, &l4))
		return false;
	nat_egress_key(&key, ip, &l4);
	return bpf_map_lookup_elem(&nsf_nat4, &key) != NULL;
}

/*
 * A packet from a pod whose destination is no local pod: if it is in
 * another node's pod CIDR, send it to that node unchanged: true with the
 * tc verdict in *verdict (*reason says what to count); false if no route
 * matches. As snat_route(): the MTU is that of the route to the node.
 */
static __always_inline bool remote_forward(struct __sk_buff *skb,
					   struct ethhdr *eth, struct iphdr *ip,
					   const struct nsf_endpoint *src,
					   enum nsf_reason *reason,
					   int *verdict)
{
	void *data_end = (void *)(long)skb->data_end;
	struct bpf_redir_neigh nh = { .nh_family = AF_INET };
	struct nsf_route4_val *rt = remote_route(ip->daddr);
	struct bpf_fib_lookup fib;
	int rc;

	if (!rt || remote_is_published_reply(skb, ip))
		return false;
	/* Other nodes' pods have no group here: CIDR rules or "world". */
	*reason = policy_peer(NULL, ip, data_end, src, NSF_POL_GROUP_WORLD);
	if (*reason) {
		*verdict = TC_ACT_SHOT;
		return true;
	}
	nh.ipv4_nh = rt->node;
	rc = remote_fib(skb, ip, rt->node, &fib,
			snat_l3_len(skb, ip, data_end));
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		/* The kernel answers "fragmentation needed" (DF) or
		 * fragments it (no DF), as a router does: routed traffic
		 * keeps its addresses, so its fragments lose no NAT. */
		*reason = ip->frag_off & bpf_htons(IP_DF)
				  ? NSF_R_PASS_FRAG_NEEDED
				  : NSF_R_PASS_FRAGMENT;
		*verdict = TC_ACT_OK;
		return true;
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
		/* No way to the node: the kernel decides (and answers with
		 * ICMP if it cannot route it either). Never masqueraded. */
		*reason = NSF_R_PASS_ROUTE;
		*verdict = TC_ACT_OK;
		return true;
	}
	ipv4_decrease_ttl(ip);
	*reason = NSF_R_FWD_ROUTE;
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		*verdict = bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0);
		return true;
	}
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	*verdict = bpf_redirect(fib.ifindex, 0);
	return true;
}

/*
 * On the uplink: a packet for a local pod from another node (its source
 * is in a routed pod CIDR or is a node itself) is delivered as it is.
 * Returns the endpoint, or NULL (*reason PASS_HOST) when the destination
 * is no local pod, the source is no other node's (the world does not
 * reach pods around NAT: the kernel decides, as without nsfast) or the
 * TTL would expire (the kernel then decides, as a router would).
 */
static __always_inline struct nsf_endpoint *
from_node_endpoint(const struct iphdr *ip, void *data_end,
		   enum nsf_reason *reason)
{
	struct nsf_endpoint *ep = endpoint_v4(ip->daddr);

	*reason = NSF_R_PASS_HOST;
	if (!ep || ip->ttl <= 1 || !remote_route(ip->saddr))
		return NULL;
	/* The pod's ingress policy, as for traffic from a local pod. */
	*reason = policy_from_peer(ip, data_end, ep, NSF_POL_GROUP_WORLD);
	if (*reason)
		return NULL;
	*reason = NSF_R_FWD_FROM_NODE;
	return ep;
}

#endif /* NSF_BPF_REMOTE_H */
