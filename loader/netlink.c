// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdbool.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netns.h"

int nsf_nl_open(struct nsf_nl *nl)
{
	int err;

	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock)
		return -errno;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		mnl_socket_close(nl->sock);
		nl->sock = NULL;
		return err;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (unsigned int)time(NULL);
	return 0;
}

int nsf_nl_open_in(struct nsf_nl *nl, int netns_fd)
{
	int saved, err, err2;

	err = nsf_netns_enter(netns_fd, &saved);
	if (err)
		return err;
	err = nsf_nl_open(nl);
	err2 = nsf_netns_leave(saved);
	if (err2 && !err) {
		nsf_nl_close(nl);
		err = err2;
	}
	return err;
}

void nsf_nl_close(struct nsf_nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	nl->sock = NULL;
}

static struct nlmsghdr *put_request(char *buf, struct nsf_nl *nl, int type,
				    int flags)
{
	struct nlmsghdr *nlh;

	/* libmnl leaves the alignment padding after attributes as it was:
	 * zero the buffer, so no uninitialised stack bytes reach the kernel
	 * (valgrind: "sendto(msg) points to uninitialised byte(s)"). */
	memset(buf, 0, MNL_SOCKET_BUFFER_SIZE);
	nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++nl->seq;
	return nlh;
}

/* Send @nlh and run @cb over the replies until the kernel's ACK. Returns
 * 0 or the negative errno the kernel answered with. */
static int talk(struct nsf_nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb,
		void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	unsigned int seq = nlh->nlmsg_seq;
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, seq, nl->portid, cb, data);
	} while (ret > 0);
	return ret < 0 ? -errno : 0;
}

struct link_parse {
	struct nsf_link *link;
	const struct nlattr *tb[IFLA_MAX + 1];
};

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	struct link_parse *lp = data;
	unsigned int type = mnl_attr_get_type(attr);

	if (type <= IFLA_MAX)
		lp->tb[type] = attr;
	return MNL_CB_OK;
}

static int info_kind_cb(const struct nlattr *attr, void *data)
{
	struct nsf_link *link = data;

	if (mnl_attr_get_type(attr) == IFLA_INFO_KIND &&
	    mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0)
		snprintf(link->kind, sizeof(link->kind), "%s",
			 mnl_attr_get_str(attr));
	return MNL_CB_OK;
}

static int link_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	struct link_parse lp = { .link = data };
	struct nsf_link *link = lp.link;

	memset(link, 0, sizeof(*link));
	link->ifindex = ifm->ifi_index;
	link->flags = ifm->ifi_flags;
	mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, &lp);
	if (lp.tb[IFLA_IFNAME])
		snprintf(link->name, sizeof(link->name), "%s",
			 mnl_attr_get_str(lp.tb[IFLA_IFNAME]));
	if (lp.tb[IFLA_ADDRESS] &&
	    mnl_attr_get_payload_len(lp.tb[IFLA_ADDRESS]) == 6)
		memcpy(link->mac, mnl_attr_get_payload(lp.tb[IFLA_ADDRESS]), 6);
	if (lp.tb[IFLA_MTU])
		link->mtu = mnl_attr_get_u32(lp.tb[IFLA_MTU]);
	if (lp.tb[IFLA_LINKINFO])
		mnl_attr_parse_nested(lp.tb[IFLA_LINKINFO], info_kind_cb, link);
	return MNL_CB_OK;
}

static int link_get(struct nsf_nl *nl, const char *name, int ifindex,
		    struct nsf_link *link)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_request(buf, nl, RTM_GETLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	link->ifindex = 0;
	return talk(nl, nlh, link_msg_cb, link);
}

int nsf_nl_link_get(struct nsf_nl *nl, const char *name, struct nsf_link *link)
{
	return link_get(nl, name, 0, link);
}

int nsf_nl_link_get_index(struct nsf_nl *nl, int ifindex, struct nsf_link *link)
{
	return link_get(nl, NULL, ifindex, link);
}

/*
 * One tx and one rx queue, as a veth has had in use by default all along.
 * Without these a veth gets one queue per possible CPU, and veth_newlink()
 * cuts the ones in use back to one after registering it: a
 * synchronize_net() per end, under the RTNL lock, that made up much of a
 * veth's creation time.
 */
static void put_one_queue(struct nlmsghdr *nlh)
{
	mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
	mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
}

/* The peer of a veth is described by a struct ifinfomsg followed by its
 * own attributes, nested inside VETH_INFO_PEER (see veth_newlink()). */
