/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Includes and small helpers every nsfast BPF program needs. */
#ifndef NSF_BPF_COMMON_H
#define NSF_BPF_COMMON_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <nsfast/maps.h>
#include <nsfast/reasons.h>

#ifndef likely
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

/* Compare two MAC addresses as one 32-bit and one 16-bit load. */
static __always_inline bool mac_equal(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

/*
 * The time stamped on NAT and connection-tracking entries. Their only
 * reader is idle expiry (seconds), so the clock of the last tick does:
 * bpf_ktime_get_coarse_ns() reads the timekeeper's stored value, where
 * bpf_ktime_get_ns() reads the clock source, ~60 ns per call in a VM.
 * Both count CLOCK_MONOTONIC; the coarse one lags it by under a tick,
 * so user space's now - stamp is never negative.
 */
static __always_inline __u64 nsf_now(void)
{
	return bpf_ktime_get_coarse_ns();
}

#endif /* NSF_BPF_COMMON_H */
