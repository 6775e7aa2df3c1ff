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

#endif /* NSF_BPF_CSUM_H */
