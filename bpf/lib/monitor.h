/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Packet events for `nsfast monitor`, through a BPF ring buffer. When no
 * monitor runs, each hook pays one inlined array lookup and a test of
 * nsf_mon_cfg.enabled. While one runs, a program copies the first bytes
 * of the packet as it arrived into a per-CPU scratch event (mon_begin_*),
 * the counters note the reason and endpoints (mon_note_*, from stats.h),
 * and mon_end() sends the event if the reason is wanted, the sample
 * draws it and the per-CPU rate cap allows.
 */
#ifndef NSF_BPF_MONITOR_H
#define NSF_BPF_MONITOR_H

#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nsf_mon_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_mon_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, NSF_MON_RB_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_mon_rb SEC(".maps");

/* The event being built on this CPU, and its rate window. */
struct mon_scratch {
	struct nsf_mon_event ev;
	__u64 win_start;
	__u32 win_count;
	__u32 armed; /* mon_begin_* took this packet */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mon_scratch);
} nsf_mon_scratch SEC(".maps");

#define NSF_MON_WINDOW_NS 1000000000ull

static __always_inline struct nsf_mon_cfg *mon_on(void)
{
	__u32 zero = 0;
	struct nsf_mon_cfg *cfg;

#ifdef NSF_NO_MONITOR
	/* Hooks compiled out, only to measure what idle ones cost
	 * (`make prog-cost`); never in a build that is installed. */
	return NULL;
#endif
	cfg = bpf_map_lookup_elem(&nsf_mon_cfg, &zero);

	return cfg && cfg->enabled ? cfg : NULL;
}

static __always_inline struct mon_scratch *mon_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&nsf_mon_scratch, &zero);
}

/* Start an event; returns where to copy the packet, NULL if not wanted. */
static __always_inline struct mon_scratch *mon_start(__u8 hook, __u32 ifindex,
						     __u32 len)
{
	struct nsf_mon_cfg *cfg = mon_on();
	struct mon_scratch *s;

	if (likely(!cfg))
		return NULL;
	s = mon_scratch();
	if (!s)
		return NULL;
	s->armed = 0;
	if (bpf_ktime_get_ns() > cfg->expires) {
		/* The monitor died without turning it off: from the next
		 * packet on, the off path (lookup + flag test) again. A live
		 * monitor rewrites the whole entry, flag included. */
		cfg->enabled = 0;
		return NULL;
	}
	s->armed = 1;
	s->ev.reason = NSF_R_MAX;
	s->ev.ifindex = ifindex;
	s->ev.src_ep = 0;
	s->ev.dst_ep = 0;
	s->ev.len = len;
	s->ev.hook = hook;
	s->ev.pad = 0;
	s->ev.cap_len = len < NSF_MON_SNAPLEN ? len : NSF_MON_SNAPLEN;
	return s;
}

static __always_inline void mon_begin_skb(struct __sk_buff *skb, __u8 hook)
{
	struct mon_scratch *s = mon_start(hook, skb->ingress_ifindex, skb->len);
	__u64 cap;

	if (!s)
		return;
	cap = s->ev.cap_len;
	asm volatile("" : "+r"(cap));
	if (cap < 1 || cap > NSF_MON_SNAPLEN ||
	    bpf_skb_load_bytes(skb, 0, s->ev.data, cap))
		s->armed = 0;
}

static __always_inline void mon_begin_xdp(struct xdp_md *ctx, __u8 hook)
{
	struct mon_scratch *s = mon_start(hook, ctx->ingress_ifindex, 0);
	void *data, *data_end;
	__u64 len, cap;

	if (!s)
		return;
	/* Packet pointers are read only now: kept across the helper calls
	 * above, clang spills them in a form the verifier refuses. */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	len = data_end - data;
	cap = len < NSF_MON_SNAPLEN ? len : NSF_MON_SNAPLEN;
	s->ev.len = len;
	s->ev.cap_len = cap;
	asm volatile("" : "+r"(cap));
	if (cap < 1 || cap > NSF_MON_SNAPLEN ||
	    bpf_xdp_load_bytes(ctx, 0, s->ev.data, cap))
		s->armed = 0;
}

/* Called by the counters: what happened to the packet being watched. */
static __always_inline void mon_note_reason(__u32 reason)
{
	struct mon_scratch *s;

	if (likely(!mon_on()))
		return;
	s = mon_scratch();
	if (s && s->armed)
		s->ev.reason = reason;
}

static __always_inline void mon_note_ep(__u32 id, bool dst)
{
	struct mon_scratch *s;

	if (likely(!mon_on()))
		return;
	s = mon_scratch();
	if (!s || !s->armed)
		return;
	if (dst)
		s->ev.dst_ep = id;
	else
		s->ev.src_ep = id;
}

/* Under the per-CPU cap of @rate events a second? Counts the event. */
static __always_inline bool mon_rate_ok(struct mon_scratch *s, __u32 rate,
					__u64 now)
{
	if (!rate)
		return true;
	if (now - s->win_start > NSF_MON_WINDOW_NS) {
		s->win_start = now;
		s->win_count = 0;
	}
	if (s->win_count >= rate)
		return false;
	s->win_count++;
	return true;
}

static __always_inline void mon_end(void)
{
	struct nsf_mon_cfg *cfg = mon_on();
	struct mon_scratch *s;
	__u32 reason;
	__u64 now;

	if (likely(!cfg))
		return;
	s = mon_scratch();
	if (!s || !s->armed)
		return;
	s->armed = 0;
	reason = s->ev.reason;
	/* No reason noted: not a packet of ours (the host's own loopback
	 * traffic through nsf_from_host), whatever the mask says. */
	if (reason >= NSF_R_MAX || !(cfg->reasons & (1ull << reason)))
		return;
	if (cfg->ep_id && cfg->ep_id != s->ev.src_ep &&
	    cfg->ep_id != s->ev.dst_ep)
		return;
	if (cfg->sample > 1 && bpf_get_prandom_u32() % cfg->sample)
		return;
	now = bpf_ktime_get_ns();
	if (!mon_rate_ok(s, cfg->rate, now))
		return;
	s->ev.ts = now;
	bpf_ringbuf_output(&nsf_mon_rb, &s->ev, sizeof(s->ev), 0);
}

#endif /* NSF_BPF_MONITOR_H */
