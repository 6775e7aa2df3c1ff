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
	__u32 flags;	     /* NSF_CFG_F_* */
	__u16 nat_port_min2; /* a second SNAT port range (above the host's */
	__u16 nat_port_max2; /* ephemeral one), 0-0 when there is none */
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
	__u64 created;	 /* CLOCK_MONOTONIC (coarse) when made */
	__u64 last_seen; /* CLOCK_MONOTONIC (coarse) of the latest packet */
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
 * so pods reach other nodes' host addresses without NAT as well; where a
 * route of that very /32 exists too, the entry has its next hop.
 */
struct nsf_route4_val {
	__be32 node; /* the node's address (next hop), network order */
	__u32 flags; /* NSF_ROUTE_F_* */
};

/* ---- isolation: anti-spoofing, policy, monitor ---- */

/* Map names of this block, as pinned under <bpffs>/nsfast/<host-id>/. */
#define NSF_MAP_EP_IFX	   "nsf_ep_ifx"
#define NSF_MAP_POL_CFG	   "nsf_pol_cfg"
#define NSF_MAP_POL_GROUPS "nsf_pol_groups"
#define NSF_MAP_POL_RULES  "nsf_pol_rules"
#define NSF_MAP_POL_CIDR   "nsf_pol_cidr"
#define NSF_MAP_CT4	   "nsf_ct4"
#define NSF_MAP_MON_CFG	   "nsf_mon_cfg"
#define NSF_MAP_MON_RB	   "nsf_mon_rb"

/*
 * nsf_ep_ifx: host-side veth ifindex -> the IPv4 address (network order)
 * of the endpoint behind it, so that a packet that does not carry its
 * pod's own address (ARP, IPv6, a spoofed source) can still be charged to
 * the pod it came from, and a veth with no endpoint is recognised.
 */

/*
 * Policy identities (struct nsf_endpoint.group and CIDR identities). The
 * host is everything the kernel handles instead of the uplink: its own
 * addresses and other namespaces behind it; the world is what is routed
 * out of the uplink.
 */
#define NSF_POL_MAX_GROUPS  4096	/* ids 0 .. 4095 */
#define NSF_POL_GROUP_NONE  0		/* endpoint in no group */
#define NSF_POL_GROUP_HOST  1		/* the host */
#define NSF_POL_GROUP_WORLD 2		/* routed out of the uplink */
#define NSF_POL_GROUP_FIRST 16		/* first id of named groups/CIDRs */
#define NSF_POL_ANY	    0xffffffffu /* rule wildcard ("any") */
#define NSF_POL_MAX_RULES   65536
#define NSF_POL_MAX_CIDRS   16384
#define NSF_CT_ENTRIES	    65536

/* struct nsf_pol_cfg.flags */
#define NSF_POL_F_ACTIVE (1u << 0) /* some group is enforced */
#define NSF_POL_F_PODS	 (1u << 1) /* some pod group is enforced */
#define NSF_POL_F_CIDRS	 (1u << 2) /* nsf_pol_cidr has entries */

/* Single entry (key 0) of nsf_pol_cfg, written by `nsfast policy`. */
struct nsf_pol_cfg {
	__u32 flags; /* NSF_POL_F_* */
	__u32 gen;   /* bumped on every policy change: connection state of
		      * an older generation is checked against the rules again */
};

/* struct nsf_pol_group.flags */
#define NSF_PG_F_ENFORCED     (1u << 0) /* in a rule, or a default is deny */
#define NSF_PG_F_INGRESS_DENY (1u << 1) /* to it: deny unless a rule allows */
#define NSF_PG_F_EGRESS_DENY  (1u << 2) /* from it: deny unless allowed */

/* Value of nsf_pol_groups, an array indexed by group id. */
struct nsf_pol_group {
	__u32 flags; /* NSF_PG_F_* */
};

/* Key of nsf_pol_rules: who to whom, protocol (0 = any), destination
 * port (0 = any; ICMP has none). */
struct nsf_pol_key {
	__u32 src;   /* group id or NSF_POL_ANY */
	__u32 dst;   /* group id or NSF_POL_ANY */
	__u8 proto;  /* IPPROTO_*, 0 = any */
	__u8 pad;    /* must be 0 */
	__be16 port; /* destination port, 0 = any */
};

#define NSF_POL_ALLOW 1
#define NSF_POL_DENY  2

struct nsf_pol_rule {
	__u32 action; /* NSF_POL_ALLOW or NSF_POL_DENY */
	__u32 id;     /* rule number, as `policy rule list` shows it */
};

/* Key of the LPM trie nsf_pol_cidr (value: __u32 identity). */
struct nsf_pol_cidr_key {
	__u32 prefixlen;
	__be32 addr;
};

/*
 * Key of nsf_ct4, the connection state of flows a policy applies to: the
 * tuple as the packet that was allowed carries it. ICMP echo: request
 * (id, 0), reply (0, id), so a request's reversed tuple is its reply's.
 */
struct nsf_ct_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3]; /* must be 0 */
};

struct nsf_ct_entry {
	__u64 created;	 /* CLOCK_MONOTONIC (coarse) */
	__u64 last_seen; /* of the latest packet either way */
	__u32 gen;	 /* policy generation that allowed it */
	__u32 reserved;	 /* must be 0 */
};

/* Monitor: bytes of each packet copied into an event. */
#define NSF_MON_SNAPLEN 128
#define NSF_MON_RB_SIZE (1u << 20) /* ring buffer bytes */

/* Where an event was seen (struct nsf_mon_event.hook). */
#define NSF_HOOK_FROM_POD   0 /* tc ingress of a pod's host veth */
#define NSF_HOOK_UPLINK_XDP 1
#define NSF_HOOK_UPLINK_TC  2
#define NSF_HOOK_FROM_HOST  3 /* tc ingress of the host's lo (publish) */

/* Single entry (key 0) of nsf_mon_cfg, written by `nsfast monitor`. */
struct nsf_mon_cfg {
	__u32 enabled; /* 0: the datapath does nothing for the monitor */
	__u32 sample;  /* report 1 packet in @sample (0, 1: all) */
	__u32 rate;    /* at most @rate events a second per CPU, 0 = no cap */
	__u32 ep_id;   /* only packets from/to this endpoint, 0 = all */
	__u64 reasons; /* bit r set: report packets counted under reason r */
	__u64 expires; /* bpf_ktime_get_ns() after which reporting stops,
			* unless the monitor extends it (a killed monitor
			* cannot leave it on) */
};

/* What the datapath reports through nsf_mon_rb. */
struct nsf_mon_event {
	__u64 ts;      /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u32 reason;  /* enum nsf_reason */
	__u32 ifindex; /* interface the packet arrived on */
	__u32 src_ep;  /* endpoint id that sent it, 0 = none */
	__u32 dst_ep;  /* endpoint id it was delivered to, 0 = none */
	__u32 len;     /* packet length */
	__u16 cap_len; /* bytes of @data that are valid */
	__u8 hook;     /* NSF_HOOK_* */
	__u8 pad;
	__u8 data[NSF_MON_SNAPLEN]; /* the packet as it arrived */
};

#endif /* NSFAST_MAPS_H */
