// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * CNI input: the CNI_* environment, the network config on stdin and
 * CNI_ARGS, checked field by field so that every mistake comes back as one
 * spec error with the field named. No kernel, no files: unit-tested.
 */
#include "cni.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nsfast/maps.h>

#include "nat.h"
#include "state.h"
#include "util.h"

const char *const nsf_cni_versions[] = { "0.3.0", "0.3.1", "0.4.0",
					 "1.0.0", "1.1.0", NULL };

int nsf_cni_fail(struct nsf_cni_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

bool nsf_cni_version_supported(const char *v)
{
	for (int i = 0; nsf_cni_versions[i]; i++)
		if (!strcmp(v, nsf_cni_versions[i]))
			return true;
	return false;
}

int nsf_cni_version_cmp(const char *a, const char *b)
{
	for (int i = 0; i < 3; i++) {
		long x = strtol(a, (char **)&a, 10);
		long y = strtol(b, (char **)&b, 10);

		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
	}
	return 0;
}

static const char *const cmd_names[] = {
	[NSF_CNI_ADD] = "ADD",	   [NSF_CNI_DEL] = "DEL",
	[NSF_CNI_CHECK] = "CHECK", [NSF_CNI_VERSION] = "VERSION",
	[NSF_CNI_GC] = "GC",	   [NSF_CNI_STATUS] = "STATUS",
};

int nsf_cni_cmd_parse(const char *s, enum nsf_cni_cmd *cmd)
{
	for (int i = NSF_CNI_ADD; i <= NSF_CNI_STATUS; i++) {
		if (!strcmp(s, cmd_names[i])) {
			*cmd = (enum nsf_cni_cmd)i;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *env_get(const char *name)
{
	const char *v = getenv(name);

	return v ? v : "";
}

int nsf_cni_env_parse(struct nsf_cni_env *env, struct nsf_cni_err *e)
{
	const char *cmd = env_get("CNI_COMMAND");
	bool per_container;

	memset(env, 0, sizeof(*env));
	if (!*cmd)
		return nsf_cni_fail(e, NSF_CNI_E_ENV, "CNI_COMMAND is not set");
	if (nsf_cni_cmd_parse(cmd, &env->cmd))
		return nsf_cni_fail(e, NSF_CNI_E_ENV,
				    "unknown CNI_COMMAND '%s' (ADD, DEL, "
				    "CHECK, VERSION, GC, STATUS)",
				    cmd);
	env->container_id = env_get("CNI_CONTAINERID");
	env->netns = env_get("CNI_NETNS");
	env->ifname = env_get("CNI_IFNAME");
	env->args = getenv("CNI_ARGS");
	env->path = env_get("CNI_PATH");
	per_container = env->cmd == NSF_CNI_ADD || env->cmd == NSF_CNI_DEL ||
			env->cmd == NSF_CNI_CHECK;
	if (!per_container)
		return 0;
	if (!*env->container_id)
		return nsf_cni_fail(e, NSF_CNI_E_ENV,
				    "CNI_CONTAINERID is not set");
	for (const char *p = env->container_id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
			return nsf_cni_fail(e, NSF_CNI_E_ENV,
					    "invalid CNI_CONTAINERID '%s' "
					    "(alphanumerics, '_', '.', '-')",
					    env->container_id);
	if (!*env->ifname)
		return nsf_cni_fail(e, NSF_CNI_E_ENV, "CNI_IFNAME is not set");
	if (!nsf_valid_ifname(env->ifname))
		return nsf_cni_fail(e, NSF_CNI_E_ENV,
				    "invalid CNI_IFNAME '%s' (1-15 characters, "
				    "no '/', ':' or spaces)",
				    env->ifname);
	/* DEL may come after the namespace is gone, without CNI_NETNS. */
	if (env->cmd != NSF_CNI_DEL && !*env->netns)
		return nsf_cni_fail(e, NSF_CNI_E_ENV, "CNI_NETNS is not set");
	return 0;
}

/* ---- JSON field helpers: each names the field it rejects ---- */

static const cJSON *get(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* Optional string field into @out: 0 (absent leaves @out alone), or -1
 * with the error filled. */
static int opt_str(const cJSON *obj, const char *key, const char *where,
		   char *out, size_t len, struct nsf_cni_err *e)
{
	const cJSON *v = get(obj, key);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "%s%s must be a string", where, key);
	if (!nsf_strlcpy(out, v->valuestring, len))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG, "%s%s is too long",
				    where, key);
	return 0;
}

static int opt_ipv4(const cJSON *obj, const char *key, const char *where,
		    uint32_t *out, struct nsf_cni_err *e)
{
	char s[64] = "";

	if (opt_str(obj, key, where, s, sizeof(s), e))
		return -1;
	if (!*s)
		return 0;
	if (strchr(s, ':'))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "%s%s %s: IPv6 is not supported yet", where,
				    key, s);
	if (nsf_parse_ipv4(s, out))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "%s%s: invalid IPv4 address '%s'", where,
				    key, s);
	return 0;
}

/* "a.b.c.d/len" (host bits allowed when @loose) or, if @bare_ok, an
 * address alone, meaning /32. */
static int parse_cidr(const char *s, bool loose, bool bare_ok,
		      struct nsf_cidr4 *c)
{
	uint32_t a;

	if (bare_ok && !strchr(s, '/')) {
		if (nsf_parse_ipv4(s, &a))
			return -EINVAL;
		c->net = a;
		c->prefix = 32;
		return 0;
	}
	return nsf_parse_cidr4(s, c, loose);
}

/* ---- ipam ---- */

static void range_defaults(struct nsf_cni_range *r)
{
	uint32_t last = nsf_cidr4_last(&r->subnet);
	bool small = r->subnet.prefix > 30;

	if (!r->start)
		r->start = small ? r->subnet.net : r->subnet.net + 1;
	if (!r->end)
		r->end = small ? last : last - 1;
}

static int parse_range(const cJSON *o, int i, struct nsf_cni_range *r,
		       struct nsf_cni_err *e)
{
	char where[48], s[64] = "", a[NSF_ADDR_STRLEN], b[NSF_ADDR_STRLEN];

	snprintf(where, sizeof(where), "ipam range %d: ", i);
	memset(r, 0, sizeof(*r));
	if (!cJSON_IsObject(o))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG, "%smust be an object",
				    where);
	if (opt_str(o, "subnet", where, s, sizeof(s), e))
		return -1;
	if (!*s)
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG, "%ssubnet is missing",
				    where);
	if (strchr(s, ':'))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "%ssubnet %s: IPv6 is not supported yet",
				    where, s);
	if (parse_cidr(s, true, false, &r->subnet) || r->subnet.prefix < 8)
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "%sinvalid subnet '%s' (a.b.c.d/8..32)",
				    where, s);
	if (opt_ipv4(o, "rangeStart", where, &r->start, e) ||
	    opt_ipv4(o, "rangeEnd", where, &r->end, e) ||
	    opt_ipv4(o, "gateway", where, &r->gateway, e))
		return -1;
	if ((r->start && !nsf_cidr4_contains(&r->subnet, r->start)) ||
	    (r->end && !nsf_cidr4_contains(&r->subnet, r->end)) ||
	    (r->gateway && !nsf_cidr4_contains(&r->subnet, r->gateway)))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "%srangeStart, rangeEnd and gateway must "
				    "lie in subnet %s",
				    where, s);
	range_defaults(r);
	if (r->start > r->end) {
		nsf_format_ipv4(r->start, a);
		nsf_format_ipv4(r->end, b);
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "%srangeStart %s is after rangeEnd %s",
				    where, a, b);
	}
	return 0;
}

