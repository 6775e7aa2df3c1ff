/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * rtnetlink through libmnl: just the link, address, route and neighbour
 * operations nsfast needs. A socket belongs to the namespace it was opened
 * in, so one nsf_nl per namespace configures that namespace without the
 * process ever staying in it. Functions return 0 or a negative errno and
 * leave the context (which device, which namespace) to the caller.
 */
#ifndef NSF_NETLINK_H
#define NSF_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

struct mnl_socket;

struct nsf_nl {
	struct mnl_socket *sock;
	unsigned int portid;
	unsigned int seq;
};

struct nsf_link {
	int ifindex;
	char name[16];
	uint8_t mac[6];
	unsigned int flags; /* IFF_* */
	unsigned int mtu;
	char kind[16]; /* IFLA_INFO_KIND: "veth", "bridge", ... */
};

int nsf_nl_open(struct nsf_nl *nl);
/* Open a socket inside namespace @netns_fd (the caller stays where it is). */
int nsf_nl_open_in(struct nsf_nl *nl, int netns_fd);
void nsf_nl_close(struct nsf_nl *nl);

/* -ENODEV when there is no such link. */
int nsf_nl_link_get(struct nsf_nl *nl, const char *name, struct nsf_link *link);
int nsf_nl_link_get_index(struct nsf_nl *nl, int ifindex,
			  struct nsf_link *link);
/* A veth pair: @name here, @peer created directly inside @peer_netns_fd;
 * one tx and one rx queue each. */
int nsf_nl_veth_add(struct nsf_nl *nl, const char *name, const char *peer,
		    int peer_netns_fd);
int nsf_nl_link_up(struct nsf_nl *nl, int ifindex);
/* The same by name: one round trip where a look-up would cost another. */
int nsf_nl_link_up_name(struct nsf_nl *nl, const char *name);
/* Up, with IPv6 address generation off in the same request: the link never
 * gets a link-local address, so it never sends IPv6 of its own. */
int nsf_nl_link_up_ipv4(struct nsf_nl *nl, int ifindex);
int nsf_nl_link_del(struct nsf_nl *nl, int ifindex);

/* Addresses are host order. */
int nsf_nl_addr_add(struct nsf_nl *nl, int ifindex, uint32_t addr,
		    uint8_t prefix);
/* The first global IPv4 address of @ifindex (host order); -ENOENT if none. */
int nsf_nl_addr_first(struct nsf_nl *nl, int ifindex, uint32_t *addr);
/* Route to @dst/@prefix out of @ifindex; via @gw unless 0 (then scope link).
 * Replaces an existing route to the same destination. */
int nsf_nl_route_add(struct nsf_nl *nl, int ifindex, uint32_t dst,
		     uint8_t prefix, uint32_t gw);
/* The same, but only if there is no route to @dst/@prefix yet (-EEXIST);
 * @onlink: @gw is on @ifindex's link even without a route saying so. */
int nsf_nl_route_add_new(struct nsf_nl *nl, int ifindex, uint32_t dst,
			 uint8_t prefix, uint32_t gw, bool onlink);
/* A unicast IPv4 route of the main table (host order). */
struct nsf_nl_route {
	uint32_t dst;
	uint32_t gw; /* 0: none (a link route) */
	int ifindex;
	uint8_t prefix;
	uint8_t scope;	  /* RT_SCOPE_* */
	uint8_t protocol; /* RTPROT_*: kernel (connected), static, ... */
};

typedef void (*nsf_nl_route_cb)(const struct nsf_nl_route *r, void *arg);

/* Call @cb for every unicast route of the main table. */
int nsf_nl_routes(struct nsf_nl *nl, nsf_nl_route_cb cb, void *arg);
/* How many links the socket's namespace has besides lo. */
int nsf_nl_link_count(struct nsf_nl *nl, int *n);
/* Whether the main table has a default route (any device, any metric). */
int nsf_nl_has_default_route(struct nsf_nl *nl, bool *found);
/* Remove the route to @dst/@prefix (via @gw if non-zero); host order. */
int nsf_nl_route_del(struct nsf_nl *nl, uint32_t dst, uint8_t prefix,
		     uint32_t gw);
/* Permanent neighbour entry @addr -> @mac on @ifindex (replaces). */
int nsf_nl_neigh_add(struct nsf_nl *nl, int ifindex, uint32_t addr,
		     const uint8_t mac[6]);

#endif /* NSF_NETLINK_H */
