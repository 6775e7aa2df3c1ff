// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nsfast status [--json]: what is attached where, and what the fast path
 * did. Both outputs are built from one cJSON document, so they never
 * disagree; --json prints it as is.
 */
#include <bpf/bpf.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "hooks.h"
#include "maps.h"
#include "netlink.h"
#include "recover.h"

#define REASON_NAME(name, str, kind, help) str,
static const char *const reason_names[] = { NSF_REASONS(REASON_NAME) };
#undef REASON_NAME

/* Namespace and veth in place, but not in the endpoint map. */
#define NSF_HEALTH_UNMAPPED "map entry missing"

struct status_ctx {
	struct nsf_maps maps;
	struct nsf_nl nl;
	uint32_t prog_id; /* pinned nsf_from_pod */
	cJSON *endpoints;
	int err;
};

static cJSON *pkt_bytes(uint64_t packets, uint64_t bytes)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "packets", (double)packets);
	cJSON_AddNumberToObject(o, "bytes", (double)bytes);
	return o;
}

static cJSON *ep_counters(const struct nsf_ep_stats *s)
{
	static const char *const names[NSF_EP_COUNTERS] = {
		[NSF_EP_FROM_POD] = "from_pod",
		[NSF_EP_TO_POD] = "to_pod",
		[NSF_EP_FALLBACK] = "fallback",
		[NSF_EP_DROP] = "drop",
	};
	cJSON *o = cJSON_CreateObject();

	for (int i = 0; i < NSF_EP_COUNTERS; i++)
		cJSON_AddItemToObject(
			o, names[i], pkt_bytes(s->c[i].packets, s->c[i].bytes));
	return o;
}

/* Whether the veth is still there and which program sits on it. */
static void add_link_state(struct status_ctx *ctx, const struct nsf_ep_rec *rec,
			   bool in_map, cJSON *o)
{
	struct nsf_link link;
	uint32_t prog_id = 0;
	bool present;

	present = !nsf_nl_link_get(&ctx->nl, rec->host_ifname, &link) &&
		  link.ifindex == rec->host_ifindex;
	if (present && nsf_tc_query(rec->host_ifindex, true, &prog_id))
		prog_id = 0;
	cJSON_AddStringToObject(o, "link",
				!present	   ? "missing"
				: (link.flags & 1) ? "up"
						   : "down");
	cJSON_AddNumberToObject(o, "prog_id", prog_id);
	cJSON_AddBoolToObject(o, "attached",
			      present && prog_id && prog_id == ctx->prog_id &&
				      in_map);
}

static int add_endpoint(const struct nsf_ep_rec *rec, void *arg)
{
	char ip[NSF_ADDR_STRLEN], mac[NSF_MAC_STRLEN];
	struct status_ctx *ctx = arg;
	struct nsf_ep_stats stats;
	cJSON *o = cJSON_CreateObject();
	const char *stale;
	bool in_map;

	nsf_format_ipv4(rec->ip, ip);
	nsf_format_mac(rec->pod_mac, mac);
	cJSON_AddStringToObject(o, "name", rec->name);
	cJSON_AddStringToObject(o, "ip", ip);
	cJSON_AddStringToObject(o, "netns", rec->netns);
	cJSON_AddStringToObject(o, "ifname", rec->ifname);
	cJSON_AddStringToObject(o, "mac", mac);
	cJSON_AddStringToObject(o, "host_ifname", rec->host_ifname);
	cJSON_AddNumberToObject(o, "host_ifindex", rec->host_ifindex);
	cJSON_AddNumberToObject(o, "id", rec->id);
	/* A detach killed midway takes the pod off the maps first and
	 * leaves the rest: veth and program alone do not make it attached. */
	in_map = nsf_maps_has_endpoint(&ctx->maps, rec);
	add_link_state(ctx, rec, in_map, o);
	stale = nsf_ep_stale_reason(rec);
	cJSON_AddStringToObject(o, "health",
				stale	  ? stale
				: !in_map ? NSF_HEALTH_UNMAPPED
					  : "ok");
	if (nsf_maps_ep_stats(&ctx->maps, rec->id, &stats)) {
		ctx->err = -EIO;
		memset(&stats, 0, sizeof(stats));
	}
	cJSON_AddItemToObject(o, "counters", ep_counters(&stats));
	cJSON_AddItemToArray(ctx->endpoints, o);
	return 0;
}

static cJSON *global_counters(const struct nsf_maps *maps)
{
	struct nsf_counter c[NSF_R_MAX];
	cJSON *o;

	if (nsf_maps_counters(maps, c))
		return NULL;
	o = cJSON_CreateObject();
	for (int r = 0; r < NSF_R_MAX; r++)
		cJSON_AddItemToObject(o, reason_names[r],
				      pkt_bytes(c[r].packets, c[r].bytes));
	return o;
}

