/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Counters. Both arrays are per-CPU, so plain increments are race-free and
 * cost no atomic operation; the loader sums the CPUs when it reads them.
 */
#ifndef NSF_BPF_STATS_H
#define NSF_BPF_STATS_H

#include "maps.h"
#include "monitor.h"

static __always_inline void count_reason(enum nsf_reason reason, __u32 len)
{
	__u32 key = reason;
	struct nsf_counter *c = bpf_map_lookup_elem(&nsf_counters, &key);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
	mon_note_reason(reason);
}

/* Count a packet of @len bytes against endpoint @ep (enum nsf_ep_counter). */
static __always_inline void count_ep(const struct nsf_endpoint *ep,
				     enum nsf_ep_counter which, __u32 len)
{
	__u32 id = ep->id;
	struct nsf_ep_stats *s = bpf_map_lookup_elem(&nsf_ep_stats, &id);

	if (s) {
		s->c[which].packets++;
		s->c[which].bytes += len;
	}
	mon_note_ep(id, which == NSF_EP_TO_POD);
}

#endif /* NSF_BPF_STATS_H */
