// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * CNI CHECK (is everything ADD made still there?) and GC (spec 1.1:
 * remove attachments the runtime no longer knows).
 */
#include "cni_priv.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nsfast/maps.h>

#include "maps.h"
#include "netlink.h"
#include "netns.h"

/* ---- CHECK ---- */

/* A UDP "connection" from inside the pod: the kernel picks a route and a
 * source address without sending anything. */
static int pod_route_src(int netns_fd, uint32_t dst, uint32_t *src)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(9),
				  .sin_addr.s_addr = htonl(dst) };
	socklen_t len = sizeof(sa);
	int saved, s, err = 0;

	if (nsf_netns_enter(netns_fd, &saved))
		return -1;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(s, (struct sockaddr *)&sa, &len))
		err = -errno;
	if (s >= 0)
		close(s);
	nsf_netns_leave(saved);
	*src = ntohl(sa.sin_addr.s_addr);
	return err;
}

/*
 * The source address the pod would use off its link. TEST-NET-1 takes the
 * default route. A pod whose own default route attach left alone reaches
 * the pod CIDR through us: probe a neighbouring address there, one that is
 * not the pod's own on another interface (the kernel answers a local
 * destination with itself as the source).
 */
static int pod_route_probe(int netns_fd, const struct nsf_ep_rec *rec,
			   uint32_t *src)
{
	uint32_t probe;
	int err;

	if (!rec->kept_default)
		return pod_route_src(netns_fd, 0xc0000201u, src);
	for (uint32_t k = 1; k <= 4; k++) {
		probe = rec->ip ^ k;
		err = pod_route_src(netns_fd, probe, src);
		if (err || *src != probe)
			return err;
	}
	return -EADDRINUSE;
}

static int check_pod(struct cni_ctx *x, const struct nsf_ep_rec *rec)
{
	char a[NSF_ADDR_STRLEN];
	struct nsf_link link = { 0 };
	struct nsf_nl nl;
	uint32_t addr = 0, src = 0;
	int fd, err;

	nsf_format_ipv4(rec->ip, a);
	fd = nsf_netns_open(x->env.netns);
	if (fd < 0)
		return cni_fail_nsf(x, NSF_CNI_E_CHECK, "check");
	err = nsf_nl_open_in(&nl, fd);
	if (!err) {
		err = nsf_nl_link_get(&nl, rec->ifname, &link);
		if (!err && !(link.flags & 1 /* IFF_UP */))
			err = -ENETDOWN;
		if (!err)
			err = nsf_nl_addr_first(&nl, link.ifindex, &addr);
		nsf_nl_close(&nl);
	}
	if (err || addr != rec->ip) {
		close(fd);
		return nsf_cni_fail(
			&x->e, NSF_CNI_E_CHECK,
			"check: interface %s in %s is missing, down "
			"or lacks address %s",
			rec->ifname, x->env.netns, a);
	}
	err = pod_route_probe(fd, rec, &src);
	close(fd);
	if (err || src != rec->ip)
		return nsf_cni_fail(&x->e, NSF_CNI_E_CHECK,
				    "check: the pod has no %s route "
				    "through nsfast's gateway from %s",
				    rec->kept_default ? "pod CIDR" : "default",
				    a);
	return 0;
}

static int check_host(struct cni_ctx *x, const struct nsf_ep_rec *rec)
{
	struct nsf_endpoint ep;
	__be32 key = htonl(rec->ip);
	struct nsf_link link = { 0 };
	struct nsf_nl nl;
	int fd, err;

	err = nsf_nl_open(&nl);
	if (!err) {
		err = nsf_nl_link_get(&nl, rec->host_ifname, &link);
		nsf_nl_close(&nl);
	}
	if (err || link.ifindex != rec->host_ifindex)
		return nsf_cni_fail(&x->e, NSF_CNI_E_CHECK,
				    "check: host veth %s is missing",
				    rec->host_ifname);
	fd = nsf_map_open(&x->h, NSF_MAP_EP4);
	if (fd < 0)
		return cni_fail_nsf(x, NSF_CNI_E_CHECK, "check");
	err = bpf_map_lookup_elem(fd, &key, &ep);
	close(fd);
	if (err || ep.ifindex != (__u32)rec->host_ifindex)
		return nsf_cni_fail(&x->e, NSF_CNI_E_CHECK,
				    "check: endpoint map has no entry for "
				    "%s on %s",
				    rec->name, rec->host_ifname);
	return 0;
}

