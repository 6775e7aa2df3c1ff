// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "endpoint.h"
#include "policy.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hooks.h"
#include "nat.h"
#include "netlink.h"
#include "netns.h"
#include "publish.h"
#include "recover.h"
#include "sysfs.h"

/* What an attach has done so far: exactly what a rollback must undo. */
struct attach_tx {
	struct nsf_pool addrs;
	struct nsf_pool ids;
	bool ip_reserved;
	bool id_reserved;
	bool netns_created;
	bool veth_created;
	bool in_map;
	int netns_fd;
	int pod_sock; /* AF_INET, in the pod's namespace: for ioctls */
	int pod_ifindex;
	struct nsf_nl host_nl;
	struct nsf_nl pod_nl;
	struct nsf_maps maps;
};

static int claim_address(const struct nsf_host_config *cfg,
			 struct attach_tx *tx, const struct nsf_attach_req *req,
			 uint32_t *ip)
{
	char addr[NSF_ADDR_STRLEN], cidr[NSF_CIDR_STRLEN], owner[NSF_OWNER_MAX];
	int err;

	if (req->ip_claimed) {
		tx->ip_reserved = true;
		*ip = req->ip;
		return 0;
	}
	nsf_format_cidr4(&cfg->pod_cidr, cidr);
	if (!req->ip) {
		err = nsf_pool_alloc(&tx->addrs, req->name, ip);
		if (err == -ENOSPC)
			return nsf_fail(0, "pod CIDR %s is full", cidr);
		if (err)
			return nsf_fail(-err, "allocate address");
		tx->ip_reserved = true;
		return 0;
	}
	nsf_format_ipv4(req->ip, addr);
	if (!nsf_cidr4_contains(&cfg->pod_cidr, req->ip))
		return nsf_fail(0, "address %s is outside the pod CIDR %s",
				addr, cidr);
	if (!nsf_cidr4_assignable(&cfg->pod_cidr, req->ip))
		return nsf_fail(0,
				"address %s is the network or broadcast "
				"address of %s",
				addr, cidr);
	err = nsf_pool_reserve(&tx->addrs, req->ip, req->name);
	if (err == -EEXIST) {
		if (nsf_pool_owner(&tx->addrs, req->ip, owner, sizeof(owner)))
			snprintf(owner, sizeof(owner), "another endpoint");
		return nsf_fail(0, "address %s already in use by %s", addr,
				owner);
	}
	if (err)
		return nsf_fail(-err, "reserve address %s", addr);
	tx->ip_reserved = true;
	*ip = req->ip;
	return 0;
}

static int claim_id(struct attach_tx *tx, const char *name, uint32_t *id)
{
	int err = nsf_pool_alloc(&tx->ids, name, id);

	if (err == -ENOSPC)
		return nsf_fail(0, "too many endpoints (max %d)",
				NSF_MAX_ENDPOINTS - 1);
	if (err)
		return nsf_fail(-err, "allocate endpoint id");
	tx->id_reserved = true;
	return 0;
}

/* A pod in the host's own namespace would take over the host's default
 * route and gateway, and its detach would take them away. */
static int not_host(const struct attach_tx *tx, const struct nsf_ep_rec *rec)
{
	if (nsf_netns_is_current(tx->netns_fd))
		return nsf_fail(0,
				"netns %s is the host's own namespace (a pod "
				"needs a namespace of its own)",
				rec->netns);
	return 0;
}

/* Open the pod's namespace, creating the named one if it is absent. */
static int open_pod_netns(struct attach_tx *tx,
			  const struct nsf_attach_req *req,
			  struct nsf_ep_rec *rec)
{
	int err;

