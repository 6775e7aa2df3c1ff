// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The seed corpus of the datapath fuzzer (tests/fuzz/corpus), built with the
 * frame builders of the BPF tests: `fuzz_datapath --write-corpus DIR`.
 * Addresses, ports and NAT ports match the map state fuzz_datapath.c sets
 * up, so the seeds reach every branch: pod-to-pod, masquerading, replies
 * and ICMP errors for existing flows, and the malformed cases around them.
 * Each file is one metadata byte (see fuzz_datapath.c) and the frame.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <nsfast/maps.h>

#include "../bpf/frames.h"
#include "../bpf/nat_frames.h"
#include "../bpf/testlib.h"

#define HIP(a, b, c, d) \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

static const uint8_t mac_bcast[ETH_ALEN] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff
};
static const uint8_t mac_zero[ETH_ALEN] = { 0 };

static const char *out_dir;
static int written, failed;

static void save(const char *name, uint8_t meta, const struct frame *f)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	fp = fopen(path, "wb");
	if (!fp || fputc(meta, fp) == EOF ||
	    fwrite(f->data, 1, f->len, fp) != f->len) {
		fprintf(stderr, "seeds: %s: %s\n", path, strerror(errno));
		failed++;
	} else {
		written++;
	}
	if (fp)
		fclose(fp);
}

/* An IPv4 frame from a pod (meta 0: sent on pod0, 1: on pod1). */
static struct iphdr *pod_ip(struct frame *f, int pod, uint32_t src,
			    uint32_t dst, uint8_t proto, uint16_t payload)
{
	struct ipv4_spec s = { .saddr = htonl(src),
			       .daddr = htonl(dst),
			       .proto = proto,
			       .ttl = 64,
			       .payload = payload };

	frame_eth(f, pod ? mac_pod1 : mac_pod0, pod ? mac_pod1p : mac_pod0p,
		  ETH_P_IP);
	return frame_ipv4(f, &s);
}

/* An IPv4 frame arriving on the uplink. */
static struct iphdr *wan_ip(struct frame *f, uint32_t src, uint32_t dst,
			    uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct ipv4_spec s = { .saddr = htonl(src),
			       .daddr = htonl(dst),
			       .proto = proto,
			       .ttl = 57,
			       .payload = 16 };
	struct iphdr *ip;

	frame_eth(f, mac_wan0, mac_gw, ETH_P_IP);
	ip = frame_ipv4(f, &s);
	nf_set_sport(ip, sport);
	nf_set_dport(ip, dport);
	nf_set_csums(ip);
	return ip;
}

static void set_tcp_flags(struct iphdr *ip, uint8_t flags)
{
	nf_l4(ip)[13] = flags;
	nf_set_csums(ip);
}

