/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Frame builders and checksum helpers for the BPF program tests. Everything
 * is built byte by byte from the RFCs, independently of the datapath's own
 * headers, so a test never agrees with the program just because both share
 * a mistake.
 */
#ifndef NSF_TEST_FRAMES_H
#define NSF_TEST_FRAMES_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#define FRAME_MAX 512

/*
 * A frame and its length. The two bytes before data[] put the IPv4 header
 * (data + ETH_HLEN) on a 4-byte boundary, as NET_IP_ALIGN does in the
 * kernel, so struct iphdr can be used in place even under UBSan.
 */
struct frame {
	uint32_t len;
	uint8_t headroom[2];
	uint8_t data[FRAME_MAX];
};

_Static_assert((offsetof(struct frame, data) + ETH_HLEN) % 4 == 0,
	       "IPv4 header in struct frame must be 4-byte aligned");

/* ARP for Ethernet/IPv4 as on the wire (RFC 826). */
struct frame_arp {
	uint16_t htype;
	uint16_t ptype;
	uint8_t hlen;
	uint8_t plen;
	uint16_t op;
	uint8_t sha[ETH_ALEN];
	uint32_t spa;
	uint8_t tha[ETH_ALEN];
	uint32_t tpa;
} __attribute__((packed));

/* ICMP echo request/reply header (RFC 792). */
struct frame_icmp_echo {
	uint8_t type;
	uint8_t code;
	uint16_t check;
	uint16_t id;
	uint16_t seq;
};

#define FRAME_ARP_LEN  (ETH_HLEN + (uint32_t)sizeof(struct frame_arp))
#define FRAME_IPV6_LEN 40

/* What frame_ipv4() builds. Addresses in network order. */
struct ipv4_spec {
	uint32_t saddr;
	uint32_t daddr;
	uint8_t proto; /* IPPROTO_UDP, _TCP, _ICMP or anything else */
	uint8_t ttl;
	uint8_t opt_len;   /* bytes of IP options, multiple of 4, <= 40 */
	uint16_t frag_off; /* flags and offset, host order */
	uint16_t payload;  /* bytes after the L4 header */
};

/* Host-order a.b.c.d to a network-order address. */
static inline uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	return htonl((uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)c << 8 |
		     d);
}

/* RFC 1071 sum of @buf as big-endian 16-bit words, added to @sum. */
static inline uint32_t csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static inline uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Store the checksum for @sum (big-endian) into the 2 bytes at @field. */
static inline void csum_store(void *field, uint32_t sum)
{
	uint16_t c = htons((uint16_t)~csum_fold(sum));

	memcpy(field, &c, sizeof(c));
}

/* The checksum field as a host-order number. */
static inline uint16_t csum_get(const void *field)
{
	uint16_t c;

	memcpy(&c, field, sizeof(c));
	return ntohs(c);
}

static inline struct ethhdr *frame_eth_hdr(struct frame *f)
{
	return (struct ethhdr *)f->data;
}

static inline struct iphdr *frame_ip_hdr(struct frame *f)
{
	return (struct iphdr *)(f->data + ETH_HLEN);
}

static inline struct frame_arp *frame_arp_hdr(struct frame *f)
{
	return (struct frame_arp *)(f->data + ETH_HLEN);
}

/* Start @f with an Ethernet header; the frame is 14 bytes long after. */
static inline void frame_eth(struct frame *f, const uint8_t dst[ETH_ALEN],
			     const uint8_t src[ETH_ALEN], uint16_t proto)
{
	struct ethhdr *eth = frame_eth_hdr(f);

	memset(f, 0, sizeof(*f));
	memcpy(eth->h_dest, dst, ETH_ALEN);
	memcpy(eth->h_source, src, ETH_ALEN);
	eth->h_proto = htons(proto);
	f->len = ETH_HLEN;
}

/* Append @len bytes of a recognisable pattern. */
static inline void frame_put_pattern(struct frame *f, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		f->data[f->len + i] = (uint8_t)(i * 7 + 3);
	f->len += len;
}

/* Zero-pad @f to @min_len bytes, as a NIC pads a short Ethernet frame. */
static inline void frame_pad(struct frame *f, uint32_t min_len)
{
	if (f->len < min_len)
		f->len = min_len;
}

/* Sum of the IPv4 pseudo header (RFC 768, RFC 793). */
static inline uint32_t ipv4_pseudo_sum(const struct iphdr *ip, uint16_t len)
{
	uint32_t sum = csum_add(0, &ip->saddr, 8);

	return sum + ip->protocol + len;
}

static inline size_t l4_hdr_len(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_UDP:
		return sizeof(struct udphdr);
	case IPPROTO_TCP:
		return sizeof(struct tcphdr);
	case IPPROTO_ICMP:
		return sizeof(struct frame_icmp_echo);
	default:
		return 0;
	}
}

static inline void l4_fill_udp(uint8_t *l4, uint16_t len)
{
	struct udphdr *udp = (struct udphdr *)l4;

	udp->source = htons(40000);
	udp->dest = htons(53);
	udp->len = htons(len);
}

static inline void l4_fill_tcp(uint8_t *l4)
{
	struct tcphdr *tcp = (struct tcphdr *)l4;

	tcp->source = htons(40001);
	tcp->dest = htons(80);
	tcp->seq = htonl(0x01020304);
	tcp->ack_seq = htonl(0x0a0b0c0d);
	tcp->doff = 5;
	tcp->ack = 1;
	tcp->psh = 1;
	tcp->window = htons(64240);
}

static inline void l4_fill_icmp(uint8_t *l4)
{
	struct frame_icmp_echo *icmp = (struct frame_icmp_echo *)l4;

	icmp->type = 8; /* echo request */
	icmp->id = htons(0x4242);
	icmp->seq = htons(7);
}