	if (req->netns_path) {
		nsf_strlcpy(rec->netns, req->netns_path, sizeof(rec->netns));
		tx->netns_fd = nsf_netns_open(req->netns_path);
		return tx->netns_fd < 0 ? tx->netns_fd : not_host(tx, rec);
	}
	nsf_strlcpy(rec->netns, req->name, sizeof(rec->netns));
	if (!nsf_netns_exists(req->name)) {
		err = nsf_netns_add(req->name);
		if (err)
			return err;
		tx->netns_created = true;
		rec->netns_created = true;
	}
	tx->netns_fd = nsf_netns_open(req->name);
	return tx->netns_fd < 0 ? tx->netns_fd : not_host(tx, rec);
}

/* Netlink and an ioctl socket inside the pod's namespace, in one visit. */
static int open_pod_sockets(struct attach_tx *tx, const struct nsf_ep_rec *rec)
{
	int saved, err;

	err = nsf_netns_enter(tx->netns_fd, &saved);
	if (err)
		return err;
	err = nsf_nl_open(&tx->pod_nl);
	if (!err) {
		tx->pod_sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (tx->pod_sock < 0)
			err = -errno;
	}
	if (nsf_netns_leave(saved) && !err)
		err = -EIO;
	return err ? nsf_fail(-err, "netns %s: netlink", rec->netns) : 0;
}

/* Salted host veth names tried before giving up (see nsf_host_ifname). */
#define VETH_NAMES 8

/*
 * The kernel says only EEXIST. The pod's interface name taken is the
 * caller's to fix. The host veth's name taken is another endpoint whose
 * name hashed to ours: the next salted name, written to the journal first,
 * so that recovery from a crash removes this one and never the other's.
 */
static int veth_exists(const struct nsf_host *h, struct attach_tx *tx,
		       struct nsf_ep_rec *rec, unsigned int salt)
{
	struct nsf_link link;

	if (!nsf_nl_link_get(&tx->pod_nl, rec->ifname, &link))
		return nsf_fail(EEXIST, "netns %s: interface %s", rec->netns,
				rec->ifname);
	if (salt + 1 >= VETH_NAMES)
		return nsf_fail(EEXIST,
				"veth %s (and %d other names for %s, all "
				"taken)",
				rec->host_ifname, VETH_NAMES - 1, rec->name);
	nsf_host_ifname_salted(rec->name, salt + 1, rec->host_ifname);
	return nsf_pending_veth(h, rec->name, rec->host_ifname);
}

/*
 * The host veth's clsact qdisc at once, while the link is down and long
 * before the filter: on a link that is up, adding it waits for an RCU
 * grace period (dev_deactivate()), and so does the first filter on a
 * qdisc younger than one grace period (mini_qdisc_pair_swap()). Both
 * waits were a good part of attach's wall time.
 */
static int make_qdisc(const struct nsf_ep_rec *rec)
{
	bool created;
	int err = nsf_tc_qdisc(rec->host_ifindex, &created);

	return err ? nsf_fail(-err, "veth %s: clsact", rec->host_ifname) : 0;
}

/*
 * No look-ups before the create: the kernel refuses a name in use on
 * either end (EEXIST) before it makes anything, and only then is it worth
 * asking which end it was. Every round trip counts in attach time.
 */
static int create_veth(const struct nsf_host *h, struct attach_tx *tx,
		       struct nsf_ep_rec *rec)
{
	struct nsf_link link;
	unsigned int salt = 0;
	int err;

	err = open_pod_sockets(tx, rec);
	if (err)
		return err;
	for (;;) {
		err = nsf_nl_veth_add(&tx->host_nl, rec->host_ifname,
				      rec->ifname, tx->netns_fd);
		if (err != -EEXIST)
			break;
		err = veth_exists(h, tx, rec, salt++);
		if (err)
			return err;
	}
	if (err)
		return nsf_fail(-err, "veth %s", rec->host_ifname);
	tx->veth_created = true;
	err = nsf_nl_link_get(&tx->host_nl, rec->host_ifname, &link);
	if (err)
		return nsf_fail(-err, "veth %s", rec->host_ifname);
	rec->host_ifindex = link.ifindex;
	memcpy(rec->host_mac, link.mac, 6);
	err = make_qdisc(rec);
	if (err)
		return err;
	err = nsf_nl_link_get(&tx->pod_nl, rec->ifname, &link);
	if (err)
		return nsf_fail(-err, "netns %s: %s", rec->netns, rec->ifname);
	tx->pod_ifindex = link.ifindex;
	memcpy(rec->pod_mac, link.mac, 6);
	return 0;
}

