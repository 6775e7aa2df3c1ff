/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Policy between groups of endpoints, the host, the world and CIDRs, in
 * the pod-ingress program (docs/policy.md describes the model).
 *
 * Cost: the verdict needs at most 12 hash lookups (rule keys from the most
 * to the least specific) plus one LPM lookup for CIDR peers (24 if no rule
 * for the CIDR matches), whatever the number of rules. Packets of an
 * allowed flow are let through by their connection state (nsf_ct4: one
 * lookup), replies by the reversed tuple's (a second). State is only written for flows a policy applies to, so
 * unrestricted traffic pays one inlined array lookup and a flag test
 * (pod to pod: NSF_POL_F_PODS clear) or two more for the groups.
 *
 * Changes apply to live flows: `nsfast policy` bumps nsf_pol_cfg.gen, and
 * state of an older generation is checked against the rules again.
 */
#ifndef NSF_BPF_POLICY_H
#define NSF_BPF_POLICY_H

#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include "maps.h"
#include "parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nsf_pol_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_pol_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NSF_POL_MAX_GROUPS);
	__type(key, __u32);
	__type(value, struct nsf_pol_group);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_pol_groups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NSF_POL_MAX_RULES);
	__type(key, struct nsf_pol_key);
	__type(value, struct nsf_pol_rule);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_pol_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NSF_POL_MAX_CIDRS);
	__type(key, struct nsf_pol_cidr_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_pol_cidr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NSF_CT_ENTRIES);
	__type(key, struct nsf_ct_key);
	__type(value, struct nsf_ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_ct4 SEC(".maps");

/* What the policy looks at in a packet. */
struct pol_flow {
	struct nsf_ct_key key; /* tuple; ports 0 where there are none */
	__u32 src_fb, dst_fb;  /* identities without a CIDR: pol_verdict() */
	bool reply_like;       /* TCP without a bare SYN, ICMP echo reply or
				* error: cannot open a connection */
};

/*
 * pol_verdict(): allowed, but only this packet. Passes that need no rule
 * (answers to the host's own connections) must not become state: their
 * tuple would let the next packet on it, a SYN or an echo request, pass.
 */
#define POL_PASS_STATELESS 0xffffffffu

/*
 * policy_decide(): allowed only if a host socket takes this UDP datagram
 * as an answer (host_udp_reply()), else NSF_R_DROP_POLICY_HOST. The socket
 * lookup needs the skb, which policy_decide() does not get (it is a global
 * function, shared with XDP); its caller, policy_check(), asks.
 */
#define POL_ASK_HOST_UDP 0xfffffffeu

static __always_inline struct nsf_pol_cfg *pol_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&nsf_pol_cfg, &zero);
}

static __always_inline __u32 pol_group_flags(__u32 id)
{
	struct nsf_pol_group *g;

	if (id >= NSF_POL_MAX_GROUPS)
		return 0;
	g = bpf_map_lookup_elem(&nsf_pol_groups, &id);
	return g ? g->flags : 0;
}

static __always_inline void pol_flow_parse(const struct iphdr *ip,
					   void *data_end, struct pol_flow *f)
{
	void *l4 = (void *)ip + ip->ihl * 4;

	__builtin_memset(f, 0, sizeof(*f));
	f->key.saddr = ip->saddr;
	f->key.daddr = ip->daddr;
	f->key.proto = ip->protocol;
	if (ip->frag_off & bpf_htons(0x1fff))
		return; /* a later fragment: no L4 header */
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end)
			return;
		f->key.sport = th->source;
		f->key.dport = th->dest;
		f->reply_like = !th->syn || th->ack;
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end)
			return;
		f->key.sport = uh->source;
		f->key.dport = uh->dest;
	} else if (ip->protocol == IPPROTO_ICMP) {
		struct icmp4hdr *ic = l4;

		if ((void *)(ic + 1) > data_end)
			return;
		if (ic->type == ICMP_ECHO) {
			f->key.sport = ic->id;
		} else if (ic->type == ICMP_ECHOREPLY) {
			f->key.dport = ic->id;
			f->reply_like = true;
		} else {
			/* A tuple no echo has (one of its ports is 0), so
			 * that an allowed error or timestamp is not taken
			 * for the state of echoes with id 0. */
			f->key.sport = f->key.dport = 0xffff;
			f->reply_like = ic->type == ICMP_DEST_UNREACH ||
					ic->type == ICMP_TIME_EXCEEDED;
		}
	}
}

