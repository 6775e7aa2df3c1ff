/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Port publishing (`docker run -p`, CNI portmap): a port of the uplink
 * address forwards to a pod's address and port, for TCP and UDP.
 *
 * A published flow is a masqueraded flow with the roles swapped, kept in
 * the same NAT table with the same pair of entries:
 *
 *   ingress  client:cport -> snat:hport   =>  pod:pport      (dir 1)
 *   egress   pod:pport    -> client:cport =>  snat:hport     (dir 0)
 *
 * The uplink programs make the pair on a reverse-NAT miss for a published
 * port (publish_dnat), and from then on the flow is handled by the paths
 * that already exist: replies of the pod leave through snat_to_uplink(),
 * which finds the egress entry; `nat list` and gc see the flow like any
 * other. The lookup is one hash probe {proto, port}, whatever the number
 * of published ports.
 *
 * Hairpin: a pod (or the host itself) that reaches a published port via
 * the uplink address is masqueraded to that address as well, as Docker
 * does, so the target pod answers the host address and its replies come
 * back through this code instead of going straight to the client pod
 * (which would take a NAT lookup on every pod-to-pod packet). Such a flow
 * is two chained pairs: the SNAT pair (client -> snat:nat-port) made by
 * nat_create() and the DNAT pair made by publish_dnat(), and both
 * directions run the same two lookups (publish_hairpin).
 */
#ifndef NSF_BPF_PUBLISH_H
#define NSF_BPF_PUBLISH_H

#include "nat.h"
#include "route.h"
#include "stats.h"

/* The host namespace's loopback device (LOOPBACK_IFINDEX, always 1). */
#define NSF_LO_IFINDEX 1

/* {proto, host port} -> {pod address, pod port}. Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NSF_PUBLISH_MAX);
	__type(key, struct nsf_publish_key);
	__type(value, struct nsf_publish_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_publish4 SEC(".maps");

static __always_inline struct nsf_publish_val *publish_lookup(__u8 proto,
							      __be16 port)
{
	struct nsf_publish_key key = { .port = port, .proto = proto };

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return NULL;
	return bpf_map_lookup_elem(&nsf_publish4, &key);
}

/*
 * Whether a packet may start a published flow: any UDP datagram, a TCP
 * SYN without ACK or RST (as nf_conntrack without tcp_loose), so stray
 * segments cannot fill the table and the SYN-ACK answering one of the
 * host's own connections is never taken for a new flow. @l4->sport
 * points into the TCP header nat_parse_l4() checked.
 */
static __always_inline bool publish_starts(const struct nat_l4 *l4)
{
	const struct tcphdr *th = (const void *)l4->sport;

	if (l4->proto != IPPROTO_TCP)
		return l4->proto == IPPROTO_UDP;
	return th->syn && !th->ack && !th->rst;
}

/* The key of the pod's replies in the flow of ingress key @in, which goes
 * to @pod:@pport: pod:pport -> client:cport, to become snat:hport. */
static __always_inline void publish_egress_key(struct nsf_nat_key *eg,
					       const struct nsf_nat_key *in,
					       __be32 pod, __be16 pport)
{
	eg->saddr = pod;
	eg->daddr = in->saddr;
	eg->sport = pport;
	eg->dport = in->sport;
	eg->proto = in->proto;
	eg->dir = NSF_NAT_EGRESS;
	eg->pad = 0;
}

/*
 * A client's bare SYN that found ingress entry @e (key @in): if it is a
 * published flow's and that flow is closed, a new connection starts
 * (nat_restart). A masqueraded flow's reply entry is left alone: there
 * the world is not the side that opens connections.
 */
static __always_inline void publish_restart(const struct nsf_nat_key *in,
					    struct nsf_nat_entry *e, __u64 now)
{
	struct nsf_publish_val *pub = publish_lookup(in->proto, in->dport);
	struct nsf_nat_key eg;

	if (!pub || pub->pod_addr != e->addr || pub->pod_port != e->port)
		return;
	publish_egress_key(&eg, in, e->addr, e->port);
	nat_restart(e, &eg, now);
}

