/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Masquerading state shared by the egress (pod -> uplink, tc) and ingress
 * (uplink -> pod, XDP or tc) paths: where a packet's ports are, the keys of
 * its NAT entries, per-packet bookkeeping and source port allocation.
 */
#ifndef NSF_BPF_NAT_H
#define NSF_BPF_NAT_H

#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include "maps.h"
#include "parse.h"
#include "stats.h"

/* Ports tried for a new flow before declaring exhaustion. */
#define NSF_NAT_PROBES 32

/* Euclid on 16-bit values: at most 24 steps (Fibonacci bound). */
static __always_inline __u32 gcd16(__u32 a, __u32 b)
{
	for (int i = 0; i < 24 && b; i++) {
		__u32 t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Where the NAT-relevant fields of a TCP, UDP or ICMP packet are. */
struct nat_l4 {
	__u8 proto;
	bool icmp_error; /* destination unreachable / time exceeded */
	__u8 icmp_type;	 /* ICMP: the type */
	__u32 seen;	 /* TCP: NSF_SEEN_* of this packet */
	__be16 *sport;	 /* source port; ICMP echo: identifier */
	__be16 *dport;	 /* destination port; ICMP: NULL */
	__sum16 *csum;	 /* L4 checksum */
	__u32 csum_off;	 /* its offset in the frame (for the tc helpers) */
	__u32 sport_off; /* offset of *sport */
	__u32 dport_off; /* offset of *dport */
};

static __always_inline bool ipv4_is_fragment(const struct iphdr *ip)
{
	return ip->frag_off & bpf_htons(0x3fff); /* MF or an offset */
}

static __always_inline __u32 tcp_seen(const struct tcphdr *th)
{
	__u32 seen = th->syn ? NSF_SEEN_SYN : NSF_SEEN_ACK;

	if (th->fin)
		seen |= NSF_SEEN_FIN;
	if (th->rst)
		seen |= NSF_SEEN_RST;
	return seen;
}

/*
 * Find the ports and checksum of @ip's payload. ICMP echo request and reply
 * carry their identifier where a source port would be; ICMP errors are
 * flagged for the caller, which looks at the packet they quote. Returns
 * false for what NAT cannot handle (other protocols, truncated headers).
 */
/*
 * Bytes of @ip's payload, by its total length: a frame may carry more
 * (Ethernet padding, or bytes a sender appended), which ip_rcv() trims
 * before anything in the kernel looks at the L4 header. Headers found
 * only in that excess are not part of the packet: rewriting them (and
 * patching checksums that do not cover them) would corrupt it. parse_ipv4()
 * guarantees tot_len >= the header length.
 */
static __always_inline __u32 ipv4_payload_len(const struct iphdr *ip)
{
	return bpf_ntohs(ip->tot_len) - ip->ihl * 4;
}

static __always_inline bool nat_parse_l4(void *data, void *data_end,
					 struct iphdr *ip, struct nat_l4 *l4)
{
	void *l4h = (void *)ip + ip->ihl * 4;
	__u32 off = l4h - data, room = ipv4_payload_len(ip);

	l4->proto = ip->protocol;
	l4->icmp_error = false;
	l4->seen = 0;
	l4->icmp_type = 0;
	l4->dport = NULL;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = l4h;

		if ((void *)(th + 1) > data_end || room < sizeof(*th))
			return false;
		l4->sport = &th->source;
		l4->dport = &th->dest;
		l4->csum = &th->check;
		l4->csum_off = off + offsetof(struct tcphdr, check);
		l4->seen = tcp_seen(th);
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = l4h;

		if ((void *)(uh + 1) > data_end || room < sizeof(*uh))
			return false;
		l4->sport = &uh->source;
		l4->dport = &uh->dest;
		l4->csum = &uh->check;
		l4->csum_off = off + offsetof(struct udphdr, check);
	} else if (ip->protocol == IPPROTO_ICMP) {
		struct icmp4hdr *ic = l4h;

		if ((void *)(ic + 1) > data_end || room < sizeof(*ic))
			return false;
		l4->csum = &ic->checksum;
		l4->csum_off = off + offsetof(struct icmp4hdr, checksum);
		l4->icmp_type = ic->type;
		l4->sport = &ic->id;
		if (ic->type == ICMP_DEST_UNREACH ||
		    ic->type == ICMP_TIME_EXCEEDED)
			l4->icmp_error = true;
		else if (ic->type != ICMP_ECHO && ic->type != ICMP_ECHOREPLY)
			return false;
	} else {
		return false;
	}
	l4->sport_off = (void *)l4->sport - data;
	l4->dport_off = l4->dport ? (void *)l4->dport - data : 0;
	return true;
}

/* Key of the egress entry of a packet a pod sends. */
static __always_inline void nat_egress_key(struct nsf_nat_key *key,
					   const struct iphdr *ip,
					   const struct nat_l4 *l4)
{
	key->saddr = ip->saddr;
	key->daddr = ip->daddr;
	key->sport = *l4->sport;
	key->dport = l4->dport ? *l4->dport : 0;
	key->proto = ip->protocol;
	key->dir = NSF_NAT_EGRESS;
	key->pad = 0;
}

/*
 * After an address and a port of the packet were rewritten in place, fix
 * the L4 checksum with the kernel helpers, which handle CHECKSUM_PARTIAL
 * (a pod's own packets usually carry only the pseudo-header sum) and keep
 * CHECKSUM_COMPLETE consistent. ICMP has no pseudo-header; UDP's 0 ("no
 * checksum") stays 0. The IPv4 header checksum is the caller's (always
 * complete in an skb: csum_replace4() on it directly, before this, saves
 * a helper call). The helpers may move packet data: callers must not use
 * packet pointers afterwards. Returns 0 or a negative errno.
 */
static __always_inline int nat_csum_skb(struct __sk_buff *skb,
					const struct nat_l4 *l4,
					__be32 old_addr, __be32 new_addr,
					__be16 old_port, __be16 new_port)
{
	__u64 l4_flags = l4->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__u32 csum_off = l4->csum_off;
	int err = 0;

	if (l4->proto != IPPROTO_ICMP)
		err = bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr,
					  BPF_F_PSEUDO_HDR | l4_flags | 4);
	if (!err)
		err = bpf_l4_csum_replace(skb, csum_off, old_port, new_port,
					  l4_flags | 2);
	return err;
}

