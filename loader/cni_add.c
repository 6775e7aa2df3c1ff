// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * CNI ADD and DEL: the attachment's record, its address (own pool or
 * delegated), the endpoint (endpoint.c, as `nsfast attach`), extra routes,
 * port mappings, and the result JSON.
 */
#include "cni_priv.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "endpoint.h"
#include "netlink.h"
#include "netns.h"
#include "publish.h"
#include "recover.h"

/* ---- the CNI record of an attachment ---- */

void cni_record_path(const struct cni_ctx *x, const char *name, char *path,
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
	/* A repeated ADD returns the delegate's routes and dns again. */
	if (x->ipres)
		cJSON_AddItemToObject(doc, "ipamResult",
				      cJSON_Duplicate(x->ipres, true));
	text = cJSON_Print(doc);
	cJSON_Delete(doc);
	if (!text)
		return -ENOMEM;
	cni_record_path(x, rec->name, path, sizeof(path));
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

cJSON *cni_record_load(const struct cni_ctx *x, const char *name)
{
	char path[NSF_PATH_MAX * 2], buf[65536];
	size_t n;
	FILE *f;

	cni_record_path(x, name, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return cJSON_Parse(buf);
}

void cni_record_remove(const struct cni_ctx *x, const char *name)
{
	char path[NSF_PATH_MAX * 2];

	cni_record_path(x, name, path, sizeof(path));
	unlink(path);
}

/* ---- port mappings ---- */

/*
 * runtimeConfig.portMappings (the portmap capability): each one becomes a
 * published port of the uplink address (loader/publish.c), owned by the
 * endpoint, so detaching it removes them too. All or nothing: the ones
 * added before a failure are taken back. hostIP may only name the uplink
 * (SNAT) address, the one address nsfast publishes on.
 */
static int cni_apply_port_mappings(const struct nsf_host *h,
				   const struct nsf_ep_rec *rec,
				   const struct nsf_cni_portmap *pms, int n,
				   struct nsf_cni_err *e)
{
	struct nsf_host_config cfg;
	struct nsf_publish p;
	char a[NSF_ADDR_STRLEN];
	int i, err = 0;

	if (n == 0)
		return 0;
	err = nsf_config_load(h, &cfg);
	for (i = 0; i < n && !err; i++) {
		if (pms[i].host_ip && pms[i].host_ip != cfg.snat) {
			nsf_format_ipv4(pms[i].host_ip, a);
			return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
					    "runtimeConfig.portMappings: "
					    "hostIP %s is not the uplink "
					    "address (the only one nsfast "
					    "publishes on)",
					    a);
		}
	}
	for (i = 0; i < n && !err; i++) {
		p = (struct nsf_publish){ .proto = pms[i].proto,
					  .host_port = pms[i].host_port,
					  .pod_ip = htonl(rec->ip),
					  .pod_port = pms[i].container_port };
		snprintf(p.owner, sizeof(p.owner), "%s", rec->name);
		err = nsf_publish_add(h, &p);
	}
	if (!err)
		return 0;
	/* The message first: the rollback clears nsfast's last error. */
	nsf_cni_fail(e, NSF_CNI_E_CONFIG, "runtimeConfig.portMappings: %s",
		     nsf_last_error());
	if (nsf_publish_del_owner(h, rec->name))
		nsf_report("cni: roll back the port mappings of %s", rec->name);
	return -1;
}

/* DEL/GC side of the above: every mapping the endpoint owns goes (none is
 * fine, and so is a host whose pins are gone). */
static int cni_release_port_mappings(const struct nsf_host *h,
				     const char *endpoint)
{
	return nsf_publish_del_owner(h, endpoint);
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

/* Extra routes in the pod (its default route exists already). A route
 * to the same destination that is already there (another network's, or
 * ours from an earlier ADD) is left as it is. */
static int add_pod_routes(struct cni_ctx *x, const struct nsf_ep_rec *rec,
			  const struct nsf_cidr4 *routes, int n)
{
	struct nsf_link link = { 0 };
	struct nsf_nl nl;
	int fd, err = 0;

	fd = nsf_netns_open(x->env.netns);
	if (fd < 0)
		return cni_fail_nsf(x, NSF_CNI_E_ATTACH, "routes");
	err = nsf_nl_open_in(&nl, fd);
	close(fd);
	if (err)
		return nsf_cni_fail(&x->e, NSF_CNI_E_ATTACH, "netlink: %s",
				    strerror(-err));
	err = nsf_nl_link_get(&nl, rec->ifname, &link);
	for (int i = 0; !err && i < n; i++) {
		if (!routes[i].prefix)
			continue;
		err = nsf_nl_route_add_new(&nl, link.ifindex, routes[i].net,
					   routes[i].prefix, x->cfg.gateway,
					   rec->gw_onlink);
		if (err == -EEXIST)
			err = 0;
	}
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
		return cni_fail_nsf(x, NSF_CNI_E_ATTACH, "address pool");
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
		x->ipres = *ipres;
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

/* A repeated ADD: the delegate's result as the first ADD recorded it
 * (its routes and dns), without asking the delegate again. */
static int repeat_address(struct cni_ctx *x, cJSON **ipres,
			  struct nsf_cidr4 *routes, int *nroutes)
{
	cJSON *record;
	uint32_t ip;

	if (!x->conf.ipam.delegate)
		return 0;
	record = cni_record_load(x, x->name);
	*ipres = cJSON_DetachItemFromObjectCaseSensitive(record, "ipamResult");
	cJSON_Delete(record);
	if (!*ipres)
		return 0; /* recorded before nsfast kept it: as before */
	return ipam_result_addr(x, *ipres, &ip, routes, nroutes);
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

int cni_add(struct cni_ctx *x)
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
	if (cni_host_prepare(x, true) || cni_host_check_conf(x) ||
	    nsf_host_lock(&x->h))
		return x->e.code ? -1
				 : cni_fail_nsf(x, NSF_CNI_E_ATTACH, "host");
	req.netns_path = x->env.netns;
	req.ifname = x->env.ifname;
	for (int i = 0; i < x->conf.ipam.nroutes; i++)
		routes[nroutes++] = x->conf.ipam.routes[i];
	/* A repeated ADD finds its endpoint and returns the same result. */
	existed = nsf_ep_load(&x->h, x->name, &rec) == 0;
	if (existed ? repeat_address(x, &ipres, routes, &nroutes)
		    : add_address(x, &req, &ipres, routes, &nroutes))
		goto out;
	if (nsf_endpoint_attach(&x->h, &x->cfg, &req, &rec, &res)) {
		cni_fail_nsf(x, NSF_CNI_E_ATTACH, "attach");
		release_claim(x, &req);
		if (strstr(x->e.msg, "already in use"))
			x->e.code = NSF_CNI_E_ADDR_TAKEN;
		goto out;
	}
	if (res == NSF_ATTACH_CREATED && add_extras(x, &rec, routes, nroutes))
		goto out;
	result = build_result(x, &rec, routes, nroutes,
			      cJSON_GetObjectItem(ipres, "dns"));
	rc = cni_emit_json(result);
	cJSON_Delete(result);
out:
	if (rc && !existed) {
		struct nsf_cni_err ignore;

		cni_record_remove(x, x->name);
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
int cni_remove_attachment(struct cni_ctx *x, const char *name)
{
	struct nsf_ep_rec rec;
	cJSON *record = cni_record_load(x, name);
	int err;

	err = cni_release_port_mappings(&x->h, name);
	if (err) {
		cJSON_Delete(record);
		return cni_fail_nsf(x, NSF_CNI_E_ATTACH, "port mappings");
	}
	err = nsf_ep_load(&x->h, name, &rec);
	/* An ADD killed inside attach left its journal entry: the veth, map
	 * entries and id it made go before the address, which a stale
	 * interface would otherwise still use when the pool hands it out. */
	if (err == -ENOENT && nsf_pending_recover(&x->h, name) < 0) {
		cJSON_Delete(record);
		return cni_fail_nsf(x, NSF_CNI_E_ATTACH, "recover");
	}
	if (err == -ENOENT)
		release_orphan(x, name, record);
	cJSON_Delete(record);
	if (err && err != -ENOENT)
		return cni_fail_nsf(x, NSF_CNI_E_ATTACH, "detach");
	if (!err && nsf_endpoint_detach(&x->h, &rec))
		return cni_fail_nsf(x, NSF_CNI_E_ATTACH, "detach");
	cni_record_remove(x, name);
	return 0;
}

int cni_del(struct cni_ctx *x)
{
	int rc = cni_host_prepare(x, false);

	if (rc < 0)
		return -1;
	if (rc == 0) {
		if (nsf_host_lock(&x->h))
			return cni_fail_nsf(x, NSF_CNI_E_ATTACH, "host");
		if (cni_remove_attachment(x, x->name))
			return -1;
	}
	if (x->conf.ipam.delegate &&
	    nsf_cni_ipam_exec(&x->env, x->conf.ipam.type, "DEL", x->stdin_text,
			      NULL, &x->e))
		return -1;
	return 0;
}