static cJSON *programs(uint32_t prog_id)
{
	cJSON *arr = cJSON_CreateArray(), *p = cJSON_CreateObject();

	cJSON_AddStringToObject(p, "name", NSF_PROG_FROM_POD);
	cJSON_AddNumberToObject(p, "id", prog_id);
	cJSON_AddStringToObject(p, "hook", "tc ingress, pod host-side veths");
	cJSON_AddItemToArray(arr, p);
	return arr;
}

/* How many NAT entries are live, out of how many (two per flow). */
static cJSON *nat_fill(const struct nsf_maps *maps)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	struct nsf_nat_key key, next;
	cJSON *o = cJSON_CreateObject();
	double n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(maps->nat4, prev, &next)) {
		n++;
		key = next;
		prev = &key;
	}
	if (bpf_obj_get_info_by_fd(maps->nat4, &info, &len))
		info.max_entries = 0;
	cJSON_AddNumberToObject(o, "entries", n);
	cJSON_AddNumberToObject(o, "capacity", info.max_entries);
	return o;
}

/* The uplink: configuration and what is attached to it now. */
static cJSON *uplink_status(const struct nsf_host_config *cfg)
{
	char snat[NSF_ADDR_STRLEN];
	cJSON *o = cJSON_CreateObject();
	uint32_t xdp_id = 0, tc_id = 0;
	bool generic = false;

	nsf_format_ipv4(cfg->snat, snat);
	cJSON_AddStringToObject(o, "name", cfg->uplink);
	cJSON_AddNumberToObject(o, "ifindex", cfg->uplink_ifindex);
	cJSON_AddStringToObject(o, "snat_ip", snat);
	cJSON_AddStringToObject(o, "xdp_mode",
				nsf_xdp_mode_name(cfg->xdp_mode));
	if (nsf_xdp_query(cfg->uplink_ifindex, &xdp_id, &generic))
		xdp_id = 0;
	if (nsf_tc_query(cfg->uplink_ifindex, true, &tc_id))
		tc_id = 0;
	cJSON_AddStringToObject(o, "ingress",
				xdp_id	? (generic ? "xdp-generic" : "xdp")
				: tc_id ? "tc"
					: "none");
	cJSON_AddNumberToObject(o, "prog_id", xdp_id ? xdp_id : tc_id);
	cJSON_AddNumberToObject(o, "nat_port_min", cfg->nat_port_min);
	cJSON_AddNumberToObject(o, "nat_port_max", cfg->nat_port_max);
	cJSON_AddNumberToObject(o, "nat_port_min2", cfg->nat_port_min2);
	cJSON_AddNumberToObject(o, "nat_port_max2", cfg->nat_port_max2);
	return o;
}

static int build(const struct nsf_host *h, cJSON *doc)
{
	struct status_ctx ctx = { .maps = NSF_MAPS_CLOSED };
	char cidr[NSF_CIDR_STRLEN], gw[NSF_ADDR_STRLEN];
	struct nsf_host_config cfg;
	cJSON *counters;
	int err;

	err = nsf_config_load(h, &cfg);
	cJSON_AddBoolToObject(doc, "initialised", !err);
	if (err == -ENOENT)
		return 0;
	if (!err)
		err = nsf_maps_open(h, &ctx.maps);
	if (!err && nsf_nl_open(&ctx.nl))
		err = nsf_fail(errno, "netlink");
	if (err)
		goto out;
	nsf_format_cidr4(&cfg.pod_cidr, cidr);
	nsf_format_ipv4(cfg.gateway, gw);
	cJSON_AddStringToObject(doc, "pod_cidr", cidr);
	cJSON_AddStringToObject(doc, "gateway", gw);
	if (cfg.uplink[0])
		cJSON_AddItemToObject(doc, "uplink", uplink_status(&cfg));
	cJSON_AddItemToObject(doc, "nat", nat_fill(&ctx.maps));
	ctx.prog_id = nsf_dp_prog_id(h, NSF_PROG_FROM_POD);
	cJSON_AddItemToObject(doc, "programs", programs(ctx.prog_id));
	ctx.endpoints = cJSON_AddArrayToObject(doc, "endpoints");
	err = nsf_ep_foreach(h, add_endpoint, &ctx);
	if (!err)
		err = ctx.err;
	counters = global_counters(&ctx.maps);
	if (!counters && !err)
		err = -EIO;
	if (counters)
		cJSON_AddItemToObject(doc, "counters", counters);
out:
	nsf_maps_close(&ctx.maps);
	nsf_nl_close(&ctx.nl);
	return err;
}

static double num(const cJSON *o, const char *path1, const char *path2)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, path1);

	if (path2)
		v = cJSON_GetObjectItemCaseSensitive(v, path2);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "-";
}