/*
 * A UDP datagram from a pod to the host that answers the host: a host
 * socket connected to exactly this pod's address and port receives it
 * (a UDP health check, the host's DNS query to a pod). Host-initiated
 * flows have no state here (they reach the pod through the kernel, not
 * this program); the host's socket table is that state. An unconnected
 * host socket (sendto()) looks like any service's, so it is not matched.
 * A socket lookup, so only asked last: for UDP that no state, rule or
 * default lets through. It leaves no state (POL_PASS_STATELESS), so each
 * such datagram is looked up again.
 */
static __always_inline bool host_udp_reply(struct __sk_buff *skb,
					   const struct nsf_ct_key *k)
{
	struct bpf_sock_tuple t = { .ipv4 = { .saddr = k->saddr,
					      .daddr = k->daddr,
					      .sport = k->sport,
					      .dport = k->dport } };
	struct bpf_sock *sk;
	bool reply;

	if (!k->sport)
		return false; /* a later fragment: no ports to match */
	sk = bpf_sk_lookup_udp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return false;
	/* Connected UDP sockets are in TCP_ESTABLISHED. */
	reply = sk->state == BPF_TCP_ESTABLISHED && sk->dst_ip4 == k->saddr &&
		sk->dst_port == k->sport;
	bpf_sk_release(sk);
	return reply;
}

/* The rule for @src -> @dst, most specific first: exact groups before
 * "any", port before protocol before everything. 0 if there is none. */
static __always_inline __u32 pol_rule(__u32 src, __u32 dst,
				      const struct nsf_ct_key *t)
{
	struct nsf_pol_key k = { .pad = 0 };
	struct nsf_pol_rule *r;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		k.src = i & 1 ? NSF_POL_ANY : src;
		k.dst = i & 2 ? NSF_POL_ANY : dst;
#pragma unroll
		for (int j = 0; j < 3; j++) {
			k.proto = j < 2 ? t->proto : 0;
			k.port = j == 0 ? t->dport : 0;
			if (j == 0 && (!t->dport || t->proto == IPPROTO_ICMP))
				continue;
			r = bpf_map_lookup_elem(&nsf_pol_rules, &k);
			if (r)
				return r->action;
		}
	}
	return 0;
}

/*
 * The verdict of the rules and defaults for a flow @t from group @src to
 * group @dst (flags @sf, @df): 0 to allow, POL_PASS_STATELESS to allow
 * this packet only, else the drop reason. With @ask_host, UDP to the host
 * that would be dropped is POL_ASK_HOST_UDP instead (host_udp_reply()).
 * @sfb, @dfb: the identities @src and @dst have without their CIDR (host
 * or world), else @src and @dst. A CIDR has no defaults of its own: where
 * no rule names it for this flow, the rules and defaults of host or world
 * decide, so a CIDR named for one group opens nothing for the others.
 */
static __always_inline __u32 pol_verdict(bool ask_host, __u32 src, __u32 dst,
					 __u32 sf, __u32 df, __u32 sfb,
					 __u32 dfb, const struct nsf_ct_key *t,
					 bool reply_like)
{
	__u32 action = pol_rule(src, dst, t);

	if (!action && (src != sfb || dst != dfb)) {
		src = sfb;
		dst = dfb;
		sf = pol_group_flags(src);
		df = pol_group_flags(dst);
		action = pol_rule(src, dst, t);
	}

	if (action == NSF_POL_ALLOW)
		return 0;
	if (action == NSF_POL_DENY)
		return dst == NSF_POL_GROUP_HOST ? NSF_R_DROP_POLICY_HOST
						 : NSF_R_DROP_POLICY;
	if (sf & NSF_PG_F_EGRESS_DENY)
		return NSF_R_DROP_POLICY_EGRESS;
	if (!(df & NSF_PG_F_INGRESS_DENY))
		return 0;
	if (dst != NSF_POL_GROUP_HOST)
		return NSF_R_DROP_POLICY_INGRESS;
	/*
	 * The host is denied by default, but host-to-pod connections
	 * (health checks, a ping from the host) must get their answers, and
	 * there is no state for them: what the host sends reaches the pod
	 * through the kernel, not through this program. A packet that
	 * cannot open a connection (TCP other than a bare SYN, ICMP echo
	 * replies and errors, UDP to a host socket connected to its sender:
	 * host_udp_reply()) is let through; new connections not.
	 */
	if (reply_like)
		return POL_PASS_STATELESS;
	if (ask_host && t->proto == IPPROTO_UDP && t->sport)
		return POL_ASK_HOST_UDP;
	return NSF_R_DROP_POLICY_HOST;
}

