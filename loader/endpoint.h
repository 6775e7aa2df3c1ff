/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Endpoint lifecycle: everything it takes to put a pod on the fast path and
 * to take it off again. Shared by the CLI (attach/detach/reset) and, later,
 * the CNI plugin. The caller holds the host lock.
 */
#ifndef NSF_ENDPOINT_H
#define NSF_ENDPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "maps.h"
#include "state.h"

struct nsf_attach_req {
	const char *name;	/* endpoint name */
	const char *netns_path; /* runtime-made namespace; NULL: named @name */
	const char *ifname;	/* pod-side interface name */
	uint32_t ip;		/* requested address, 0 = allocate */
	bool ip_claimed;	/* @ip is already held by @name in the
				 * address pool (the CNI IPAM claimed it);
				 * a failed attach still releases it */
};

enum nsf_attach_result {
	NSF_ATTACH_CREATED,
	NSF_ATTACH_EXISTS, /* same request seen before: nothing done */
};

/*
 * Create the endpoint: address, namespace (if absent), veth pair, pod and
 * host addressing, routes and neighbours, map entries and the tc program.
 * On failure everything this call created is removed again. *rec holds the
 * endpoint on success.
 */
int nsf_endpoint_attach(const struct nsf_host *h,
			const struct nsf_host_config *cfg,
			const struct nsf_attach_req *req,
			struct nsf_ep_rec *rec, enum nsf_attach_result *res);

/* Remove everything of endpoint @rec; parts already gone are fine. */
int nsf_endpoint_detach(const struct nsf_host *h, const struct nsf_ep_rec *rec);

/* After init: @prog_fd on @rec's veth, plus the forwarding setting and
 * XDP redirect target an endpoint attached before the uplink may lack. */
int nsf_endpoint_reattach(const struct nsf_host *h, int prog_fd,
			  const struct nsf_ep_rec *rec);

#endif /* NSF_ENDPOINT_H */
