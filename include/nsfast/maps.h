/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The one definition of every BPF map key, value and constant shared by the
 * datapath (bpf/) and the loader (loader/). Fixed-width types, explicit
 * padding: the layout is an ABI between programs and pinned maps that outlive
 * any one loader run, so fields are only ever appended, never reordered.
 */
#ifndef NSFAST_MAPS_H
#define NSFAST_MAPS_H

#include <linux/types.h>

/* Capacity of the endpoint maps and of the per-endpoint counter array. */
#define NSF_MAX_ENDPOINTS 16384

/* Endpoint id 0 is never handed out: it marks "no endpoint" in counters. */
#define NSF_EP_ID_NONE 0

/*
 * Link-local gateway every pod routes through (169.254.1.1, as Calico does).
 * Pods hold a /32 and a permanent neighbour entry for this address, so no ARP
 * crosses the hot path; the datapath answers ARP for it in case a pod asks.
 */
#define NSF_GATEWAY4 0xa9fe0101u /* host order; 169.254.1.1 */

/* Map names, as pinned under <bpffs>/nsfast/<host-id>/. */
#define NSF_MAP_CONFIG	 "nsf_config"
#define NSF_MAP_EP4	 "nsf_ep4"
#define NSF_MAP_EP_STATS "nsf_ep_stats"
#define NSF_MAP_COUNTERS "nsf_counters"

/* Endpoint flags (struct nsf_endpoint.flags). */
#define NSF_EP_F_LOCAL (1u << 0) /* a pod on this host, behind a veth */

/*
 * Value of nsf_ep4 (key: IPv4 address, network order). An IPv6 map will use
 * the same value with a 16-byte key, so one endpoint can own both.
 */
struct nsf_endpoint {
	__u32 ifindex;	  /* host-side veth: redirect target, and the only
			    * interface this endpoint may send from */
	__u32 id;	  /* index into nsf_ep_stats (and later policy) */
	__u8 pod_mac[6];  /* pod-side MAC: destination MAC on delivery */
	__u8 host_mac[6]; /* host-side veth MAC: the pod's gateway MAC and
			    * the source MAC on delivery */
	__u32 flags;	  /* NSF_EP_F_* */
	__u32 group;	  /* policy group, 0 = none (reserved for policy) */
	__u32 reserved;	  /* keeps the value 8-byte aligned; must be 0 */
};

/* Single entry (key 0) of the nsf_config array, written by `nsfast init`. */
struct nsf_config {
	__be32 pod_net4;      /* pod CIDR network address */
	__be32 pod_mask4;     /* pod CIDR netmask */
	__be32 gateway4;      /* link-local gateway address (network order) */
	__u32 uplink_ifindex; /* physical NIC for pod->world, 0 = none */
	__be32 snat4;	      /* address pod traffic is masqueraded to */
	__u16 nat_port_min;   /* SNAT source port range, host order */
	__u16 nat_port_max;
	__u32 flags;	/* NSF_CFG_F_* */
	__u32 reserved; /* must be 0 */
};

/* Per-endpoint counters; per-CPU array indexed by nsf_endpoint.id. */
struct nsf_ep_stats {
	__u64 from_pod_packets; /* sent by the pod, forwarded by the fast path */
	__u64 from_pod_bytes;	/* ... their L2 length */
	__u64 to_pod_packets;	/* delivered to the pod by the fast path */
	__u64 to_pod_bytes;
	__u64 fallback_packets; /* sent by the pod, handed to the kernel stack */
	__u64 fallback_bytes;
	__u64 drop_packets; /* sent by the pod, dropped by the datapath */
	__u64 drop_bytes;
};

/* Global counters; per-CPU array indexed by enum nsf_reason. */
struct nsf_counter {
	__u64 packets;
	__u64 bytes;
};

#endif /* NSFAST_MAPS_H */