static int parse_ranges(const cJSON *ipam, struct nsf_cni_ipam *out,
			struct nsf_cni_err *e)
{
	const cJSON *ranges = get(ipam, "ranges"), *set, *r;

	if (get(ipam, "subnet")) {
		/* The older host-local form: one range at the top level. */
		if (ranges)
			return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
					    "ipam: give either subnet or "
					    "ranges, not both");
		out->nranges = 1;
		return parse_range(ipam, 0, &out->ranges[0], e);
	}
	if (!ranges || cJSON_IsNull(ranges))
		return 0;
	if (!cJSON_IsArray(ranges))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "ipam.ranges must be an array of range "
				    "sets");
	if (cJSON_GetArraySize(ranges) > 1)
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "ipam.ranges: nsfast gives one IPv4 "
				    "address per interface, so one range set");
	set = cJSON_GetArrayItem(ranges, 0);
	if (!set)
		return 0;
	if (!cJSON_IsArray(set))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "ipam.ranges[0] must be an array of "
				    "ranges");
	cJSON_ArrayForEach(r, set) {
		if (out->nranges == NSF_CNI_MAX_RANGES)
			return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
					    "ipam.ranges: more than %d ranges",
					    NSF_CNI_MAX_RANGES);
		if (parse_range(r, out->nranges, &out->ranges[out->nranges], e))
			return -1;
		out->nranges++;
	}
	for (int i = 0; i < out->nranges; i++)
		for (int j = 0; j < i; j++)
			if (out->ranges[i].start <= out->ranges[j].end &&
			    out->ranges[j].start <= out->ranges[i].end)
				return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
						    "ipam ranges %d and %d "
						    "overlap",
						    j, i);
	return 0;
}