/*
 * A packet @ip (@l4) whose ingress key @in (client -> snat:hport) has no
 * NAT entry: if it starts a flow and hport is published, make the flow's
 * pair of entries and return the ingress one. NULL otherwise: *reason is
 * left alone if the packet is not a published flow's, set if it must be
 * dropped.
 */
static __always_inline struct nsf_nat_entry *
publish_dnat(const struct nsf_nat_key *in, const struct iphdr *ip,
	     const struct nat_l4 *l4, __u64 now, enum nsf_reason *reason)
{
	struct nsf_nat_entry val = { .created = now, .last_seen = now };
	struct nsf_nat_entry *old;
	struct nsf_publish_val *pub;
	struct nsf_nat_key eg;

	if (!publish_starts(l4))
		return NULL;
	pub = publish_lookup(in->proto, in->dport);
	if (!pub)
		return NULL;
	/*
	 * A first packet that will not reach the pod makes no flow, as
	 * conntrack confirms no connection whose first packet was dropped:
	 * its entries would hold the client's tuple until gc, and the
	 * client's next try (the pod back, a TTL that gets there) would not
	 * be the flow's first packet. A hairpin packet to a pod that is gone
	 * would also be taken for a reply to the host, and sent to lo.
	 */
	if (!endpoint_v4(pub->pod_addr)) {
		*reason = NSF_R_DROP_NO_ENDPOINT;
		return NULL;
	}
	if (ip->ttl <= 1) {
		*reason = NSF_R_DROP_TTL;
		return NULL;
	}
	publish_egress_key(&eg, in, pub->pod_addr, pub->pod_port);
	val.addr = in->daddr;
	val.port = in->dport;
	/*
	 * NOEXIST: the same client address and port reaching the same pod
	 * port through another host port has the same egress key, and that
	 * live flow keeps it (replies would go out from the wrong port);
	 * conntrack refuses the clashing connection too. The entry made
	 * first, so a refused flow leaves nothing behind. An entry with this
	 * very mapping is this flow's (a CPU that raced us, or a flow whose
	 * ingress entry was evicted): carry on.
	 */
	if (bpf_map_update_elem(&nsf_nat4, &eg, &val, BPF_NOEXIST)) {
		old = bpf_map_lookup_elem(&nsf_nat4, &eg);
		if (!old) {
			*reason = NSF_R_DROP_NAT_INSERT;
			return NULL;
		}
		if (old->addr != val.addr || old->port != val.port) {
			*reason = NSF_R_DROP_PUBLISH_CLASH;
			return NULL;
		}
	}
	val.addr = pub->pod_addr;
	val.port = pub->pod_port;
	/* NOEXIST: a CPU that raced us to it made the same entry. */
	bpf_map_update_elem(&nsf_nat4, in, &val, BPF_NOEXIST);
	return bpf_map_lookup_elem(&nsf_nat4, in);
}

/* The ingress key of a packet as it looks after SNAT to @e. */
static __always_inline void hairpin_in_key(struct nsf_nat_key *key,
					   const struct nsf_nat_entry *e,
					   const struct iphdr *ip,
					   const struct nat_l4 *l4)
{
	key->saddr = e->addr;
	key->daddr = ip->daddr;
	key->sport = e->port;
	key->dport = *l4->dport;
	key->proto = l4->proto;
	key->dir = NSF_NAT_INGRESS;
	key->pad = 0;
}

/*
 * Take back the SNAT pair (egress entry and reply entry on NAT port
 * @port) that this packet made when its DNAT pair is refused: the flow
 * is dropped, and like conntrack, which never confirms a dropped
 * connection, it must leave nothing that holds the port until gc.
 * @key and @reply are scratch (the caller's, to spare stack).
 */
static __always_inline void hairpin_unmake(struct nsf_nat_key *key,
					   struct nsf_nat_key *reply,
					   const struct iphdr *ip,
					   const struct nat_l4 *l4, __be16 port)
{
	nat_egress_key(key, ip, l4);
	nsf_nat_reply_key(reply, key, ip->daddr, port);
	bpf_map_delete_elem(&nsf_nat4, reply);
	bpf_map_delete_elem(&nsf_nat4, key);
}

