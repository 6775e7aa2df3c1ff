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
#define NSF_MAP_NAT4	 "nsf_nat4"
#define NSF_MAP_TX_PORTS "nsf_tx_ports"

/* NAT table size in entries (two per flow), unless `init --nat-entries`. */
#define NSF_NAT_DEFAULT_ENTRIES 524288
/*
 * Default SNAT source ports: below Linux's default ip_local_port_range
 * (32768-60999), so the host's own outgoing connections never pick them,
 * and wide (31,744 ports per destination) for short-connection workloads.
 */
#define NSF_NAT_PORT_MIN 1024
#define NSF_NAT_PORT_MAX 32767

/* Config flags (struct nsf_config.flags). */
#define NSF_CFG_F_UPLINK_XDP (1u << 0) /* ingress NAT runs in XDP */

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

/* Global counters; per-CPU array indexed by enum nsf_reason. */
struct nsf_counter {
	__u64 packets;
	__u64 bytes;
};

/* What a per-endpoint counter counts (index into struct nsf_ep_stats.c). */
enum nsf_ep_counter {
	NSF_EP_FROM_POD, /* sent by the pod, forwarded by the fast path */
	NSF_EP_TO_POD,	 /* delivered to the pod by the fast path */
	NSF_EP_FALLBACK, /* sent by the pod, handed to the kernel stack */
	NSF_EP_DROP,	 /* sent by the pod, dropped by the datapath */
	NSF_EP_COUNTERS,
};

/* Per-endpoint counters; per-CPU array indexed by nsf_endpoint.id. */
struct nsf_ep_stats {
	struct nsf_counter c[NSF_EP_COUNTERS]; /* packets and L2 bytes */
};

/* Direction of a NAT entry's key (struct nsf_nat_key.dir). */
#define NSF_NAT_EGRESS	0 /* pod -> world: key is the pod's tuple */
#define NSF_NAT_INGRESS 1 /* world -> uplink: key is the reply's tuple */

/* What a direction has seen (struct nsf_nat_entry.seen). */
#define NSF_SEEN_SYN (1u << 0)
#define NSF_SEEN_FIN (1u << 1)
#define NSF_SEEN_RST (1u << 2)
#define NSF_SEEN_ACK (1u << 3) /* any packet without SYN */

/*
 * Key of nsf_nat4: the packet's own tuple in the direction of the entry.
 * ICMP echo uses the identifier as the pod-side "port": in the egress
 * entry's sport, in the ingress entry's dport; the other port is 0.
 */
struct nsf_nat_key {
	__be32 saddr; /* source address of matching packets */
	__be32 daddr; /* destination address of matching packets */
	__be16 sport; /* source port (ICMP: id or 0, see above) */
	__be16 dport; /* destination port */
	__u8 proto;   /* IPPROTO_TCP, IPPROTO_UDP or IPPROTO_ICMP */
	__u8 dir;     /* NSF_NAT_EGRESS or NSF_NAT_INGRESS */
	__u16 pad;    /* must be 0 */
};

/*
 * Value of nsf_nat4. An egress entry says what the pod's source becomes,
 * an ingress entry what the reply's destination goes back to; each is
 * updated only by its own direction, so a packet costs one lookup. The
 * loader combines the two to derive the connection state and expiry.
 */
struct nsf_nat_entry {
	__be32 addr;	 /* egress: SNAT address; ingress: pod address */
	__be16 port;	 /* egress: NAT port; ingress: pod port (ICMP: id) */
	__u16 pad;	 /* must be 0 */
	__u32 seen;	 /* NSF_SEEN_* in this direction (TCP); 32 bits so
			   * the datapath can set bits with an atomic or */
	__u32 reserved;	 /* must be 0 */
	__u64 created;	 /* bpf_ktime_get_ns() when made */
	__u64 last_seen; /* bpf_ktime_get_ns() of the latest packet */
	__u64 packets;	 /* packets in this direction */
	__u64 bytes;	 /* their L3 length */
};

/*
 * Key of the ingress entry that replies to the flow with egress key
 * @egress match once its source is @snat:@port: the reply comes from the
 * egress destination to the masqueraded address. One definition for the
 * datapath (which creates the pair) and the loader (which pairs them for
 * `nat list` and gc), so the two can never disagree.
 */
static inline void nsf_nat_reply_key(struct nsf_nat_key *key,
				     const struct nsf_nat_key *egress,
				     __be32 snat, __be16 port)
{
	key->saddr = egress->daddr;
	key->daddr = snat;
	key->sport = egress->dport;
	key->dport = port;
	key->proto = egress->proto;
	key->dir = NSF_NAT_INGRESS;
	key->pad = 0;
}

/* ---- port publishing and routes to other nodes (issue 5) ---- */

#define NSF_MAP_PUBLISH4 "nsf_publish4"
#define NSF_MAP_ROUTES4	 "nsf_routes4"

/* Published ports per host (TCP and UDP together). */
#define NSF_PUBLISH_MAX 65536
/* Routes to other nodes' pod CIDRs. */
#define NSF_ROUTES_MAX 16384

/*
 * Key of nsf_publish4: a port of the uplink (SNAT) address. One hash
 * lookup per new inbound flow, whatever the number of published ports.
 */
struct nsf_publish_key {
	__be16 port; /* host port, network order */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;    /* must be 0 */
};

/* Value of nsf_publish4: where connections to that port go. */
struct nsf_publish_val {
	__be32 pod_addr; /* pod address, network order */
	__be16 pod_port; /* pod port, network order */
	__u16 pad;	 /* must be 0 */
};

/* Key of nsf_routes4 (LPM trie): another node's pod CIDR. */
struct nsf_route4_key {
	__u32 prefixlen; /* 0..32, as the LPM trie wants it first */
	__be32 addr;	 /* network address, network order */
};

/* Route flags (struct nsf_route4_val.flags). */
#define NSF_ROUTE_F_NODE (1u << 0) /* the /32 of a node's own address */

/*
 * Value of nsf_routes4: the node that owns the CIDR. Every node that is
 * the via of a route also gets a /32 entry of its own (NSF_ROUTE_F_NODE),
 * so pods reach other nodes' host addresses without NAT as well.
 */
struct nsf_route4_val {
	__be32 node; /* the node's address (next hop), network order */
	__u32 flags; /* NSF_ROUTE_F_* */
};

#endif /* NSFAST_MAPS_H */
