// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nsfast route add POD_CIDR via NODE_IP | del POD_CIDR | list [--json]
 *
 * Other nodes' pod CIDRs: pods reach them without NAT, straight through
 * the node that owns them (native routing, as Kubernetes nodes use it).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "routes.h"

#define USAGE                                            \
	"usage: nsfast route add POD_CIDR via NODE_IP\n" \
	"       nsfast route del POD_CIDR\n"             \
	"       nsfast route list [--json]\n"

static int parse_cidr(const char *s, struct nsf_cidr4 *c)
{
	if (nsf_parse_cidr4(s, c, false))
		return nsf_usage("invalid CIDR '%s' (want a.b.c.d/len with "
				 "no host bits)",
				 s);
	return 0;
}

static int route_add(const struct nsf_host *h, char **argv)
{
	struct nsf_route r;
	int err = parse_cidr(argv[2], &r.cidr);

	if (!err && nsf_parse_ipv4(argv[4], &r.via))
		err = nsf_usage("invalid node address '%s'", argv[4]);
	return err ? err : nsf_route_add(h, &r);
}

static void print_list(const struct nsf_route *l, size_t n, bool json)
{
	char cidr[NSF_CIDR_STRLEN], via[NSF_ADDR_STRLEN];
	cJSON *arr = json ? cJSON_CreateArray() : NULL;

	for (size_t i = 0; i < n; i++) {
		nsf_format_cidr4(&l[i].cidr, cidr);
		nsf_format_ipv4(l[i].via, via);
		if (!json) {
			printf("%s via %s\n", cidr, via);
			continue;
		}
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "cidr", cidr);
		cJSON_AddStringToObject(o, "via", via);
		cJSON_AddItemToArray(arr, o);
	}
	if (!json)
		return;
	nsf_print_json(arr);
	cJSON_Delete(arr);
}

static int route_list(const struct nsf_host *h, bool json)
{
	struct nsf_route *list = NULL;
	size_t n = 0;
	int err = nsf_route_list(h, &list, &n);

	if (!err)
		print_list(list, n, json);
	free(list);
	return err;
}

int cmd_route(int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";
	bool list = !strcmp(verb, "list");
	bool json = list && argc == 3 && !strcmp(argv[2], "--json");
	bool add = !strcmp(verb, "add") && argc == 5 && !strcmp(argv[3], "via");
	bool del = !strcmp(verb, "del") && argc == 3;
	struct nsf_host h = { .lock_fd = -1 };
	struct nsf_cidr4 cidr;
	int err;

	if (!(list && (argc == 2 || json)) && !add && !del) {
		fprintf(stderr, USAGE);
		return 2;
	}
	err = cli_host_open(&h, !list, false);
	if (!err && list)
		err = route_list(&h, json);
	else if (!err && add)
		err = route_add(&h, argv);
	else if (!err && !(err = parse_cidr(argv[2], &cidr)))
		err = nsf_route_del(&h, &cidr);
	nsf_host_close(&h);
	if (err) {
		nsf_report("route %s", verb);
		return nsf_exit_status();
	}
	return 0;
}
