// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nsfast init: load the programs and pin them with their maps. Re-running it
 * reloads the programs (e.g. after an upgrade) and swaps them in on every
 * endpoint, keeping the maps and so every endpoint and counter.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <nsfast/maps.h>

#include "commands.h"
#include "endpoint.h"
#include "maps.h"

#define DEFAULT_POD_CIDR "10.244.0.0/16"

static int count_endpoint(const struct nsf_ep_rec *rec, void *arg)
{
	(void)rec;
	(*(int *)arg)++;
	return 0;
}

/* A pod CIDR can change only while no endpoint holds an address from it. */
static int check_cidr_change(const struct nsf_host *h,
			     const struct nsf_host_config *old,
			     const struct nsf_host_config *new)
{
	char cidr[NSF_CIDR_STRLEN];
	int n = 0, err;

	if (old->pod_cidr.net == new->pod_cidr.net &&
	    old->pod_cidr.prefix == new->pod_cidr.prefix)
		return 0;
	err = nsf_ep_foreach(h, count_endpoint, &n);
	if (err)
		return err;
	nsf_format_cidr4(&old->pod_cidr, cidr);
	if (n)
		return nsf_fail(0,
				"pod CIDR is %s with %d endpoint(s) attached "
				"(detach them or reset first)",
				cidr, n);
	return 0;
}

struct reattach_ctx {
	const struct nsf_host *h;
	int prog_fd;
};

static int reattach_one(const struct nsf_ep_rec *rec, void *arg)
{
	struct reattach_ctx *ctx = arg;

	/* A pod whose veth vanished must not block init: say so, go on. */
	if (nsf_endpoint_reattach(ctx->h, ctx->prog_fd, rec))
		nsf_report("init: endpoint %s (run 'nsfast detach %s')",
			   rec->name, rec->name);
	return 0;
}

static int reattach_all(const struct nsf_host *h)
{
	struct reattach_ctx ctx = { .h = h };
	int err;

	ctx.prog_fd = nsf_dp_prog_fd(h, NSF_PROG_FROM_POD);
	if (ctx.prog_fd < 0)
		return ctx.prog_fd;
	err = nsf_ep_foreach(h, reattach_one, &ctx);
	close(ctx.prog_fd);
	return err;
}

static int configure(const struct nsf_host *h,
		     const struct nsf_host_config *cfg)
{
	struct nsf_maps maps;
	int err;

	err = nsf_dp_load(h);
	if (!err)
		err = nsf_maps_open(h, &maps);
	if (err)
		return err;
	err = nsf_maps_write_config(&maps, cfg);
	nsf_maps_close(&maps);
	if (!err)
		err = nsf_config_save(h, cfg);
	if (!err)
		err = reattach_all(h);
	return err;
}

static int parse_args(int argc, char **argv, struct nsf_host_config *cfg)
{
	static const struct option opts[] = {
		{ "pod-cidr", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cidr = DEFAULT_POD_CIDR;
	int c;

	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c != 'c')
			return nsf_fail(0,
					"usage: nsfast init [--pod-cidr CIDR]");
		cidr = optarg;
	}
	if (optind != argc)
		return nsf_fail(0, "unexpected argument '%s'", argv[optind]);
	if (nsf_parse_cidr4(cidr, &cfg->pod_cidr, false))
		return nsf_fail(0,
				"invalid pod CIDR '%s' (want a.b.c.d/len "
				"with no host bits)",
				cidr);
	if (cfg->pod_cidr.prefix < 8 || cfg->pod_cidr.prefix > 30)
		return nsf_fail(0, "pod CIDR %s: prefix must be /8 to /30",
				cidr);
	cfg->gateway = NSF_GATEWAY4;
	return 0;
}

int cmd_init(int argc, char **argv)
{
	struct nsf_host_config cfg = { 0 }, old = { 0 };
	char cidr[NSF_CIDR_STRLEN];
	bool fresh;
	struct nsf_host h;
	int err;

	err = parse_args(argc, argv, &cfg);
	if (!err)
		err = nsf_host_open(&h);
	if (!err)
		err = nsf_host_check_bpffs(&h);
	if (err) {
		nsf_report("init");
		return 1;
	}
	fresh = nsf_config_load(&h, &old) == -ENOENT;
	err = nsf_host_lock(&h);
	if (!err && !fresh)
		err = check_cidr_change(&h, &old, &cfg);
	if (!err)
		err = configure(&h, &cfg);
	if (err) {
		nsf_report("init");
		/* A first init that failed leaves nothing behind. */
		if (fresh) {
			nsf_dp_unpin(&h);
			nsf_host_remove_state(&h);
		}
		nsf_host_close(&h);
		return 1;
	}
	nsf_format_cidr4(&cfg.pod_cidr, cidr);
	printf("nsfast: host %s %s: pod CIDR %s, pins in %s\n", h.id,
	       fresh ? "initialised" : "reloaded", cidr, h.pin_dir);
	nsf_host_close(&h);
	return 0;
}