/* Both translations of a hairpin packet, found or made. */
struct hairpin {
	struct nsf_nat_entry *snat; /* new source */
	struct nsf_nat_entry *dnat; /* new destination */
	struct nsf_endpoint *dst;   /* the pod it goes to; NULL: the host */
	struct nat_l4 l4;
};

/*
 * Find (or, for a published port, make) the two translations of a packet
 * to the uplink address. A first packet a:ap -> snat:hp gets a NAT port np
 * (SNAT pair, as masquerading) and then the published pod b:bp (DNAT pair
 * with client snat:np). Its replies b:bp -> snat:np meet the DNAT pair's
 * egress entry first (-> snat:hp) and then the SNAT pair's reply entry
 * (-> a:ap): the same two lookups in the same order.
 * Returns 0 = not ours (go on), 1 = translate, -1 = drop (*reason).
 */
static __always_inline int hairpin_find(struct __sk_buff *skb, struct iphdr *ip,
					const struct nsf_config *cfg,
					struct hairpin *hp,
					enum nsf_reason *reason)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct nsf_nat_entry fresh = {};
	struct nsf_nat_key key, other;
	__u64 now;

	/* Every pod packet passes here: nothing before this test. */
	if (!cfg->snat4 || ip->daddr != cfg->snat4 || ipv4_is_fragment(ip))
		return 0;
	now = nsf_now();
	if (!nat_parse_l4(data, data_end, ip, &hp->l4) || !hp->l4.dport)
		return 0; /* ICMP to the host address: the host answers */
	nat_egress_key(&key, ip, &hp->l4);
	hp->snat = bpf_map_lookup_elem(&nsf_nat4, &key);
	if (hp->snat && nat_bare_syn(&hp->l4)) {
		/* A new connection on a closed tuple? Both pairs. */
		nsf_nat_reply_key(&other, &key, hp->snat->addr, hp->snat->port);
		nat_restart(hp->snat, &other, now);
	}
	if (!hp->snat) {
		/* Only a published port starts a hairpin flow; anything else
		 * to the host address is the host's business. */
		if (!publish_lookup(hp->l4.proto, *hp->l4.dport))
			return 0;
		if (!publish_starts(&hp->l4))
			return 0;
		if (!nat_create(&key, cfg, now, &fresh, reason))
			return -1;
		/* The map's copy: nat_touch() below counts this packet. */
		hp->snat = bpf_map_lookup_elem(&nsf_nat4, &key);
		if (!hp->snat) {
			*reason = NSF_R_DROP_NAT_INSERT;
			return -1;
		}
	}
	hairpin_in_key(&key, hp->snat, ip, &hp->l4);
	hp->dnat = bpf_map_lookup_elem(&nsf_nat4, &key);
	if (hp->dnat && nat_bare_syn(&hp->l4)) {
		publish_egress_key(&other, &key, hp->dnat->addr,
				   hp->dnat->port);
		nat_restart(hp->dnat, &other, now);
	}
	if (!hp->dnat) /* *reason: DROP_HAIRPIN unless this says why */
		hp->dnat = publish_dnat(&key, ip, &hp->l4, now, reason);
	if (!hp->dnat) {
		/* A clash, say: two host ports published to one pod port,
		 * reached from one pod tuple through the same NAT port. */
		if (fresh.port)
			hairpin_unmake(&key, &other, ip, &hp->l4, fresh.port);
		return -1;
	}
	hp->dst = endpoint_v4(hp->dnat->addr);
	nat_touch(hp->snat, hp->l4.seen, ipv4_len(ip, skb->len - ETH_HLEN),
		  now);
	nat_touch(hp->dnat, hp->l4.seen, ipv4_len(ip, skb->len - ETH_HLEN),
		  now);
	return 1;
}

/*
 * Rewrite source and destination (addresses, ports, checksums). The
 * kernel helpers may move packet data: every field is written first.
 */
