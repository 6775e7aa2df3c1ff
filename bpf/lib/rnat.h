/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Ingress un-masquerading, on the uplink (XDP, or tc as a fallback): a
 * packet for the SNAT address that belongs to a masqueraded flow goes back
 * to its pod with the original destination; so does an ICMP error that
 * quotes such a flow, inner headers included. Anything else is the host's
 * own traffic and goes up the stack untouched.
 *
 * Finding the flow is the same for XDP and tc (rnat_find); rewriting is
 * not. XDP has no checksum helpers and edits checksums incrementally,
 * which assumes complete checksums, as a NIC delivers them (a veth standing
 * in for one must have tx checksum offload off on its far side). tc uses
 * the kernel helpers, which also handle CHECKSUM_PARTIAL and keep
 * CHECKSUM_COMPLETE consistent.
 */
#ifndef NSF_BPF_RNAT_H
#define NSF_BPF_RNAT_H

#include "nat.h"
#include "route.h"
#include "publish.h"
#include "remote.h"

struct rnat {
	struct ethhdr *eth;
	struct iphdr *ip;
	struct nat_l4 l4;
	struct nsf_nat_entry *e; /* the flow's ingress entry */
	struct nsf_endpoint *ep; /* the pod it belongs to */
	/* ICMP errors: the quoted packet (the one we masqueraded) */
	struct icmp4hdr *icmp;
	struct iphdr *inner;
	__be16 *inner_port;  /* its source port (ICMP: identifier) */
	__sum16 *inner_csum; /* its L4 checksum if quoted, else NULL */
	__u8 inner_proto;
};

/*
 * The quoted packet of an ICMP error: the one we sent, so its source is
 * the SNAT address and its source port the NAT port. The reply key is
 * that tuple reversed. Only a plain 20-byte inner header is handled.
 */
static __always_inline bool rnat_icmp_key(struct rnat *r, void *data_end,
					  const struct nsf_config *cfg,
					  struct nsf_nat_key *key)
{
	struct iphdr *in = (void *)(r->icmp + 1);
	/* Quoted bytes within the outer packet (not in padding after it). */
	__u32 quoted = ipv4_payload_len(r->ip) - sizeof(*r->icmp);
	__u8 *l4;

	if ((void *)(in + 1) > data_end || in->version != 4 || in->ihl != 5 ||
	    in->saddr != cfg->snat4 || ipv4_is_fragment(in))
		return false;
	l4 = (void *)(in + 1);
	/* RFC 792: at least 8 bytes of the datagram are quoted. */
	if (l4 + 8 > (__u8 *)data_end || quoted < sizeof(*in) + 8)
		return false;
	r->inner = in;
	r->inner_proto = in->protocol;
	key->saddr = in->daddr;
	key->daddr = in->saddr;
	key->proto = in->protocol;
	key->dir = NSF_NAT_INGRESS;
	key->pad = 0;
	if (in->protocol == IPPROTO_TCP || in->protocol == IPPROTO_UDP) {
		r->inner_port = (__be16 *)l4;
		key->sport = *(__be16 *)(l4 + 2);
		key->dport = *r->inner_port;
		r->inner_csum = NULL;
		if (in->protocol == IPPROTO_UDP)
			r->inner_csum = (__sum16 *)(l4 + 6);
		else if (l4 + 18 <= (__u8 *)data_end &&
			 quoted >= sizeof(*in) + 18)
			r->inner_csum = (__sum16 *)(l4 + 16);
		return true;
	}
	if (in->protocol == IPPROTO_ICMP && l4[0] == ICMP_ECHO) {
		r->inner_port = (__be16 *)(l4 + 4);
		r->inner_csum = (__sum16 *)(l4 + 2);
		key->sport = 0;
		key->dport = *r->inner_port;
		return true;
	}
	return false;
}