static __always_inline void ct_reverse(struct nsf_ct_key *r,
				       const struct nsf_ct_key *k)
{
	r->saddr = k->daddr;
	r->daddr = k->saddr;
	r->sport = k->dport;
	r->dport = k->sport;
	r->proto = k->proto;
	r->pad[0] = r->pad[1] = r->pad[2] = 0;
}

static __always_inline void ct_remember(const struct nsf_ct_key *k,
					struct nsf_ct_entry *e, __u32 gen,
					__u64 now)
{
	struct nsf_ct_entry val = { .created = now,
				    .last_seen = now,
				    .gen = gen };

	if (e) {
		e->gen = gen;
		e->last_seen = now;
		return;
	}
	bpf_map_update_elem(&nsf_ct4, k, &val, BPF_ANY);
}

/*
 * Whether flow @f from group @src to group @dst may pass: 0, or the drop
 * reason. Connection state first (this direction, then the reply of an
 * allowed flow, each only if allowed under the current generation), then
 * the rules; an allowed flow's state is kept for its next packets.
 * The state of a flow the rules no longer allow stays, at its old
 * generation: the other side's packets are its replies and are dropped
 * with it (as conntrack would), rather than judged as a new flow the
 * other way that could allow it again. Only a TCP SYN, which starts a
 * connection whatever the tuple was, is judged anew.
 * @gen: nsf_pol_cfg's. POL_ASK_HOST_UDP: see policy_check().
 *
 * A BPF-to-BPF call rather than inlined: it is reached from five places
 * (pod, host three ways, world), and inlining its up to 24 rule lookups in
 * each made the program five times its size. Unrestricted traffic never
 * gets here (the flag tests before it are inlined).
 * A global function, not a static one: the verifier checks it once, on
 * its own, and each call only against its signature, where a static
 * function is walked again on every path that reaches a call, with that
 * path's state (166,000 of nsf_from_pod's instructions). It is checked
 * knowing nothing of its callers: no skb (host_udp_reply() is left to
 * policy_check()), bounds checked here (pol_group_flags()), and @f may
 * be NULL as far as the verifier knows (callers pass their stack's).
 */
__noinline __u32 policy_decide(__u32 gen, __u32 src, __u32 dst,
			       const struct pol_flow *f)
{
	__u32 sf, df, reason;
	struct nsf_ct_entry *e, *r;
	struct nsf_ct_key rk;
	__u64 now;

	if (!f)
		return NSF_R_DROP_POLICY;
	sf = pol_group_flags(src);
	df = pol_group_flags(dst);
	if (!((sf | df) & NSF_PG_F_ENFORCED))
		return 0;
	now = nsf_now();
	e = bpf_map_lookup_elem(&nsf_ct4, &f->key);
	if (e && e->gen == gen) {
		e->last_seen = now;
		return 0;
	}
	ct_reverse(&rk, &f->key);
	r = bpf_map_lookup_elem(&nsf_ct4, &rk);
	if (r) {
		reason = r->gen == gen ? 0
				       : pol_verdict(false, dst, src, df, sf,
						     f->dst_fb, f->src_fb, &rk,
						     false);
		if (!reason) {
			r->gen = gen;
			r->last_seen = now;
			return 0;
		}
		if (f->key.proto != IPPROTO_TCP || f->reply_like)
			return reason;
	}
	reason = pol_verdict(true, src, dst, sf, df, f->src_fb, f->dst_fb,
			     &f->key, f->reply_like);
	if (!reason)
		ct_remember(&f->key, e, gen, now);
	return reason == POL_PASS_STATELESS ? 0 : reason;
}

/*
 * policy_decide() for flow @f, with the host's socket lookup it asks for
 * done here, where the packet @skb (or NULL: none) is known.
 */
