// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nsfast nat list [--json] | flush: the masquerading table, like
 * `conntrack -L` / `conntrack -F` for nf_conntrack.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "maps.h"
#include "nat.h"

#define NS_PER_S 1000000000ull

static const char *proto_name(uint8_t proto)
{
	return proto == IPPROTO_TCP    ? "tcp"
	       : proto == IPPROTO_UDP  ? "udp"
	       : proto == IPPROTO_ICMP ? "icmp"
				       : "?";
}

static void addr_str(uint32_t be, char out[NSF_ADDR_STRLEN])
{
	nsf_format_ipv4(ntohl(be), out);
}

static cJSON *flow_json(const struct nsf_nat_flow *f)
{
	char src[NSF_ADDR_STRLEN], dst[NSF_ADDR_STRLEN], snat[NSF_ADDR_STRLEN];
	cJSON *o = cJSON_CreateObject(), *orig, *xlat, *pk, *by;

	addr_str(f->key.saddr, src);
	addr_str(f->key.daddr, dst);
	addr_str(f->out.addr, snat);
	cJSON_AddStringToObject(o, "proto", proto_name(f->key.proto));
	cJSON_AddStringToObject(o, "state", f->state);
	orig = cJSON_AddObjectToObject(o, "original");
	cJSON_AddStringToObject(orig, "src", src);
	cJSON_AddStringToObject(orig, "dst", dst);
	cJSON_AddNumberToObject(orig, "sport", ntohs(f->key.sport));
	cJSON_AddNumberToObject(orig, "dport", ntohs(f->key.dport));
	xlat = cJSON_AddObjectToObject(o, "translated");
	cJSON_AddStringToObject(xlat, "src", snat);
	cJSON_AddNumberToObject(xlat, "sport", ntohs(f->out.port));
	cJSON_AddNumberToObject(o, "age_s", (double)f->age_ns / NS_PER_S);
	cJSON_AddNumberToObject(o, "idle_s", (double)f->idle_ns / NS_PER_S);
	cJSON_AddNumberToObject(o, "timeout_s", f->timeout);
	cJSON_AddBoolToObject(o, "reply_entry", f->has_reply_entry);
	pk = cJSON_AddObjectToObject(o, "packets");
	cJSON_AddNumberToObject(pk, "original", (double)f->out.packets);
	cJSON_AddNumberToObject(pk, "reply", (double)f->in.packets);
	by = cJSON_AddObjectToObject(o, "bytes");
	cJSON_AddNumberToObject(by, "original", (double)f->out.bytes);
	cJSON_AddNumberToObject(by, "reply", (double)f->in.bytes);
	return o;
}

static int add_flow(const struct nsf_nat_flow *f, void *arg)
{
	cJSON_AddItemToArray(arg, flow_json(f));
	return 0;
}

static int print_flow(const struct nsf_nat_flow *f, void *arg)
{
	char src[NSF_ADDR_STRLEN], dst[NSF_ADDR_STRLEN], snat[NSF_ADDR_STRLEN];

	(void)arg;
	addr_str(f->key.saddr, src);
	addr_str(f->key.daddr, dst);
	addr_str(f->out.addr, snat);
	printf("%-4s %-11s src=%s dst=%s sport=%u dport=%u -> src=%s "
	       "sport=%u age=%llus idle=%llus timeout=%us packets=%llu/%llu "
	       "bytes=%llu/%llu\n",
	       proto_name(f->key.proto), f->state, src, dst,
	       ntohs(f->key.sport), ntohs(f->key.dport), snat,
	       ntohs(f->out.port), (unsigned long long)(f->age_ns / NS_PER_S),
	       (unsigned long long)(f->idle_ns / NS_PER_S), f->timeout,
	       (unsigned long long)f->out.packets,
	       (unsigned long long)f->in.packets,
	       (unsigned long long)f->out.bytes,
	       (unsigned long long)f->in.bytes);
	return 0;
}

static int nat_list(const struct nsf_maps *maps, bool json)
{
	struct nsf_nat_timeouts t;
	cJSON *arr;
	int err;

	nsf_nat_default_timeouts(&t);
	if (!json)
		return nsf_nat_foreach(maps->nat4, &t, print_flow, NULL);
	arr = cJSON_CreateArray();
	err = nsf_nat_foreach(maps->nat4, &t, add_flow, arr);
	if (!err)
		err = nsf_print_json(arr);
	cJSON_Delete(arr);
	return err;
}

static int nat_flush(const struct nsf_maps *maps)
{
	uint64_t removed;
	int err = nsf_nat_flush(maps->nat4, &removed);

	if (!err)
		printf("nsfast: %" PRIu64 " NAT entries removed\n", removed);
	return err;
}

int cmd_nat(int argc, char **argv)
{
	struct nsf_maps maps = NSF_MAPS_CLOSED;
	const char *verb = argc > 1 ? argv[1] : "";
	bool json = argc == 3 && !strcmp(argv[2], "--json");
	struct nsf_host h;
	int err;

	if (!((!strcmp(verb, "list") && (argc == 2 || json)) ||
	      (!strcmp(verb, "flush") && argc == 2))) {
		fprintf(stderr, "usage: nsfast nat list [--json] | flush\n");
		return 2;
	}
	err = cli_host_open(&h, false, false);
	if (!err)
		err = nsf_maps_open(&h, &maps);
	if (!err)
		err = !strcmp(verb, "list") ? nat_list(&maps, json)
					    : nat_flush(&maps);
	nsf_maps_close(&maps);
	if (err) {
		nsf_report("nat %s", verb);
		return 1;
	}
	return 0;
}
