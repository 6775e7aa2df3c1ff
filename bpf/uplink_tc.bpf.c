// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tc ingress on the uplink: the same job as nsf_uplink_xdp where XDP is
 * off or unsupported. The packet already is an skb, so it is handed
 * straight into the pod's namespace with bpf_redirect_peer().
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/rnat.h"
#include "lib/monitor.h"

#define VLAN_VID_MASK 0x0fff

/*
 * A frame of VLAN n is the host's (its VLAN device's), as XDP, which sees
 * the tag, leaves it. Here the kernel has moved the tag into the skb
 * already (skb_vlan_untag(), before tc), so the headers look untagged and
 * a redirect would hand the pod the frame, tag and all. A priority tag
 * (VLAN 0) is no VLAN: the kernel takes such a frame as untagged, so
 * do we.
 */
static __always_inline bool uplink_vlan(const struct __sk_buff *skb)
{
	return skb->vlan_present && (skb->vlan_tci & VLAN_VID_MASK);
}

static __always_inline int uplink_tc(struct __sk_buff *skb)
{
	struct nsf_config *cfg = config();
	__u32 len = skb->len;
	enum nsf_reason reason;
	struct rnat r;

	if (!cfg || !cfg->snat4 || pull_headers(skb))
		return TC_ACT_OK;
	if (unlikely(uplink_vlan(skb))) {
		count_reason(NSF_R_PASS_HOST, len);
		return TC_ACT_OK;
	}
	if (!rnat_find((void *)(long)skb->data, (void *)(long)skb->data_end,
		       len, cfg, &r, &reason)) {
		count_reason(reason, len);
		return reason == NSF_R_PASS_HOST ? TC_ACT_OK : TC_ACT_SHOT;
	}
	if (rnat_rewrite_skb(skb, &r)) {
		count_reason(NSF_R_DROP_REWRITE, len);
		return TC_ACT_SHOT;
	}
	count_reason(reason, len);
	count_ep(r.ep, NSF_EP_TO_POD, len);
	/* r.ep is a map value: still valid after the helpers moved data. */
	return bpf_redirect_peer(r.ep->ifindex, 0);
}

SEC("tc")
int nsf_uplink_tc(struct __sk_buff *skb)
{
	int verdict;

	mon_begin_skb(skb, NSF_HOOK_UPLINK_TC);
	verdict = uplink_tc(skb);
	mon_end();
	return verdict;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
