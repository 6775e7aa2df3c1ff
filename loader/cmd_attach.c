// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* nsfast attach NAME: put a pod on the fast path; prints its address. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "endpoint.h"
#include "netns.h"
#include "policy.h"

#define USAGE                                                                \
	"usage: nsfast attach NAME [--ip ADDR] [--ifname IF] [--netns-path " \
	"PATH] [--group GROUP]"

static const char *group;

/* status and gc test the recorded path from their own directory. */
static int netns_abspath(struct nsf_attach_req *req)
{
	static char path[PATH_MAX];
	int err = nsf_netns_abspath(req->netns_path, path, sizeof(path));

	if (err)
		return nsf_fail(-err, "netns %s", req->netns_path);
	req->netns_path = path;
	return 0;
}

static int parse_args(int argc, char **argv, struct nsf_attach_req *req)
{
	static const struct option opts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "ifname", required_argument, NULL, 'f' },
		{ "netns-path", required_argument, NULL, 'p' },
		{ "group", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ip = NULL;
	int c;

	req->ifname = "eth0";
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'i')
			ip = optarg;
		else if (c == 'f')
			req->ifname = optarg;
		else if (c == 'p')
			req->netns_path = optarg;
		else if (c == 'g')
			group = optarg;
		else
			return nsf_bad_option(opts, argv, optind, USAGE);
	}
	if (optind + 1 != argc)
		return nsf_usage(USAGE);
	req->name = argv[optind];
	if (!nsf_valid_name(req->name))
		return nsf_usage("invalid name '%s' (1-%d characters of "
				 "A-Z a-z 0-9 _ . -)",
				 req->name, NSF_NAME_MAX);
	if (!nsf_valid_ifname(req->ifname))
		return nsf_usage("invalid interface name '%s' (1-15 "
				 "characters, no '/', ':', '%%' or spaces, "
				 "not all or default)",
				 req->ifname);
	if (ip && nsf_parse_ipv4(ip, &req->ip))
		return nsf_usage("invalid address '%s'", ip);
	return req->netns_path ? netns_abspath(req) : 0;
}

/*
 * With --group, the membership is recorded first, so the endpoint's map
 * entry has its group before the program sees a packet; a failed attach
 * puts the old membership back. Re-attaching with another group moves it.
 */
static int attach_in_group(const struct nsf_host *h,
			   const struct nsf_host_config *cfg,
			   const struct nsf_attach_req *req,
			   struct nsf_ep_rec *rec, enum nsf_attach_result *res)
{
	char old[NSF_NAME_MAX + 1] = "none";
	cJSON *doc;
	int err;

	if (!group)
		return nsf_endpoint_attach(h, cfg, req, rec, res);
	doc = nsf_policy_load(h);
	if (!doc)
		return -EIO;
	if (nsf_policy_member_group(doc, req->name))
		nsf_strlcpy(old, nsf_policy_member_group(doc, req->name),
			    sizeof(old));
	err = nsf_policy_assign(doc, req->name, group);
	if (!err)
		err = nsf_policy_save(h, doc);
	if (!err)
		err = nsf_endpoint_attach(h, cfg, req, rec, res);
	if (!err && *res == NSF_ATTACH_EXISTS)
		err = nsf_policy_sync(h, doc);
	if (err && !nsf_policy_assign(doc, req->name, old))
		nsf_policy_save(h, doc);
	cJSON_Delete(doc);
	return err;
}

int cmd_attach(int argc, char **argv)
{
	struct nsf_attach_req req = { 0 };
	enum nsf_attach_result res;
	char addr[NSF_ADDR_STRLEN];
	struct nsf_host_config cfg;
	struct nsf_ep_rec rec;
	struct nsf_host h = { .lock_fd = -1 };
	int err;

	err = parse_args(argc, argv, &req);
	if (err) {
		nsf_report("attach");
		return nsf_exit_status();
	}
	err = cli_host_open(&h, true, false);
	if (!err)
		err = nsf_config_load(&h, &cfg);
	if (!err)
		err = attach_in_group(&h, &cfg, &req, &rec, &res);
	nsf_host_close(&h);
	if (err) {
		nsf_report("attach %s", req.name);
		return nsf_exit_status();
	}
	nsf_format_ipv4(rec.ip, addr);
	printf("%s\n", addr);
	return 0;
}
