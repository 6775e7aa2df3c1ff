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

#define VLAN_VID_MASK 0x0fff

/* An 802.1Q/802.1ad tag as it sits in the frame, after the MACs. */
struct vlan_tag {
	__be16 tpid;
	__be16 tci;
};

/*
 * Bytes of a priority tag (802.1Q or 802.1ad, VLAN 0) at the start of the
 * frame, else 0. A priority tag is no VLAN: the kernel takes such a frame
 * as untagged, and so does nsf_uplink_tc, which runs after the kernel
 * moved the tag into the skb. Here the tag is still in the frame, and a
 * reply in it must be found behind it, not passed to the host (which has
 * no socket on the NAT port: it would answer the world with a reset or a
 * port unreachable). A frame of VLAN n stays the host's VLAN devices'.
 */
static __always_inline __u32 xdp_prio_tag(void *data, void *data_end)
{
	struct vlan_tag *tag = data + 2 * ETH_ALEN;

	if ((void *)(tag + 1) > data_end)
		return 0;
	if (tag->tpid != bpf_htons(ETH_P_8021Q) &&
	    tag->tpid != bpf_htons(ETH_P_8021AD))
		return 0;
	return tag->tci & bpf_htons(VLAN_VID_MASK) ? 0 : sizeof(*tag);
}

static __always_inline int uplink_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct nsf_config *cfg = config();
	enum nsf_reason reason;
	__u32 len, tag;
	struct rnat r;

	if (!cfg || !cfg->snat4)
		return XDP_PASS;
	/*
	 * Behind a priority tag, the frame is parsed from 4 bytes on: its
	 * Ethernet header then ends with the inner EtherType, and the MACs
	 * the rewrite writes there land where the untagged frame will start
	 * once the tag is cut off below. Counted without the tag, as the tc
	 * program counts it (skb->len).
	 */
	tag = xdp_prio_tag(data, data_end);
	len = data_end - data - tag;
	if (!rnat_find(data + tag, data_end, len, cfg, &r, &reason)) {
		count_reason(reason, len);
		return reason == NSF_R_PASS_HOST ? XDP_PASS : XDP_DROP;
	}
	rnat_rewrite_direct(&r);
	/* The pod gets the frame untagged, as from the tc program. */
	if (tag && bpf_xdp_adjust_head(ctx, (int)tag)) {
		count_reason(NSF_R_DROP_REWRITE, len);
		return XDP_DROP;
	}
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