/* The reply key of an ordinary packet: its own tuple (ICMP: echo reply). */
static __always_inline bool rnat_key(struct rnat *r, struct nsf_nat_key *key)
{
	if (r->l4.proto == IPPROTO_ICMP && r->l4.icmp_type != ICMP_ECHOREPLY)
		return false;
	key->saddr = r->ip->saddr;
	key->daddr = r->ip->daddr;
	key->sport = r->l4.dport ? *r->l4.sport : 0;
	key->dport = r->l4.dport ? *r->l4.dport : *r->l4.sport;
	key->proto = r->l4.proto;
	key->dir = NSF_NAT_INGRESS;
	key->pad = 0;
	return true;
}

/*
 * Is this a reply to (or an ICMP error about) a masqueraded flow, and for
 * which pod? On false, *reason says what to count: PASS_HOST for the
 * host's own traffic, a DROP_* reason for a flow whose pod is gone.
 */
static __always_inline bool rnat_find(void *data, void *data_end, __u32 len,
				      const struct nsf_config *cfg,
				      struct rnat *r, enum nsf_reason *reason)
{
	struct nsf_nat_key key;
	bool fresh = false;

	*reason = NSF_R_PASS_HOST;
	/* Every field defined on every path: clang may otherwise spill a
	 * register it never set, which the verifier refuses to read. */
	__builtin_memset(r, 0, sizeof(*r));
	r->eth = parse_eth(data, data_end);
	if (!r->eth || r->eth->h_proto != bpf_htons(ETH_P_IP))
		return false;
	r->ip = parse_ipv4(r->eth + 1, data_end, len - sizeof(*r->eth));
	if (!r->ip)
		return false;
	if (r->ip->daddr != cfg->snat4) {
		/* Routed to a local pod from another node: no NAT (r->e). */
		r->e = NULL;
		r->inner = NULL;
		r->ep = from_node_endpoint(r->ip, data_end, reason);
		return r->ep != NULL;
	}
	/* From our own address: a spoof (the kernel drops the martian); it
	 * could otherwise match a hairpin flow's entries (publish.h). */
	if (ipv4_is_fragment(r->ip) || r->ip->saddr == cfg->snat4)
		return false;
	if (!nat_parse_l4(data, data_end, r->ip, &r->l4))
		return false;
	r->inner = NULL;
	if (r->l4.icmp_error) {
		r->icmp = (void *)r->ip + r->ip->ihl * 4;
		if ((void *)(r->icmp + 1) > data_end ||
		    !rnat_icmp_key(r, data_end, cfg, &key))
			return false;
	} else if (!rnat_key(r, &key)) {
		return false;
	}
	r->e = bpf_map_lookup_elem(&nsf_nat4, &key);
	if (!r->e && !r->l4.icmp_error) {
		/* A new flow to a published port? (publish.h) */
		r->e = publish_dnat(&key, r->ip, &r->l4, nsf_now(), reason);
		fresh = r->e != NULL;
	} else if (r->e && !r->l4.icmp_error && nat_bare_syn(&r->l4)) {
		/* Or a new one on a closed published flow's tuple? */
		publish_restart(&key, r->e, nsf_now());
	}
	if (!r->e)
		return false;
	r->ep = endpoint_v4(r->e->addr);
	if (!r->ep) {
		*reason = NSF_R_DROP_NO_ENDPOINT;
		return false;
	}
	/* Expiring on the way to the pod: a NAT router drops it (handing it
	 * to the host would answer the world with a reset). */
	if (r->ip->ttl <= 1) {
		*reason = NSF_R_DROP_TTL;
		return false;
	}
	/* An ICMP error is about the flow, not part of it: as in conntrack
	 * (RELATED), it neither counts as a reply (a UDP flow answered only
	 * by "port unreachable" stays UNREPLIED, 30 s) nor keeps the flow
	 * alive. */
	if (!r->inner)
		nat_touch(r->e, r->l4.seen,
			  ipv4_len(r->ip, len - sizeof(*r->eth)), nsf_now());
	*reason = r->inner ? NSF_R_FWD_RNAT_ICMP
		  : fresh  ? NSF_R_FWD_PUBLISH
			   : NSF_R_FWD_RNAT;
	return true;
}

/* Destination port of a reply (ICMP echo reply: its identifier). */
static __always_inline __be16 *rnat_port(struct nat_l4 *l4)
{
	return l4->dport ? l4->dport : l4->sport;
}

