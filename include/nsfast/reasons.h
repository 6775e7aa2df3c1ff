/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Why the datapath did what it did with a packet. One list, expanded into the
 * enum the BPF programs count with and into the names the CLI prints, so the
 * two can never drift apart. Append only: the value indexes a pinned map.
 *
 * X(name, "cli-name", kind, "what it means")
 * kind: FWD = handled by the fast path, PASS = handed to the kernel stack,
 *       DROP = dropped.
 */
#ifndef NSFAST_REASONS_H
#define NSFAST_REASONS_H

#define NSF_REASONS(X)                                                         \
	X(FWD_LOCAL, "fwd-local", FWD, "forwarded to a pod on this host")      \
	X(ARP_REPLY, "arp-reply", FWD, "ARP request for the gateway answered") \
	X(PASS_NOT_IPV4, "pass-not-ipv4", PASS, "not IPv4 or ARP")             \
	X(PASS_ARP, "pass-arp", PASS, "ARP not for the gateway")               \
	X(PASS_MALFORMED, "pass-malformed", PASS,                              \
	  "truncated or invalid header, left for the kernel to judge")         \
	X(PASS_L2_OTHER, "pass-l2-other", PASS,                                \
	  "not addressed to the gateway MAC (broadcast, multicast, other)")    \
	X(PASS_TTL, "pass-ttl", PASS,                                          \
	  "TTL would expire: the kernel sends time exceeded")                  \
	X(PASS_NOT_LOCAL, "pass-not-local", PASS,                              \
	  "destination is not a pod on this host")                             \
	X(PASS_UNKNOWN_SRC, "pass-unknown-src", PASS,                          \
	  "sent from an interface that is not a known endpoint")               \
	X(FWD_SNAT, "fwd-snat", FWD, "masqueraded and sent out of the uplink") \
	X(FWD_RNAT, "fwd-rnat", FWD, "reply un-masqueraded into a pod")        \
	X(FWD_RNAT_ICMP, "fwd-rnat-icmp", FWD,                                 \
	  "ICMP error about a masqueraded flow translated into a pod")         \
	X(PASS_NOT_UPLINK, "pass-not-uplink", PASS,                            \
	  "routed elsewhere than the uplink (host itself, other interfaces)")  \
	X(PASS_FRAG_NEEDED, "pass-frag-needed", PASS,                          \
	  "too big for the uplink with DF: the kernel sends frag-needed")      \
	X(PASS_HOST, "pass-host", PASS,                                        \
	  "uplink traffic without a NAT entry: the host's own")                \
	X(DROP_NO_NAT, "drop-no-nat", DROP,                                    \
	  "to the uplink but not masqueradable (fragment, other protocol)")    \
	X(DROP_MTU, "drop-mtu", DROP,                                          \
	  "too big for the uplink and DF not set (would leave un-NATed)")      \
	X(DROP_NAT_EXHAUSTED, "drop-nat-exhausted", DROP,                      \
	  "no free NAT port for this destination")                             \
	X(DROP_NAT_INSERT, "drop-nat-insert", DROP,                            \
	  "NAT entry could not be stored")                                     \
	X(DROP_NO_ENDPOINT, "drop-no-endpoint", DROP,                          \
	  "NAT entry points to a pod that is gone")                            \
	X(DROP_TTL, "drop-ttl", DROP,                                          \
	  "reply to a masqueraded flow would expire on the way to the pod")    \
	X(FWD_PUBLISH, "fwd-publish", FWD,                                     \
	  "new flow to a published port, DNATed into its pod")                 \
	X(FWD_HAIRPIN, "fwd-hairpin", FWD,                                     \
	  "pod or host to a published port via the uplink address")            \
	X(DROP_HAIRPIN, "drop-hairpin", DROP,                                  \
	  "hairpin flow whose translation is gone")                            \
	X(FWD_ROUTE, "fwd-route", FWD,                                         \
	  "to a pod on another node, forwarded without NAT")                   \
	X(PASS_ROUTE, "pass-route", PASS,                                      \
	  "to another node's pod CIDR, node not reachable by the FIB")         \
	X(FWD_FROM_NODE, "fwd-from-node", FWD,                                 \
	  "from the uplink to a local pod (another node's pod), no NAT")       \
	X(DROP_SPOOFED_IP, "drop-spoofed-ip", DROP,                            \
	  "IPv4 source is not the address of the pod behind this veth")        \
	X(DROP_SPOOFED_MAC, "drop-spoofed-mac", DROP,                          \
	  "Ethernet source is not the MAC of the pod behind this veth")        \
	X(DROP_SPOOFED_ARP, "drop-spoofed-arp", DROP,                          \
	  "ARP sender address or MAC is not the pod's own")                    \
	X(DROP_UNKNOWN_EP, "drop-unknown-endpoint", DROP,                      \
	  "arrived on a veth that belongs to no endpoint")                     \
	X(DROP_NOT_IPV4, "drop-not-ipv4", DROP,                                \
	  "pods are IPv4-only: IPv6 and other EtherTypes are not let through") \
	X(DROP_MALFORMED, "drop-malformed", DROP,                              \
	  "truncated or invalid header sent by a pod")                         \
	X(DROP_POLICY, "drop-policy", DROP, "denied by a policy rule")         \
	X(DROP_POLICY_EGRESS, "drop-policy-egress", DROP,                      \
	  "no rule allows it and the source group's egress default is deny")   \
	X(DROP_POLICY_INGRESS, "drop-policy-ingress", DROP,                    \
	  "no rule allows it and the destination group's ingress default is "  \
	  "deny")                                                              \
	X(DROP_POLICY_HOST, "drop-policy-host", DROP,                          \
	  "pod to the host (its addresses, other namespaces) not allowed")     \
	X(DROP_REWRITE, "drop-rewrite", DROP,                                  \
	  "a checksum helper failed while rewriting the packet")               \
	X(DROP_NO_POD, "drop-no-pod", DROP,                                    \
	  "to an address of the pod CIDR that no pod has (free, network, "     \
	  "broadcast): never routed elsewhere")                                \
	X(PASS_NOT_UNICAST, "pass-not-unicast", PASS,                          \
	  "to a broadcast, multicast or reserved address: the kernel's "       \
	  "to handle, never routed or masqueraded")                            \
	X(DROP_PUBLISH_CLASH, "drop-publish-clash", DROP,                      \
	  "new flow to a published port whose pod-side tuple is another "      \
	  "flow's (same client address and port through another host port)")   \
	X(PASS_FRAGMENT, "pass-fragment", PASS,                                \
	  "too big for the route to another node, DF clear: the kernel "       \
	  "fragments it (routed traffic has no NAT to lose)")

enum nsf_reason_kind {
	NSF_KIND_FWD,
	NSF_KIND_PASS,
	NSF_KIND_DROP
};

#define NSF_REASON_ENUM(name, str, kind, help) NSF_R_##name,
enum nsf_reason {
	NSF_REASONS(NSF_REASON_ENUM) NSF_R_MAX
};
#undef NSF_REASON_ENUM

/* The monitor selects reasons with a 64-bit mask (nsf_mon_cfg.reasons). */
_Static_assert(NSF_R_MAX <= 64, "a reason beyond the monitor's mask");

/* Size of the counters array: room to append reasons without a new map. */
#define NSF_MAX_REASONS 64

#endif /* NSFAST_REASONS_H */
