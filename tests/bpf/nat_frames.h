/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Frame helpers for the NAT tests, on top of frames.h: L4 ports and flags,
 * checksums recomputed from scratch (RFC 768, 792, 793 with the RFC 1071
 * sum), checksum values forced to their edge cases, and ICMP errors that
 * quote another packet (RFC 792). Like frames.h, nothing here shares code
 * with the datapath.
 */
#ifndef NSF_TEST_NAT_FRAMES_H
#define NSF_TEST_NAT_FRAMES_H

#include "frames.h"

#define NF_TCP_FIN 0x01
#define NF_TCP_SYN 0x02
#define NF_TCP_RST 0x04
#define NF_TCP_PSH 0x08
#define NF_TCP_ACK 0x10

#define NF_ICMP_ECHOREPLY     0
#define NF_ICMP_DEST_UNREACH  3
#define NF_ICMP_ECHO	      8
#define NF_ICMP_TIME_EXCEEDED 11

#define NF_ICMP_PORT_UNREACH 3
#define NF_ICMP_FRAG_NEEDED  4

/* Offset of the L4 checksum in its header, 0 for protocols without one. */
static inline size_t nf_csum_off(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_UDP:
		return 6;
	case IPPROTO_TCP:
		return 16;
	case IPPROTO_ICMP:
		return 2;
	default:
		return 0;
	}
}

static inline uint16_t nf_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void nf_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The L4 header of an IPv4 packet and its length from the header on. */
static inline uint8_t *nf_l4(struct iphdr *ip)
{
	return (uint8_t *)ip + ip->ihl * 4;
}

static inline uint16_t nf_l4_len(const struct iphdr *ip)
{
	return (uint16_t)(ntohs(ip->tot_len) - ip->ihl * 4);
}

/* Source port, or the identifier of an ICMP echo; host order. */
static inline uint16_t nf_sport(struct iphdr *ip)
{
	uint8_t *l4 = nf_l4(ip);

	return nf_get16(ip->protocol == IPPROTO_ICMP ? l4 + 4 : l4);
}

/* Destination port; 0 for ICMP. */
static inline uint16_t nf_dport(struct iphdr *ip)
{
	return ip->protocol == IPPROTO_ICMP ? 0 : nf_get16(nf_l4(ip) + 2);
}

static inline void nf_set_sport(struct iphdr *ip, uint16_t port)
{
	uint8_t *l4 = nf_l4(ip);

	nf_put16(ip->protocol == IPPROTO_ICMP ? l4 + 4 : l4, port);
}

static inline void nf_set_dport(struct iphdr *ip, uint16_t port)
{
	if (ip->protocol != IPPROTO_ICMP)
		nf_put16(nf_l4(ip) + 2, port);
}

/*
 * RFC 1071 sum of everything the L4 checksum of @ip covers, the checksum
 * field included: pseudo header and segment for TCP and UDP, the message
 * alone for ICMP. A packet is valid when this folds to 0xffff.
 */
static inline uint32_t nf_l4_sum(const struct iphdr *ip, const uint8_t *l4,
				 uint16_t len)
{
	uint32_t sum = 0;

	if (ip->protocol != IPPROTO_ICMP)
		sum = ipv4_pseudo_sum(ip, len);
	return csum_add(sum, l4, len);
}

/* The L4 checksum of @ip as a sender computes it (UDP: 0 sent as ffff). */
static inline void nf_l4_set_csum(struct iphdr *ip)
{
	uint8_t *l4 = nf_l4(ip), *field = l4 + nf_csum_off(ip->protocol);
	uint16_t len = nf_l4_len(ip);

	if (!nf_csum_off(ip->protocol))
		return;
	nf_put16(field, 0);
	csum_store(field, nf_l4_sum(ip, l4, len));
	if (ip->protocol == IPPROTO_UDP && !nf_get16(field))
		nf_put16(field, 0xffff);
}

/* Both checksums of @ip recomputed after the caller edited it. */
static inline void nf_set_csums(struct iphdr *ip)
{
	nf_l4_set_csum(ip);
	ipv4_set_csum(ip);
}