/* Fill the L4 header at @l4 (@len bytes with payload) and its checksum. */
static inline void l4_fill(const struct iphdr *ip, uint8_t *l4, uint16_t len)
{
	switch (ip->protocol) {
	case IPPROTO_UDP:
		l4_fill_udp(l4, len);
		csum_store(&((struct udphdr *)l4)->check,
			   csum_add(ipv4_pseudo_sum(ip, len), l4, len));
		break;
	case IPPROTO_TCP:
		l4_fill_tcp(l4);
		csum_store(&((struct tcphdr *)l4)->check,
			   csum_add(ipv4_pseudo_sum(ip, len), l4, len));
		break;
	case IPPROTO_ICMP:
		l4_fill_icmp(l4);
		csum_store(&((struct frame_icmp_echo *)l4)->check,
			   csum_add(0, l4, len));
		break;
	}
}

/* Recompute the IPv4 header checksum from scratch. */
static inline void ipv4_set_csum(struct iphdr *ip)
{
	ip->check = 0;
	csum_store(&ip->check, csum_add(0, ip, ip->ihl * 4u));
}

/* True if the header (ihl * 4 bytes) sums to 0xffff, as RFC 791 requires. */
static inline bool ipv4_csum_valid(const struct iphdr *ip)
{
	return csum_fold(csum_add(0, ip, ip->ihl * 4u)) == 0xffff;
}

/* NOPs, then End of Option List: options a router just carries. */
static inline void ipv4_fill_options(uint8_t *opt, size_t len)
{
	memset(opt, 1, len);
	if (len)
		opt[len - 1] = 0;
}

/*
 * Append an IPv4 header (with @s->opt_len bytes of options), an L4 header
 * for @s->proto and @s->payload bytes of pattern, all checksums valid.
 * The Ethernet header must already be there.
 */
static inline struct iphdr *frame_ipv4(struct frame *f,
				       const struct ipv4_spec *s)
{
	struct iphdr *ip = frame_ip_hdr(f);
	uint16_t hlen = sizeof(*ip) + s->opt_len;
	uint16_t l4_len = l4_hdr_len(s->proto) + s->payload;
	uint8_t *l4 = (uint8_t *)ip + hlen;

	ip->version = 4;
	ip->ihl = hlen / 4;
	ip->tot_len = htons(hlen + l4_len);
	ip->id = htons(0x1234);
	ip->frag_off = htons(s->frag_off);
	ip->ttl = s->ttl;
	ip->protocol = s->proto;
	ip->saddr = s->saddr;
	ip->daddr = s->daddr;
	ipv4_fill_options((uint8_t *)(ip + 1), s->opt_len);
	f->len = ETH_HLEN + hlen + l4_hdr_len(s->proto);
	frame_put_pattern(f, s->payload);
	l4_fill(ip, l4, l4_len);
	ipv4_set_csum(ip);
	return ip;
}

/*
 * Choose the IP id so that the header checksum, as a host-order number,
 * becomes @want (0xffff: the -0 twin of 0x0000, which a full recomputation
 * never yields but RFC 1624 updates can). Returns false if no id works.
 */
static inline bool ipv4_force_csum(struct iphdr *ip, uint16_t want)
{
	uint16_t target = want == 0xffff ? 0 : want;
	uint32_t id;

	for (id = 0; id <= 0xffff; id++) {
		ip->id = htons((uint16_t)id);
		ipv4_set_csum(ip);
		if (csum_get(&ip->check) == target)
			break;
	}
	if (id > 0xffff)
		return false;
	if (want == 0xffff)
		ip->check = 0xffff;
	return true;
}

/* Append an ARP packet for Ethernet/IPv4 after the Ethernet header. */
static inline struct frame_arp *
frame_arp(struct frame *f, uint16_t op, const uint8_t sha[ETH_ALEN],
	  uint32_t spa, const uint8_t tha[ETH_ALEN], uint32_t tpa)
{
	struct frame_arp *arp = frame_arp_hdr(f);

	arp->htype = htons(1);
	arp->ptype = htons(ETH_P_IP);
	arp->hlen = ETH_ALEN;
	arp->plen = 4;
	arp->op = htons(op);
	memcpy(arp->sha, sha, ETH_ALEN);
	arp->spa = spa;
	memcpy(arp->tha, tha, ETH_ALEN);
	arp->tpa = tpa;
	f->len = FRAME_ARP_LEN;
	return arp;
}

/* Append an IPv6 header (2001:db8::1 -> 2001:db8::2, next header UDP)
 * followed by @payload bytes of pattern. */
static inline void frame_ipv6(struct frame *f, uint16_t payload)
{
	static const uint8_t saddr[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const uint8_t daddr[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	uint8_t *h = f->data + f->len;
	uint16_t plen = htons(payload);

	h[0] = 0x60; /* version 6, traffic class 0, flow label 0 */
	memcpy(h + 4, &plen, sizeof(plen));
	h[6] = IPPROTO_UDP;
	h[7] = 64; /* hop limit */
	memcpy(h + 8, saddr, sizeof(saddr));
	memcpy(h + 24, daddr, sizeof(daddr));
	f->len += FRAME_IPV6_LEN;
	frame_put_pattern(f, payload);
}

/* Offset of the first differing byte of two frames, -1 if identical. */
static inline long frame_diff(const struct frame *a, const struct frame *b)
{
	uint32_t i, n = a->len < b->len ? a->len : b->len;

	for (i = 0; i < n; i++)
		if (a->data[i] != b->data[i])
			return i;
	return a->len == b->len ? -1 : (long)n;
}

#endif /* NSF_TEST_FRAMES_H */