static __always_inline int hairpin_rewrite(struct __sk_buff *skb,
					   struct iphdr *ip, struct hairpin *hp)
{
	__be32 old_src = ip->saddr, old_dst = ip->daddr;
	__be16 old_sport = *hp->l4.sport, old_dport = *hp->l4.dport;
	__be32 new_src = hp->snat->addr, new_dst = hp->dnat->addr;
	__be16 new_sport = hp->snat->port, new_dport = hp->dnat->port;
	int err;

	ip->saddr = new_src;
	ip->daddr = new_dst;
	csum_replace4(&ip->check, old_src, new_src);
	csum_replace4(&ip->check, old_dst, new_dst);
	*hp->l4.sport = new_sport;
	*hp->l4.dport = new_dport;
	err = nat_csum_skb(skb, &hp->l4, old_src, new_src, old_sport,
			   new_sport);
	if (!err)
		err = nat_csum_skb(skb, &hp->l4, old_dst, new_dst, old_dport,
				   new_dport);
	return err;
}

/*
 * A packet to the uplink address from pod @src (tc ingress of its veth)
 * or, with @src NULL, from the host itself (tc ingress of lo): translate
 * and deliver it if it belongs to a published port: returns true with
 * the tc verdict in *verdict, false if the packet is not ours. (A flag,
 * not a magic verdict: the verifier cannot tell what a redirect helper
 * returns, and would follow a "not ours" path after the packet moved.)
 * Delivery: into the target pod (bpf_redirect_peer); a reply for the host
 * goes to lo's ingress, where the host stack takes it as local traffic
 * (the loader sets accept_local on lo, as its source is a host address).
 */
static __always_inline bool
publish_hairpin(struct __sk_buff *skb, struct ethhdr *eth, struct iphdr *ip,
		const struct nsf_endpoint *src, __u32 len, int *verdict)
{
	enum nsf_reason reason = NSF_R_DROP_HAIRPIN;
	struct nsf_config *cfg = config();
	struct hairpin hp;
	int rc;

	if (!cfg)
		return false;
	rc = hairpin_find(skb, ip, cfg, &hp, &reason);
	if (!rc)
		return false;
	if (rc < 0 || (!hp.dst && !src))
		goto drop;
	if (hp.dst) {
		__builtin_memcpy(eth->h_dest, hp.dst->pod_mac, ETH_ALEN);
		__builtin_memcpy(eth->h_source, hp.dst->host_mac, ETH_ALEN);
		ipv4_decrease_ttl(ip);
	} else {
		/* lo's address is all zeros: PACKET_HOST there. */
		__builtin_memset(eth->h_dest, 0, ETH_ALEN);
		__builtin_memset(eth->h_source, 0, ETH_ALEN);
	}
	reason = NSF_R_DROP_NAT_INSERT;
	if (hairpin_rewrite(skb, ip, &hp))
		goto drop;
	count_reason(NSF_R_FWD_HAIRPIN, len);
	if (src)
		count_ep(src, NSF_EP_FROM_POD, len);
	if (!hp.dst) {
		*verdict = bpf_redirect(NSF_LO_IFINDEX, BPF_F_INGRESS);
		return true;
	}
	count_ep(hp.dst, NSF_EP_TO_POD, len);
	*verdict = bpf_redirect_peer(hp.dst->ifindex, 0);
	return true;
drop:
	count_reason(reason, len);
	if (src)
		count_ep(src, NSF_EP_DROP, len);
	*verdict = TC_ACT_SHOT;
	return true;
}

/*
 * tc ingress of the host's lo: the host's own connections to a published
 * port on the uplink address (what Docker's userland proxy or the
 * portmap plugin's OUTPUT rules do). Everything else passes untouched.
 */
static __always_inline int publish_from_host(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	int verdict;

	if (pull_headers(skb))
		return TC_ACT_OK;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = parse_eth(data, data_end);
	if (!eth || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	ip = parse_ipv4(eth + 1, data_end, len - sizeof(*eth));
	if (!ip || ip->ttl <= 1)
		return TC_ACT_OK;
	if (publish_hairpin(skb, eth, ip, NULL, len, &verdict))
		return verdict;
	return TC_ACT_OK;
}

#endif /* NSF_BPF_PUBLISH_H */
