// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "routes.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps.h"
#include "netlink.h"
#include "recover.h"

#define ROUTES_FILE "routes.json"

struct route_set {
	struct nsf_route *list;
	size_t count;
};

static void set_free(struct route_set *s)
{
	free(s->list);
	s->list = NULL;
	s->count = 0;
}

static int route_from_json(const cJSON *o, struct nsf_route *r)
{
	const cJSON *cidr = cJSON_GetObjectItemCaseSensitive(o, "cidr");
	const cJSON *via = cJSON_GetObjectItemCaseSensitive(o, "via");

	if (!cJSON_IsString(cidr) || !cJSON_IsString(via) ||
	    nsf_parse_cidr4(cidr->valuestring, &r->cidr, false) ||
	    nsf_parse_ipv4(via->valuestring, &r->via))
		return -EBADMSG;
	return 0;
}

static int set_load(const struct nsf_host *h, struct route_set *s)
{
	const cJSON *item;
	cJSON *json;
	int err;

	memset(s, 0, sizeof(*s));
	json = nsf_state_read_json(h, ROUTES_FILE, &err);
	if (!json)
		return err == -ENOENT ? 0 : err;
	err = cJSON_IsArray(json) ? 0 : -EBADMSG;
	if (!err) {
		/* At least one slot: never NULL when err is 0. */
		s->list = calloc((size_t)cJSON_GetArraySize(json) + 1,
				 sizeof(*s->list));
		if (!s->list)
			err = -ENOMEM;
	}
	cJSON_ArrayForEach(item, json) {
		if (err)
			break;
		err = route_from_json(item, &s->list[s->count]);
		if (!err)
			s->count++;
	}
	cJSON_Delete(json);
	if (err) {
		set_free(s);
		return nsf_fail(-err, "%s/%s: invalid content", h->state_dir,
				ROUTES_FILE);
	}
	return 0;
}

static int set_save(const struct nsf_host *h, const struct route_set *s)
{
	char cidr[NSF_CIDR_STRLEN], via[NSF_ADDR_STRLEN];
	cJSON *arr = cJSON_CreateArray();
	int err;

	if (!arr)
		return nsf_fail(ENOMEM, "%s", ROUTES_FILE);
	for (size_t i = 0; i < s->count; i++) {
		cJSON *o = cJSON_CreateObject();

		if (!o) {
			cJSON_Delete(arr);
			return nsf_fail(ENOMEM, "%s", ROUTES_FILE);
		}
		nsf_format_cidr4(&s->list[i].cidr, cidr);
		nsf_format_ipv4(s->list[i].via, via);
		cJSON_AddStringToObject(o, "cidr", cidr);
		cJSON_AddStringToObject(o, "via", via);
		cJSON_AddItemToArray(arr, o);
	}
	err = nsf_state_write_json(h, ROUTES_FILE, arr);
	cJSON_Delete(arr);
	return err;
}

static struct nsf_route *set_find(const struct route_set *s,
				  const struct nsf_cidr4 *cidr)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->list[i].cidr.net == cidr->net &&
		    s->list[i].cidr.prefix == cidr->prefix)
			return &s->list[i];
	return NULL;
}

static bool via_used(const struct route_set *s, uint32_t via)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->list[i].via == via)
			return true;
	return false;
}

/*
 * Make the map entry of @c what the route set @s says: the route of
 * exactly @c, or, for a /32, the node entry of an address some route goes
 * via (NSF_ROUTE_F_NODE), or nothing. A node's own /32 can be both (a
 * route says how to reach node N, another goes via N): one LPM entry then
 * serves both, with the route's next hop, and stays while either does.
 * Writing each key from the whole set, rather than per route, keeps
 * add, del and init's restore from undoing each other's entries.
 */
