// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "recover.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "endpoint.h"
#include "ipam.h"
#include "maps.h"
#include "netlink.h"
#include "netns.h"
#include "policy.h"

/*
 * One journal per host names the attach under way: attaches hold the host
 * lock, so there is never more than one. Overwritten and emptied in place,
 * never created and removed per attach: on ext4 every removed inode slows
 * down later file creations for minutes, and attach at 1,000 pods showed
 * it.
 */
#define JOURNAL "attaching"

void nsf_fault(const char *point)
{
	const char *want = getenv("NSFAST_FAULT");

	if (!want || strcmp(want, point) != 0)
		return;
	fprintf(stderr, "nsfast: fault injected at %s\n", point);
	fflush(stderr);
	kill(getpid(), SIGKILL);
}

/* ---- the attach under way ---- */

static void journal_path(const struct nsf_host *h, char *path, size_t len)
{
	snprintf(path, len, "%s/" JOURNAL, h->state_dir);
}

static int journal_write(const struct nsf_host *h, const char *what, int flags)
{
	char path[NSF_PATH_MAX + 96];
	size_t len = strlen(what);
	int fd, err = 0;

	journal_path(h, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600);
	if (fd < 0)
		return nsf_fail(errno, "%s", path);
	if (len && write(fd, what, len) != (ssize_t)len)
		err = nsf_fail(errno, "%s", path);
	close(fd);
	return err;
}

/* The name the journal holds ("" if none), whether that attach made the
 * pod's namespace and the host veth name it last tried ("" for the first,
 * the hash of the name). */