static void put_veth_peer(struct nlmsghdr *nlh, const char *peer,
			  int peer_netns_fd)
{
	struct nlattr *linkinfo, *data, *peer_attr;
	struct ifinfomsg *pifm;

	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer_attr = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	pifm = mnl_nlmsg_get_payload_tail(nlh);
	memset(pifm, 0, sizeof(*pifm));
	nlh->nlmsg_len += MNL_ALIGN(sizeof(*pifm));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
	put_one_queue(nlh);
	mnl_attr_nest_end(nlh, peer_attr);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
}

int nsf_nl_veth_add(struct nsf_nl *nl, const char *name, const char *peer,
		    int peer_netns_fd)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
		put_request(buf, nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	put_one_queue(nlh);
	put_veth_peer(nlh, peer, peer_netns_fd);
	return talk(nl, nlh, NULL, NULL);
}

/* IPv6 address generation off: no link-local address, hence no DAD, no
 * MLD report and no router solicitation ever leaves the link. */
static void put_no_ipv6_addrs(struct nlmsghdr *nlh)
{
	struct nlattr *af_spec, *inet6;

	af_spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	inet6 = mnl_attr_nest_start(nlh, AF_INET6);
	mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
	mnl_attr_nest_end(nlh, inet6);
	mnl_attr_nest_end(nlh, af_spec);
}

/* The kernel finds the link by @ifindex, or by IFLA_IFNAME if it is 0. */
static int link_up(struct nsf_nl *nl, int ifindex, const char *name,
		   bool no_ipv6)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_request(buf, nl, RTM_NEWLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (no_ipv6)
		put_no_ipv6_addrs(nlh);
	return talk(nl, nlh, NULL, NULL);
}

int nsf_nl_link_up(struct nsf_nl *nl, int ifindex)
{
	return link_up(nl, ifindex, NULL, false);
}

int nsf_nl_link_up_name(struct nsf_nl *nl, const char *name)
{
	return link_up(nl, 0, name, false);
}

int nsf_nl_link_up_ipv4(struct nsf_nl *nl, int ifindex)
{
	int err = link_up(nl, ifindex, NULL, true);

	/* A kernel or namespace without IPv6 has nothing to turn off. */
	return err == -EAFNOSUPPORT ? nsf_nl_link_up(nl, ifindex) : err;
}

int nsf_nl_link_del(struct nsf_nl *nl, int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_request(buf, nl, RTM_DELLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	return talk(nl, nlh, NULL, NULL);
}

int nsf_nl_addr_add(struct nsf_nl *nl, int ifindex, uint32_t addr,
		    uint8_t prefix)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
		put_request(buf, nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	uint32_t be = htonl(addr);

	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned int)ifindex;
	mnl_attr_put_u32(nlh, IFA_LOCAL, be);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, be);
	return talk(nl, nlh, NULL, NULL);
}

struct addr_search {
	int ifindex;
	uint32_t addr;
	bool found;
};

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **local = data;

	if (mnl_attr_get_type(attr) == IFA_LOCAL &&
	    mnl_attr_get_payload_len(attr) == 4)
		*local = attr;
	return MNL_CB_OK;
}

static int addr_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct addr_search *search = data;
	const struct nlattr *local = NULL;

	if (search->found || ifa->ifa_family != AF_INET ||
	    (int)ifa->ifa_index != search->ifindex ||
	    ifa->ifa_scope != RT_SCOPE_UNIVERSE)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, &local);
	if (local) {
		search->addr = ntohl(mnl_attr_get_u32(local));
		search->found = true;
	}
	return MNL_CB_OK;
}

/*
 * Start a dump request of @type in @buf: a dump ends with NLMSG_DONE, so
 * no NLM_F_ACK, or a stray ACK would wait in the socket for the next
 * request. Returns the header; the caller adds its family header.
 */
static struct nlmsghdr *dump_request(struct nsf_nl *nl, char *buf,
				     uint16_t type)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, MNL_SOCKET_BUFFER_SIZE);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++nl->seq;
	return nlh;
}

int nsf_nl_addr_first(struct nsf_nl *nl, int ifindex, uint32_t *addr)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct addr_search search = { .ifindex = ifindex };
	struct nlmsghdr *nlh = dump_request(nl, buf, RTM_GETADDR);
	struct ifaddrmsg *ifa;
	int err;

	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	err = talk(nl, nlh, addr_msg_cb, &search);
	if (err)
		return err;
	if (!search.found)
		return -ENOENT;
	*addr = search.addr;
	return 0;
}