static int entry_sync(int fd, const struct route_set *s,
		      const struct nsf_cidr4 *c)
{
	const struct nsf_route *r = set_find(s, c);
	bool node = c->prefix == 32 && via_used(s, c->net);
	struct nsf_route4_key k = { .prefixlen = c->prefix,
				    .addr = htonl(c->net) };
	struct nsf_route4_val v = {
		.node = htonl(r ? r->via : c->net),
		.flags = node ? NSF_ROUTE_F_NODE : 0,
	};
	int err;

	if (r || node)
		err = bpf_map_update_elem(fd, &k, &v, BPF_ANY);
	else if ((err = bpf_map_delete_elem(fd, &k)) == -ENOENT)
		err = 0;
	return err ? nsf_fail(-err, "map %s", NSF_MAP_ROUTES4) : 0;
}

/* The entries of route @r: its CIDR and its node's /32. */
static int route_sync(int fd, const struct route_set *s,
		      const struct nsf_route *r)
{
	int err = entry_sync(fd, s, &r->cidr);

	return err ? err : entry_sync(fd, s, &(struct nsf_cidr4){ r->via, 32 });
}

/*
 * The kernel's own route too (as flannel host-gw and Calico install
 * them): the host's processes and the kernel's fallbacks reach other
 * nodes' pods, and a node's replies to pods that reached it directly
 * go back to their node. An unreachable node is refused here.
 */
/* What the host's main table already has that a route @want would take
 * over: a route to the very same prefix (ours, or another's), or a subnet
 * the host is on (a link route) that overlaps it. */
struct kernel_clash {
	const struct nsf_route *want;
	bool ours;		 /* the same prefix via the same node, static */
	struct nsf_nl_route hit; /* the first other route in the way */
	bool found;
};

static void clash_cb(const struct nsf_nl_route *k, void *arg)
{
	struct kernel_clash *c = arg;
	struct nsf_cidr4 kc = { k->dst, k->prefix };
	const struct nsf_cidr4 *w = &c->want->cidr;
	bool same = k->dst == w->net && k->prefix == w->prefix;

	if (same && k->gw == c->want->via && k->protocol == RTPROT_STATIC) {
		c->ours = true;
		return;
	}
	if (c->found || !k->prefix)
		return;
	if (same || (!k->gw && (nsf_cidr4_contains(&kc, w->net) ||
				nsf_cidr4_contains(w, kc.net)))) {
		c->hit = *k;
		c->found = true;
	}
}

static int kernel_add(struct nsf_nl *nl, const struct nsf_route *r)
{
	struct kernel_clash c = { .want = r };
	char cidr[NSF_CIDR_STRLEN], via[NSF_ADDR_STRLEN];
	struct nsf_cidr4 hit;
	int err = nsf_nl_routes(nl, clash_cb, &c);

	if (err || c.ours)
		return err; /* ours already (an init re-run) */
	if (c.found) {
		hit = (struct nsf_cidr4){ c.hit.dst, c.hit.prefix };
		nsf_format_cidr4(&hit, cidr);
		if (c.hit.gw)
			nsf_format_ipv4(c.hit.gw, via);
		return nsf_fail(0,
				"the host already routes %s %s%s (%s), which "
				"nsfast will not replace",
				cidr, c.hit.gw ? "via " : "",
				c.hit.gw ? via : "on a link",
				c.hit.gw ? "another route"
					 : "a subnet it is on");
	}
	err = nsf_nl_route_add_new(nl, 0, r->cidr.net, r->cidr.prefix, r->via,
				   false);
	if (!err)
		return 0;
	nsf_format_cidr4(&r->cidr, cidr);
	nsf_format_ipv4(r->via, via);
	return nsf_fail(-err, "kernel route %s via %s", cidr, via);
}