/* Per-packet bookkeeping. Counters are atomic: a flow's packets may be
 * seen on several CPUs at once. */
static __always_inline void nat_touch(struct nsf_nat_entry *e, __u32 seen,
				      __u32 len, __u64 now)
{
	e->last_seen = now;
	__sync_fetch_and_add(&e->packets, 1);
	__sync_fetch_and_add(&e->bytes, len);
	if ((e->seen & seen) != seen)
		__sync_fetch_and_or(&e->seen, seen);
}

/*
 * A TCP tuple whose last connection is over, as conntrack's TIME_WAIT
 * (FIN both ways) or CLOSE (a reset): the states `nat list` and gc give
 * such a pair (loader/nat.c tcp_state). @a and @b: both entries' seen.
 */
static __always_inline bool nat_tcp_closed(__u32 a, __u32 b)
{
	return ((a | b) & NSF_SEEN_RST) || (a & b & NSF_SEEN_FIN);
}

/* A SYN without ACK (tcp_seen() leaves out ACK, hence the header). */
static __always_inline bool nat_bare_syn(const struct nat_l4 *l4)
{
	const struct tcphdr *th = (const void *)l4->sport;

	return l4->seen == NSF_SEEN_SYN && !th->ack;
}

/* Forget what entry @e counted: the tuple's next connection starts. */
static __always_inline void nat_forget(struct nsf_nat_entry *e, __u64 now)
{
	e->seen = 0;
	e->packets = 0;
	e->bytes = 0;
	e->created = now;
}

/*
 * A bare SYN @l4 for entry @e of a pair whose other entry has key @other:
 * if the tuple's last connection is closed, this SYN starts a new one
 * (conntrack deletes the closed entry and makes a new one), so both
 * entries start over, flags, counters and age; nat_touch() then counts
 * the SYN. Otherwise (a retransmitted SYN, a half-closed connection)
 * nothing changes. Without this a RST or FIN stays in the flags forever
 * and gc ends the new connection as closed 10 or 120 s after it idles.
 * Plain stores: each word is written whole, so a CPU racing with its
 * atomic add or or on a packet of the closed connection lands its update
 * before (forgotten) or after (counted): a count or flag, never a torn
 * value. Only bare SYNs on an existing entry pay for this.
 */
