/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The uplink: the host's physical NIC (in tests, a veth to a "world"
 * namespace). Pod traffic leaves through it masqueraded to its address;
 * replies come back through the ingress NAT program attached to it (XDP,
 * or tc where XDP is off or unsupported).
 */
#ifndef NSF_UPLINK_H
#define NSF_UPLINK_H

#include "state.h"

/* Fill cfg->uplink_ifindex and, unless @snat_ip, learn cfg->snat from the
 * uplink's first global IPv4 address. Checks the NAT port range against
 * the host's ip_local_port_range, so masquerading never takes a port the
 * host's own connections may pick. */
int nsf_uplink_resolve(struct nsf_host_config *cfg, const char *snat_ip);
/* Attach the ingress NAT program (replacing ours atomically); falls back
 * to tc when native XDP is not supported, recorded in cfg->uplink_tc. */
int nsf_uplink_attach(const struct nsf_host *h, struct nsf_host_config *cfg);
/* Remove our programs (and a clsact qdisc init created) from the uplink. */
int nsf_uplink_detach(const struct nsf_host_config *cfg);

#endif /* NSF_UPLINK_H */
