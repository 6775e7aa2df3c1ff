/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Routes to other nodes' pod CIDRs (`nsfast route`): native routing as a
 * Kubernetes node needs it. The datapath side is bpf/lib/remote.h; here:
 * validation, the LPM trie nsf_routes4 and the record <state>/routes.json
 * (what `init` restores). Callers hold the host lock.
 */
#ifndef NSF_ROUTES_H
#define NSF_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "state.h"

struct nsf_route {
	struct nsf_cidr4 cidr; /* another node's pod CIDR */
	uint32_t via;	       /* that node's address, host order */
};

/*
 * Add a route: the BPF route, a /32 entry for the node's own address (so
 * pods reach other nodes without NAT too) and the same route in the
 * kernel's main table (the host's own traffic). Refused: a node the
 * kernel cannot route to, a default route, a CIDR that overlaps a range
 * no pod CIDR can be in (nsf_cidr4_reserved) or the local pod CIDR, a CIDR
 * routed already (the same route again is a no-op), a via that is not a
 * unicast address, lies in the local pod CIDR or the routed CIDR, or is
 * this host's own uplink address.
 */
int nsf_route_add(const struct nsf_host *h, const struct nsf_route *r);
/* Remove the route of exactly @cidr (-ENOENT if none). */
int nsf_route_del(const struct nsf_host *h, const struct nsf_cidr4 *cidr);
/* All routes, sorted by address and prefix; free(*list). */
int nsf_route_list(const struct nsf_host *h, struct nsf_route **list,
		   size_t *count);
/* Before `init` applies @cfg: refuse a pod CIDR (or uplink address) that
 * conflicts with a recorded route. */
int nsf_route_check(const struct nsf_host *h,
		    const struct nsf_host_config *cfg);
/* After `init` loaded the programs: write the recorded routes into the
 * map again. */
int nsf_route_restore(const struct nsf_host *h);
/* Remove the kernel routes `route add` installed (reset). */
int nsf_route_teardown(const struct nsf_host *h);

#endif /* NSF_ROUTES_H */