static int route_add(struct nsf_nl *nl, int ifindex, uint32_t dst,
		     uint8_t prefix, uint32_t gw, int flags,
		     unsigned int nh_flags)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
		put_request(buf, nl, RTM_NEWROUTE, NLM_F_CREATE | flags);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	rtm->rtm_flags = nh_flags;
	if (prefix)
		mnl_attr_put_u32(nlh, RTA_DST, htonl(dst));
	if (gw)
		mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gw));
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	return talk(nl, nlh, NULL, NULL);
}

int nsf_nl_route_add(struct nsf_nl *nl, int ifindex, uint32_t dst,
		     uint8_t prefix, uint32_t gw)
{
	return route_add(nl, ifindex, dst, prefix, gw, NLM_F_REPLACE, 0);
}

int nsf_nl_route_add_new(struct nsf_nl *nl, int ifindex, uint32_t dst,
			 uint8_t prefix, uint32_t gw, bool onlink)
{
	return route_add(nl, ifindex, dst, prefix, gw, NLM_F_EXCL,
			 onlink ? RTNH_F_ONLINK : 0);
}

struct route_dump {
	nsf_nl_route_cb cb;
	void *arg;
};

static int route_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if ((type == RTA_DST || type == RTA_GATEWAY || type == RTA_OIF) &&
	    mnl_attr_get_payload_len(attr) == 4)
		tb[type] = attr;
	return MNL_CB_OK;
}

static int route_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = { 0 };
	struct route_dump *d = data;
	struct nsf_nl_route r = { 0 };

	/* The dump's table field is 8 bits: the main table fits. */
	if (rtm->rtm_family != AF_INET || rtm->rtm_table != RT_TABLE_MAIN ||
	    rtm->rtm_type != RTN_UNICAST)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb);
	r.prefix = rtm->rtm_dst_len;
	r.scope = rtm->rtm_scope;
	r.protocol = rtm->rtm_protocol;
	if (tb[RTA_DST])
		r.dst = ntohl(mnl_attr_get_u32(tb[RTA_DST]));
	if (tb[RTA_GATEWAY])
		r.gw = ntohl(mnl_attr_get_u32(tb[RTA_GATEWAY]));
	if (tb[RTA_OIF])
		r.ifindex = (int)mnl_attr_get_u32(tb[RTA_OIF]);
	d->cb(&r, d->arg);
	return MNL_CB_OK;
}

int nsf_nl_routes(struct nsf_nl *nl, nsf_nl_route_cb cb, void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct route_dump d = { cb, arg };
	struct nlmsghdr *nlh = dump_request(nl, buf, RTM_GETROUTE);
	struct rtmsg *rtm;

	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	return talk(nl, nlh, route_msg_cb, &d);
}

static int count_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	int *n = data;

	if (ifm->ifi_index != 1) /* lo is 1 in every namespace */
		(*n)++;
	return MNL_CB_OK;
}

int nsf_nl_link_count(struct nsf_nl *nl, int *n)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = dump_request(nl, buf, RTM_GETLINK);
	struct ifinfomsg *ifm;

	*n = 0;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	return talk(nl, nlh, count_msg_cb, n);
}

static void default_route_cb(const struct nsf_nl_route *r, void *arg)
{
	bool *found = arg;

	if (r->prefix == 0)
		*found = true;
}

int nsf_nl_has_default_route(struct nsf_nl *nl, bool *found)
{
	*found = false;
	return nsf_nl_routes(nl, default_route_cb, found);
}

int nsf_nl_neigh_add(struct nsf_nl *nl, int ifindex, uint32_t addr,
		     const uint8_t mac[6])
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_request(buf, nl, RTM_NEWNEIGH,
					   NLM_F_CREATE | NLM_F_REPLACE);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));

	ndm->ndm_family = AF_INET;
	ndm->ndm_ifindex = ifindex;
	ndm->ndm_state = NUD_PERMANENT;
	ndm->ndm_type = RTN_UNICAST;
	mnl_attr_put_u32(nlh, NDA_DST, htonl(addr));
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	return talk(nl, nlh, NULL, NULL);
}

int nsf_nl_route_del(struct nsf_nl *nl, uint32_t dst, uint8_t prefix,
		     uint32_t gw)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_request(buf, nl, RTM_DELROUTE, 0);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_scope = RT_SCOPE_NOWHERE;
	if (prefix)
		mnl_attr_put_u32(nlh, RTA_DST, htonl(dst));
	if (gw)
		mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gw));
	return talk(nl, nlh, NULL, NULL);
}