static inline bool nf_l4_csum_valid(const struct iphdr *ip, const uint8_t *l4,
				    uint16_t len)
{
	return csum_fold(nf_l4_sum(ip, l4, len)) == 0xffff;
}

/* Equal as one's complement numbers: 0x0000 and 0xffff are both zero. */
static inline bool nf_csum_equiv(uint16_t a, uint16_t b)
{
	if (a == b)
		return true;
	return (a == 0 || a == 0xffff) && (b == 0 || b == 0xffff);
}

/*
 * The folded pseudo-header sum a CHECKSUM_PARTIAL packet carries in its
 * checksum field (what Linux stores as ~tcp_v4_check(len, s, d, 0)): the
 * device adds the segment and complements.
 */
static inline uint16_t nf_partial_csum(const struct iphdr *ip)
{
	return csum_fold(ipv4_pseudo_sum(ip, nf_l4_len(ip)));
}

/*
 * What a NIC does with a CHECKSUM_PARTIAL packet: sum from @start to the
 * end (the field holds the pseudo-header sum) and store the complement at
 * @start + @off; a UDP result of 0 goes out as 0xffff.
 */
static inline void nf_complete_csum(uint8_t *pkt, size_t len, size_t start,
				    size_t off, bool udp)
{
	uint16_t c =
		(uint16_t)~csum_fold(csum_add(0, pkt + start, len - start));

	if (udp && !c)
		c = 0xffff;
	nf_put16(pkt + start + off, c);
}

/*
 * Set the 16-bit word at @word (inside the L4 data of @ip, an even offset
 * from the L4 header) so that, with the checksum field zeroed, the L4 sum
 * folds to 0xffff: the computed checksum is then 0x0000, the edge where
 * UDP must send 0xffff and TCP may show either zero. Leaves the checksum
 * field 0 for the caller to fill.
 */
static inline void nf_force_l4_zero(struct iphdr *ip, uint8_t *word)
{
	uint8_t *l4 = nf_l4(ip);

	nf_put16(l4 + nf_csum_off(ip->protocol), 0);
	nf_put16(word, 0);
	nf_put16(word, (uint16_t)~csum_fold(nf_l4_sum(ip, l4, nf_l4_len(ip))));
}

/*
 * Append to @f (Ethernet header present) an IPv4 ICMP error from @saddr to
 * @daddr, with TTL @ttl, quoting the first @quote_len bytes of the IPv4
 * packet @quote. Both checksums valid; the ICMP one covers the quote.
 */
static inline struct iphdr *frame_icmp_error(struct frame *f, uint32_t saddr,
					     uint32_t daddr, uint8_t ttl,
					     uint8_t type, uint8_t code,
					     const void *quote,
					     uint16_t quote_len)
{
	struct iphdr *ip = frame_ip_hdr(f);
	uint8_t *icmp = (uint8_t *)(ip + 1);
	uint16_t icmp_len = 8 + quote_len;

	memset(ip, 0, sizeof(*ip) + 8);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(sizeof(*ip) + icmp_len);
	ip->id = htons(0x4321);
	ip->ttl = ttl;
	ip->protocol = IPPROTO_ICMP;
	ip->saddr = saddr;
	ip->daddr = daddr;
	icmp[0] = type;
	icmp[1] = code;
	if (type == NF_ICMP_DEST_UNREACH && code == NF_ICMP_FRAG_NEEDED)
		nf_put16(icmp + 6, 1400); /* next-hop MTU (RFC 1191) */
	memcpy(icmp + 8, quote, quote_len);
	f->len = ETH_HLEN + sizeof(*ip) + icmp_len;
	nf_set_csums(ip);
	return ip;
}

/* The quoted IPv4 header of an ICMP error built by frame_icmp_error(). */
static inline struct iphdr *nf_icmp_inner(struct iphdr *outer)
{
	return (struct iphdr *)(nf_l4(outer) + 8);
}

#endif /* NSF_TEST_NAT_FRAMES_H */