/*
 * The pod's routes through the gateway. Nothing already there is replaced:
 * a namespace attach did not create (or a second CNI attachment of one
 * pod) may route through other interfaces, and those routes stay theirs.
 * Then the gateway's /32 may already exist on another link (our routes
 * name the gateway "onlink" instead), and so may a default route (ours
 * would fight it: the pod gets a route to the pod CIDR instead, as a
 * secondary network gets its subnet in Docker or Multus).
 */
static int add_gateway_routes(struct nsf_nl *nl, int ifindex,
			      const struct nsf_host_config *cfg,
			      struct nsf_ep_rec *rec)
{
	bool has_default;
	int err;

	err = nsf_nl_route_add_new(nl, ifindex, cfg->gateway, 32, 0, false);
	rec->gw_onlink = err == -EEXIST;
	if (err && err != -EEXIST)
		return err;
	err = nsf_nl_has_default_route(nl, &has_default);
	if (err)
		return err;
	rec->kept_default = has_default;
	if (!has_default)
		return nsf_nl_route_add_new(nl, ifindex, 0, 0, cfg->gateway,
					    rec->gw_onlink);
	err = nsf_nl_route_add_new(nl, ifindex, cfg->pod_cidr.net,
				   cfg->pod_cidr.prefix, cfg->gateway,
				   rec->gw_onlink);
	return err == -EEXIST ? 0 : err;
}

/*
 * Pod side: a /32 and a default route through the link-local gateway, whose
 * MAC (the host veth's) is a permanent neighbour, so the pod never ARPs.
 * No IPv6 address, as Docker does on IPv4-only networks: nsfast drops
 * every IPv6 frame a pod sends, and an interface with a link-local address
 * sends some at once (DAD, MLD reports, router solicitations).
 */
static int configure_pod_side(struct attach_tx *tx,
			      const struct nsf_host_config *cfg,
			      struct nsf_ep_rec *rec)
{
	struct nsf_nl *nl = &tx->pod_nl;
	int ifindex = tx->pod_ifindex;
	int err;

	if (tx->netns_created) {
		err = nsf_nl_link_up_name(nl, "lo");
		if (err)
			return nsf_fail(-err, "netns %s: lo up", rec->netns);
	}
	err = nsf_nl_addr_add(nl, ifindex, rec->ip, 32);
	if (!err)
		err = nsf_nl_link_up_ipv4(nl, ifindex);
	if (!err)
		err = nsf_nl_neigh_add(nl, ifindex, cfg->gateway,
				       rec->host_mac);
	if (!err)
		err = add_gateway_routes(nl, ifindex, cfg, rec);
	/* NAPI on the pod side, so the uplink's XDP can redirect into it. */
	if (!err)
		err = nsf_set_gro(tx->pod_sock, rec->ifname, true);
	if (err)
		return nsf_fail(-err, "netns %s: configure %s", rec->netns,
				rec->ifname);
	return 0;
}

/* Host side: the kernel stack reaches the pod (fallback traffic) through a
 * /32 route and a permanent neighbour, again without ARP. */
