// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Per-packet cost of nsf_from_pod, measured with BPF_PROG_TEST_RUN: a 64-byte
 * UDP frame run REPEAT times, the kernel timing each run; prints the mean.
 * Much less noisy than a traffic benchmark on a shared machine, and it
 * isolates the program from the veths around it, so two
 * builds of the program (e.g. main's object and this branch's) can be
 * compared A/B/A/B:
 *
 *   prog_cost OBJ [REPEAT] [policy-pods|world|newflow] [NAT_ENTRIES]
 *
 * OBJ is a pod_ingress.bpf.o; its maps are created unpinned, so nothing
 * outside this process is touched. The frame goes pod to pod, except:
 *  - "policy-pods" sets NSF_POL_F_PODS in nsf_pol_cfg (if the object has
 *    it): policy enabled for some pod group, but not for the two pods;
 *  - "world": pod to world through the SNAT path, one established flow
 *    (the first run creates its NAT entries). bpf_fib_lookup() needs a
 *    route, so the process first moves into a network namespace of its
 *    own (gone when it exits) with an uplink veth, a default route and a
 *    permanent neighbour, and forwarding on lo, the device test_run
 *    receives on.
 *  - "newflow": as "world", but every run is a new flow (the UDP source
 *    and destination ports count up): the cost of creating NAT entries,
 *    in a NAT map of NAT_ENTRIES (default: the object's size).
 * Prints "ns_per_packet N".
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nsfast/maps.h>

static const struct nsf_endpoint ep_a = {
	.ifindex = 1,
	.id = 1,
	.pod_mac = { 2, 0, 0, 0, 0, 1 },
	.host_mac = { 0xee, 0, 0, 0, 0, 1 },
	.flags = NSF_EP_F_LOCAL,
};
static const struct nsf_endpoint ep_b = {
	.ifindex = 4242,
	.id = 2,
	.pod_mac = { 2, 0, 0, 0, 0, 2 },
	.host_mac = { 0xee, 0, 0, 0, 0, 2 },
	.flags = NSF_EP_F_LOCAL,
};

static uint16_t csum(const void *p, size_t len)
{
	const uint16_t *w = p;
	uint32_t s = 0;

	for (size_t i = 0; i < len / 2; i++)
		s += w[i];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* 64 bytes on the wire without FCS: 14 + 20 + 8 + 18 of payload. */
static size_t build(uint8_t *f, uint32_t a, uint32_t b)
{
	struct ethhdr *eth = (void *)f;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *uh = (void *)(ip + 1);

	memset(f, 0, 60);
	memcpy(eth->h_dest, ep_a.host_mac, 6);
	memcpy(eth->h_source, ep_a.pod_mac, 6);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(46);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = a;
	ip->daddr = b;
	ip->check = csum(ip, sizeof(*ip));
	uh->source = htons(40000);
	uh->dest = htons(9);
	uh->len = htons(26);
	return 60;
}

/* The uplink of "world" mode, in a namespace of this process's own. */
static int make_world(uint32_t *uplink)
{
	static const char *const cmds[] = {
		"ip link add pcwan0 type veth peer name pcwan0p",
		"ip link set lo up",
		"ip link set pcwan0 up",
		"ip link set pcwan0p up",
		"ip addr add 10.99.0.2/24 dev pcwan0",
		"ip route add default via 10.99.0.1 dev pcwan0",
		"ip neigh add 10.99.0.1 lladdr 02:00:00:00:99:01 dev pcwan0 "
		"nud permanent",
		"sysctl -q -w net.ipv4.conf.lo.forwarding=1",
	};

	if (unshare(CLONE_NEWNET))
		return perror("unshare(CLONE_NEWNET)"), -1;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (system(cmds[i])) {
			fprintf(stderr, "prog_cost: %s: failed\n", cmds[i]);
			return -1;
		}
	}
	*uplink = if_nametoindex("pcwan0");
	return *uplink ? 0 : -1;
}

static int fd_of(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	return m ? bpf_map__fd(m) : -1;
}

static int set_world_config(struct bpf_object *obj, uint32_t uplink)
{
	struct nsf_config cfg = {
		.pod_net4 = htonl(0x0af40000),
		.pod_mask4 = htonl(0xffff0000),
		.gateway4 = htonl(0xa9fe0101),
		.uplink_ifindex = uplink,
		.snat4 = htonl(0x0a630002),
		.nat_port_min = 1024,
		.nat_port_max = 32767,
	};
	uint32_t zero = 0;
	int fd = fd_of(obj, NSF_MAP_CONFIG);

	return fd < 0 ? -1 : bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY);
}