static int kernel_route(const struct nsf_route *r, bool add)
{
	char cidr[NSF_CIDR_STRLEN], via[NSF_ADDR_STRLEN];
	struct nsf_nl nl;
	int err = nsf_nl_open(&nl);

	if (err)
		return nsf_fail(-err, "netlink");
	if (add) {
		err = kernel_add(&nl, r);
		nsf_nl_close(&nl);
		return err;
	}
	err = nsf_nl_route_del(&nl, r->cidr.net, r->cidr.prefix, r->via);
	nsf_nl_close(&nl);
	if (!add && err == -ESRCH)
		err = 0;
	if (!err)
		return 0;
	nsf_format_cidr4(&r->cidr, cidr);
	nsf_format_ipv4(r->via, via);
	return nsf_fail(-err, "kernel route %s via %s", cidr, via);
}

static bool overlaps(const struct nsf_cidr4 *a, const struct nsf_cidr4 *b)
{
	return nsf_cidr4_contains(a, b->net) || nsf_cidr4_contains(b, a->net);
}

static bool unicast(uint32_t a)
{
	uint8_t first = (uint8_t)(a >> 24);

	return a && first != 127 && first < 224 && a != 0xffffffffu;
}

static int check_route(const struct nsf_host_config *cfg,
		       const struct nsf_route *r)
{
	char cidr[NSF_CIDR_STRLEN], pods[NSF_CIDR_STRLEN], via[NSF_ADDR_STRLEN];
	const char *reserved = nsf_cidr4_reserved(&r->cidr);

	nsf_format_cidr4(&r->cidr, cidr);
	nsf_format_cidr4(&cfg->pod_cidr, pods);
	nsf_format_ipv4(r->via, via);
	if (r->cidr.prefix < 1)
		return nsf_fail(0,
				"%s: a default route would send every pod "
				"packet to one node",
				cidr);
	/*
	 * A route is another node's pod CIDR, and no pod CIDR lies in these
	 * ranges (init refuses them). The datapath looks routes up before it
	 * sets broadcast, multicast and the pods' gateway aside, so a route
	 * there would send those to a node. This also refuses each half of
	 * a split default (0.0.0.0/1 + 128.0.0.0/1, a default route in two
	 * pieces): every /1 covers one of them.
	 */
	if (reserved)
		return nsf_fail(0, "%s overlaps %s: no pod CIDR can be there",
				cidr, reserved);
	if (overlaps(&r->cidr, &cfg->pod_cidr))
		return nsf_fail(0, "%s overlaps the local pod CIDR %s", cidr,
				pods);
	if (!unicast(r->via))
		return nsf_fail(0, "via %s is not a unicast address", via);
	if (nsf_cidr4_contains(&cfg->pod_cidr, r->via) ||
	    nsf_cidr4_contains(&r->cidr, r->via))
		return nsf_fail(0, "via %s is a pod address, not a node's",
				via);
	if (cfg->uplink[0] && r->via == cfg->snat)
		return nsf_fail(0, "via %s is this host's own address", via);
	return 0;
}

int nsf_route_add(const struct nsf_host *h, const struct nsf_route *r)
{
	char cidr[NSF_CIDR_STRLEN], via[NSF_ADDR_STRLEN];
	struct nsf_host_config cfg;
	struct nsf_route *old, *grown;
	bool kernel = false;
	struct route_set s;
	int fd, err;

	err = nsf_config_load(h, &cfg);
	if (err == -ENOENT)
		return nsf_fail(0, "not initialised (run 'nsfast init' first)");
	if (!err)
		err = check_route(&cfg, r);
	if (!err)
		err = set_load(h, &s);
	if (err)
		return err;
	old = set_find(&s, &r->cidr);
	if (old && old->via != r->via) {
		nsf_format_cidr4(&old->cidr, cidr);
		nsf_format_ipv4(old->via, via);
		set_free(&s);
		return nsf_fail(EEXIST, "route %s via %s", cidr, via);
	}
	if (!old) {
		grown = realloc(s.list, (s.count + 1) * sizeof(*s.list));
		if (!grown) {
			set_free(&s);
			return nsf_fail(ENOMEM, "route");
		}
		s.list = grown;
		s.list[s.count++] = *r;
		/*
		 * The record first: killed after it, the route is listed,
		 * and the same add again (or init) completes it, route del
		 * and reset take off whatever of it was made. Killed after
		 * the kernel route and the map entry but before the record,
		 * they would stay, unlisted: del refused the route and reset
		 * left the kernel's.
		 */
		err = set_save(h, &s);
		if (err) {
			set_free(&s);
			return err;
		}
		nsf_fault("route-add");
	}
	/* Recorded already (the same route again, or an add killed after
	 * its record): make sure of the kernel route and the entries. */
	fd = nsf_map_open(h, NSF_MAP_ROUTES4);
	err = fd < 0 ? fd : kernel_route(r, true);
	if (!err) {
		kernel = true;
		err = route_sync(fd, &s, r);
	}
	if (err && !old) { /* roll back: the entries and record as before */
		s.count--;
		if (fd >= 0)
			route_sync(fd, &s, r);
		if (kernel)
			kernel_route(r, false);
		set_save(h, &s);
	}
	if (fd >= 0)
		close(fd);
	set_free(&s);
	return err;
}

