/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Header parsing with the bounds checks the verifier demands. Each helper
 * returns NULL when the header does not fit in the linear data or is not
 * valid, and never looks past what it checked.
 */
#ifndef NSF_BPF_PARSE_H
#define NSF_BPF_PARSE_H

#include "common.h"
#include "csum.h"

/* ARP for Ethernet/IPv4, as on the wire (RFC 826). */
struct arp_eth_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__be32 spa;
	__u8 tha[ETH_ALEN];
	__be32 tpa;
} __attribute__((packed));

/*
 * ICMPv4 header (RFC 792), defined here because <linux/icmp.h> pulls in
 * glibc's socket headers, which do not build for the BPF target.
 */
struct icmp4hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;	 /* echo request/reply identifier */
	__be16 sequence; /* echo sequence; errors: unused/MTU */
};

#define ICMP_ECHOREPLY	   0
#define ICMP_DEST_UNREACH  3
#define ICMP_ECHO	   8
#define ICMP_TIME_EXCEEDED 11

#define ARP_HTYPE_ETHER 1
#define ARP_OP_REQUEST	1
#define ARP_OP_REPLY	2

/*
 * Most header bytes the programs read: Ethernet, IPv4 with options and a
 * TCP header (NAT ports, flags, checksum), or Ethernet, IPv4, ICMP and the
 * quoted IPv4 + 20 L4 bytes of an ICMP error (14 + 20 + 8 + 20 + 20).
 */
#define NSF_HDRS_MAX 128

/*
 * Make sure the headers are in the linear area, where direct packet access
 * can reach them. Locally generated and forwarded skbs always have them
 * there, but e.g. AF_PACKET TX rings (trafgen) build skbs with only the MAC
 * header linear and the rest in page fragments. bpf_skb_pull_data()
 * invalidates every packet pointer: callers must reload data/data_end.
 * Returns 0, or a negative errno if the pull failed (the caller passes).
 */
static __always_inline int pull_headers(struct __sk_buff *skb)
{
	__u32 need = skb->len < NSF_HDRS_MAX ? skb->len : NSF_HDRS_MAX;

	if ((void *)(long)skb->data + need <= (void *)(long)skb->data_end)
		return 0;
	return bpf_skb_pull_data(skb, need);
}

static __always_inline struct ethhdr *parse_eth(void *data, void *data_end)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return NULL;
	return eth;
}

/*
 * An IPv4 header the kernel would also accept for forwarding: version 4,
 * IHL >= 5, the whole header present, a total length that covers the
 * header and fits in the frame (@l3_len = bytes from the IP header on),
 * and a valid header checksum.
 */
static __always_inline struct iphdr *parse_ipv4(void *l3, void *data_end,
						__u32 l3_len)
{
	struct iphdr *ip = l3;
	__u32 hdr_len, tot_len;

	if ((void *)(ip + 1) > data_end)
		return NULL;
	hdr_len = ip->ihl * 4;
	tot_len = bpf_ntohs(ip->tot_len);
	if (ip->version != 4 || hdr_len < sizeof(*ip))
		return NULL;
	if (l3 + hdr_len > data_end)
		return NULL;
	if (tot_len < hdr_len || tot_len > l3_len)
		return NULL;
	if (!ipv4_csum_ok(ip, data_end))
		return NULL;
	return ip;
}

/* The packet's IP length (not counting Ethernet padding); a GSO packet
 * beyond 64 KiB (BIG TCP) has tot_len 0 and is measured by @l3_len. */
static __always_inline __u32 ipv4_len(const struct iphdr *ip, __u32 l3_len)
{
	__u32 tot_len = bpf_ntohs(ip->tot_len);

	return tot_len ? tot_len : l3_len;
}

static __always_inline struct arp_eth_ipv4 *parse_arp(void *l3, void *data_end)
{
	struct arp_eth_ipv4 *arp = l3;

	if ((void *)(arp + 1) > data_end)
		return NULL;
	if (arp->htype != bpf_htons(ARP_HTYPE_ETHER) ||
	    arp->ptype != bpf_htons(ETH_P_IP) || arp->hlen != ETH_ALEN ||
	    arp->plen != 4)
		return NULL;
	return arp;
}

#endif /* NSF_BPF_PARSE_H */