static void journal_read(const struct nsf_host *h, char *name, size_t size,
			 bool *netns, char veth[16])
{
	char path[NSF_PATH_MAX + 96], buf[NSF_NAME_MAX + 256] = "";
	char *nl, *v, *end;
	ssize_t len;
	int fd;

	name[0] = '\0';
	veth[0] = '\0';
	*netns = false;
	journal_path(h, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[len > 0 ? len : 0] = '\0';
	nl = strchr(buf, '\n');
	if (!nl)
		return; /* empty, or torn by a crash mid-write: nothing began */
	*nl = '\0';
	*netns = strstr(nl + 1, "netns") != NULL;
	/* The last complete "veth NAME" line: the name tried last. */
	for (v = strstr(nl + 1, "veth "); v; v = strstr(v + 1, "veth ")) {
		end = strchr(v, '\n');
		if (end && end - v - 5 < 16)
			snprintf(veth, 16, "%.*s", (int)(end - v - 5), v + 5);
	}
	if (nsf_valid_name(buf))
		snprintf(name, size, "%s", buf);
}

int nsf_pending_init(const struct nsf_host *h)
{
	return journal_write(h, "", 0);
}

int nsf_pending_begin(const struct nsf_host *h, const char *name)
{
	char line[NSF_NAME_MAX + 2];

	snprintf(line, sizeof(line), "%s\n", name);
	return journal_write(h, line, O_TRUNC);
}

void nsf_pending_netns(const struct nsf_host *h, const char *name)
{
	(void)name;
	journal_write(h, "netns\n", O_APPEND);
}

int nsf_pending_veth(const struct nsf_host *h, const char *name,
		     const char *ifname)
{
	char line[32];

	(void)name;
	snprintf(line, sizeof(line), "veth %s\n", ifname);
	return journal_write(h, line, O_APPEND);
}

static bool marker_exists(const struct nsf_host *h, const char *name)
{
	char pending[NSF_NAME_MAX + 1], veth[16];
	bool netns;

	journal_read(h, pending, sizeof(pending), &netns, veth);
	return pending[0] && !strcmp(pending, name);
}

void nsf_pending_end(const struct nsf_host *h, const char *name)
{
	if (marker_exists(h, name))
		journal_write(h, "", O_TRUNC);
}

/* ---- what nobody owns ---- */

/* Endpoint-map entries pointing at @ifindex, and its devmap slot. */
static unsigned int unmap_ifindex(const struct nsf_maps *m, int ifindex)
{
	struct nsf_endpoint ep;
	__be32 key, next, *prev = NULL;
	unsigned int n = 0;

	if (m->ep4 < 0 || m->tx_ports < 0)
		return 0;
	while (!bpf_map_get_next_key(m->ep4, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(m->ep4, &key, &ep) &&
		    ep.ifindex == (__u32)ifindex &&
		    !bpf_map_delete_elem(m->ep4, &key)) {
			n++;
			prev = NULL; /* the walk restarts after a delete */
		}
	}
	if (!bpf_map_delete_elem(m->tx_ports, &(__u32){ (__u32)ifindex }))
		n++;
	return n;
}

static int ep_has_veth(const struct nsf_ep_rec *rec, void *ifname)
{
	return !strcmp(rec->host_ifname, ifname);
}

/*
 * Delete the host-side veth a dead attach made (and with it the pod side),
 * if it exists: @ifname, or the first name of @name's hash. Never one an
 * endpoint owns: another endpoint's name may hash to the same, and the
 * dead attach may have died before it tried another.
 */
static int remove_veth(const struct nsf_host *h, const struct nsf_maps *m,
		       const char *name, const char *ifname,
		       unsigned int *unmapped)
{
	char first[16];
	struct nsf_link link;
	struct nsf_nl nl;
	int err;

	if (!ifname[0]) {
		nsf_host_ifname(name, first);
		ifname = first;
	}
	err = nsf_ep_foreach(h, ep_has_veth, (void *)ifname);
	if (err)
		return err < 0 ? err : 0;
	err = nsf_nl_open(&nl);
	if (err)
		return nsf_fail(-err, "netlink");
	if (!nsf_nl_link_get(&nl, ifname, &link)) {
		*unmapped += unmap_ifindex(m, link.ifindex);
		nsf_policy_ep_unindex(h, link.ifindex);
		err = nsf_nl_link_del(&nl, link.ifindex);
		if (err == -ENODEV)
			err = 0;
	}
	nsf_nl_close(&nl);
	return err ? nsf_fail(-err, "veth %s", ifname) : 0;
}

typedef bool (*owner_pred)(const struct nsf_host *h, const char *owner,
			   const void *arg);

static bool owner_is(const struct nsf_host *h, const char *owner,
		     const void *name)
{
	(void)h;
	return !strcmp(owner, name);
}

/* Held by no endpoint and by no attach under way (or dead: gc ran those
 * first): nobody will ever give it back. */
static bool owner_gone(const struct nsf_host *h, const char *owner,
		       const void *arg)
{
	struct nsf_ep_rec rec;

	(void)arg;
	return nsf_ep_load(h, owner, &rec) == -ENOENT &&
	       !marker_exists(h, owner);
}

static bool parse_value(const struct nsf_pool *pool, const char *s, uint32_t *v)
{
	char *end;
	unsigned long n;

	if (pool->kind == NSF_POOL_IPV4)
		return !nsf_parse_ipv4(s, v);
	if (*s < '0' || *s > '9')
		return false;
	n = strtoul(s, &end, 10);
	*v = (uint32_t)n;
	return !*end && n <= UINT32_MAX;
}

/*
 * Release every value of @pool whose owner @doomed says must go; for
 * addresses also their endpoint-map entry. Counts them into *n.
 */
static int pool_sweep(const struct nsf_host *h, const struct nsf_pool *pool,
		      const struct nsf_maps *m, owner_pred doomed,
		      const void *arg, unsigned int *n)
{
	char owner[NSF_OWNER_MAX];
	struct dirent *de;
	uint32_t v;
	DIR *d = opendir(pool->dir);
	int err = 0;

	if (!d)
		return errno == ENOENT ? 0 : nsf_fail(errno, "%s", pool->dir);
	while (!err && (de = readdir(d))) {
		if (!parse_value(pool, de->d_name, &v) ||
		    nsf_pool_owner(pool, v, owner, sizeof(owner)))
			continue;
		owner[strcspn(owner, "\n")] = '\0';
		if (!doomed(h, owner, arg))
			continue;
		if (pool->kind == NSF_POOL_IPV4 && m->ep4 >= 0)
			nsf_maps_del_endpoint(m, v);
		err = nsf_pool_release(pool, v);
		if (err)
			err = nsf_fail(-err, "release %s/%s", pool->dir,
				       de->d_name);
		else
			(*n)++;
	}
	closedir(d);
	return err;
}

/* Both pools (addresses only once the host has a configuration). */
static int pools_sweep(const struct nsf_host *h, const struct nsf_maps *m,
		       owner_pred doomed, const void *arg, unsigned int *n)
{
	struct nsf_host_config cfg;
	struct nsf_pool pool;
	int err = 0;

	if (!nsf_config_load(h, &cfg) && !nsf_pool_addresses(h, &cfg, &pool))
		err = pool_sweep(h, &pool, m, doomed, arg, n);
	if (!err && !nsf_pool_ids(h, &pool))
		err = pool_sweep(h, &pool, m, doomed, arg, n);
	return err;
}

static int recover_one(const struct nsf_host *h, const struct nsf_maps *m,
		       const char *name, bool netns, const char *veth,
		       unsigned int *freed)
{
	unsigned int dummy = 0;
	struct nsf_ep_rec rec;
	int err;

	/* Died after the record was saved: the attach is complete. */
	if (nsf_ep_load(h, name, &rec) != -ENOENT) {
		journal_write(h, "", O_TRUNC);
		return 0;
	}
	err = pools_sweep(h, m, owner_is, name, freed ? freed : &dummy);
	if (!err)
		err = remove_veth(h, m, name, veth, &dummy);
	if (!err && netns && nsf_netns_exists(name))
		err = nsf_netns_del(name);
	if (err)
		return err;
	journal_write(h, "", O_TRUNC);
	return 1;
}

int nsf_pending_recover(const struct nsf_host *h, const char *name)
{
	struct nsf_maps m = NSF_MAPS_CLOSED;
	char pending[NSF_NAME_MAX + 1], veth[16];
	bool netns;
	int err;

	/* Whatever attach died, not only one of @name: the journal holds
	 * one at most, and the next attach must not overwrite it. */
	(void)name;
	journal_read(h, pending, sizeof(pending), &netns, veth);
	if (!pending[0])
		return 0;
	nsf_maps_open(h, &m); /* not initialised any more: nothing mapped */
	nsf_clear_error();
	err = recover_one(h, &m, pending, netns, veth, NULL);
	nsf_maps_close(&m);
	return err;
}

/* ---- stale endpoints ---- */

const char *nsf_ep_stale_reason(const struct nsf_ep_rec *rec)
{
	struct nsf_link link;
	struct nsf_nl nl;
	bool veth;

	if (strchr(rec->netns, '/') ? access(rec->netns, F_OK) != 0
				    : !nsf_netns_exists(rec->netns))
		return "netns missing";
	if (nsf_nl_open(&nl))
		return NULL; /* cannot tell: not stale */
	veth = !nsf_nl_link_get(&nl, rec->host_ifname, &link) &&
	       link.ifindex == rec->host_ifindex;
	nsf_nl_close(&nl);
	return veth ? NULL : "veth missing";
}

struct gc_ctx {
	const struct nsf_host *h;
	struct nsf_ep_gc_result *res;
	int *ifindexes; /* of the endpoints that stay */
	size_t n, cap;
	int err;
};

static int gc_endpoint(const struct nsf_ep_rec *rec, void *arg)
{
	struct gc_ctx *ctx = arg;
	int *grown;

	if (nsf_ep_stale_reason(rec)) {
		if (nsf_endpoint_detach(ctx->h, rec)) {
			nsf_report("gc: endpoint %s", rec->name);
			ctx->err = -EIO;
		} else {
			ctx->res->stale++;
		}
		return 0;
	}
	if (ctx->n == ctx->cap) {
		ctx->cap = ctx->cap ? ctx->cap * 2 : 64;
		grown = realloc(ctx->ifindexes, ctx->cap * sizeof(int));
		if (!grown)
			return nsf_fail(ENOMEM, "gc");
		ctx->ifindexes = grown;
	}
	ctx->ifindexes[ctx->n++] = rec->host_ifindex;
	return 0;
}

static int gc_markers(const struct nsf_host *h, const struct nsf_maps *m,
		      struct nsf_ep_gc_result *res)
{
	char pending[NSF_NAME_MAX + 1], veth[16];
	bool netns;
	int rc;

	journal_read(h, pending, sizeof(pending), &netns, veth);
	if (!pending[0])
		return 0;
	rc = recover_one(h, m, pending, netns, veth, &res->addresses);
	if (rc < 0)
		return rc;
	res->half_made += (unsigned int)rc;
	return 0;
}

/* Pod entries of the endpoint map whose address nobody holds. */
static void gc_ep_map(const struct nsf_host *h, const struct nsf_maps *m,
		      struct nsf_ep_gc_result *res)
{
	char owner[NSF_OWNER_MAX];
	struct nsf_host_config cfg;
	struct nsf_endpoint ep;
	struct nsf_pool addrs;
	__be32 key, next, *prev = NULL;

	if (nsf_config_load(h, &cfg) || nsf_pool_addresses(h, &cfg, &addrs))
		return;
	while (!bpf_map_get_next_key(m->ep4, prev, &next)) {
		key = next;
		prev = &key;
		/* Only local pods: other features may map remote ones. */
		if (bpf_map_lookup_elem(m->ep4, &key, &ep) ||
		    !(ep.flags & NSF_EP_F_LOCAL) ||
		    !nsf_pool_owner(&addrs, ntohl(key), owner, sizeof(owner)))
			continue;
		if (!bpf_map_delete_elem(m->ep4, &key)) {
			res->map_entries++;
			prev = NULL;
		}
	}
}

/* Redirect targets that are no device any more, or an nsfast veth that no
 * endpoint has. */
static void gc_tx_ports(const struct gc_ctx *ctx, const struct nsf_maps *m,
			struct nsf_ep_gc_result *res)
{
	__u32 key, next, *prev = NULL;
	struct nsf_link link;
	struct nsf_nl nl;
	bool ours, dead;
	size_t i;
	int rc;

	if (nsf_nl_open(&nl))
		return;
	while (!bpf_map_get_next_key(m->tx_ports, prev, &next)) {
		key = next;
		prev = &key;
		rc = nsf_nl_link_get_index(&nl, (int)key, &link);
		dead = rc == -ENODEV;
		ours = !rc && strlen(link.name) == 11 &&
		       !strncmp(link.name, "nsf", 3);
		for (i = 0; ours && i < ctx->n; i++)
			if (ctx->ifindexes[i] == (int)key)
				ours = false;
		if ((dead || ours) && !bpf_map_delete_elem(m->tx_ports, &key)) {
			res->map_entries++;
			prev = NULL;
		}
	}
	nsf_nl_close(&nl);
}

/* Veth index entries of no endpoint: left by attaches killed before
 * this version removed them with the veth. */
static void gc_ep_ifx(const struct nsf_host *h, const struct gc_ctx *ctx,
		      struct nsf_ep_gc_result *res)
{
	int fd = nsf_map_open(h, NSF_MAP_EP_IFX);
	__u32 key, next, *prev = NULL;
	bool kept;

	if (fd < 0) {
		nsf_clear_error();
		return;
	}
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		kept = false;
		for (size_t i = 0; !kept && i < ctx->n; i++)
			kept = ctx->ifindexes[i] == (int)key;
		if (!kept && !bpf_map_delete_elem(fd, &key)) {
			res->map_entries++;
			prev = NULL;
		}
	}
	close(fd);
}

int nsf_ep_gc(const struct nsf_host *h, struct nsf_ep_gc_result *res)
{
	struct gc_ctx ctx = { .h = h, .res = res };
	struct nsf_maps m = NSF_MAPS_CLOSED;
	int err;

	memset(res, 0, sizeof(*res));
	/* Without maps (never initialised, pins gone) the rest still goes. */
	if (nsf_maps_open(h, &m))
		nsf_clear_error();
	err = nsf_ep_foreach(h, gc_endpoint, &ctx);
	if (!err)
		err = ctx.err;
	if (!err)
		err = gc_markers(h, &m, res);
	if (!err)
		err = pools_sweep(h, &m, owner_gone, NULL, &res->addresses);
	if (!err && m.ep4 >= 0 && m.tx_ports >= 0) {
		gc_ep_map(h, &m, res);
		gc_tx_ports(&ctx, &m, res);
		gc_ep_ifx(h, &ctx, res);
	}
	free(ctx.ifindexes);
	nsf_maps_close(&m);
	return err;
}
