// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * XDP on the uplink: replies to masqueraded flows are un-masqueraded and
 * redirected into their pod before the kernel allocates an skb for them;
 * everything else (the host's own traffic) passes untouched.
 *
 * The redirect goes through a devmap to the pod's host-side veth, which
 * transmits to its peer in the pod. A veth only accepts XDP frames when
 * the receiving peer runs NAPI, so attach turns GRO on for the pod side.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/rnat.h"
#include "lib/monitor.h"

static __always_inline int uplink_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	struct nsf_config *cfg = config();
	enum nsf_reason reason;
	struct rnat r;

	if (!cfg || !cfg->snat4)
		return XDP_PASS;
	if (!rnat_find(data, data_end, len, cfg, &r, &reason)) {
		count_reason(reason, len);
		return reason == NSF_R_PASS_HOST ? XDP_PASS : XDP_DROP;
	}
	rnat_rewrite_direct(&r);
	/* A pod veth missing from the devmap is an inconsistency: drop and
	 * say so, rather than XDP_ABORTED after counting it delivered. */
	if (bpf_redirect_map(&nsf_tx_ports, r.ep->ifindex, XDP_DROP) !=
	    XDP_REDIRECT) {
		count_reason(NSF_R_DROP_NO_ENDPOINT, len);
		return XDP_DROP;
	}
	count_reason(reason, len);
	count_ep(r.ep, NSF_EP_TO_POD, len);
	return XDP_REDIRECT;
}

SEC("xdp")
int nsf_uplink_xdp(struct xdp_md *ctx)
{
	int verdict;

	mon_begin_xdp(ctx, NSF_HOOK_UPLINK_XDP);
	verdict = uplink_xdp(ctx);
	mon_end();
	return verdict;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