static int parse_exclude(const cJSON *ipam, struct nsf_cni_ipam *out,
			 struct nsf_cni_err *e)
{
	const cJSON *list = get(ipam, "exclude"), *x;

	if (!list || cJSON_IsNull(list))
		return 0;
	if (!cJSON_IsArray(list))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "ipam.exclude must be an array");
	cJSON_ArrayForEach(x, list) {
		if (out->nexclude == NSF_CNI_MAX_EXCLUDE)
			return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
					    "ipam.exclude: more than %d "
					    "entries",
					    NSF_CNI_MAX_EXCLUDE);
		if (!cJSON_IsString(x) ||
		    parse_cidr(x->valuestring, true, true,
			       &out->exclude[out->nexclude]))
			return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
					    "ipam.exclude: invalid entry %d "
					    "(an IPv4 address or CIDR)",
					    out->nexclude);
		out->nexclude++;
	}
	return 0;
}

static int parse_route(const cJSON *r, struct nsf_cidr4 *dst,
		       struct nsf_cni_err *e)
{
	char s[64] = "";
	uint32_t gw = 0;

	if (!cJSON_IsObject(r))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "ipam.routes: entries must be objects");
	if (opt_str(r, "dst", "ipam.routes: ", s, sizeof(s), e) ||
	    opt_ipv4(r, "gw", "ipam.routes: ", &gw, e))
		return -1;
	if (strchr(s, ':'))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "ipam.routes: %s: IPv6 is not supported "
				    "yet",
				    s);
	if (!*s || parse_cidr(s, false, false, dst))
		return nsf_cni_fail(
			e, NSF_CNI_E_CONFIG,
			"ipam.routes: invalid dst '%s' (a.b.c.d/len, "
			"no host bits)",
			s);
	/* A pod has one next hop, nsfast's gateway: routes go through it. */
	if (gw && gw != NSF_GATEWAY4)
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "ipam.routes: %s: gw must be omitted (pods "
				    "route through nsfast's gateway)",
				    s);
	return 0;
}

static int parse_routes(const cJSON *ipam, struct nsf_cni_ipam *out,
			struct nsf_cni_err *e)
{
	const cJSON *list = get(ipam, "routes"), *r;