int main(int argc, char **argv)
{
	uint32_t a = htonl(0x0af40002), b = htonl(0x0af40003), zero = 0;
	int repeat = argc > 2 ? atoi(argv[2]) : 200000, fd, prog;
	bool pods = argc > 3 && !strcmp(argv[3], "policy-pods");
	bool newflow = argc > 3 && !strcmp(argv[3], "newflow");
	bool world = newflow || (argc > 3 && !strcmp(argv[3], "world"));
	long nat_entries = argc > 4 ? atol(argv[4]) : 0;
	struct __sk_buff ctx = { .ifindex = 1, .ingress_ifindex = 1 };
	uint8_t frame[128], out[256];
	struct bpf_object *obj;
	struct bpf_map *map;
	uint64_t total = 0;
	uint32_t uplink = 0;
	size_t len;

	if (argc < 2) {
		fprintf(stderr, "usage: prog_cost OBJ [REPEAT] "
				"[policy-pods|world|newflow] [NAT_ENTRIES]\n");
		return 2;
	}
	if (world && make_world(&uplink))
		return 1;
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj)
		return perror("open"), 1;
	bpf_object__for_each_map(map, obj)
		bpf_map__set_pin_path(map, NULL);
	map = bpf_object__find_map_by_name(obj, NSF_MAP_NAT4);
	if (nat_entries > 0 &&
	    (!map || bpf_map__set_max_entries(map, (uint32_t)nat_entries)))
		return perror("NAT map size"), 1;
	if (bpf_object__load(obj))
		return perror("load"), 1;
	prog = bpf_program__fd(
		bpf_object__find_program_by_name(obj, "nsf_from_pod"));
	fd = fd_of(obj, NSF_MAP_EP4);
	if (bpf_map_update_elem(fd, &a, &ep_a, BPF_ANY) ||
	    bpf_map_update_elem(fd, &b, &ep_b, BPF_ANY))
		return perror("ep4"), 1;
	fd = fd_of(obj, "nsf_ep_ifx");
	if (fd >= 0) {
		bpf_map_update_elem(fd, &ep_a.ifindex, &a, BPF_ANY);
		bpf_map_update_elem(fd, &ep_b.ifindex, &b, BPF_ANY);
	}
	fd = fd_of(obj, NSF_MAP_POL_CFG);
	if (fd >= 0) {
		/* What init leaves: the host closed (a group enforced). */
		struct nsf_pol_cfg pc = { .flags = NSF_POL_F_ACTIVE, .gen = 1 };

		if (pods)
			pc.flags |= NSF_POL_F_PODS;
		bpf_map_update_elem(fd, &zero, &pc, BPF_ANY);
	}
	if (world) {
		if (set_world_config(obj, uplink))
			return perror("config"), 1;
		b = htonl(0x0a630001); /* the world's 10.99.0.1 */
	}
	len = build(frame, a, b);
	/*
	 * One run per call: forwarding rewrites the frame (MACs, TTL), and
	 * test_run's repeat would run the rewritten frame again. The kernel
	 * times each run itself (duration, ns), without the syscall.
	 */
	for (int i = 0; i < repeat; i++) {
		struct udphdr *uh = (void *)(frame + sizeof(struct ethhdr) +
					     sizeof(struct iphdr));

		if (newflow) { /* 1,000 x 64,000 tuples before one repeats */
			/* Destination first: a destination port has room
			 * for only so many flows (the NAT port range). */
			uh->dest = htons((uint16_t)(10000 + i % 1000));
			uh->source =
				htons((uint16_t)(1024 + (i / 1000) % 64000));
		}
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame,
			    .data_size_in = (uint32_t)len, .data_out = out,
			    .data_size_out = sizeof(out), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = 1);

		if (bpf_prog_test_run_opts(prog, &o))
			return perror("test_run"), 1;
		if (o.retval != TC_ACT_REDIRECT) {
			fprintf(stderr, "retval %u, not redirect\n", o.retval);
			return 1;
		}
		total += o.duration;
	}
	printf("ns_per_packet %.1f\n", (double)total / repeat);
	bpf_object__close(obj);
	return 0;
}