/* Common to both rewrites: the pod's MACs, TTL down by one. */
static __always_inline void rnat_l2_ttl(struct rnat *r)
{
	__builtin_memcpy(r->eth->h_dest, r->ep->pod_mac, ETH_ALEN);
	__builtin_memcpy(r->eth->h_source, r->ep->host_mac, ETH_ALEN);
	ipv4_decrease_ttl(r->ip);
}

/*
 * ICMP error: outer destination, quoted source address and port, and every
 * checksum they are part of. Each edit inside the ICMP payload is mirrored
 * in the ICMP checksum, so the packet's overall sum does not change and
 * this is right for XDP and for tc (even with CHECKSUM_COMPLETE).
 */
static __always_inline void rnat_rewrite_icmp_error(struct rnat *r)
{
	__be32 pod = r->e->addr, snat = r->inner->saddr;
	__be16 old_port = *r->inner_port;
	__sum16 old_sum = r->inner->check;

	csum_replace4(&r->ip->check, r->ip->daddr, pod);
	r->ip->daddr = pod;

	csum_replace4(&r->inner->check, snat, pod);
	r->inner->saddr = pod;
	csum_replace4(&r->icmp->checksum, snat, pod);
	csum_replace2(&r->icmp->checksum, old_sum, r->inner->check);

	*r->inner_port = r->e->port;
	csum_replace2(&r->icmp->checksum, old_port, r->e->port);
	if (r->inner_csum) {
		old_sum = *r->inner_csum;
		if (r->inner_proto == IPPROTO_UDP) {
			udp_csum_replace4(r->inner_csum, snat, pod);
			udp_csum_replace2(r->inner_csum, old_port, r->e->port);
		} else {
			if (r->inner_proto == IPPROTO_TCP)
				csum_replace4(r->inner_csum, snat, pod);
			csum_replace2(r->inner_csum, old_port, r->e->port);
		}
		csum_replace2(&r->icmp->checksum, old_sum, *r->inner_csum);
	}
	rnat_l2_ttl(r);
}

/* XDP: destination address and port, checksums edited in place. */
static __always_inline void rnat_rewrite_direct(struct rnat *r)
{
	__be16 *port, old_port;
	__be32 old_addr = r->ip->daddr, pod;

	if (!r->e)
		return rnat_l2_ttl(r); /* from another node: deliver as is */
	if (r->inner)
		return rnat_rewrite_icmp_error(r);
	port = rnat_port(&r->l4);
	old_port = *port;
	pod = r->e->addr;
	csum_replace4(&r->ip->check, old_addr, pod);
	r->ip->daddr = pod;
	*port = r->e->port;
	if (r->l4.proto == IPPROTO_UDP) {
		udp_csum_replace4(r->l4.csum, old_addr, pod);
		udp_csum_replace2(r->l4.csum, old_port, r->e->port);
	} else {
		if (r->l4.proto == IPPROTO_TCP)
			csum_replace4(r->l4.csum, old_addr, pod);
		csum_replace2(r->l4.csum, old_port, r->e->port);
	}
	rnat_l2_ttl(r);
}

/*
 * tc: the same edits, checksums through the kernel helpers (nat_csum_skb),
 * which may move packet data: every packet pointer is used before.
 */
static __always_inline int rnat_rewrite_skb(struct __sk_buff *skb,
					    struct rnat *r)
{
	__be16 *port, old_port;
	__be32 old_addr = r->ip->daddr;

	if (!r->e) { /* from another node: deliver as is */
		rnat_l2_ttl(r);
		return 0;
	}
	port = rnat_port(&r->l4);
	old_port = *port;
	if (r->inner) {
		rnat_rewrite_icmp_error(r);
		return 0;
	}
	r->ip->daddr = r->e->addr;
	csum_replace4(&r->ip->check, old_addr, r->e->addr);
	*port = r->e->port;
	rnat_l2_ttl(r);
	return nat_csum_skb(skb, &r->l4, old_addr, r->e->addr, old_port,
			    r->e->port);
}

#endif /* NSF_BPF_RNAT_H */
