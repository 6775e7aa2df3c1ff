/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Egress masquerading, at tc ingress of a pod's host-side veth: what
 * `iptables -t nat -A POSTROUTING -s PODCIDR -o UPLINK -j MASQUERADE` does,
 * without netfilter, conntrack or a second pass through the stack.
 */
#ifndef NSF_BPF_SNAT_H
#define NSF_BPF_SNAT_H

#include "nat.h"
#include "policy.h"
#include "route.h"

#ifndef AF_INET
#define AF_INET 2
#endif

#define IP_DF 0x4000

struct snat_verdict {
	enum nsf_reason reason;
	int action; /* TC_ACT_* to return */
};

/*
 * Ask the kernel's FIB where the packet would go if it forwarded it from
 * this veth (so policy routing, more specific routes and local addresses
 * all count). Needs forwarding enabled on the veth (attach does that for
 * host-side veths only), else the helper answers FWD_DISABLED.
 */
static __always_inline int snat_fib(struct __sk_buff *skb,
				    const struct iphdr *ip,
				    struct bpf_fib_lookup *fib, __u16 tot_len)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = AF_INET;
	fib->tos = ip->tos;
	fib->l4_protocol = ip->protocol;
	fib->tot_len = tot_len;
	fib->ipv4_src = ip->saddr;
	fib->ipv4_dst = ip->daddr;
	fib->ifindex = skb->ingress_ifindex;
	return bpf_fib_lookup(skb, fib, sizeof(*fib), 0);
}

/*
 * The L3 size the packet will leave with: its own length, or for a GSO
 * packet the size of one segment (IP + L4 header + gso_size), which is
 * what ip_forward() checks too. 0 (no check) if the L4 header is unknown.
 */
static __always_inline __u16 snat_l3_len(struct __sk_buff *skb,
					 const struct iphdr *ip, void *data_end)
{
	void *l4 = (void *)ip + ip->ihl * 4;
	struct tcphdr *th = l4;

	if (skb->gso_segs <= 1)
		return bpf_ntohs(ip->tot_len);
	if (ip->protocol == IPPROTO_UDP)
		return ip->ihl * 4 + sizeof(struct udphdr) + skb->gso_size;
	if (ip->protocol == IPPROTO_TCP && (void *)(th + 1) <= data_end)
		return ip->ihl * 4 + th->doff * 4 + skb->gso_size;
	return 0;
}

/*
 * Route the packet and check it fits, as ip_forward() would. Given the L3
 * size, the FIB checks the MTU of the route (device MTU, PMTU exceptions, a
 * locked route MTU) before it looks at neighbours; it then answers
 * FRAG_NEEDED without saying where the route goes, so a second lookup
 * without the size finds that out (only for oversized packets).
 */
static __always_inline int snat_route(struct __sk_buff *skb,
				      const struct iphdr *ip, void *data_end,
				      struct bpf_fib_lookup *fib)
{
	int rc = snat_fib(skb, ip, fib, snat_l3_len(skb, ip, data_end));

	if (rc != BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return rc;
	rc = snat_fib(skb, ip, fib, 0);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return BPF_FIB_LKUP_RET_FRAG_NEEDED;
	return rc;
}

/* Rewrite source address and port (ICMP: identifier), then the checksums. */
static __always_inline int snat_rewrite(struct __sk_buff *skb, struct iphdr *ip,
					struct nat_l4 *l4,
					const struct nsf_nat_entry *e)
{
	__be32 old_addr = ip->saddr;
	__be16 old_port = *l4->sport;

	ip->saddr = e->addr;
	csum_replace4(&ip->check, old_addr, e->addr);
	*l4->sport = e->port;
	return nat_csum_skb(skb, l4, old_addr, e->addr, old_port, e->port);
}

/*
 * Find the flow's NAT entry and account the packet to it, or create it
 * with the packet already counted, in @fresh (the caller's, so it outlives
 * this): a new flow is not looked up again after its insert.
 */
static __always_inline struct nsf_nat_entry *
snat_entry(const struct iphdr *ip, const struct nat_l4 *l4,
	   const struct nsf_config *cfg, __u32 len, struct nsf_nat_entry *fresh,
	   enum nsf_reason *reason)
{
	struct nsf_nat_key key, reply;
	struct nsf_nat_entry *e;
	__u64 now = nsf_now();