/* prevResult must list the address nsfast gave. */
static int check_prev(struct cni_ctx *x, const struct nsf_ep_rec *rec)
{
	const cJSON *ips, *i;
	char want[NSF_CIDR_STRLEN], a[NSF_ADDR_STRLEN];

	if (!x->conf.prev_result)
		return 0;
	nsf_format_ipv4(rec->ip, a);
	snprintf(want, sizeof(want), "%s/32", a);
	ips = cJSON_GetObjectItem(x->conf.prev_result, "ips");
	cJSON_ArrayForEach(i, ips) {
		const cJSON *addr = cJSON_GetObjectItem(i, "address");

		if (cJSON_IsString(addr) && !strcmp(addr->valuestring, want))
			return 0;
	}
	return nsf_cni_fail(&x->e, NSF_CNI_E_CHECK,
			    "check: prevResult does not hold address %s", want);
}

int cni_check(struct cni_ctx *x)
{
	struct nsf_ep_rec rec;
	int rc = cni_host_prepare(x, false);

	if (rc < 0)
		return -1;
	if (rc > 0 || nsf_ep_load(&x->h, x->name, &rec))
		return nsf_cni_fail(&x->e, NSF_CNI_E_UNKNOWN_CONT,
				    "container %s interface %s is not "
				    "attached",
				    x->env.container_id, x->env.ifname);
	if (strcmp(rec.netns, x->env.netns) != 0)
		return nsf_cni_fail(&x->e, NSF_CNI_E_CHECK,
				    "check: attached in %s, not %s", rec.netns,
				    x->env.netns);
	if (check_host(x, &rec) || check_pod(x, &rec) || check_prev(x, &rec))
		return -1;
	/* As the reference plugins do: the IPAM plugin checks its part. */
	if (x->conf.ipam.delegate &&
	    nsf_cni_ipam_exec(&x->env, x->conf.ipam.type, "CHECK",
			      x->stdin_text, NULL, &x->e))
		return -1;
	return 0;
}

/* ---- GC (1.1) ---- */

static bool attachment_valid(const cJSON *valid, const char *id,
			     const char *ifname)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, valid) {
		const cJSON *cid = cJSON_GetObjectItem(a, "containerID");
		const cJSON *ifn = cJSON_GetObjectItem(a, "ifname");

		if (cJSON_IsString(cid) && cJSON_IsString(ifn) &&
		    !strcmp(cid->valuestring, id) &&
		    !strcmp(ifn->valuestring, ifname))
			return true;
	}
	return false;
}

/* A stale attachment: its endpoint and what the runtime called it
 * (strings inside @rec, its record, which the caller deletes). */
struct gc_stale {
	char name[64];
	cJSON *rec;
	const char *container_id;
	const char *ifname;
};

/* Whether record file @fname is a stale attachment of this network; if
 * so, it is described in @out, whose record the caller deletes. */
static bool gc_candidate(struct cni_ctx *x, const char *fname,
			 struct gc_stale *out)
{
	const cJSON *net, *id, *ifn;
	size_t len = strlen(fname);

