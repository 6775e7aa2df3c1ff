// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "sysfs.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util.h"

static int write_file(const char *path, const char *value)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(value, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

int nsf_set_forwarding(const char *ifname, bool on)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding",
		 ifname);
	return write_file(path, on ? "1\n" : "0\n");
}

int nsf_set_ipv6(const char *ifname, bool on)
{
	char path[128];
	int err;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 ifname);
	err = write_file(path, on ? "0\n" : "1\n");
	/* No IPv6 in this kernel or namespace: nothing to turn off. */
	return err == -ENOENT && !on ? 0 : err;
}

int nsf_local_port_range(unsigned int *lo, unsigned int *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
	int n;

	if (!f)
		return -errno;
	n = fscanf(f, "%u %u", lo, hi);
	fclose(f);
	return n == 2 ? 0 : -EIO;
}

int nsf_set_gro(int sock, const char *ifname, bool on)
{
	struct ethtool_value val = { .cmd = ETHTOOL_SGRO, .data = on };
	struct ifreq ifr = { 0 };

	nsf_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
	ifr.ifr_data = (char *)&val;
	return ioctl(sock, SIOCETHTOOL, &ifr) ? -errno : 0;
}