static void pod_seeds(void)
{
	const uint32_t a = HIP(10, 244, 0, 2), b = HIP(10, 244, 0, 3);
	const uint32_t peer = HIP(198, 18, 0, 10);
	struct iphdr *ip;
	struct frame f;

	frame_eth(&f, mac_bcast, mac_pod0p, ETH_P_ARP);
	frame_arp(&f, 1, mac_pod0p, htonl(a), mac_zero, htonl(NSF_GATEWAY4));
	save("pod-arp-gateway", 0, &f);
	frame_arp(&f, 1, mac_pod0p, htonl(a), mac_zero, htonl(b));
	save("pod-arp-other", 0, &f);
	frame_arp(&f, 2, mac_pod0p, htonl(a), mac_pod0, htonl(NSF_GATEWAY4));
	save("pod-arp-reply", 0, &f);

	pod_ip(&f, 0, a, b, IPPROTO_ICMP, 32);
	save("pod-icmp-a-b", 0, &f);
	pod_ip(&f, 0, a, b, IPPROTO_UDP, 20);
	save("pod-udp-a-b", 0, &f);
	ip = pod_ip(&f, 0, a, b, IPPROTO_TCP, 0);
	set_tcp_flags(ip, NF_TCP_SYN);
	save("pod-tcp-syn-a-b", 0, &f);
	pod_ip(&f, 1, b, a, IPPROTO_TCP, 40);
	save("pod-tcp-b-a", 1, &f);
	pod_ip(&f, 1, a, b, IPPROTO_UDP, 8);
	save("pod-spoofed-a-on-pod1", 1, &f);
	pod_ip(&f, 3, a, b, IPPROTO_UDP, 8);
	save("pod-foreign-iface", 3, &f);

	ip = pod_ip(&f, 0, a, peer, IPPROTO_TCP, 0);
	set_tcp_flags(ip, NF_TCP_SYN);
	nf_set_sport(ip, 45000);
	nf_set_csums(ip);
	save("pod-tcp-syn-world", 0, &f);
	ip = pod_ip(&f, 0, a, peer, IPPROTO_TCP, 0);
	set_tcp_flags(ip, NF_TCP_SYN | NF_TCP_FIN);
	save("pod-tcp-synfin-world", 0, &f);
	ip = pod_ip(&f, 0, a, peer, IPPROTO_TCP, 0);
	nf_set_dport(ip, 443);
	set_tcp_flags(ip, 0);
	save("pod-tcp-null-existing", 0, &f);
	pod_ip(&f, 0, a, peer, IPPROTO_UDP, 30);
	save("pod-udp-existing", 0, &f);
	pod_ip(&f, 0, a, peer, IPPROTO_UDP, 0);
	save("pod-udp-empty", 0, &f);
	pod_ip(&f, 0, a, peer, IPPROTO_ICMP, 56);
	save("pod-icmp-echo-existing", 0, &f);
	pod_ip(&f, 0, a, HIP(192, 0, 2, 7), IPPROTO_UDP, 8);
	save("pod-udp-other-iface", 0, &f);
	pod_ip(&f, 0, a, HIP(198, 51, 100, 7), IPPROTO_UDP, 8);
	save("pod-udp-no-neigh", 0, &f);
	ip = pod_ip(&f, 0, a, HIP(203, 0, 113, 7), IPPROTO_UDP, 420);
	ip->frag_off = htons(0x4000);
	ipv4_set_csum(ip);
	save("pod-udp-too-big-df", 0, &f);
	pod_ip(&f, 0, a, HIP(203, 0, 113, 7), IPPROTO_UDP, 420);
	save("pod-udp-too-big", 0, &f);
	pod_ip(&f, 0, a, peer, 47, 24);
	save("pod-gre-world", 0, &f);

	{
		struct ipv4_spec s = { .saddr = htonl(a),
				       .daddr = htonl(peer),
				       .proto = IPPROTO_TCP,
				       .ttl = 64,
				       .opt_len = 8,
				       .payload = 10 };

		frame_eth(&f, mac_pod0, mac_pod0p, ETH_P_IP);
		frame_ipv4(&f, &s);
		save("pod-tcp-ip-options", 0, &f);
		s.opt_len = 0;
		s.proto = IPPROTO_UDP;
		s.frag_off = 0x2000; /* first fragment */
		s.payload = 64;
		frame_ipv4(&f, &s);
		save("pod-udp-frag-first", 0, &f);
		s.frag_off = 0x0008; /* a later one */
		frame_ipv4(&f, &s);
		save("pod-udp-frag-last", 0, &f);
		s.ttl = 1;
		s.frag_off = 0;
		frame_ipv4(&f, &s);
		save("pod-udp-ttl1", 0, &f);
		s.daddr = htonl(b);
		s.ttl = 0;
		frame_ipv4(&f, &s);
		save("pod-udp-ttl0-local", 0, &f);
	}
	ip = pod_ip(&f, 0, a, b, IPPROTO_UDP, 8);
	ip->ihl = 4;
	save("pod-bad-ihl", 0, &f);
	ip = pod_ip(&f, 0, a, b, IPPROTO_UDP, 8);
	ip->tot_len = htons(400);
	ipv4_set_csum(ip);
	save("pod-bad-totlen", 0, &f);
	ip = pod_ip(&f, 0, a, peer, IPPROTO_UDP, 8);
	ip->check ^= 0x0101;
	save("pod-bad-ipcsum", 0, &f);
	ip = pod_ip(&f, 0, a, peer, IPPROTO_UDP, 8);
	nf_l4(ip)[6] ^= 0x55;
	save("pod-bad-udpcsum", 0, &f);
	pod_ip(&f, 0, a, peer, IPPROTO_UDP, 8);
	f.len = ETH_HLEN + 12;
	save("pod-truncated-ip", 0, &f);
	ip = pod_ip(&f, 0, a, peer, IPPROTO_UDP, 3);
	frame_pad(&f, 60);
	save("pod-udp-padded", 0, &f);
	ip = pod_ip(&f, 0, a, peer, IPPROTO_UDP, 0);
	ip->tot_len = htons(24); /* UDP header in the padding only */
	ipv4_set_csum(ip);
	frame_pad(&f, 60);
	save("pod-udp-header-in-padding", 0, &f);
	pod_ip(&f, 0, a, b, IPPROTO_UDP, 8);
	memcpy(frame_eth_hdr(&f)->h_dest, mac_bcast, ETH_ALEN);
	save("pod-l2-broadcast", 0, &f);
	pod_ip(&f, 0, a, HIP(10, 244, 255, 255), IPPROTO_UDP, 8);
	save("pod-udp-to-broadcast", 0, &f);
	frame_eth(&f, mac_pod0, mac_pod0p, ETH_P_IPV6);
	frame_ipv6(&f, 8);
	save("pod-ipv6", 0, &f);
	{
		struct frame q;

		ip = pod_ip(&q, 0, peer, a, IPPROTO_UDP, 8);
		frame_eth(&f, mac_pod0, mac_pod0p, ETH_P_IP);
		frame_icmp_error(&f, htonl(a), htonl(peer), 64,
				 NF_ICMP_DEST_UNREACH, NF_ICMP_PORT_UNREACH, ip,
				 28);
		save("pod-icmp-error-world", 0, &f);
	}
}