static __always_inline void
nat_restart(struct nsf_nat_entry *e, const struct nsf_nat_key *other, __u64 now)
{
	struct nsf_nat_entry *o = bpf_map_lookup_elem(&nsf_nat4, other);

	if (!nat_tcp_closed(e->seen, o ? o->seen : 0))
		return;
	nat_forget(e, now);
	if (o)
		nat_forget(o, now);
}

/* murmur3's 32-bit finalizer: every input bit reaches every output bit. */
static __always_inline __u32 fmix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/*
 * Hash of a flow's tuple. It must mix well: the fields that tell flows
 * apart (a pod address's last octet, a port's low byte) sit in the top
 * bits of the words as loaded on little-endian hosts, and a plain multiply
 * leaves them there, where a reduction modulo the port range loses them.
 */
static __always_inline __u32 nat_hash(const struct nsf_nat_key *k)
{
	__u32 h = fmix32(k->saddr);

	h = fmix32(h ^ k->daddr);
	h = fmix32(h ^ ((__u32)k->sport << 16 | k->dport));
	return fmix32(h ^ k->proto);
}

/* The value of the reply entry of the flow with egress key @egress: it
 * translates replies back to the pod's address and port. */
static __always_inline struct nsf_nat_entry
nat_reply_value(const struct nsf_nat_key *egress, __u64 now)
{
	struct nsf_nat_entry val = {
		.addr = egress->saddr,
		.port = egress->sport,
		.created = now,
		.last_seen = now,
	};

	return val;
}

/* Whether reply entry @in (may be NULL) belongs to that flow. */
static __always_inline bool nat_reply_is_flows(const struct nsf_nat_entry *in,
					       const struct nsf_nat_key *egress)
{
	return in && in->addr == egress->saddr && in->port == egress->sport;
}

/*
 * The step between a flow's port candidates: coprime with the range, so
 * that the candidates are distinct ports. Euclid's divisions are not
 * free (some 30 ns a new flow in prog_cost), hence computed only when a
 * second candidate is needed.
 */
static __always_inline __u32 nat_stride(__u32 hash, __u32 range)
{
	__u32 stride = 1 + fmix32(hash ^ 0x9e3779b9) % range;

	return gcd16(stride, range) == 1 ? stride : 1;
}

/* Try @port for the flow: true if its reply entry is now the flow's,
 * newly made or still there from before. */
static __always_inline bool nat_try_port(const struct nsf_nat_key *egress,
					 __be32 snat, __be16 port,
					 const struct nsf_nat_entry *val)
{
	struct nsf_nat_entry *old;
	struct nsf_nat_key key;

	nsf_nat_reply_key(&key, egress, snat, port);
	if (!bpf_map_update_elem(&nsf_nat4, &key, val, BPF_NOEXIST))
		return true;
	old = bpf_map_lookup_elem(&nsf_nat4, &key);
	return nat_reply_is_flows(old, egress); /* ours, still alive */
}

static __always_inline __u32 nat_range_size(__u16 min, __u16 max)
{
	return min && min <= max ? (__u32)(max - min) + 1 : 0;
}

/* Port number @pick (below the two ranges' total size, the first's @size1)
 * counted across both ranges, in network order. */
static __always_inline __be16 nat_port_at(const struct nsf_config *cfg,
					  __u32 size1, __u32 pick)
{
	__u32 port = pick < size1 ? cfg->nat_port_min + pick
				  : cfg->nat_port_min2 + (pick - size1);

	return bpf_htons((__u16)port);
}