static __always_inline __u32 policy_check(struct __sk_buff *skb,
					  const struct nsf_pol_cfg *pc,
					  __u32 src, __u32 dst,
					  const struct pol_flow *f)
{
	__u32 reason = policy_decide(pc->gen, src, dst, f);

	if (reason != POL_ASK_HOST_UDP)
		return reason;
	if (skb && host_udp_reply(skb, &f->key))
		return 0;
	return NSF_R_DROP_POLICY_HOST;
}

/* The identity of a destination that is no pod here: its CIDR's, if a
 * rule names one that covers it, else @fallback (host or world). Where no
 * rule for the CIDR matches a flow, @fallback's apply (pol_verdict()). */
static __always_inline __u32 pol_peer(const struct nsf_pol_cfg *pc, __be32 addr,
				      __u32 fallback)
{
	struct nsf_pol_cidr_key k = { .prefixlen = 32, .addr = addr };
	__u32 *id;

	if (!(pc->flags & NSF_POL_F_CIDRS))
		return fallback;
	id = bpf_map_lookup_elem(&nsf_pol_cidr, &k);
	return id ? *id : fallback;
}

/* Pod @src to pod @dst: 0 or the drop reason. */
static __always_inline __u32 policy_pods(const struct iphdr *ip, void *data_end,
					 const struct nsf_endpoint *src,
					 const struct nsf_endpoint *dst)
{
	struct nsf_pol_cfg *pc = pol_cfg();
	struct pol_flow f;

	if (likely(!pc || !(pc->flags & NSF_POL_F_PODS)))
		return 0;
	pol_flow_parse(ip, data_end, &f);
	f.src_fb = src->group;
	f.dst_fb = dst->group;
	return policy_check(NULL, pc, src->group, dst->group, &f);
}

/*
 * Group @src to group @dst, one of them no pod here: the host's default
 * deny makes policy active on every host, so the world and groups nobody
 * restricts skip the parse and the call. @skb (or NULL) is for the host's
 * socket lookup of UDP sent to it.
 */
static __always_inline __u32 policy_groups(struct __sk_buff *skb,
					   const struct nsf_pol_cfg *pc,
					   const struct iphdr *ip,
					   void *data_end, __u32 src, __u32 dst,
					   __u32 src_fb, __u32 dst_fb)
{
	struct pol_flow f;

	if (!((pol_group_flags(src) | pol_group_flags(dst)) &
	      NSF_PG_F_ENFORCED))
		return 0;
	pol_flow_parse(ip, data_end, &f);
	f.src_fb = src_fb;
	f.dst_fb = dst_fb;
	return policy_check(skb, pc, src, dst, &f);
}

/*
 * Pod @src to an address that is no pod here, carried by the kernel
 * (@fallback NSF_POL_GROUP_HOST, with the pod's @skb for replies to the
 * host's UDP) or the uplink (NSF_POL_GROUP_WORLD, @skb NULL).
 */
static __always_inline __u32 policy_peer(struct __sk_buff *skb,
					 const struct iphdr *ip, void *data_end,
					 const struct nsf_endpoint *src,
					 __u32 fallback)
{
	struct nsf_pol_cfg *pc = pol_cfg();

	if (!pc || !(pc->flags & NSF_POL_F_ACTIVE))
		return 0;
	return policy_groups(skb, pc, ip, data_end, src->group,
			     pol_peer(pc, ip->daddr, fallback), src->group,
			     fallback);
}

/*
 * From @ip->saddr, no pod here (another node's pod or node, arriving on
 * the uplink), to pod @dst: the same rules in the other direction, so
 * the destination group's ingress default and CIDR rules apply, and the
 * replies of flows @dst opened are let in by their connection state.
 */
static __always_inline __u32 policy_from_peer(const struct iphdr *ip,
					      void *data_end,
					      const struct nsf_endpoint *dst,
					      __u32 fallback)
{
	struct nsf_pol_cfg *pc = pol_cfg();

	if (!pc || !(pc->flags & NSF_POL_F_ACTIVE))
		return 0;
	return policy_groups(NULL, pc, ip, data_end,
			     pol_peer(pc, ip->saddr, fallback), dst->group,
			     fallback, dst->group);
}

#endif /* NSF_BPF_POLICY_H */