static void wan_seeds(void)
{
	const uint32_t snat = HIP(10, 99, 0, 2), peer = HIP(198, 18, 0, 10);
	const uint32_t router = HIP(198, 18, 7, 1);
	struct iphdr *ip;
	struct frame f, q;

	wan_ip(&f, peer, snat, IPPROTO_UDP, 53, 61000);
	save("wan-udp-reply", 0, &f);
	ip = wan_ip(&f, peer, snat, IPPROTO_TCP, 443, 61001);
	set_tcp_flags(ip, NF_TCP_SYN | NF_TCP_ACK);
	save("wan-tcp-synack-reply", 0, &f);
	ip = wan_ip(&f, peer, snat, IPPROTO_TCP, 443, 61001);
	set_tcp_flags(ip, 0x29); /* FIN PSH URG: xmas */
	save("wan-tcp-xmas-reply", 0, &f);
	ip = wan_ip(&f, peer, snat, IPPROTO_ICMP, 61002, 0);
	nf_l4(ip)[0] = NF_ICMP_ECHOREPLY;
	nf_set_csums(ip);
	save("wan-icmp-echo-reply", 0, &f);
	wan_ip(&f, peer, snat, IPPROTO_UDP, 53, 61003);
	save("wan-reply-pod-gone", 0, &f);
	ip = wan_ip(&f, peer, snat, IPPROTO_UDP, 53, 61000);
	ip->ttl = 1;
	ipv4_set_csum(ip);
	save("wan-reply-ttl1", 0, &f);
	wan_ip(&f, peer, snat, IPPROTO_UDP, 53, 61050);
	save("wan-host-traffic", 0, &f);
	ip = wan_ip(&f, peer, snat, IPPROTO_UDP, 53, 61000);
	ip->frag_off = htons(0x2000);
	ipv4_set_csum(ip);
	save("wan-reply-fragment", 0, &f);
	ip = wan_ip(&f, peer, snat, IPPROTO_UDP, 53, 61000);
	nf_l4(ip)[6] = 0;
	nf_l4(ip)[7] = 0;
	save("wan-udp-reply-nocsum", 0, &f);
	/* Behind a priority tag (802.1Q, PCP 5, VLAN 0): still a reply. */
	wan_ip(&f, peer, snat, IPPROTO_UDP, 53, 61000);
	memmove(f.data + 2 * ETH_ALEN + 4, f.data + 2 * ETH_ALEN,
		f.len - 2 * ETH_ALEN);
	nf_put16(f.data + 2 * ETH_ALEN, ETH_P_8021Q);
	nf_put16(f.data + 2 * ETH_ALEN + 2, 0xa000);
	f.len += 4;
	save("wan-udp-reply-prio-tag", 0, &f);
	{
		struct ipv4_spec s = { .saddr = htonl(peer),
				       .daddr = htonl(snat),
				       .proto = IPPROTO_UDP,
				       .ttl = 50,
				       .opt_len = 12,
				       .payload = 4 };

		frame_eth(&f, mac_wan0, mac_gw, ETH_P_IP);
		ip = frame_ipv4(&f, &s);
		nf_set_sport(ip, 53);
		nf_set_dport(ip, 61000);
		nf_set_csums(ip);
		save("wan-udp-reply-options", 0, &f);
	}
	/* ICMP errors quoting what we sent: SNAT:port -> peer. */
	ip = wan_ip(&q, snat, peer, IPPROTO_UDP, 61000, 53);
	frame_eth(&f, mac_wan0, mac_gw, ETH_P_IP);
	frame_icmp_error(&f, htonl(router), htonl(snat), 60,
			 NF_ICMP_DEST_UNREACH, NF_ICMP_PORT_UNREACH, ip, 28);
	save("wan-icmp-unreach-udp", 0, &f);
	/* Regression: the quote lies in bytes past the IP total length. */
	ip = frame_ip_hdr(&f);
	ip->tot_len = htons(20 + 8 + 8);
	nf_set_csums(ip);
	save("wan-icmp-quote-in-padding", 0, &f);
	ip = wan_ip(&q, snat, peer, IPPROTO_TCP, 61001, 443);
	frame_eth(&f, mac_wan0, mac_gw, ETH_P_IP);
	frame_icmp_error(&f, htonl(router), htonl(snat), 60,
			 NF_ICMP_TIME_EXCEEDED, 0, ip, 40);
	save("wan-icmp-ttl-tcp", 0, &f);
	ip = wan_ip(&q, snat, peer, IPPROTO_ICMP, 61002, 0);
	frame_eth(&f, mac_wan0, mac_gw, ETH_P_IP);
	frame_icmp_error(&f, htonl(router), htonl(snat), 60,
			 NF_ICMP_DEST_UNREACH, NF_ICMP_FRAG_NEEDED, ip, 28);
	save("wan-icmp-fragneeded-echo", 0, &f);
	ip = wan_ip(&q, snat, peer, IPPROTO_UDP, 61077, 53);
	frame_eth(&f, mac_wan0, mac_gw, ETH_P_IP);
	frame_icmp_error(&f, htonl(router), htonl(snat), 60,
			 NF_ICMP_DEST_UNREACH, NF_ICMP_PORT_UNREACH, ip, 28);
	save("wan-icmp-error-no-flow", 0, &f);
	frame_eth(&f, mac_bcast, mac_gw, ETH_P_ARP);
	frame_arp(&f, 1, mac_gw, htonl(HIP(10, 99, 0, 1)), mac_zero,
		  htonl(snat));
	save("wan-arp-request", 0, &f);
	wan_ip(&f, peer, HIP(10, 99, 0, 255), IPPROTO_UDP, 53, 61000);
	save("wan-udp-broadcast", 0, &f);
}

int write_corpus(const char *dir);

int write_corpus(const char *dir)
{
	out_dir = dir;
	mkdir(dir, 0755);
	pod_seeds();
	wan_seeds();
	fprintf(stderr, "seeds: %d written to %s\n", written, dir);
	return failed ? -1 : 0;
}
