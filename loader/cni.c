// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The CNI commands. ADD puts the container's namespace on the fast path
 * with the same endpoint code as `nsfast attach` (endpoint.c), under the
 * host lock, after setting the host up from the config if nobody ran
 * `nsfast init`. Every invocation writes exactly one JSON document to
 * stdout (a result, or an error with its code) and logs errors to stderr.
 *
 * Each attachment (container id, ifname) is endpoint "cni-<id>-<if>-<hash>"
 * plus a record <state>/cni-<endpoint>.json that DEL, CHECK and GC read.
 */
#include "cni.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nsfast/maps.h>

#include "commands.h"
#include "endpoint.h"
#include "maps.h"
#include "netlink.h"
#include "netns.h"
#include "state.h"

/* One invocation. */
struct cni_ctx {
	struct nsf_cni_env env;
	struct nsf_cni_conf conf;
	const char *stdin_text;
	struct nsf_host h;
	struct nsf_host_config cfg;
	char name[64]; /* endpoint name */
	struct nsf_cni_err e;
};

/* ---- output ---- */

static int emit_json(cJSON *doc)
{
	char *text = cJSON_Print(doc);
	int rc = 0;

	if (!text || printf("%s\n", text) < 0 || fflush(stdout))
		rc = 1;
	free(text);
	return rc;
}

static const char *reply_version(const struct nsf_cni_conf *c)
{
	return nsf_cni_version_supported(c->cni_version) ? c->cni_version
							 : NSF_CNI_LATEST;
}

static int emit_error(const struct cni_ctx *x)
{
	char details[sizeof(x->e.details)];
	cJSON *doc = cJSON_CreateObject();

	/* Which attachment, for the runtime's log. */
	if (!x->e.details[0] && x->name[0])
		snprintf(details, sizeof(details),
			 "container %s, ifname %s, endpoint %s",
			 x->env.container_id, x->env.ifname, x->name);
	else
		snprintf(details, sizeof(details), "%s", x->e.details);
	fprintf(stderr, "nsfast: cni: %s (code %d)\n", x->e.msg, x->e.code);
	cJSON_AddStringToObject(doc, "cniVersion", reply_version(&x->conf));
	cJSON_AddNumberToObject(doc, "code", x->e.code);
	cJSON_AddStringToObject(doc, "msg", x->e.msg);
	if (details[0])
		cJSON_AddStringToObject(doc, "details", details);
	emit_json(doc);
	cJSON_Delete(doc);
	return 1;
}

/* nsfast's own error (nsf_fail) as a CNI error with @code. */
static int fail_nsf(struct cni_ctx *x, int code, const char *what)
{
	const char *why = nsf_last_error();

	return nsf_cni_fail(&x->e, code, "%s%s%s", what, *why ? ": " : "", why);
}

/* ---- the CNI record of an attachment ---- */

static void record_path(const struct cni_ctx *x, const char *name, char *path,
			size_t len)
{
	snprintf(path, len, "%s/cni-%s.json", x->h.state_dir, name);
}

