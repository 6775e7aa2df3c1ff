// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "uplink.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hooks.h"
#include "maps.h"
#include "netlink.h"
#include "sysfs.h"

static int check_port_range(const struct nsf_host_config *cfg)
{
	const uint16_t r[2][2] = { { cfg->nat_port_min, cfg->nat_port_max },
				   { cfg->nat_port_min2, cfg->nat_port_max2 } };
	unsigned int lo, hi;
	int err = nsf_local_port_range(&lo, &hi);

	if (err)
		return nsf_fail(-err, "net.ipv4.ip_local_port_range");
	for (int i = 0; i < 2; i++)
		if (r[i][0] && r[i][0] <= hi && r[i][1] >= lo)
			return nsf_fail(0,
					"NAT ports %u-%u overlap the host's "
					"ip_local_port_range %u-%u (pick "
					"--nat-ports outside it)",
					r[i][0], r[i][1], lo, hi);
	return 0;
}

/* Open @nl and look the uplink up in it; on success @nl stays open. */
static int uplink_link(struct nsf_nl *nl, const struct nsf_host_config *cfg,
		       struct nsf_link *link)
{
	int err = nsf_nl_open(nl);

	if (err)
		return nsf_fail(-err, "netlink");
	err = nsf_nl_link_get(nl, cfg->uplink, link);
	if (err) {
		nsf_nl_close(nl);
		return nsf_fail(-err, "uplink %s", cfg->uplink);
	}
	return 0;
}

int nsf_uplink_resolve(struct nsf_host_config *cfg, const char *snat_ip)
{
	struct nsf_link link = { 0 };
	struct nsf_nl nl;
	int err;

	err = uplink_link(&nl, cfg, &link);
	if (err)
		return err;
	cfg->uplink_ifindex = link.ifindex;
	cfg->snat_learned = !snat_ip;
	if (snat_ip)
		err = nsf_parse_ipv4(snat_ip, &cfg->snat)
			      ? nsf_fail(0, "invalid --snat-ip '%s'", snat_ip)
			      : 0;
	else if ((err = nsf_nl_addr_first(&nl, link.ifindex, &cfg->snat)))
		err = nsf_fail(err == -ENOENT ? 0 : -err,
			       "uplink %s has no IPv4 address (give --snat-ip)",
			       cfg->uplink);
	nsf_nl_close(&nl);
	return err ? err : check_port_range(cfg);
}

static int attach_tc(const struct nsf_host *h, struct nsf_host_config *cfg)
{
	bool created;
	int fd, err;

	err = nsf_tc_qdisc(cfg->uplink_ifindex, &created);
	if (err)
		return nsf_fail(-err, "uplink %s: clsact", cfg->uplink);
	cfg->uplink_qdisc_created |= created;
	fd = nsf_dp_prog_fd(h, NSF_PROG_UPLINK_TC);
	if (fd < 0)
		return fd;
	err = nsf_tc_attach(cfg->uplink_ifindex, true, fd);
	close(fd);
	if (err)
		return nsf_fail(-err, "uplink %s: attach tc ingress",
				cfg->uplink);
	cfg->uplink_tc = true;
	return nsf_xdp_detach(cfg->uplink_ifindex, NSF_PROG_UPLINK_XDP);
}

static int attach_xdp(const struct nsf_host *h, struct nsf_host_config *cfg)
{
	bool generic = cfg->xdp_mode == NSF_XDP_GENERIC;
	int fd, err;

	fd = nsf_dp_prog_fd(h, NSF_PROG_UPLINK_XDP);
	if (fd < 0)
		return fd;
	err = nsf_xdp_attach(cfg->uplink_ifindex, fd, generic,
			     NSF_PROG_UPLINK_XDP);
	close(fd);
	if (err == -EOPNOTSUPP && !generic) {
		fprintf(stderr,
			"nsfast: uplink %s: no native XDP, using tc ingress\n",
			cfg->uplink);
		return attach_tc(h, cfg);
	}
	if (err == -EBUSY)
		return nsf_fail(0, "uplink %s: another XDP program is attached",
				cfg->uplink);
	if (err)
		return nsf_fail(-err, "uplink %s: attach XDP", cfg->uplink);
	cfg->uplink_tc = false;
	/* Back from tc: take off our filter and the clsact we made for it. */
	err = nsf_tc_detach(cfg->uplink_ifindex, true,
			    cfg->uplink_qdisc_created);
	if (err)
		return nsf_fail(-err, "uplink %s: detach tc", cfg->uplink);
	cfg->uplink_qdisc_created = false;
	return 0;
}

/*
 * Whether the uplink is a veth: 1, 0 or a negative errno. A veth's packets
 * arrive as skbs from its peer, which native XDP first copies into a page
 * of its own, so replies cost more there than at tc (docs/benchmarks.md).
 */
static int uplink_is_veth(const struct nsf_host_config *cfg)
{
	struct nsf_link link = { 0 };
	struct nsf_nl nl;
	int err = uplink_link(&nl, cfg, &link);

	if (err)
		return err;
	nsf_nl_close(&nl);
	return !strcmp(link.kind, "veth");
}

int nsf_uplink_attach(const struct nsf_host *h, struct nsf_host_config *cfg)
{
	int veth;

	if (cfg->xdp_mode == NSF_XDP_OFF)
		return attach_tc(h, cfg);
	if (cfg->xdp_mode == NSF_XDP_AUTO) {
		veth = uplink_is_veth(cfg);
		if (veth < 0)
			return veth;
		if (veth)
			return attach_tc(h, cfg);
	}
	return attach_xdp(h, cfg);
}

int nsf_uplink_detach(const struct nsf_host_config *cfg)
{
	int err;

	if (!cfg->uplink[0])
		return 0;
	err = nsf_xdp_detach(cfg->uplink_ifindex, NSF_PROG_UPLINK_XDP);
	if (!err)
		err = nsf_tc_detach(cfg->uplink_ifindex, true,
				    cfg->uplink_qdisc_created);
	if (err == -ENODEV)
		return 0; /* the uplink itself is gone */
	return err ? nsf_fail(-err, "uplink %s: detach", cfg->uplink) : 0;
}
