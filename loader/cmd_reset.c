// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* nsfast reset: detach every pod and remove this host's pins and state. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "endpoint.h"
#include "maps.h"
#include "nat.h"
#include "publish.h"
#include "routes.h"
#include "recover.h"
#include "uplink.h"

struct reset_ctx {
	const struct nsf_host *h;
	int detached;
	int failed;
};

static int reset_endpoint(const struct nsf_ep_rec *rec, void *arg)
{
	struct reset_ctx *ctx = arg;

	if (nsf_endpoint_detach(ctx->h, rec)) {
		nsf_report("reset: endpoint %s", rec->name);
		ctx->failed++;
	} else {
		ctx->detached++;
	}
	return 0;
}

/* The NAT table goes with the pins anyway: emptied first, so that each
 * pod's detach finds none of its flows to look for in a full table. */
static void flush_nat(const struct nsf_host *h)
{
	int fd = nsf_map_open(h, NSF_MAP_NAT4);
	uint64_t n;

	if (fd < 0) {
		nsf_clear_error();
		return;
	}
	nsf_nat_flush(fd, &n);
	close(fd);
}

int cmd_reset(int argc, char **argv)
{
	struct nsf_host h = { .lock_fd = -1 };
	struct reset_ctx ctx = { .h = &h };
	struct nsf_host_config cfg;
	struct stat st;
	int err;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: nsfast reset\n");
		return 2;
	}
	err = nsf_host_open(&h);
	if (err) {
		nsf_report("reset");
		return 1;
	}
	if (stat(h.state_dir, &st) && stat(h.pin_dir, &st)) {
		printf("nsfast: host %s: nothing to reset\n", h.id);
		return 0;
	}
	err = nsf_host_lock(&h);
	if (!err) /* attaches that died midway, endpoints already broken */
		err = nsf_ep_gc(&h, &(struct nsf_ep_gc_result){ 0 });
	if (!err) {
		flush_nat(&h);
		err = nsf_ep_foreach(&h, reset_endpoint, &ctx);
	}
	if (!err && nsf_config_load(&h, &cfg) == 0)
		err = nsf_uplink_detach(&cfg);
	if (!err)
		err = nsf_publish_teardown(&h);
	if (!err)
		err = nsf_route_teardown(&h);
	if (!err && !ctx.failed)
		err = nsf_dp_unpin(&h);
	if (!err && !ctx.failed)
		err = nsf_host_remove_state(&h);
	nsf_host_close(&h);
	if (err || ctx.failed) {
		nsf_report("reset");
		return 1;
	}
	printf("nsfast: host %s reset: %d endpoint(s) detached\n", h.id,
	       ctx.detached);
	return 0;
}