static int configure_host_side(struct attach_tx *tx,
			       const struct nsf_ep_rec *rec)
{
	struct nsf_nl *nl = &tx->host_nl;
	int err;

	/* No IPv6 on the host side, set while the link is still down: the
	 * datapath is IPv4, and every IPv6-enabled veth adds a link-local
	 * address, DAD, MLD reports and routes to the host's one IPv6 FIB,
	 * which made each attach slower the more pods there were. */
	err = nsf_set_ipv6(rec->host_ifname, false);
	if (!err)
		err = nsf_nl_link_up(nl, rec->host_ifindex);
	/* Forwarding on this veth only (not ip_forward): bpf_fib_lookup()
	 * needs it to route masqueraded traffic, and the kernel needs it to
	 * answer a pod with ICMP (frag needed, TTL exceeded). */
	if (!err)
		err = nsf_set_forwarding(rec->host_ifname, true);
	if (!err)
		err = nsf_nl_neigh_add(nl, rec->host_ifindex, rec->ip,
				       rec->pod_mac);
	if (!err)
		err = nsf_nl_route_add(nl, rec->host_ifindex, rec->ip, 32, 0);
	if (err)
		return nsf_fail(-err, "veth %s: configure", rec->host_ifname);
	return 0;
}

/* Put @prog_fd (or, if negative, the pinned program) on @rec's veth;
 * @have_qdisc: its clsact qdisc exists. */
static int attach_prog(const struct nsf_host *h, int prog_fd,
		       const struct nsf_ep_rec *rec, bool have_qdisc)
{
	int fd = prog_fd, err;

	if (fd < 0) {
		fd = nsf_dp_prog_fd(h, NSF_PROG_FROM_POD);
		if (fd < 0)
			return fd;
	}
	if (have_qdisc)
		err = nsf_tc_attach_filter(rec->host_ifindex, true, fd);
	else
		err = nsf_tc_attach(rec->host_ifindex, true, fd);
	if (fd != prog_fd)
		close(fd);
	if (err)
		return nsf_fail(-err, "veth %s: attach tc ingress",
				rec->host_ifname);
	return 0;
}

static int enable_fast_path(const struct nsf_host *h, struct attach_tx *tx,
			    const struct nsf_ep_rec *rec)
{
	int err;

	err = nsf_maps_open(h, &tx->maps);
	if (!err)
		err = nsf_maps_zero_ep_stats(&tx->maps, rec->id);
	if (!err)
		err = nsf_maps_add_tx_port(&tx->maps, rec->host_ifindex);
	if (!err)
		err = nsf_maps_add_endpoint(&tx->maps, rec);
	if (err)
		return err;
	tx->in_map = true;
	err = nsf_policy_ep_attached(h, rec);
	if (err)
		return err;
	return attach_prog(h, -1, rec, true);
}

/*
 * After init: the new program on the veth, and what the host side needs
 * besides, which an endpoint attached before the uplink existed may lack:
 * the XDP redirect target and forwarding.
 */
int nsf_endpoint_reattach(const struct nsf_host *h, int prog_fd,
			  const struct nsf_ep_rec *rec)
{
	struct nsf_maps maps;
	int err;

	err = attach_prog(h, prog_fd, rec, false);
	if (err)
		return err;
	err = nsf_set_forwarding(rec->host_ifname, true);
	if (err)
		return nsf_fail(-err, "veth %s: forwarding", rec->host_ifname);
	err = nsf_maps_open(h, &maps);
	if (!err)
		err = nsf_maps_add_tx_port(&maps, rec->host_ifindex);
	nsf_maps_close(&maps);
	if (!err)
		err = nsf_policy_ep_attached(h, rec);
	return err;
}

static void rollback(const struct nsf_host *h, struct attach_tx *tx,
		     const struct nsf_ep_rec *rec)
{
	if (tx->in_map) {
		nsf_maps_del_endpoint(&tx->maps, rec->ip);
		nsf_policy_ep_unindex(h, rec->host_ifindex);
	}
	if (tx->maps.tx_ports >= 0 && rec->host_ifindex)
		nsf_maps_del_tx_port(&tx->maps, rec->host_ifindex);
	/* Deleting one end of a veth deletes its peer in the pod too. */
	if (tx->veth_created && rec->host_ifindex)
		nsf_nl_link_del(&tx->host_nl, rec->host_ifindex);
	else if (tx->veth_created) {
		struct nsf_link link;

		if (!nsf_nl_link_get(&tx->host_nl, rec->host_ifname, &link))
			nsf_nl_link_del(&tx->host_nl, link.ifindex);
	}
	if (tx->netns_created)
		nsf_netns_del(rec->netns);
	if (tx->id_reserved)
		nsf_pool_release(&tx->ids, rec->id);
	if (tx->ip_reserved)
		nsf_pool_release(&tx->addrs, rec->ip);
}