	if (!list || cJSON_IsNull(list))
		return 0;
	if (!cJSON_IsArray(list))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "ipam.routes must be an array");
	cJSON_ArrayForEach(r, list) {
		if (out->nroutes == NSF_CNI_MAX_ROUTES)
			return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
					    "ipam.routes: more than %d",
					    NSF_CNI_MAX_ROUTES);
		if (parse_route(r, &out->routes[out->nroutes], e))
			return -1;
		out->nroutes++;
	}
	return 0;
}

static int parse_ipam(const cJSON *root, struct nsf_cni_ipam *out,
		      struct nsf_cni_err *e)
{
	const cJSON *ipam = get(root, "ipam");

	memset(out, 0, sizeof(*out));
	if (!ipam || cJSON_IsNull(ipam))
		return 0;
	if (!cJSON_IsObject(ipam))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "ipam must be an object");
	if (opt_str(ipam, "type", "ipam.", out->type, sizeof(out->type), e))
		return -1;
	if (strchr(out->type, '/') || !strcmp(out->type, ".") ||
	    !strcmp(out->type, ".."))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "ipam.type '%s' is not a plugin name",
				    out->type);
	if (*out->type && strcmp(out->type, "nsfast") != 0) {
		/* The delegate reads this section itself. */
		out->delegate = true;
		return 0;
	}
	if (parse_ranges(ipam, out, e) || parse_exclude(ipam, out, e) ||
	    parse_routes(ipam, out, e))
		return -1;
	return 0;
}

/* ---- runtimeConfig ---- */

static int parse_portmap(const cJSON *o, int i, struct nsf_cni_portmap *pm,
			 struct nsf_cni_err *e)
{
	const cJSON *hp = get(o, "hostPort"), *cp = get(o, "containerPort");
	char proto[16] = "tcp", where[48];

	snprintf(where, sizeof(where), "runtimeConfig.portMappings[%d].", i);
	memset(pm, 0, sizeof(*pm));
	if (!cJSON_IsObject(o))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "runtimeConfig.portMappings[%d] must be an "
				    "object",
				    i);
	if (!cJSON_IsNumber(hp) || hp->valuedouble < 1 ||
	    hp->valuedouble > 65535 ||
	    hp->valuedouble != (double)(int)hp->valuedouble)
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "%shostPort must be a port 1-65535", where);
	if (!cJSON_IsNumber(cp) || cp->valuedouble < 1 ||
	    cp->valuedouble > 65535 ||
	    cp->valuedouble != (double)(int)cp->valuedouble)
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "%scontainerPort must be a port 1-65535",
				    where);
	pm->host_port = (uint16_t)hp->valueint;
	pm->container_port = (uint16_t)cp->valueint;
	if (opt_str(o, "protocol", where, proto, sizeof(proto), e) ||
	    opt_ipv4(o, "hostIP", where, &pm->host_ip, e))
		return -1;
	for (char *p = proto; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!strcmp(proto, "tcp") || !*proto)
		pm->proto = IPPROTO_TCP;
	else if (!strcmp(proto, "udp"))
		pm->proto = IPPROTO_UDP;
	else
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "%sprotocol '%s' (tcp or udp)", where,
				    proto);
	return 0;
}

static int parse_runtime_ips(const cJSON *ips, uint32_t *ip,
			     struct nsf_cni_err *e)
{
	const cJSON *x;
	struct nsf_cidr4 c;

	if (!cJSON_IsArray(ips))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "runtimeConfig.ips must be an array");
	if (cJSON_GetArraySize(ips) > 1)
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "runtimeConfig.ips: nsfast assigns one "
				    "IPv4 address");
	cJSON_ArrayForEach(x, ips) {
		if (!cJSON_IsString(x) ||
		    parse_cidr(x->valuestring, true, true, &c))
			return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
					    "runtimeConfig.ips: invalid "
					    "address (a.b.c.d[/len])");
		/* The address as given, host bits and all. */
		if (strchr(x->valuestring, '/')) {
			char a[NSF_ADDR_STRLEN];

			nsf_strlcpy(a, x->valuestring, sizeof(a));
			if (strchr(a, '/'))
				*strchr(a, '/') = '\0';
			nsf_parse_ipv4(a, &c.net);
		}
		*ip = c.net;
	}
	return 0;
}

