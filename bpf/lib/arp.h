/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ARP responder for the pods' link-local gateway. Pods get a permanent
 * neighbour entry for the gateway at attach time, so this is only a safety
 * net (a pod that flushed its neighbours, a runtime that set up its own):
 * without a bridge nobody else would answer.
 */
#ifndef NSF_BPF_ARP_H
#define NSF_BPF_ARP_H

#include "antispoof.h"
#include "parse.h"
#include "route.h"
#include "stats.h"

/*
 * Turn a request for the gateway into the reply, in place, and send it back
 * out of the veth it came in on (bpf_redirect to the same ifindex egress,
 * which the pod receives). Any ARP must come from the pod's own address
 * and MAC (arp_sender_check, else dropped as drop-spoofed-arp); we answer
 * with that endpoint's host-side MAC.
 */
static __always_inline int
arp_respond(struct __sk_buff *skb, struct ethhdr *eth, struct arp_eth_ipv4 *arp)
{
	struct nsf_endpoint *ep;
	struct nsf_config *cfg;
	__u32 zero = 0;
	__be32 sender;
	int verdict;

	/* Only the pod's own identity, whatever the ARP is for. */
	ep = arp_sender_check(skb, eth, arp, &verdict);
	if (!ep)
		return verdict;
	cfg = bpf_map_lookup_elem(&nsf_config, &zero);
	if (!cfg || arp->op != bpf_htons(ARP_OP_REQUEST) ||
	    arp->tpa != cfg->gateway4)
		goto pass;

	sender = arp->spa;
	arp->op = bpf_htons(ARP_OP_REPLY);
	__builtin_memcpy(arp->tha, arp->sha, ETH_ALEN);
	arp->tpa = sender;
	__builtin_memcpy(arp->sha, ep->host_mac, ETH_ALEN);
	arp->spa = cfg->gateway4;
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, ep->host_mac, ETH_ALEN);
	count_reason(NSF_R_ARP_REPLY, skb->len);
	return bpf_redirect(skb->ifindex, 0);
pass:
	count_reason(NSF_R_PASS_ARP, skb->len);
	return TC_ACT_OK;
}

#endif /* NSF_BPF_ARP_H */
