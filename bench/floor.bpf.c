// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The floor: the least any tc forwarder on a pod's host-side veth can do,
 * for bench/floor.sh. It is not a datapath: no routing, no NAT, no
 * policy, no checks beyond what the verifier needs. Whatever rate it
 * reaches bounds what a real forwarder (nsfast, Cilium, Calico) can reach
 * on the same hook, because each of them does this and more.
 *
 *   pod B's address -> bpf_redirect_peer() into pod B; anything else ->
 *   MACs rewritten, bpf_redirect() out of the uplink, unchanged (no SNAT,
 *   no TTL decrement).
 *   With FLOOR_TRACK=1, every packet to the world first looks up its
 *   5-tuple in an LRU hash and inserts it when missing: the cost of
 *   making one entry per new flow, the least state any NAT needs (nsfast
 *   makes two).
 *
 * The addresses, ifindexes and MACs come from floor.sh as -D macros
 * (FLOOR_*), so the program needs no map but the flow table. One program
 * per object, in section "tc", which is what tc(8) loads.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#if !defined(FLOOR_POD_B) || !defined(FLOOR_POD_B_IFINDEX) ||           \
	!defined(FLOOR_POD_B_MAC) || !defined(FLOOR_VPB_MAC) ||         \
	!defined(FLOOR_UPLINK_IFINDEX) || !defined(FLOOR_UPLINK_MAC) || \
	!defined(FLOOR_WORLD_MAC) || !defined(FLOOR_ENTRIES) ||         \
	!defined(FLOOR_TRACK)
#error "floor.bpf.c is built by bench/floor.sh, which defines FLOOR_*"
#endif

/* The 5-tuple, as nsfast's NAT key has it (same size, 16 bytes). */
struct floor_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* As large as nsfast's NAT entry (48 bytes), so an insert copies as much. */
struct floor_val {
	__u64 packets;
	__u64 pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FLOOR_ENTRIES);
	__type(key, struct floor_key);
	__type(value, struct floor_val);
} floor_flows SEC(".maps");

/* A MAC given as a 48-bit number, stored as immediates: no .rodata. */
static __always_inline void set_mac(__u8 *p, __u64 mac)
{
	int i;

	for (i = 0; i < ETH_ALEN; i++)
		p[i] = mac >> (8 * (ETH_ALEN - 1 - i));
}

/* One entry per 5-tuple: a lookup, and an insert when it is missing. */
static __always_inline void floor_track(const struct iphdr *ip, void *data_end)
{
	const __be16 *ports = (const void *)(ip + 1);
	struct floor_key key = {};
	struct floor_val val = { .packets = 1 };
	struct floor_val *v;

	if ((void *)(ports + 2) > data_end)
		return;
	key.saddr = ip->saddr;
	key.daddr = ip->daddr;
	key.sport = ports[0];
	key.dport = ports[1];
	key.proto = ip->protocol;
	v = bpf_map_lookup_elem(&floor_flows, &key);
	if (v) {
		v->packets++;
		return;
	}
	bpf_map_update_elem(&floor_flows, &key, &val, BPF_NOEXIST);
}

/* Ethernet, IPv4 without options, the two ports: all the floor reads. */
#define FLOOR_HDRS (sizeof(struct ethhdr) + sizeof(struct iphdr) + 4)

SEC("tc")
int floor_forward(struct __sk_buff *skb)
{
	__u32 need = skb->len < FLOOR_HDRS ? skb->len : FLOOR_HDRS;
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;

	/*
	 * trafgen's AF_PACKET TX ring builds skbs with only the MAC header
	 * linear: pull what is read, as every tc forwarder must (nsfast's
	 * pull_headers()). The pull invalidates packet pointers, so they are
	 * loaded after it.
	 */
	if ((void *)(long)skb->data + need > (void *)(long)skb->data_end &&
	    bpf_skb_pull_data(skb, need))
		return TC_ACT_OK;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (ip->daddr == FLOOR_POD_B) {
		/* redirect_peer lands in pod B's stack: its MAC, or the
		 * frame is PACKET_OTHERHOST there and dropped. */
		set_mac(eth->h_dest, FLOOR_POD_B_MAC);
		set_mac(eth->h_source, FLOOR_VPB_MAC);
		return bpf_redirect_peer(FLOOR_POD_B_IFINDEX, 0);
	}
	if (FLOOR_TRACK)
		floor_track(ip, data_end);
	set_mac(eth->h_dest, FLOOR_WORLD_MAC);
	set_mac(eth->h_source, FLOOR_UPLINK_MAC);
	return bpf_redirect(FLOOR_UPLINK_IFINDEX, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