static void tx_close(struct attach_tx *tx)
{
	nsf_nl_close(&tx->host_nl);
	nsf_nl_close(&tx->pod_nl);
	nsf_maps_close(&tx->maps);
	if (tx->netns_fd >= 0)
		close(tx->netns_fd);
	if (tx->pod_sock >= 0)
		close(tx->pod_sock);
}

/*
 * The pod back in the maps if it is missing there (a detach killed after
 * taking it off): the record says it is attached, so the same attach
 * again makes it so, as it would a half-made one.
 */
static int remap(const struct nsf_host *h, const struct nsf_ep_rec *rec)
{
	struct nsf_maps maps;
	int err;

	err = nsf_maps_open(h, &maps);
	if (err || nsf_maps_has_endpoint(&maps, rec))
		goto out;
	err = nsf_maps_add_tx_port(&maps, rec->host_ifindex);
	if (!err)
		err = nsf_maps_add_endpoint(&maps, rec);
	if (!err)
		err = nsf_policy_ep_attached(h, rec);
out:
	nsf_maps_close(&maps);
	return err;
}

/* A repeated attach of the same endpoint is fine; a different one is not. */
static int check_existing(const struct nsf_host *h,
			  const struct nsf_attach_req *req,
			  const struct nsf_ep_rec *old)
{
	char addr[NSF_ADDR_STRLEN];
	struct nsf_nl nl;
	struct nsf_link link;
	int err;

	nsf_format_ipv4(old->ip, addr);
	if (req->ip && req->ip != old->ip)
		return nsf_fail(0, "already attached with address %s", addr);
	if (strcmp(req->ifname, old->ifname) != 0)
		return nsf_fail(0, "already attached with interface %s",
				old->ifname);
	if (req->netns_path && strcmp(req->netns_path, old->netns) != 0)
		return nsf_fail(0, "already attached in netns %s", old->netns);
	err = nsf_nl_open(&nl);
	if (err)
		return nsf_fail(-err, "netlink");
	err = nsf_nl_link_get(&nl, old->host_ifname, &link);
	nsf_nl_close(&nl);
	if (err || link.ifindex != old->host_ifindex)
		return nsf_fail(0,
				"stale: veth %s is gone (run 'nsfast detach "
				"%s')",
				old->host_ifname, old->name);
	return remap(h, old);
}

int nsf_endpoint_attach(const struct nsf_host *h,
			const struct nsf_host_config *cfg,
			const struct nsf_attach_req *req,
			struct nsf_ep_rec *rec, enum nsf_attach_result *res)
{
	struct attach_tx tx = { .netns_fd = -1,
				.pod_sock = -1,
				.maps = NSF_MAPS_CLOSED };
	int err;

	err = nsf_ep_load(h, req->name, rec);
	if (!err) {
		*res = NSF_ATTACH_EXISTS;
		return check_existing(h, req, rec);
	}
	if (err != -ENOENT)
		return err;
	*res = NSF_ATTACH_CREATED;
	/* A previous attach of this name that died midway: undo it first. */
	err = nsf_pending_recover(h, req->name);
	if (err >= 0)
		err = nsf_pending_begin(h, req->name);
	if (err < 0)
		return err;
	memset(rec, 0, sizeof(*rec));
	nsf_strlcpy(rec->name, req->name, sizeof(rec->name));
	nsf_strlcpy(rec->ifname, req->ifname, sizeof(rec->ifname));
	nsf_host_ifname(req->name, rec->host_ifname);