static int parse_runtime(const cJSON *root, struct nsf_cni_conf *c,
			 struct nsf_cni_err *e)
{
	const cJSON *rc = get(root, "runtimeConfig"), *pms, *pm, *ips;

	if (!rc || cJSON_IsNull(rc))
		return 0;
	if (!cJSON_IsObject(rc))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "runtimeConfig must be an object");
	ips = get(rc, "ips");
	if (ips && !cJSON_IsNull(ips) && parse_runtime_ips(ips, &c->req_ip, e))
		return -1;
	pms = get(rc, "portMappings");
	if (!pms || cJSON_IsNull(pms))
		return 0;
	if (!cJSON_IsArray(pms))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "runtimeConfig.portMappings must be an "
				    "array");
	cJSON_ArrayForEach(pm, pms) {
		if (c->nportmaps == NSF_CNI_MAX_PORTMAPS)
			return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
					    "runtimeConfig.portMappings: more "
					    "than %d",
					    NSF_CNI_MAX_PORTMAPS);
		if (parse_portmap(pm, c->nportmaps, &c->portmaps[c->nportmaps],
				  e))
			return -1;
		c->nportmaps++;
	}
	return 0;
}

/* ---- the config ---- */

static int parse_host_fields(const cJSON *root, struct nsf_cni_conf *c,
			     struct nsf_cni_err *e)
{
	char cidr[64] = "";
	enum nsf_xdp_mode mode;
	uint16_t ports[4];
	uint32_t a;

	if (opt_str(root, "podCIDR", "", cidr, sizeof(cidr), e) ||
	    opt_str(root, "uplink", "", c->uplink, sizeof(c->uplink), e) ||
	    opt_str(root, "snatIP", "", c->snat_ip, sizeof(c->snat_ip), e) ||
	    opt_str(root, "xdpMode", "", c->xdp_mode, sizeof(c->xdp_mode), e) ||
	    opt_str(root, "natPorts", "", c->nat_ports, sizeof(c->nat_ports),
		    e) ||
	    opt_str(root, "bpffs", "", c->bpffs, sizeof(c->bpffs), e) ||
	    opt_str(root, "stateDir", "", c->state_dir, sizeof(c->state_dir),
		    e))
		return -1;
	if (*cidr) {
		if (nsf_parse_cidr4(cidr, &c->pod_cidr, false) ||
		    c->pod_cidr.prefix < 8 || c->pod_cidr.prefix > 30)
			return nsf_cni_fail(
				e, NSF_CNI_E_CONFIG,
				"invalid podCIDR '%s' (a.b.c.d/8..30, "
				"no host bits)",
				cidr);
		c->has_pod_cidr = true;
	}
	if (*c->uplink && !nsf_valid_ifname(c->uplink))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG, "invalid uplink '%s'",
				    c->uplink);
	if (*c->snat_ip && nsf_parse_ipv4(c->snat_ip, &a))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG, "invalid snatIP '%s'",
				    c->snat_ip);
	if (*c->snat_ip && !*c->uplink)
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "snatIP needs an uplink");
	/* The names init takes (state.c), so the two never disagree. */
	if (*c->xdp_mode && nsf_xdp_mode_parse(c->xdp_mode, &mode))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "invalid xdpMode '%s' (auto, native, "
				    "generic or off)",
				    c->xdp_mode);
	/* The syntax init takes (nat.c), so the two never disagree. */
	if (*c->nat_ports && nsf_nat_ports_parse(c->nat_ports, ports))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "invalid natPorts '%s' (MIN-MAX or "
				    "MIN-MAX,MIN-MAX within 1024-65535, "
				    "apart)",
				    c->nat_ports);
	if ((*c->bpffs && c->bpffs[0] != '/') ||
	    (*c->state_dir && c->state_dir[0] != '/'))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "bpffs and stateDir must be absolute "
				    "paths");
	return 0;
}