	if (strncmp(fname, "cni-", 4) != 0 || len < 9 ||
	    strcmp(fname + len - 5, ".json") != 0 ||
	    len - 9 >= sizeof(out->name))
		return false;
	memcpy(out->name, fname + 4, len - 9);
	out->name[len - 9] = '\0';
	out->rec = cni_record_load(x, out->name);
	net = cJSON_GetObjectItem(out->rec, "network");
	id = cJSON_GetObjectItem(out->rec, "containerId");
	ifn = cJSON_GetObjectItem(out->rec, "ifname");
	if (cJSON_IsString(net) && cJSON_IsString(id) && cJSON_IsString(ifn) &&
	    !strcmp(net->valuestring, x->conf.name) &&
	    !attachment_valid(x->conf.valid_attachments, id->valuestring,
			      ifn->valuestring)) {
		out->container_id = id->valuestring;
		out->ifname = ifn->valuestring;
		return true;
	}
	cJSON_Delete(out->rec);
	return false;
}

/* Whether @v is a version nsfast speaks, not above @cap, newer than @best
 * ("" for none yet). */
static bool version_better(const cJSON *v, const char *cap, const char *best)
{
	const char *s = cJSON_IsString(v) ? v->valuestring : NULL;

	return s && nsf_cni_version_supported(s) &&
	       nsf_cni_version_cmp(s, cap) <= 0 &&
	       (!*best || nsf_cni_version_cmp(s, best) > 0);
}

int cni_delegate_version(struct cni_ctx *x, char *out, size_t len)
{
	char query[64];
	const cJSON *v;
	cJSON *res = NULL;

	snprintf(query, sizeof(query), "{\"cniVersion\":\"%s\"}",
		 x->conf.cni_version);
	if (nsf_cni_ipam_exec(&x->env, x->conf.ipam.type, "VERSION", query,
			      (void **)&res, &x->e))
		return -1;
	*out = '\0';
	cJSON_ArrayForEach(v, cJSON_GetObjectItem(res, "supportedVersions"))
		if (version_better(v, x->conf.cni_version, out))
			nsf_strlcpy(out, v->valuestring, len);
	cJSON_Delete(res);
	if (*out)
		return 0;
	return nsf_cni_fail(&x->e, NSF_CNI_E_IPAM_PLUGIN,
			    "ipam plugin %s: no CNI version in common",
			    x->conf.ipam.type);
}

/*
 * DEL through the delegated IPAM plugin for stale attachment @st, so that
 * it releases the address it handed out: the runtime that would have
 * called DEL is gone. Done before nsfast's own removal, so a failure
 * leaves the record for the next GC to try again.
 */
static int delegate_release(struct cni_ctx *x, const char *version,
			    const struct gc_stale *st)
{
	struct nsf_cni_env env = x->env;
	cJSON *conf = cJSON_Parse(x->stdin_text);
	char *text;
	int rc;

	if (!conf ||
	    !cJSON_ReplaceItemInObject(conf, "cniVersion",
				       cJSON_CreateString(version)) ||
	    !(text = cJSON_PrintUnformatted(conf))) {
		cJSON_Delete(conf);
		return nsf_cni_fail(&x->e, NSF_CNI_E_IPAM_PLUGIN,
				    "out of memory");
	}
	cJSON_Delete(conf);
	env.container_id = st->container_id;
	env.ifname = st->ifname;
	env.netns = "";
	rc = nsf_cni_ipam_exec(&env, x->conf.ipam.type, "DEL", text, NULL,
			       &x->e);
	cJSON_free(text);
	return rc;
}

/* Remove stale attachment @st, through the delegate first if there is one
 * (@version: its CNI version, found on first use). */
static int gc_remove(struct cni_ctx *x, const struct gc_stale *st,
		     char *version, size_t len)
{
	fprintf(stderr, "nsfast: cni gc: removing %s\n", st->name);
	if (x->conf.ipam.delegate) {
		if (!*version && cni_delegate_version(x, version, len))
			return -1;
		if (delegate_release(x, version, st))
			return -1;
	}
	return cni_remove_attachment(x, st->name);
}

/* Whether pool entry @fname (an address) is held by a CNI endpoint name
 * with neither endpoint nor record: an ADD died before it wrote one. */
