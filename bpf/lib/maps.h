/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Map definitions shared by all nsfast programs. Every map is pinned by name
 * under the host's pin directory, so each object that includes this header
 * and is loaded with the same pin_root_path reuses the same maps, and their
 * contents outlive the loader and survive a program reload.
 */
#ifndef NSF_BPF_MAPS_H
#define NSF_BPF_MAPS_H

#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nsf_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_config SEC(".maps");

/* IPv4 address -> endpoint. Written only by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NSF_MAX_ENDPOINTS);
	__type(key, __be32);
	__type(value, struct nsf_endpoint);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_ep4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NSF_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct nsf_ep_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_ep_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NSF_MAX_REASONS);
	__type(key, __u32);
	__type(value, struct nsf_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_counters SEC(".maps");

/*
 * NAT state: two entries per masqueraded flow (struct nsf_nat_key.dir).
 * LRU, so a full table evicts the least recently used flows instead of
 * refusing new ones; the loader sizes it (`init --nat-entries`).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NSF_NAT_DEFAULT_ENTRIES);
	__type(key, struct nsf_nat_key);
	__type(value, struct nsf_nat_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_nat4 SEC(".maps");

/*
 * Host-side veths by ifindex, for XDP_REDIRECT from the uplink into pods.
 * The kernel adds BPF_F_RDONLY_PROG to every devmap (and refuses it at
 * creation), which libbpf 1.1's pinned-map check takes for a mismatch: the
 * loader reuses this one by hand (see reuse_devmap() in loader/maps.c).
 */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, NSF_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsf_tx_ports SEC(".maps");

static __always_inline struct nsf_config *config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&nsf_config, &zero);
}

#endif /* NSF_BPF_MAPS_H */