static bool valid_network_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return false;
	return true;
}

static int parse_identity(const cJSON *root, enum nsf_cni_cmd cmd,
			  struct nsf_cni_conf *c, struct nsf_cni_err *e)
{
	if (opt_str(root, "cniVersion", "", c->cni_version,
		    sizeof(c->cni_version), e))
		return nsf_cni_fail(e, NSF_CNI_E_VERSION,
				    "cniVersion must be a string");
	if (cmd == NSF_CNI_VERSION)
		return 0;
	if (!*c->cni_version)
		return nsf_cni_fail(e, NSF_CNI_E_VERSION,
				    "cniVersion is missing");
	if (!nsf_cni_version_supported(c->cni_version))
		return nsf_cni_fail(e, NSF_CNI_E_VERSION,
				    "cniVersion %s is not supported (nsfast "
				    "speaks 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)",
				    c->cni_version);
	if (cmd == NSF_CNI_CHECK &&
	    nsf_cni_version_cmp(c->cni_version, "0.4.0") < 0)
		return nsf_cni_fail(e, NSF_CNI_E_VERSION,
				    "CHECK needs cniVersion 0.4.0 or later "
				    "(got %s)",
				    c->cni_version);
	if ((cmd == NSF_CNI_GC || cmd == NSF_CNI_STATUS) &&
	    nsf_cni_version_cmp(c->cni_version, "1.1.0") < 0)
		return nsf_cni_fail(e, NSF_CNI_E_VERSION,
				    "GC and STATUS need cniVersion 1.1.0 "
				    "(got %s)",
				    c->cni_version);
	if (opt_str(root, "name", "", c->name, sizeof(c->name), e) ||
	    opt_str(root, "type", "", c->type, sizeof(c->type), e))
		return -1;
	if (!*c->type)
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG, "type is missing");
	if (!valid_network_name(c->name))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "name '%s' is missing or invalid "
				    "(alphanumerics, '_', '.', '-')",
				    c->name);
	return 0;
}

static int parse_objects(cJSON *root, struct nsf_cni_conf *c,
			 struct nsf_cni_err *e)
{
	cJSON *prev = cJSON_GetObjectItemCaseSensitive(root, "prevResult");
	cJSON *dns = cJSON_GetObjectItemCaseSensitive(root, "dns");
	cJSON *va = cJSON_GetObjectItemCaseSensitive(
		root, "cni.dev/valid-attachments");

	if (prev && !cJSON_IsNull(prev)) {
		if (!cJSON_IsObject(prev))
			return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
					    "prevResult must be an object");
		c->prev_result = prev;
	}
	if (dns && !cJSON_IsNull(dns)) {
		if (!cJSON_IsObject(dns))
			return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
					    "dns must be an object");
		c->dns = dns;
	}
	if (va && !cJSON_IsNull(va)) {
		if (!cJSON_IsArray(va))
			return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
					    "cni.dev/valid-attachments must "
					    "be an array");
		c->valid_attachments = va;
	}
	return 0;
}

int nsf_cni_conf_parse(const char *text, enum nsf_cni_cmd cmd,
		       struct nsf_cni_conf *c, struct nsf_cni_err *e)
{
	cJSON *root;

	memset(c, 0, sizeof(*c));
	root = cJSON_Parse(text ? text : "");
	if (!root || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		if (cmd == NSF_CNI_VERSION && (!text || !*text))
			return 0; /* VERSION may come with no config */
		return nsf_cni_fail(e, NSF_CNI_E_DECODE,
				    "network config on stdin is not a JSON "
				    "object");
	}
	c->json = root;
	if (parse_identity(root, cmd, c, e))
		goto fail;
	if (cmd == NSF_CNI_VERSION)
		return 0;
	if (parse_host_fields(root, c, e) || parse_ipam(root, &c->ipam, e) ||
	    parse_runtime(root, c, e) || parse_objects(root, c, e))
		goto fail;
	return 0;
fail:
	nsf_cni_conf_free(c);
	return -1;
}