static void print_endpoints(const cJSON *eps)
{
	const cJSON *ep;

	printf("\n%-20s %-15s %-11s %-8s %12s %12s %12s %12s\n", "ENDPOINT",
	       "IP", "VETH", "STATE", "FROM-POD", "TO-POD", "FALLBACK", "DROP");
	cJSON_ArrayForEach(ep, eps) {
		const cJSON *c =
			cJSON_GetObjectItemCaseSensitive(ep, "counters");
		bool attached = cJSON_IsTrue(
			cJSON_GetObjectItemCaseSensitive(ep, "attached"));

		printf("%-20s %-15s %-11s %-8s %12.0f %12.0f %12.0f %12.0f\n",
		       str(ep, "name"), str(ep, "ip"), str(ep, "host_ifname"),
		       attached ? "attached" : str(ep, "link"),
		       num(c, "from_pod", "packets"),
		       num(c, "to_pod", "packets"),
		       num(c, "fallback", "packets"),
		       num(c, "drop", "packets"));
	}
	cJSON_ArrayForEach(ep, eps) {
		const char *health = str(ep, "health"), *name = str(ep, "name");

		if (!strcmp(health, NSF_HEALTH_UNMAPPED))
			printf("endpoint %s is off the fast path: %s (run "
			       "'nsfast attach %s' again or 'nsfast detach "
			       "%s')\n",
			       name, health, name, name);
		else if (strcmp(health, "ok") != 0)
			printf("endpoint %s is stale: %s (run 'nsfast gc')\n",
			       name, health);
	}
}

static void print_uplink(const cJSON *up)
{
	printf("uplink %s  masquerade to %s  ingress %s (prog %.0f)  "
	       "ports %.0f-%.0f",
	       str(up, "name"), str(up, "snat_ip"), str(up, "ingress"),
	       num(up, "prog_id", NULL), num(up, "nat_port_min", NULL),
	       num(up, "nat_port_max", NULL));
	if (num(up, "nat_port_min2", NULL))
		printf(",%.0f-%.0f", num(up, "nat_port_min2", NULL),
		       num(up, "nat_port_max2", NULL));
	printf("\n");
}

static void print_text(const struct nsf_host *h, const cJSON *doc)
{
	const cJSON *counters, *c, *prog, *up;

	printf("host %s  pins %s\n", h->id, h->pin_dir);
	if (!cJSON_IsTrue(
		    cJSON_GetObjectItemCaseSensitive(doc, "initialised"))) {
		printf("not initialised (run 'nsfast init')\n");
		return;
	}
	printf("pod CIDR %s  gateway %s\n", str(doc, "pod_cidr"),
	       str(doc, "gateway"));
	up = cJSON_GetObjectItemCaseSensitive(doc, "uplink");
	if (up)
		print_uplink(up);
	printf("NAT entries %.0f of %.0f (two per flow)\n",
	       num(doc, "nat", "entries"), num(doc, "nat", "capacity"));
	cJSON_ArrayForEach(prog,
			   cJSON_GetObjectItemCaseSensitive(doc, "programs"))
		printf("program %s id %.0f (%s)\n", str(prog, "name"),
		       num(prog, "id", NULL), str(prog, "hook"));
	print_endpoints(cJSON_GetObjectItemCaseSensitive(doc, "endpoints"));
	counters = cJSON_GetObjectItemCaseSensitive(doc, "counters");
	printf("\n%-18s %12s %14s\n", "COUNTER", "PACKETS", "BYTES");
	cJSON_ArrayForEach(c, counters) {
		if (num(c, "packets", NULL) == 0)
			continue;
		printf("%-18s %12.0f %14.0f\n", c->string,
		       num(c, "packets", NULL), num(c, "bytes", NULL));
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct nsf_host h = { .lock_fd = -1 };
	bool json = false;
	cJSON *doc;
	int c, err;

	while ((c = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (c != 'j') {
			fprintf(stderr,
				"nsfast: status: bad option '%s' (usage: "
				"nsfast status [--json])\n",
				argv[optind - 1]);
			return 2;
		}
		json = true;
	}
	if (optind != argc) {
		fprintf(stderr, "usage: nsfast status [--json]\n");
		return 2;
	}
	err = nsf_host_open(&h);
	if (err) {
		nsf_report("status");
		return 1;
	}
	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "host", h.id);
	cJSON_AddStringToObject(doc, "pin_dir", h.pin_dir);
	cJSON_AddStringToObject(doc, "state_dir", h.state_dir);
	err = build(&h, doc);
	if (err) {
		nsf_report("status");
		cJSON_Delete(doc);
		return 1;
	}
	if (json)
		err = nsf_print_json(doc);
	else
		print_text(&h, doc);
	cJSON_Delete(doc);
	if (err) {
		nsf_report("status");
		return 1;
	}
	return 0;
}
