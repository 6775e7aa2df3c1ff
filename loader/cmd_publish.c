// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nsfast publish add [--proto tcp|udp] HOSTPORT POD[:PORT]
 * nsfast publish del [--proto tcp|udp] HOSTPORT
 * nsfast publish list [--json]
 *
 * Ports of the uplink address forwarded to pods, like `docker run -p`.
 * POD is an endpoint name or address; PORT defaults to HOSTPORT.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "publish.h"

#define USAGE                                                               \
	"usage: nsfast publish add [--proto tcp|udp] HOSTPORT POD[:PORT]\n" \
	"       nsfast publish del [--proto tcp|udp] HOSTPORT\n"            \
	"       nsfast publish list [--json]\n"

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (*end || v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

struct ep_by_ip {
	uint32_t ip; /* host order */
	struct nsf_ep_rec rec;
	bool found;
};

static int match_ip(const struct nsf_ep_rec *rec, void *arg)
{
	struct ep_by_ip *q = arg;

	if (rec->ip != q->ip)
		return 0;
	q->rec = *rec;
	q->found = true;
	return 1;
}

/* POD[:PORT]: an endpoint by name or by address. */
static int resolve_pod(const struct nsf_host *h, const char *arg,
		       struct nsf_publish *p)
{
	char pod[NSF_NAME_MAX + 1];
	struct ep_by_ip q = { 0 };
	const char *colon = strrchr(arg, ':');
	size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
	int err;

	p->pod_port = p->host_port;
	if (colon && parse_port(colon + 1, &p->pod_port))
		return nsf_usage("invalid pod port '%s'", colon + 1);
	if (!len || len >= sizeof(pod))
		return nsf_usage("invalid pod '%s'", arg);
	memcpy(pod, arg, len);
	pod[len] = '\0';
	if (!nsf_parse_ipv4(pod, &q.ip)) {
		err = nsf_ep_foreach(h, match_ip, &q);
		if (err < 0)
			return err;
		if (!q.found)
			return nsf_fail(0, "no endpoint has address %s", pod);
	} else {
		if (!nsf_valid_name(pod))
			return nsf_usage("invalid pod '%s'", pod);
		err = nsf_ep_load(h, pod, &q.rec);
		if (err == -ENOENT)
			return nsf_fail(0, "no endpoint %s", pod);
		if (err)
			return err;
	}
	p->pod_ip = htonl(q.rec.ip);
	nsf_strlcpy(p->owner, q.rec.name, sizeof(p->owner));
	return 0;
}

/* [--proto tcp|udp] HOSTPORT [POD[:PORT]]; @npos positional args. */
static int parse_args(int argc, char **argv, int npos, struct nsf_publish *p)
{
	static const struct option opts[] = {
		{ "proto", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(p, 0, sizeof(*p));
	p->proto = IPPROTO_TCP;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'p')
			return nsf_bad_option(opts, argv, optind, NULL);
		if (nsf_proto_parse(optarg, &p->proto))
			return nsf_usage("invalid protocol '%s' (tcp or udp)",
					 optarg);
	}
	if (argc - optind != npos)
		return -EINVAL;
	if (parse_port(argv[optind], &p->host_port))
		return nsf_usage("invalid host port '%s'", argv[optind]);
	return 0;
}

static int publish_add(const struct nsf_host *h, int argc, char **argv)
{
	struct nsf_publish p;
	int err = parse_args(argc, argv, 2, &p);

	if (!err)
		err = resolve_pod(h, argv[optind + 1], &p);
	if (!err)
		err = nsf_publish_add(h, &p);
	return err;
}

static int publish_del(const struct nsf_host *h, int argc, char **argv)
{
	struct nsf_publish p;
	int err = parse_args(argc, argv, 1, &p);

	return err ? err : nsf_publish_del(h, &p);
}

static void print_list(const struct nsf_publish *l, size_t n, bool json)
{
	char ip[NSF_ADDR_STRLEN];
	cJSON *arr = json ? cJSON_CreateArray() : NULL;

	for (size_t i = 0; i < n; i++) {
		nsf_format_ipv4(ntohl(l[i].pod_ip), ip);
		if (!json) {
			printf("%s %u -> %s %s:%u\n",
			       nsf_proto_name(l[i].proto), l[i].host_port,
			       l[i].owner, ip, l[i].pod_port);
			continue;
		}
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "proto", nsf_proto_name(l[i].proto));
		cJSON_AddNumberToObject(o, "host_port", l[i].host_port);
		cJSON_AddStringToObject(o, "pod", l[i].owner);
		cJSON_AddStringToObject(o, "pod_ip", ip);
		cJSON_AddNumberToObject(o, "pod_port", l[i].pod_port);
		cJSON_AddItemToArray(arr, o);
	}
	if (!json)
		return;
	nsf_print_json(arr);
	cJSON_Delete(arr);
}

static int publish_list(const struct nsf_host *h, bool json)
{
	struct nsf_publish *list = NULL;
	size_t n = 0;
	int err = nsf_publish_list(h, &list, &n);

	if (!err)
		print_list(list, n, json);
	free(list);
	return err;
}

int cmd_publish(int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";
	bool list = !strcmp(verb, "list");
	bool json = list && argc == 3 && !strcmp(argv[2], "--json");
	struct nsf_host h = { .lock_fd = -1 };
	int err;

	if (!(list && (argc == 2 || json)) && strcmp(verb, "add") != 0 &&
	    strcmp(verb, "del") != 0) {
		fprintf(stderr, USAGE);
		return 2;
	}
	/* Too few arguments: usage, before anything looks at the host. */
	if (!list && argc < (!strcmp(verb, "add") ? 4 : 3)) {
		fprintf(stderr, USAGE);
		return 2;
	}
	err = cli_host_open(&h, !list, false);
	if (!err && list)
		err = publish_list(&h, json);
	else if (!err && !strcmp(verb, "add"))
		err = publish_add(&h, argc - 1, argv + 1);
	else if (!err)
		err = publish_del(&h, argc - 1, argv + 1);
	nsf_host_close(&h);
	if (err == -EINVAL && !nsf_last_error()[0]) {
		fprintf(stderr, USAGE);
		return 2;
	}
	if (err) {
		nsf_report("publish %s", verb);
		return nsf_exit_status();
	}
	return 0;
}