int nsf_route_del(const struct nsf_host *h, const struct nsf_cidr4 *cidr)
{
	char str[NSF_CIDR_STRLEN];
	struct nsf_route *old, gone;
	struct route_set s;
	int fd, err;

	err = set_load(h, &s);
	if (err)
		return err;
	old = set_find(&s, cidr);
	if (!old) {
		set_free(&s);
		nsf_format_cidr4(cidr, str);
		return nsf_fail(0, "no route %s", str);
	}
	gone = *old;
	*old = s.list[--s.count];
	fd = nsf_map_open(h, NSF_MAP_ROUTES4);
	err = fd < 0 ? fd : route_sync(fd, &s, &gone);
	if (fd >= 0)
		close(fd);
	if (!err)
		err = kernel_route(&gone, false);
	if (!err)
		err = set_save(h, &s);
	set_free(&s);
	return err;
}

static int cmp_route(const void *a, const void *b)
{
	const struct nsf_route *x = a, *y = b;

	if (x->cidr.net != y->cidr.net)
		return x->cidr.net < y->cidr.net ? -1 : 1;
	return (int)x->cidr.prefix - (int)y->cidr.prefix;
}

int nsf_route_list(const struct nsf_host *h, struct nsf_route **list,
		   size_t *count)
{
	struct route_set s;
	int err = set_load(h, &s);

	if (err)
		return err;
	if (s.count)
		qsort(s.list, s.count, sizeof(*s.list), cmp_route);
	*list = s.list;
	*count = s.count;
	return 0;
}

int nsf_route_check(const struct nsf_host *h, const struct nsf_host_config *cfg)
{
	struct route_set s;
	int err = set_load(h, &s);

	for (size_t i = 0; !err && i < s.count; i++)
		err = check_route(cfg, &s.list[i]);
	set_free(&s);
	return err;
}

int nsf_route_restore(const struct nsf_host *h)
{
	struct route_set s;
	int fd = -1, err;

	err = set_load(h, &s);
	if (!err && s.count) {
		fd = nsf_map_open(h, NSF_MAP_ROUTES4);
		err = fd < 0 ? fd : 0;
	}
	for (size_t i = 0; !err && i < s.count; i++) {
		err = route_sync(fd, &s, &s.list[i]);
		/* A node unreachable now (uplink down?) must not stop init:
		 * the BPF route stands, the kernel's comes with the next
		 * init. Say so. */
		if (!err && kernel_route(&s.list[i], true))
			nsf_report("init: warning");
	}
	if (fd >= 0)
		close(fd);
	set_free(&s);
	return err;
}

int nsf_route_teardown(const struct nsf_host *h)
{
	struct route_set s;
	int err = set_load(h, &s);

	for (size_t i = 0; !err && i < s.count; i++)
		err = kernel_route(&s.list[i], false);
	set_free(&s);
	return err;
}
