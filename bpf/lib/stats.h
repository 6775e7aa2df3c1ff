/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Counters. Both arrays are per-CPU, so plain increments are race-free and
 * cost no atomic operation; the loader sums the CPUs when it reads them.
 */
#ifndef NSF_BPF_STATS_H
#define NSF_BPF_STATS_H

#include "maps.h"

static __always_inline void count_reason(enum nsf_reason reason, __u32 len)
{
	__u32 key = reason;
	struct nsf_counter *c = bpf_map_lookup_elem(&nsf_counters, &key);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

static __always_inline struct nsf_ep_stats *ep_stats(__u32 id)
{
	return bpf_map_lookup_elem(&nsf_ep_stats, &id);
}

/* The pod behind @src sent a packet that the fast path forwarded. */
static __always_inline void count_from_pod(const struct nsf_endpoint *src,
					   __u32 len)
{
	struct nsf_ep_stats *s = ep_stats(src->id);

	if (s) {
		s->from_pod_packets++;
		s->from_pod_bytes += len;
	}
}

/* The fast path delivered a packet to the pod behind @dst. */
static __always_inline void count_to_pod(const struct nsf_endpoint *dst,
					 __u32 len)
{
	struct nsf_ep_stats *s = ep_stats(dst->id);

	if (s) {
		s->to_pod_packets++;
		s->to_pod_bytes += len;
	}
}

/* The pod behind @src sent a packet that went to the kernel stack. */
static __always_inline void count_fallback(const struct nsf_endpoint *src,
					   __u32 len)
{
	struct nsf_ep_stats *s = ep_stats(src->id);

	if (s) {
		s->fallback_packets++;
		s->fallback_bytes += len;
	}
}

/* The datapath dropped a packet the pod behind @src sent. */
static __always_inline void count_drop(const struct nsf_endpoint *src,
				       __u32 len)
{
	struct nsf_ep_stats *s = ep_stats(src->id);

	if (s) {
		s->drop_packets++;
		s->drop_bytes += len;
	}
}

#endif /* NSF_BPF_STATS_H */
