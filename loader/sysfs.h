/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Per-interface kernel knobs: sysctls under /proc/sys/net (which follow the
 * caller's network namespace, unlike /sys under `ip netns exec`) and the
 * ethtool GRO flag.
 */
#ifndef NSF_SYSFS_H
#define NSF_SYSFS_H

#include <stdbool.h>

/* net.ipv4.conf.<ifname>.forwarding = @on, in the current namespace. */
int nsf_set_forwarding(const char *ifname, bool on);
/* net.ipv6.conf.<ifname>.disable_ipv6 = !@on, in the current namespace. */
int nsf_set_ipv6(const char *ifname, bool on);
/* net.ipv4.ip_local_port_range of the current namespace. */
int nsf_local_port_range(unsigned int *lo, unsigned int *hi);
/* GRO on @ifname, through @sock: an AF_INET socket made in @ifname's
 * namespace. A veth only accepts XDP_REDIRECTed frames when its receiving
 * side runs NAPI, which GRO (or an XDP program) turns on. */
int nsf_set_gro(int sock, const char *ifname, bool on);

#endif /* NSF_SYSFS_H */
