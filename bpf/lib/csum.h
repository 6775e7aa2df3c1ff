/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Incremental checksum updates (RFC 1624) for headers we rewrite in place. */
#ifndef NSF_BPF_CSUM_H
#define NSF_BPF_CSUM_H

#include "common.h"

/*
 * Decrement the TTL and patch the header checksum, exactly as the kernel's
 * ip_decrease_ttl(): the TTL is the high byte of a 16-bit word, so the sum
 * grows by 0x0100 (network order) with the end-around carry folded in.
 */
static __always_inline void ipv4_decrease_ttl(struct iphdr *ip)
{
	__u32 check = (__u32)ip->check;

	check += (__u32)bpf_htons(0x0100);
	ip->check = (__sum16)(check + (check >= 0xFFFF));
	ip->ttl--;
}

/* Fold a 32-bit one's complement sum to 16 bits. */
static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/*
 * Whether the IPv4 header checksum is valid, as ip_rcv() insists before
 * forwarding. The fixed 20 bytes are summed straight from the struct (the
 * caller checked ip + 1 <= data_end); options, if any, are walked with a
 * pointer checked at every step, the form the verifier can follow.
 */
static __always_inline bool ipv4_csum_ok(const struct iphdr *ip,
					 const void *data_end)
{
	const __u16 *word = (const __u16 *)ip;
	__u32 opt_words = (ip->ihl - 5) * 2, sum = 0;

#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += word[i];
	word += 10;
	for (__u32 i = 0; i < 20; i++) { /* up to 40 bytes of options */
		if (i >= opt_words)
			break;
		/* Keep clang from turning the pointer check into an index
		 * comparison, which the verifier cannot tie to the packet. */
		asm volatile("" : "+r"(word));
		if ((const void *)(word + 1) > data_end)
			return false;
		sum += *word++;
	}
	return csum_fold32(sum) == 0xffff;
}

/*
 * Incremental update of a 16-bit one's complement checksum when one 16-bit
 * word of the data it covers changes from @old to @new (RFC 1624, eqn. 3:
 * HC' = ~(~HC + ~m + m')). One's complement sums do not depend on byte
 * order as long as every word is taken the same way, so values are used
 * exactly as they sit in the packet. For XDP, where no kernel helper does
 * this; it assumes the field holds a complete checksum, as a NIC delivers.
 */
static __always_inline void csum_replace2(__sum16 *sum, __u16 old, __u16 new)
{
	__u32 s = (__u16) ~*sum;

	s += (__u16)~old;
	s += new;
	*sum = (__sum16)~csum_fold32(s);
}

static __always_inline void csum_replace4(__sum16 *sum, __u32 old, __u32 new)
{
	csum_replace2(sum, (__u16)old, (__u16) new);
	csum_replace2(sum, (__u16)(old >> 16), (__u16)(new >> 16));
}

/* UDP's checksum 0 means "none": leave it alone, and never produce 0. */
static __always_inline void udp_csum_replace4(__sum16 *sum, __u32 old,
					      __u32 new)
{
	if (!*sum)
		return;
	csum_replace4(sum, old, new);
	if (!*sum)
		*sum = (__sum16)0xffff;
}

static __always_inline void udp_csum_replace2(__sum16 *sum, __u16 old,
					      __u16 new)
{
	if (!*sum)
		return;
	csum_replace2(sum, old, new);
	if (!*sum)
		*sum = (__sum16)0xffff;
}

#endif /* NSF_BPF_CSUM_H */