	err = nsf_pool_addresses(h, cfg, &tx.addrs);
	if (!err)
		err = nsf_pool_ids(h, &tx.ids);
	if (!err)
		err = claim_address(cfg, &tx, req, &rec->ip);
	nsf_fault("attach-ipam");
	if (!err)
		err = claim_id(&tx, req->name, &rec->id);
	if (!err)
		err = nsf_nl_open(&tx.host_nl) ? nsf_fail(errno, "netlink") : 0;
	if (!err && !req->netns_path && !nsf_netns_exists(req->name))
		nsf_pending_netns(h, req->name); /* before: no window */
	if (!err)
		err = open_pod_netns(&tx, req, rec);
	nsf_fault("attach-netns");
	if (!err)
		err = create_veth(h, &tx, rec);
	nsf_fault("attach-veth");
	if (!err)
		err = configure_pod_side(&tx, cfg, rec);
	if (!err)
		err = configure_host_side(&tx, rec);
	nsf_fault("attach-addr");
	if (!err)
		err = enable_fast_path(h, &tx, rec);
	nsf_fault("attach-prog");
	if (!err)
		err = nsf_ep_save(h, rec);
	nsf_fault("attach-saved");
	if (err)
		rollback(h, &tx, rec);
	nsf_pending_end(h, req->name);
	tx_close(&tx);
	return err;
}

/*
 * The address and id, if still @rec's: a detach killed after releasing
 * them is finished later (again, or by gc), by when another endpoint may
 * hold them.
 */
static int release_own(const struct nsf_host *h, const struct nsf_ep_rec *rec)
{
	char addr[NSF_ADDR_STRLEN];
	struct nsf_pool addrs, ids;
	struct nsf_host_config cfg;
	int err;

	err = nsf_config_load(h, &cfg);
	if (!err)
		err = nsf_pool_addresses(h, &cfg, &addrs);
	if (!err)
		err = nsf_pool_ids(h, &ids);
	if (err)
		return err;
	err = nsf_pool_release_owned(&addrs, rec->ip, rec->name);
	if (err && err != -EBUSY) {
		nsf_format_ipv4(rec->ip, addr);
		return nsf_fail(-err, "release address %s", addr);
	}
	err = nsf_pool_release_owned(&ids, rec->id, rec->name);
	if (err && err != -EBUSY)
		return nsf_fail(-err, "release endpoint id %u", rec->id);
	return 0;
}

/*
 * The pod's masqueraded flows, once it can make no new ones (off the
 * map): a reply to one of them would reach the next pod with its address.
 * Not while another endpoint holds the address already (a detach
 * finished late): the flows are that one's.
 */
static int del_flows(const struct nsf_maps *maps, const struct nsf_ep_rec *rec)
{
	struct nsf_endpoint ep;
	__be32 key = htonl(rec->ip);
	uint64_t n;
	int err;

	if (!bpf_map_lookup_elem(maps->ep4, &key, &ep))
		return 0;
	err = nsf_nat_del_addr(maps->nat4, rec->ip, &n);
	return err ? nsf_fail(-err, "map %s", NSF_MAP_NAT4) : 0;
}

/*
 * @rec's host veth is still there: by name and index, or renamed (by hand,
 * or by udev) and then known by index and MAC. Left behind, it would keep
 * the pod's eth0, address and routes alive in a namespace that stays.
 */
static bool own_veth(struct nsf_nl *nl, const struct nsf_ep_rec *rec)
{
	struct nsf_link link;

	if (!nsf_nl_link_get(nl, rec->host_ifname, &link) &&
	    link.ifindex == rec->host_ifindex)
		return true;
	return !nsf_nl_link_get_index(nl, rec->host_ifindex, &link) &&
	       !memcmp(link.mac, rec->host_mac, sizeof(link.mac)) &&
	       !strcmp(link.kind, "veth");
}

