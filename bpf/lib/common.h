/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Includes and small helpers every nsfast BPF program needs. */
#ifndef NSF_BPF_COMMON_H
#define NSF_BPF_COMMON_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <nsfast/maps.h>
#include <nsfast/reasons.h>

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#endif /* NSF_BPF_COMMON_H */
