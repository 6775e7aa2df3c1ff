/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Destinations a pod's packet must not be routed to by the fast path,
 * whatever bpf_fib_lookup() answers. The FIB knows nothing of the limited
 * broadcast or multicast (ip_route_input() handles those before it looks),
 * so it would send them out of the default route, masqueraded; and
 * addresses of the pod CIDR that no pod holds (free ones, the network and
 * broadcast addresses) belong to nsfast: they must not leak to the uplink.
 */
#ifndef NSF_BPF_MARTIAN_H
#define NSF_BPF_MARTIAN_H

#include "common.h"

/*
 * Whether @ip's destination (no local endpoint has it) is one of those;
 * then *reason says what to do: PASS_NOT_UNICAST (limited broadcast,
 * multicast, class E, 0.0.0.0/8: the kernel delivers or drops them as a
 * host would) or DROP_NO_POD (in the pod CIDR).
 */
static __always_inline bool martian_dst(const struct iphdr *ip,
					const struct nsf_config *cfg,
					enum nsf_reason *reason)
{
	__u32 dst = bpf_ntohl(ip->daddr);

	if ((dst >> 28) >= 0xe || (dst >> 24) == 0) {
		*reason = NSF_R_PASS_NOT_UNICAST;
		return true;
	}
	if (cfg && cfg->pod_mask4 &&
	    (ip->daddr & cfg->pod_mask4) == cfg->pod_net4) {
		*reason = NSF_R_DROP_NO_POD;
		return true;
	}
	return false;
}

#endif /* NSF_BPF_MARTIAN_H */
