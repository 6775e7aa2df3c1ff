/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The three datapath programs loaded together for a test, as `nsfast init`
 * loads them but without pins: pod_ingress creates the maps, uplink_xdp and
 * uplink_tc reuse them by name. Include after testlib.h.
 */
#ifndef NSF_TEST_DATAPATH_H
#define NSF_TEST_DATAPATH_H

#include <nsfast/maps.h>

#include "pod_ingress.skel.h"
#include "testlib.h"
#include "uplink_tc.skel.h"
#include "uplink_xdp.skel.h"

/*
 * Open and load the three programs into *@pod, *@xdp and *@tc (the caller
 * destroys them, also on failure). @nat_entries, if not 0, sizes the NAT
 * table. 0 or a negative error.
 */
static inline int datapath_load(struct pod_ingress **pod,
				struct uplink_xdp **xdp, struct uplink_tc **tc,
				uint32_t nat_entries)
{
	int err;

	*pod = pod_ingress__open();
	*xdp = uplink_xdp__open();
	*tc = uplink_tc__open();
	if (!*pod || !*xdp || !*tc)
		return -errno ?: -ENOMEM;
	err = unpin_all((*pod)->obj);
	if (!err && nat_entries)
		err = bpf_map__set_max_entries((*pod)->maps.nsf_nat4,
					       nat_entries);
	err = err ?: pod_ingress__load(*pod);
	err = err ?: reuse_maps((*xdp)->obj, (*pod)->obj);
	err = err ?: uplink_xdp__load(*xdp);
	err = err ?: reuse_maps((*tc)->obj, (*pod)->obj);
	err = err ?: uplink_tc__load(*tc);
	return err;
}

/* A local pod's endpoint: its veth @ifindex, @id, the pod's eth0 MAC
 * @pod_mac and the host end's @host_mac. */
static inline struct nsf_endpoint local_endpoint(int ifindex, uint32_t id,
						 const uint8_t *pod_mac,
						 const uint8_t *host_mac)
{
	struct nsf_endpoint ep = { .ifindex = (uint32_t)ifindex,
				   .id = id,
				   .flags = NSF_EP_F_LOCAL };

	memcpy(ep.pod_mac, pod_mac, ETH_ALEN);
	memcpy(ep.host_mac, host_mac, ETH_ALEN);
	return ep;
}

#endif /* NSF_TEST_DATAPATH_H */