/* The name under /run/netns of the namespace attach created: the
 * record holds it as given, a name or (an heir's) its path there. */
static const char *netns_name(const struct nsf_ep_rec *rec)
{
	static const char dir[] = NSF_NETNS_RUN_DIR "/";

	if (!strncmp(rec->netns, dir, sizeof(dir) - 1))
		return rec->netns + sizeof(dir) - 1;
	return rec->netns;
}

struct heir_ctx {
	const struct nsf_host *h;
	const struct nsf_ep_rec *dying;
	bool found;
};

/* Another endpoint in the dying one's namespace inherits it, and with it
 * the duty to remove it when it goes. */
static int find_heir(const struct nsf_ep_rec *rec, void *arg)
{
	struct heir_ctx *x = arg;
	struct nsf_ep_rec heir;

	if (x->found || !strcmp(rec->name, x->dying->name) ||
	    strcmp(netns_name(rec), netns_name(x->dying)) != 0)
		return 0;
	x->found = true;
	heir = *rec;
	heir.netns_created = true;
	return nsf_ep_save(x->h, &heir);
}

/*
 * The namespace attach created, unless another endpoint lives in it too
 * (attached there with --netns-path): it would lose its interface. The
 * records are searched only when links other than lo are left, which a
 * namespace with none but the dying pod's has not.
 */
static int remove_netns(const struct nsf_host *h, const struct nsf_ep_rec *rec)
{
	struct heir_ctx x = { .h = h, .dying = rec };
	const char *name = netns_name(rec);
	struct nsf_nl nl;
	int fd, n = 0, err;

	if (!nsf_netns_exists(name))
		return 0;
	fd = nsf_netns_open(name);
	if (fd < 0)
		return fd;
	err = nsf_nl_open_in(&nl, fd);
	close(fd);
	if (!err) {
		err = nsf_nl_link_count(&nl, &n);
		nsf_nl_close(&nl);
	}
	if (!err && n)
		err = nsf_ep_foreach(h, find_heir, &x);
	if (err)
		return err < 0 && !nsf_last_error()[0]
			       ? nsf_fail(-err, "netns %s", name)
			       : err;
	return x.found ? 0 : nsf_netns_del(name);
}

int nsf_endpoint_detach(const struct nsf_host *h, const struct nsf_ep_rec *rec)
{
	struct nsf_maps maps;
	struct nsf_nl nl;
	int err;

	/* Its published ports go first: nothing new may be sent its way. */
	err = nsf_publish_del_owner(h, rec->name);
	if (err)
		return err;
	/* Off the fast path first, so nothing is redirected to a dying veth. */
	nsf_policy_ep_detached(h, rec);
	err = nsf_maps_open(h, &maps);
	if (!err) {
		err = nsf_maps_del_endpoint_of(&maps, rec->ip,
					       rec->host_ifindex);
		if (!err)
			err = nsf_maps_del_tx_port(&maps, rec->host_ifindex);
		if (!err)
			err = del_flows(&maps, rec);
		nsf_maps_close(&maps);
	}
	if (err && err != -ENOENT)
		return err;
	nsf_fault("detach-maps");
	err = nsf_nl_open(&nl);
	if (err)
		return nsf_fail(-err, "netlink");
	if (own_veth(&nl, rec))
		err = nsf_nl_link_del(&nl, rec->host_ifindex);
	nsf_nl_close(&nl);
	if (err && err != -ENODEV)
		return nsf_fail(-err, "veth %s", rec->host_ifname);
	nsf_fault("detach-veth");
	if (rec->netns_created) {
		err = remove_netns(h, rec);
		if (err)
			return err;
	}
	err = release_own(h, rec);
	if (err)
		return err;
	nsf_fault("detach-ipam");
	nsf_pending_end(h, rec->name);
	return nsf_ep_remove(h, rec->name);
}