/*
 * Claim a source port for a new flow: create its ingress entry with
 * BPF_NOEXIST, which is atomic, so two CPUs can never take the same
 * (destination, port) pair and no live mapping is ever reused. Candidates
 * follow a sequence fixed by the flow's tuple (double hashing: start and
 * stride from the hash), so a flow whose egress entry was evicted walks the
 * same ports again and finds its own surviving ingress entry: it gets its
 * old port back. Returns the port (network order) or 0 if none is free
 * for this destination.
 *
 * A global function, so the verifier walks its probe
 * loop once, knowing nothing of the caller. Inlined (or static), the 32
 * probes were walked again for every path of nsf_from_pod that can make
 * a flow (93 in the 6.18 verifier's log): 610,000 instructions, 3/4 of
 * the program's verification. Its pointers are checked for NULL, which
 * they never are, because the verifier cannot know that here. Only a new
 * flow pays for the call.
 */
__noinline __u32 nat_claim_port(const struct nsf_nat_key *egress,
				const struct nsf_config *cfg, __u64 now)
{
	struct nsf_nat_entry val;
	__u32 size1, range, pick, stride, hash;
	__be16 port;

	if (!egress || !cfg)
		return 0;
	val = nat_reply_value(egress, now);
	/* One range of candidates over both port ranges. */
	size1 = nat_range_size(cfg->nat_port_min, cfg->nat_port_max);
	range = size1 + nat_range_size(cfg->nat_port_min2, cfg->nat_port_max2);
	if (!range)
		return 0;
	hash = nat_hash(egress);
	pick = hash % range;
	port = nat_port_at(cfg, size1, pick);
	if (nat_try_port(egress, cfg->snat4, port, &val))
		return port;
	/* The first candidate is taken: only now pay for the stride. */
	stride = nat_stride(hash, range);
	for (int i = 1; i < NSF_NAT_PROBES; i++) {
		pick = (pick + stride) % range;
		port = nat_port_at(cfg, size1, pick);
		if (nat_try_port(egress, cfg->snat4, port, &val))
			return port;
	}
	return 0;
}

/*
 * Whether the flow with egress entry @e still owns its reply entry, which
 * the LRU may have evicted on its own: a flow that only sends never
 * touches it (replies do), so it ages first. Its replies would then go to
 * the host, and its port could be claimed by a new flow to the same
 * destination, whose replies share the key. A missing reply entry is put
 * back (BPF_NOEXIST, atomic as in nat_claim_port); one that now belongs
 * to another flow makes this one start over on a new port. The lookup
 * also keeps the reply entry of a one-way flow recently used.
 */
static __always_inline bool nat_reply_owned(const struct nsf_nat_key *egress,
					    const struct nsf_nat_entry *e,
					    __u64 now)
{
	struct nsf_nat_entry val = nat_reply_value(egress, now);
	struct nsf_nat_entry *in;
	struct nsf_nat_key reply;

	nsf_nat_reply_key(&reply, egress, e->addr, e->port);
	in = bpf_map_lookup_elem(&nsf_nat4, &reply);
	if (!in && !bpf_map_update_elem(&nsf_nat4, &reply, &val, BPF_NOEXIST))
		return true;
	if (!in)
		in = bpf_map_lookup_elem(&nsf_nat4, &reply); /* lost a race */
	return nat_reply_is_flows(in, egress);
}

/*
 * The egress entry of a new flow: claim a port, then record the mapping.
 * @val comes with the counters of the packet that made the flow (or none);
 * the mapping is filled in, and @val holds the entry as inserted, so the
 * packet needs no lookup of it. Returns @val, or NULL with *reason set.
 */
static __always_inline struct nsf_nat_entry *
nat_create(const struct nsf_nat_key *egress, const struct nsf_config *cfg,
	   __u64 now, struct nsf_nat_entry *val, enum nsf_reason *reason)
{
	struct nsf_nat_key reply;

	val->addr = cfg->snat4;
	val->created = now;
	val->last_seen = now;
	val->port = nat_claim_port(egress, cfg, now);
	if (!val->port) {
		*reason = NSF_R_DROP_NAT_EXHAUSTED;
		return NULL;
	}
	if (bpf_map_update_elem(&nsf_nat4, egress, val, BPF_ANY)) {
		nsf_nat_reply_key(&reply, egress, cfg->snat4, val->port);
		bpf_map_delete_elem(&nsf_nat4, &reply);
		*reason = NSF_R_DROP_NAT_INSERT;
		return NULL;
	}
	return val;
}

#endif /* NSF_BPF_NAT_H */