static cJSON *portmaps_json(const struct nsf_cni_conf *c)
{
	cJSON *arr = cJSON_CreateArray();

	for (int i = 0; i < c->nportmaps; i++) {
		const struct nsf_cni_portmap *pm = &c->portmaps[i];
		cJSON *o = cJSON_CreateObject();
		char a[NSF_ADDR_STRLEN];

		cJSON_AddNumberToObject(o, "hostPort", pm->host_port);
		cJSON_AddNumberToObject(o, "containerPort", pm->container_port);
		cJSON_AddStringToObject(o, "protocol",
					pm->proto == IPPROTO_UDP ? "udp"
								 : "tcp");
		if (pm->host_ip) {
			nsf_format_ipv4(pm->host_ip, a);
			cJSON_AddStringToObject(o, "hostIP", a);
		}
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static int record_save(const struct cni_ctx *x, const struct nsf_ep_rec *rec)
{
	char path[NSF_PATH_MAX * 2], tmp[NSF_PATH_MAX * 2 + 16], a[16];
	cJSON *doc = cJSON_CreateObject();
	char *text;
	FILE *f;
	int err = 0;

	nsf_format_ipv4(rec->ip, a);
	cJSON_AddStringToObject(doc, "containerId", x->env.container_id);
	cJSON_AddStringToObject(doc, "ifname", x->env.ifname);
	cJSON_AddStringToObject(doc, "netns", x->env.netns);
	cJSON_AddStringToObject(doc, "network", x->conf.name);
	cJSON_AddStringToObject(doc, "endpoint", rec->name);
	cJSON_AddStringToObject(doc, "ip", a);
	cJSON_AddStringToObject(doc, "ipamType", x->conf.ipam.type);
	cJSON_AddItemToObject(doc, "portMappings", portmaps_json(&x->conf));
	text = cJSON_Print(doc);
	cJSON_Delete(doc);
	if (!text)
		return -ENOMEM;
	record_path(x, rec->name, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	f = fopen(tmp, "we");
	if (!f || fputs(text, f) < 0)
		err = -EIO;
	if (f && fclose(f) && !err)
		err = -EIO;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	free(text);
	return err;
}

static cJSON *record_load(const struct cni_ctx *x, const char *name)
{
	char path[NSF_PATH_MAX * 2], buf[65536];
	size_t n;
	FILE *f;

	record_path(x, name, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return cJSON_Parse(buf);
}

static void record_remove(const struct cni_ctx *x, const char *name)
{
	char path[NSF_PATH_MAX * 2];

	record_path(x, name, path, sizeof(path));
	unlink(path);
}

/* ---- port mappings ---- */

/*
 * The one place where runtimeConfig.portMappings meet the datapath. Port
 * publishing (nsf_publish_add/del: proto, host port, pod address and port,
 * owner endpoint) lives in another part of nsfast; until it is linked in
 * here, a request with mappings fails cleanly instead of silently
 * publishing nothing. Wiring: for each mapping, nsf_publish_add() with
 * owner rec->name, deleting the ones added so far if one fails.
 */
static int cni_apply_port_mappings(const struct nsf_host *h,
				   const struct nsf_ep_rec *rec,
				   const struct nsf_cni_portmap *pms, int n,
				   struct nsf_cni_err *e)
{
	(void)h;
	(void)rec;
	(void)pms;
	if (n == 0)
		return 0;
	return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
			    "runtimeConfig.portMappings: port publishing is "
			    "not supported yet (%d mapping(s) requested)",
			    n);
}

/* DEL/GC side of the above: nsf_publish_del() for each mapping the record
 * holds (missing ones are fine). Nothing can be published yet. */
static int cni_release_port_mappings(const struct nsf_host *h,
				     const cJSON *record)
{
	(void)h;
	(void)record;
	return 0;
}

/* ---- the host ---- */

static int mkdir_p(const char *path)
{
	char buf[NSF_PATH_MAX];

	if (!nsf_strlcpy(buf, path, sizeof(buf)))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* The pod CIDR for a host the plugin sets up: podCIDR, else the subnet of
 * a single own ipam range, else nsfast's default. */
static void init_cidr(const struct nsf_cni_conf *c, char out[NSF_CIDR_STRLEN])
{
	struct nsf_cidr4 cidr;

	if (c->has_pod_cidr) {
		nsf_format_cidr4(&c->pod_cidr, out);
	} else if (!c->ipam.delegate && c->ipam.nranges == 1 &&
		   c->ipam.ranges[0].subnet.prefix >= 8 &&
		   c->ipam.ranges[0].subnet.prefix <= 30) {
		nsf_format_cidr4(&c->ipam.ranges[0].subnet, out);
	} else {
		nsf_parse_cidr4(NSF_DEFAULT_POD_CIDR, &cidr, false);
		nsf_format_cidr4(&cidr, out);
	}
}

/* `nsfast init` with the config's settings. Its report goes to stderr:
 * stdout carries the CNI result only. */
static int run_init(struct cni_ctx *x)
{
	char cidr[NSF_CIDR_STRLEN], *argv[16];
	const struct nsf_cni_conf *c = &x->conf;
	int argc = 0, saved, rc;

	init_cidr(c, cidr);
	argv[argc++] = "init";
	argv[argc++] = "--pod-cidr";
	argv[argc++] = cidr;
	if (*c->uplink) {
		argv[argc++] = "--uplink";
		argv[argc++] = (char *)c->uplink;
	}
	if (*c->snat_ip) {
		argv[argc++] = "--snat-ip";
		argv[argc++] = (char *)c->snat_ip;
	}
	if (*c->xdp_mode) {
		argv[argc++] = "--xdp-mode";
		argv[argc++] = (char *)c->xdp_mode;
	}
	if (*c->nat_ports) {
		argv[argc++] = "--nat-ports";
		argv[argc++] = (char *)c->nat_ports;
	}
	argv[argc] = NULL;
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	if (saved < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		return nsf_cni_fail(&x->e, NSF_CNI_E_HOST_INIT, "dup: %s",
				    strerror(errno));
	nsf_clear_error();
	optind = 0;
	opterr = 0;
	rc = cmd_init(argc, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	if (rc)
		return fail_nsf(x, NSF_CNI_E_HOST_INIT, "set up the host");
	return 0;
}

/*
 * Open the host and load its config; when it was never initialised and
 * @create, initialise it from the network config first. Concurrent ADDs
 * on a fresh host: a flock on the state directory lets one initialise,
 * the others then find the config. Returns 1 when not initialised (and
 * !@create).
 */
static int host_prepare(struct cni_ctx *x, bool create)
{
	int err, fd;

	if (nsf_host_open(&x->h))
		return fail_nsf(x, NSF_CNI_E_ATTACH, "host");
	err = nsf_config_load(&x->h, &x->cfg);
	/* Never set up: nothing to delete or check, bpffs or not. */
	if (err == -ENOENT && !create)
		return 1;
	if (nsf_host_check_bpffs(&x->h))
		return fail_nsf(x, NSF_CNI_E_ATTACH, "host");
	if (err != -ENOENT)
		return err ? fail_nsf(x, NSF_CNI_E_ATTACH, "host config") : 0;
	err = mkdir_p(x->h.state_dir);
	fd = err ? -1
		 : open(x->h.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX)) {
		if (fd >= 0)
			close(fd);
		return nsf_cni_fail(&x->e, NSF_CNI_E_HOST_INIT, "state %s: %s",
				    x->h.state_dir,
				    strerror(err ? -err : errno));
	}
	err = nsf_config_load(&x->h, &x->cfg);
	if (err == -ENOENT)
		err = run_init(x) ? -1 : nsf_config_load(&x->h, &x->cfg);
	close(fd);
	if (err && !x->e.code)
		return fail_nsf(x, NSF_CNI_E_HOST_INIT, "host config");
	return err ? -1 : 0;
}

static int host_check_conf(struct cni_ctx *x)
{
	char want[NSF_CIDR_STRLEN], have[NSF_CIDR_STRLEN];
	const struct nsf_cni_conf *c = &x->conf;

	if (c->has_pod_cidr && (c->pod_cidr.net != x->cfg.pod_cidr.net ||
				c->pod_cidr.prefix != x->cfg.pod_cidr.prefix)) {
		nsf_format_cidr4(&c->pod_cidr, want);
		nsf_format_cidr4(&x->cfg.pod_cidr, have);
		return nsf_cni_fail(&x->e, NSF_CNI_E_CONFIG,
				    "podCIDR %s differs from the host's pod "
				    "CIDR %s (change it with nsfast init)",
				    want, have);
	}
	if (c->ipam.delegate)
		return 0;
	return nsf_cni_ipam_fit(&x->conf.ipam, &x->cfg.pod_cidr, &x->e);
}

/* ---- results ---- */

static cJSON *array_of(cJSON *obj, const char *key)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (cJSON_IsArray(a))
		return a;
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	return cJSON_AddArrayToObject(obj, key);
}

static void add_route(cJSON *routes, const struct nsf_cidr4 *dst, uint32_t gw)
{
	char d[NSF_CIDR_STRLEN], g[NSF_ADDR_STRLEN];
	cJSON *r = cJSON_CreateObject();

	nsf_format_cidr4(dst, d);
	nsf_format_ipv4(gw, g);
	cJSON_AddStringToObject(r, "dst", d);
	cJSON_AddStringToObject(r, "gw", g);
	cJSON_AddItemToArray(routes, r);
}

static void add_interface(cJSON *ifs, const char *name, const uint8_t mac[6],
			  const char *sandbox)
{
	char m[NSF_MAC_STRLEN];
	cJSON *o = cJSON_CreateObject();

	nsf_format_mac(mac, m);
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "mac", m);
	if (sandbox)
		cJSON_AddStringToObject(o, "sandbox", sandbox);
	cJSON_AddItemToArray(ifs, o);
}

/*
 * The result: prevResult (when nsfast follows another plugin) with our
 * interfaces, address and routes appended, in the config's cniVersion
 * (0.3.x/0.4.0 results carry "version" in each ips entry).
 */
static cJSON *build_result(const struct cni_ctx *x,
			   const struct nsf_ep_rec *rec,
			   const struct nsf_cidr4 *routes, int nroutes,
			   const cJSON *ipam_dns)
{
	cJSON *res = x->conf.prev_result
			     ? cJSON_Duplicate(x->conf.prev_result, true)
			     : cJSON_CreateObject();
	const struct nsf_cidr4 def = { 0, 0 };
	char a[NSF_CIDR_STRLEN], g[NSF_ADDR_STRLEN];
	cJSON *ifs, *ips, *ip, *rts;
	int idx;

	cJSON_DeleteItemFromObjectCaseSensitive(res, "cniVersion");
	cJSON_AddStringToObject(res, "cniVersion", x->conf.cni_version);
	ifs = array_of(res, "interfaces");
	add_interface(ifs, rec->host_ifname, rec->host_mac, NULL);
	idx = cJSON_GetArraySize(ifs);
	add_interface(ifs, rec->ifname, rec->pod_mac, x->env.netns);

	ips = array_of(res, "ips");
	ip = cJSON_CreateObject();
	if (nsf_cni_version_cmp(x->conf.cni_version, "1.0.0") < 0)
		cJSON_AddStringToObject(ip, "version", "4");
	snprintf(a, sizeof(a), "%u.%u.%u.%u/32", rec->ip >> 24,
		 (rec->ip >> 16) & 0xff, (rec->ip >> 8) & 0xff, rec->ip & 0xff);
	nsf_format_ipv4(x->cfg.gateway, g);
	cJSON_AddStringToObject(ip, "address", a);
	cJSON_AddStringToObject(ip, "gateway", g);
	cJSON_AddNumberToObject(ip, "interface", idx);
	cJSON_AddItemToArray(ips, ip);

	rts = array_of(res, "routes");
	add_route(rts, &def, x->cfg.gateway);
	for (int i = 0; i < nroutes; i++)
		if (routes[i].prefix)
			add_route(rts, &routes[i], x->cfg.gateway);

	if (x->conf.dns || ipam_dns || !cJSON_GetObjectItem(res, "dns")) {
		cJSON_DeleteItemFromObjectCaseSensitive(res, "dns");
		cJSON_AddItemToObject(
			res, "dns",
			x->conf.dns ? cJSON_Duplicate(x->conf.dns, true)
			: ipam_dns  ? cJSON_Duplicate(ipam_dns, true)
				    : cJSON_CreateObject());
	}
	return res;
}

/* ---- ADD ---- */

/* The first IPv4 address of a delegated IPAM result, and its routes. */
static int ipam_result_addr(struct cni_ctx *x, const cJSON *res, uint32_t *ip,
			    struct nsf_cidr4 *routes, int *nroutes)
{
	const cJSON *ips = cJSON_GetObjectItemCaseSensitive(res, "ips"), *i;
	const cJSON *rts = cJSON_GetObjectItemCaseSensitive(res, "routes");
	struct nsf_cidr4 c;

	*ip = 0;
	cJSON_ArrayForEach(i, ips) {
		const cJSON *addr = cJSON_GetObjectItem(i, "address");

		if (!*ip && cJSON_IsString(addr) &&
		    !nsf_parse_cidr4(addr->valuestring, &c, true)) {
			char s[NSF_ADDR_STRLEN];

			nsf_strlcpy(s, addr->valuestring, sizeof(s));
			if (strchr(s, '/'))
				*strchr(s, '/') = '\0';
			nsf_parse_ipv4(s, ip);
		}
	}
	if (!*ip)
		return nsf_cni_fail(&x->e, NSF_CNI_E_IPAM_PLUGIN,
				    "ipam plugin %s returned no IPv4 address",
				    x->conf.ipam.type);
	if (!nsf_cidr4_assignable(&x->cfg.pod_cidr, *ip))
		return nsf_cni_fail(&x->e, NSF_CNI_E_CONFIG,
				    "ipam plugin %s gave an address outside "
				    "the pod CIDR (set podCIDR to cover its "
				    "ranges)",
				    x->conf.ipam.type);
	cJSON_ArrayForEach(i, rts) {
		const cJSON *dst = cJSON_GetObjectItem(i, "dst");

		if (*nroutes < NSF_CNI_MAX_ROUTES && cJSON_IsString(dst) &&
		    !nsf_parse_cidr4(dst->valuestring, &c, true))
			routes[(*nroutes)++] = c;
	}
	return 0;
}

/* Extra routes in the pod (its default route exists already). */
static int add_pod_routes(struct cni_ctx *x, const struct nsf_ep_rec *rec,
			  const struct nsf_cidr4 *routes, int n)
{
	struct nsf_link link = { 0 };
	struct nsf_nl nl;
	int fd, err = 0;

	fd = nsf_netns_open(x->env.netns);
	if (fd < 0)
		return fail_nsf(x, NSF_CNI_E_ATTACH, "routes");
	err = nsf_nl_open_in(&nl, fd);
	close(fd);
	if (err)
		return nsf_cni_fail(&x->e, NSF_CNI_E_ATTACH, "netlink: %s",
				    strerror(-err));
	err = nsf_nl_link_get(&nl, rec->ifname, &link);
	for (int i = 0; !err && i < n; i++)
		if (routes[i].prefix)
			err = nsf_nl_route_add(&nl, link.ifindex, routes[i].net,
					       routes[i].prefix,
					       x->cfg.gateway);
	nsf_nl_close(&nl);
	if (err)
		return nsf_cni_fail(&x->e, NSF_CNI_E_ATTACH, "pod routes: %s",
				    strerror(-err));
	return 0;
}

static int claim_own(struct cni_ctx *x, struct nsf_attach_req *req)
{
	struct nsf_pool pool;

	if (nsf_pool_addresses(&x->h, &x->cfg, &pool))
		return fail_nsf(x, NSF_CNI_E_ATTACH, "address pool");
	if (nsf_cni_ipam_alloc(&x->conf.ipam, &pool, x->conf.req_ip, x->name,
			       &req->ip, &x->e))
		return -1;
	req->ip_claimed = true;
	return 0;
}

/* An attach that failed before it took over our claim leaves it to us. */
static void release_claim(struct cni_ctx *x, const struct nsf_attach_req *req)
{
	char owner[NSF_OWNER_MAX];
	struct nsf_pool pool;

	if (!req->ip_claimed || nsf_pool_addresses(&x->h, &x->cfg, &pool))
		return;
	if (!nsf_pool_owner(&pool, req->ip, owner, sizeof(owner)) &&
	    !strcmp(owner, x->name))
		nsf_pool_release(&pool, req->ip);
}

static void undo_attach(struct cni_ctx *x, const struct nsf_ep_rec *rec)
{
	if (nsf_endpoint_detach(&x->h, rec))
		nsf_report("cni: roll back %s", rec->name);
}

/*
 * Claim the address of a new attachment (own pool or the delegate) and
 * note it in the record before anything else happens, so that a DEL or GC
 * after a crash midway (the runtime's timeout kills us) still releases it.
 */
static int add_address(struct cni_ctx *x, struct nsf_attach_req *req,
		       cJSON **ipres, struct nsf_cidr4 *routes, int *nroutes)
{
	struct nsf_ep_rec pending = { .ip = 0 };

	if (x->conf.ipam.delegate) {
		if (nsf_cni_ipam_exec(&x->env, x->conf.ipam.type, "ADD",
				      x->stdin_text, (void **)ipres, &x->e) ||
		    ipam_result_addr(x, *ipres, &req->ip, routes, nroutes))
			return -1;
	} else if (claim_own(x, req)) {
		return -1;
	}
	nsf_strlcpy(pending.name, x->name, sizeof(pending.name));
	pending.ip = req->ip;
	if (record_save(x, &pending)) {
		release_claim(x, req);
		return nsf_cni_fail(&x->e, NSF_CNI_E_ATTACH, "save record");
	}
	return 0;
}

/* What a new endpoint needs besides attach: routes, port mappings, the
 * final record. On failure the endpoint is taken down again. */
static int add_extras(struct cni_ctx *x, const struct nsf_ep_rec *rec,
		      const struct nsf_cidr4 *routes, int nroutes)
{
	if (add_pod_routes(x, rec, routes, nroutes) ||
	    cni_apply_port_mappings(&x->h, rec, x->conf.portmaps,
				    x->conf.nportmaps, &x->e) ||
	    (record_save(x, rec) &&
	     nsf_cni_fail(&x->e, NSF_CNI_E_ATTACH, "save record"))) {
		undo_attach(x, rec);
		return -1;
	}
	return 0;
}

static int cni_add(struct cni_ctx *x)
{
	struct nsf_attach_req req = { .name = x->name };
	struct nsf_cidr4 routes[2 * NSF_CNI_MAX_ROUTES];
	enum nsf_attach_result res = NSF_ATTACH_EXISTS;
	cJSON *ipres = NULL, *result;
	struct nsf_ep_rec rec;
	int nroutes = 0, rc = -1;
	bool existed;

	if (x->env.netns[0] != '/' || access(x->env.netns, F_OK))
		return nsf_cni_fail(&x->e, NSF_CNI_E_ENV,
				    "CNI_NETNS '%s' is not an existing "
				    "namespace path",
				    x->env.netns);
	if (host_prepare(x, true) || host_check_conf(x) || nsf_host_lock(&x->h))
		return x->e.code ? -1 : fail_nsf(x, NSF_CNI_E_ATTACH, "host");
	req.netns_path = x->env.netns;
	req.ifname = x->env.ifname;
	for (int i = 0; i < x->conf.ipam.nroutes; i++)
		routes[nroutes++] = x->conf.ipam.routes[i];
	/* A repeated ADD finds its endpoint and returns the same result. */
	existed = nsf_ep_load(&x->h, x->name, &rec) == 0;
	if (!existed && add_address(x, &req, &ipres, routes, &nroutes))
		goto out;
	if (nsf_endpoint_attach(&x->h, &x->cfg, &req, &rec, &res)) {
		fail_nsf(x, NSF_CNI_E_ATTACH, "attach");
		release_claim(x, &req);
		if (strstr(x->e.msg, "already in use"))
			x->e.code = NSF_CNI_E_ADDR_TAKEN;
		goto out;
	}
	if (res == NSF_ATTACH_CREATED && add_extras(x, &rec, routes, nroutes))
		goto out;
	result = build_result(x, &rec, routes, nroutes,
			      cJSON_GetObjectItem(ipres, "dns"));
	rc = emit_json(result);
	cJSON_Delete(result);
out:
	if (rc && !existed) {
		struct nsf_cni_err ignore;

		record_remove(x, x->name);
		if (ipres)
			nsf_cni_ipam_exec(&x->env, x->conf.ipam.type, "DEL",
					  x->stdin_text, NULL, &ignore);
	}
	cJSON_Delete(ipres);
	return rc ? -1 : 0;
}

/* ---- DEL ---- */

/* An address the record names and @name still holds, though its endpoint
 * is gone: an ADD died between claiming it and attaching. */
static void release_orphan(struct cni_ctx *x, const char *name,
			   const cJSON *record)
{
	const cJSON *ip = cJSON_GetObjectItem(record, "ip");
	char owner[NSF_OWNER_MAX];
	struct nsf_pool pool;
	uint32_t a;

	if (!cJSON_IsString(ip) || nsf_parse_ipv4(ip->valuestring, &a) ||
	    nsf_pool_addresses(&x->h, &x->cfg, &pool))
		return;
	if (!nsf_pool_owner(&pool, a, owner, sizeof(owner)) &&
	    !strcmp(owner, name))
		nsf_pool_release(&pool, a);
}

/* Take endpoint @name off the host, port mappings first. Gone is fine. */
static int remove_attachment(struct cni_ctx *x, const char *name)
{
	struct nsf_ep_rec rec;
	cJSON *record = record_load(x, name);
	int err;

	err = cni_release_port_mappings(&x->h, record);
	if (err) {
		cJSON_Delete(record);
		return fail_nsf(x, NSF_CNI_E_ATTACH, "port mappings");
	}
	err = nsf_ep_load(&x->h, name, &rec);
	if (err == -ENOENT)
		release_orphan(x, name, record);
	cJSON_Delete(record);
	if (err && err != -ENOENT)
		return fail_nsf(x, NSF_CNI_E_ATTACH, "detach");
	if (!err && nsf_endpoint_detach(&x->h, &rec))
		return fail_nsf(x, NSF_CNI_E_ATTACH, "detach");
	record_remove(x, name);
	return 0;
}

static int cni_del(struct cni_ctx *x)
{
	int rc = host_prepare(x, false);

	if (rc < 0)
		return -1;
	if (rc == 0) {
		if (nsf_host_lock(&x->h))
			return fail_nsf(x, NSF_CNI_E_ATTACH, "host");
		if (remove_attachment(x, x->name))
			return -1;
	}
	if (x->conf.ipam.delegate &&
	    nsf_cni_ipam_exec(&x->env, x->conf.ipam.type, "DEL", x->stdin_text,
			      NULL, &x->e))
		return -1;
	return 0;
}

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
		return fail_nsf(x, NSF_CNI_E_CHECK, "check");
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
	/* TEST-NET-1: any address off the pod's link takes the default. */
	err = pod_route_src(fd, 0xc0000201u, &src);
	close(fd);
	if (err || src != rec->ip)
		return nsf_cni_fail(&x->e, NSF_CNI_E_CHECK,
				    "check: the pod has no default route "
				    "through nsfast's gateway from %s",
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
		return fail_nsf(x, NSF_CNI_E_CHECK, "check");
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

static int cni_check(struct cni_ctx *x)
{
	struct nsf_ep_rec rec;
	int rc = host_prepare(x, false);

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

/* Endpoint name of record file @fname if it is a stale attachment of this
 * network, else "". */
static void gc_candidate(struct cni_ctx *x, const char *fname, char out[64])
{
	char name[64];
	const cJSON *net, *id, *ifn;
	size_t len = strlen(fname);
	cJSON *rec;

	out[0] = '\0';
	if (strncmp(fname, "cni-", 4) != 0 || len < 9 ||
	    strcmp(fname + len - 5, ".json") != 0 || len - 9 >= sizeof(name))
		return;
	memcpy(name, fname + 4, len - 9);
	name[len - 9] = '\0';
	rec = record_load(x, name);
	net = cJSON_GetObjectItem(rec, "network");
	id = cJSON_GetObjectItem(rec, "containerId");
	ifn = cJSON_GetObjectItem(rec, "ifname");
	if (cJSON_IsString(net) && cJSON_IsString(id) && cJSON_IsString(ifn) &&
	    !strcmp(net->valuestring, x->conf.name) &&
	    !attachment_valid(x->conf.valid_attachments, id->valuestring,
			      ifn->valuestring))
		nsf_strlcpy(out, name, 64);
	cJSON_Delete(rec);
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
	record_path(x, owner, path, sizeof(path));
	return access(path, F_OK) != 0 &&
	       nsf_ep_load(&x->h, owner, &rec) == -ENOENT;
}

static int gc_orphan_addresses(struct cni_ctx *x)
{
	struct nsf_pool pool;
	struct dirent *de;
	uint32_t addr;
	DIR *d;

	if (nsf_pool_addresses(&x->h, &x->cfg, &pool))
		return fail_nsf(x, NSF_CNI_E_ATTACH, "address pool");
	d = opendir(pool.dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!orphan_address(x, &pool, de->d_name, &addr))
			continue;
		fprintf(stderr, "nsfast: cni gc: releasing %s\n", de->d_name);
		nsf_pool_release(&pool, addr);
	}
	closedir(d);
	return 0;
}

static int cni_gc(struct cni_ctx *x)
{
	char name[64];
	struct dirent *de;
	int rc = host_prepare(x, false), err = 0;
	DIR *d;

	if (rc)
		return rc < 0 ? -1 : 0;
	if (nsf_host_lock(&x->h))
		return fail_nsf(x, NSF_CNI_E_ATTACH, "host");
	d = opendir(x->h.state_dir);
	if (!d)
		return 0;
	while (!err && (de = readdir(d))) {
		gc_candidate(x, de->d_name, name);
		if (*name) {
			fprintf(stderr, "nsfast: cni gc: removing %s\n", name);
			err = remove_attachment(x, name);
		}
	}
	closedir(d);
	return err ? err : gc_orphan_addresses(x);
}

/* ---- STATUS (1.1) ---- */

static int cni_status(struct cni_ctx *x)
{
	struct nsf_link link = { 0 };
	struct nsf_nl nl;
	int rc = host_prepare(x, false), err;

	/* A host not set up yet needs bpffs for its first ADD. */
	if (rc > 0 && nsf_host_check_bpffs(&x->h))
		rc = fail_nsf(x, NSF_CNI_E_UNAVAILABLE, "host");
	if (rc < 0) {
		x->e.code = NSF_CNI_E_UNAVAILABLE;
		return -1;
	}
	if (rc == 0 || !*x->conf.uplink)
		return 0;
	/* Not set up yet: the first ADD will need the uplink. */
	err = nsf_nl_open(&nl);
	if (!err) {
		err = nsf_nl_link_get(&nl, x->conf.uplink, &link);
		nsf_nl_close(&nl);
	}
	if (err)
		return nsf_cni_fail(&x->e, NSF_CNI_E_UNAVAILABLE,
				    "uplink %s: %s", x->conf.uplink,
				    strerror(-err));
	return 0;
}

/* ---- VERSION and main ---- */

static int cni_version(struct cni_ctx *x)
{
	cJSON *doc = cJSON_CreateObject(), *list;
	int rc;

	cJSON_AddStringToObject(doc, "cniVersion", reply_version(&x->conf));
	list = cJSON_AddArrayToObject(doc, "supportedVersions");
	for (int i = 0; nsf_cni_versions[i]; i++)
		cJSON_AddItemToArray(list,
				     cJSON_CreateString(nsf_cni_versions[i]));
	rc = emit_json(doc);
	cJSON_Delete(doc);
	return rc ? -1 : 0;
}

static char *read_stdin(void)
{
	size_t len = 0, cap = 8192;
	char *buf = malloc(cap);
	ssize_t n;

	if (!buf)
		return NULL;
	while ((n = read(STDIN_FILENO, buf + len, cap - len - 1)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
		if (len + 1 == cap) {
			char *bigger = realloc(buf, cap * 2);

			if (!bigger) {
				free(buf);
				return NULL;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	return buf;
}

/* The config's bpffs/stateDir, for hosts that keep nsfast state elsewhere
 * (the runtime passes no NSFAST_* variables). */
static void apply_paths(const struct nsf_cni_conf *c)
{
	if (*c->bpffs)
		setenv("NSFAST_BPFFS", c->bpffs, 1);
	if (*c->state_dir)
		setenv("NSFAST_STATE_DIR", c->state_dir, 1);
}

static int dispatch(struct cni_ctx *x)
{
	uint32_t arg_ip = 0;

	if (x->env.cmd == NSF_CNI_VERSION)
		return cni_version(x);
	if (nsf_cni_args_parse(x->env.args, &arg_ip, &x->e))
		return -1;
	if (!x->conf.req_ip)
		x->conf.req_ip = arg_ip;
	apply_paths(&x->conf);
	if (x->env.cmd == NSF_CNI_ADD || x->env.cmd == NSF_CNI_DEL ||
	    x->env.cmd == NSF_CNI_CHECK)
		nsf_cni_endpoint_name(x->env.container_id, x->env.ifname,
				      x->name);
	switch (x->env.cmd) {
	case NSF_CNI_ADD:
		return cni_add(x);
	case NSF_CNI_DEL:
		return cni_del(x);
	case NSF_CNI_CHECK:
		return cni_check(x);
	case NSF_CNI_GC:
		return cni_gc(x);
	case NSF_CNI_STATUS:
		return cni_status(x);
	default:
		return 0;
	}
}

bool nsf_cni_invoked(const char *argv0)
{
	const char *base = strrchr(argv0, '/');
	const char *cmd = getenv("CNI_COMMAND");

	base = base ? base + 1 : argv0;
	return (cmd && *cmd) || !strcmp(base, "nsfast-cni");
}

int nsf_cni_main(void)
{
	struct cni_ctx *x = calloc(1, sizeof(*x));
	char *text = NULL;
	int rc = 1;

	if (!x)
		return 1;
	x->h.lock_fd = -1;
	nsf_libbpf_logging(false);
	if (nsf_cni_env_parse(&x->env, &x->e))
		goto out;
	text = read_stdin();
	if (!text) {
		nsf_cni_fail(&x->e, NSF_CNI_E_IO, "read stdin: %s",
			     strerror(errno));
		goto out;
	}
	x->stdin_text = text;
	if (nsf_cni_conf_parse(text, x->env.cmd, &x->conf, &x->e))
		goto out;
	rc = dispatch(x) ? 1 : 0;
out:
	if (rc && !x->e.code)
		nsf_cni_fail(&x->e, NSF_CNI_E_ATTACH, "internal error");
	if (rc)
		emit_error(x);
	nsf_host_close(&x->h);
	nsf_cni_conf_free(&x->conf);
	free(text);
	free(x);
	return rc;
}