static bool orphan_address(struct cni_ctx *x, const struct nsf_pool *pool,
			   const char *fname, uint32_t *addr)
{
	char owner[NSF_OWNER_MAX], path[NSF_PATH_MAX * 2];
	struct nsf_ep_rec rec;

	if (nsf_parse_ipv4(fname, addr) ||
	    nsf_pool_owner(pool, *addr, owner, sizeof(owner)) ||
	    strncmp(owner, "cni-", 4) != 0)
		return false;
	cni_record_path(x, owner, path, sizeof(path));
	return access(path, F_OK) != 0 &&
	       nsf_ep_load(&x->h, owner, &rec) == -ENOENT;
}

static int gc_orphan_addresses(struct cni_ctx *x)
{
	struct nsf_pool pool;
	struct dirent *de;
	uint32_t addr;
	int err = 0, e;
	DIR *d;

	if (nsf_pool_addresses(&x->h, &x->cfg, &pool))
		return cni_fail_nsf(x, NSF_CNI_E_ATTACH, "address pool");
	d = opendir(pool.dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!orphan_address(x, &pool, de->d_name, &addr))
			continue;
		fprintf(stderr, "nsfast: cni gc: releasing %s\n", de->d_name);
		e = nsf_pool_release(&pool, addr);
		if (e && !err)
			err = nsf_cni_fail(&x->e, NSF_CNI_E_ATTACH,
					   "release %s/%s: %s", pool.dir,
					   de->d_name, strerror(-e));
	}
	closedir(d);
	return err;
}

/*
 * Spec 1.1: a plugin forwards GC to the plugins it delegates to, with the
 * same config (the runtime's valid attachments included). A delegate that
 * does not speak 1.1.0 knows no GC and is not called.
 */
static int gc_delegate(struct cni_ctx *x, char *version, size_t len)
{
	if (!*version && cni_delegate_version(x, version, len))
		return -1;
	if (nsf_cni_version_cmp(version, "1.1.0") < 0) {
		fprintf(stderr,
			"nsfast: cni gc: ipam plugin %s speaks CNI %s, "
			"no GC\n",
			x->conf.ipam.type, version);
		return 0;
	}
	return nsf_cni_ipam_exec(&x->env, x->conf.ipam.type, "GC",
				 x->stdin_text, NULL, &x->e);
}

/* The failures of one GC: it goes on past each (spec 1.1: remove as much
 * as possible), then reports the first and how many there were. */
struct gc_errors {
	int n;
	int code;
	char first[64 + 2 + 256]; /* "<endpoint name>: <its message>" */
};

static void gc_note(struct cni_ctx *x, struct gc_errors *ge, const char *what)
{
	if (!ge->n++) {
		ge->code = x->e.code;
		snprintf(ge->first, sizeof(ge->first), "%s: %s", what,
			 x->e.msg);
	}
	memset(&x->e, 0, sizeof(x->e));
}

static int gc_report(struct cni_ctx *x, const struct gc_errors *ge)
{
	if (!ge->n)
		return 0;
	return nsf_cni_fail(&x->e, ge->code,
			    "gc: %d failure%s, the rest was collected; "
			    "first: %s",
			    ge->n, ge->n == 1 ? "" : "s", ge->first);
}

int cni_gc(struct cni_ctx *x)
{
	int rc = cni_host_prepare(x, false);
	struct gc_errors ge = { 0 };
	char version[16] = "";
	struct gc_stale st;
	struct dirent *de;
	DIR *d;

	if (rc)
		return rc < 0 ? -1 : 0;
	if (nsf_host_lock(&x->h))
		return cni_fail_nsf(x, NSF_CNI_E_ATTACH, "host");
	d = opendir(x->h.state_dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!gc_candidate(x, de->d_name, &st))
			continue;
		if (gc_remove(x, &st, version, sizeof(version)))
			gc_note(x, &ge, st.name);
		cJSON_Delete(st.rec);
	}
	closedir(d);
	if (gc_orphan_addresses(x))
		gc_note(x, &ge, "orphan addresses");
	if (x->conf.ipam.delegate && gc_delegate(x, version, sizeof(version)))
		gc_note(x, &ge, "ipam plugin gc");
	return gc_report(x, &ge);
}