void nsf_cni_conf_free(struct nsf_cni_conf *c)
{
	cJSON_Delete(c->json);
	c->json = NULL;
	c->prev_result = NULL;
	c->dns = NULL;
	c->valid_attachments = NULL;
}

/* ---- CNI_ARGS ---- */

static bool known_arg(const char *key)
{
	static const char *const known[] = {
		"IP",
		"IgnoreUnknown",
		"K8S_POD_NAMESPACE",
		"K8S_POD_NAME",
		"K8S_POD_INFRA_CONTAINER_ID",
		"K8S_POD_UID",
		NULL,
	};

	for (int i = 0; known[i]; i++)
		if (!strcmp(key, known[i]))
			return true;
	return false;
}

/* One KEY=VALUE of CNI_ARGS; *unknown keeps the first key nsfast does
 * not know. */
static int args_pair(char *kv, uint32_t *ip, bool *ignore_unknown,
		     const char **unknown, struct nsf_cni_err *e)
{
	char *eq = strchr(kv, '=');

	if (!eq || eq == kv)
		return nsf_cni_fail(e, NSF_CNI_E_ENV,
				    "CNI_ARGS: '%s' is not KEY=VALUE", kv);
	*eq = '\0';
	if (!strcmp(kv, "IgnoreUnknown"))
		*ignore_unknown =
			!strcasecmp(eq + 1, "true") || !strcmp(eq + 1, "1");
	else if (!strcmp(kv, "IP") && nsf_parse_ipv4(eq + 1, ip))
		return nsf_cni_fail(e, NSF_CNI_E_ENV,
				    "CNI_ARGS: invalid IP '%s'", eq + 1);
	else if (!known_arg(kv) && !*unknown)
		*unknown = kv;
	return 0;
}

int nsf_cni_args_parse(const char *args, uint32_t *ip, struct nsf_cni_err *e)
{
	char *buf, *save = NULL, *kv;
	bool ignore_unknown = false;
	const char *unknown = NULL;
	int err = 0;

	if (!args || !*args)
		return 0;
	/* No length limit: a runtime may pass long pod names and labels. */
	buf = strdup(args);
	if (!buf)
		return nsf_cni_fail(e, NSF_CNI_E_TRY_AGAIN, "CNI_ARGS: %s",
				    strerror(ENOMEM));
	for (kv = strtok_r(buf, ";", &save); kv && !err;
	     kv = strtok_r(NULL, ";", &save))
		err = args_pair(kv, ip, &ignore_unknown, &unknown, e);
	if (!err && unknown && !ignore_unknown)
		err = nsf_cni_fail(e, NSF_CNI_E_FIELD,
				   "CNI_ARGS: unknown key '%s' (set "
				   "IgnoreUnknown=1 to ignore it)",
				   unknown);
	free(buf);
	return err;
}

/* ---- names ---- */

static char name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' ? c : '_';
}

void nsf_cni_endpoint_name(const char *container_id, const char *ifname,
			   char out[64])
{
	char id[13], ifn[16];
	uint32_t hash = 2166136261u; /* FNV-1a over "id/ifname" */
	size_t i;

	for (const char *p = container_id; *p; p++)
		hash = (hash ^ (uint8_t)*p) * 16777619u;
	hash = (hash ^ '/') * 16777619u;
	for (const char *p = ifname; *p; p++)
		hash = (hash ^ (uint8_t)*p) * 16777619u;
	for (i = 0; i < sizeof(id) - 1 && container_id[i]; i++)
		id[i] = name_char(container_id[i]);
	id[i] = '\0';
	for (i = 0; i < sizeof(ifn) - 1 && ifname[i]; i++)
		ifn[i] = name_char(ifname[i]);
	ifn[i] = '\0';
	snprintf(out, 64, "cni-%s-%s-%08x", id, ifn, hash);
}