	nat_egress_key(&key, ip, l4);
	e = bpf_map_lookup_elem(&nsf_nat4, &key);
	if (e && !nat_reply_owned(&key, e, now)) {
		bpf_map_delete_elem(&nsf_nat4, &key);
		e = NULL;
	}
	if (e) {
		/* A new connection on a closed tuple? */
		if (nat_bare_syn(l4)) {
			nsf_nat_reply_key(&reply, &key, e->addr, e->port);
			nat_restart(e, &reply, now);
		}
		nat_touch(e, l4->seen, len, now);
		return e;
	}
	*fresh = (struct nsf_nat_entry){
		.seen = l4->seen,
		.packets = 1,
		.bytes = len,
	};
	return nat_create(&key, cfg, now, fresh, reason);
}

/*
 * The packet from @src leaves through the uplink: masquerade it and
 * redirect it there, or say why not. Anything not routed out of the uplink
 * is the kernel's business; what is routed there but cannot be
 * masqueraded is dropped, so no pod address ever reaches the world.
 */
static __always_inline struct snat_verdict
snat_to_uplink(struct __sk_buff *skb, struct ethhdr *eth, struct iphdr *ip,
	       const struct nsf_config *cfg, const struct nsf_endpoint *src)
{
	struct snat_verdict v = { NSF_R_PASS_NOT_UPLINK, TC_ACT_OK };
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct bpf_fib_lookup fib;
	struct nsf_nat_entry *e, fresh;
	struct nat_l4 l4;
	int rc;

	rc = snat_route(skb, ip, data_end, &fib);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
	    rc != BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return v;
	if (fib.ifindex != cfg->uplink_ifindex)
		return v;
	/* Policy before any NAT state is made for the flow. */
	v.reason = policy_peer(NULL, ip, data_end, src, NSF_POL_GROUP_WORLD);
	if (v.reason) {
		v.action = TC_ACT_SHOT;
		return v;
	}
	v.reason = NSF_R_PASS_NOT_UPLINK;
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		if (ip->frag_off & bpf_htons(IP_DF))
			v.reason = NSF_R_PASS_FRAG_NEEDED;
		else
			v = (struct snat_verdict){ NSF_R_DROP_MTU,
						   TC_ACT_SHOT };
		return v;
	}
	v = (struct snat_verdict){ NSF_R_DROP_NO_NAT, TC_ACT_SHOT };
	if (ipv4_is_fragment(ip) || !nat_parse_l4(data, data_end, ip, &l4) ||
	    l4.icmp_error)
		return v;
	if (l4.proto == IPPROTO_ICMP && l4.icmp_type != ICMP_ECHO)
		return v; /* only echo requests start a flow */
	e = snat_entry(ip, &l4, cfg, ipv4_len(ip, skb->len - sizeof(*eth)),
		       &fresh, &v.reason);
	if (!e)
		return v;

	/* Out of the uplink as a router would send it. */
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
		__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	}
	ipv4_decrease_ttl(ip);
	v.reason = NSF_R_DROP_REWRITE;
	if (snat_rewrite(skb, ip, &l4, e))
		return v;
	v.reason = NSF_R_FWD_SNAT;
	/* Unresolved neighbour: let the kernel resolve it and send. */
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		v.action = bpf_redirect_neigh(cfg->uplink_ifindex, NULL, 0, 0);
	else
		v.action = bpf_redirect(cfg->uplink_ifindex, 0);
	return v;
}

#endif /* NSF_BPF_SNAT_H */
