// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* nsfast detach NAME: take a pod off the fast path and remove its veth. */
#include <errno.h>
#include <stdio.h>

#include "commands.h"
#include "endpoint.h"

int cmd_detach(int argc, char **argv)
{
	struct nsf_host h = { .lock_fd = -1 };
	struct nsf_ep_rec rec;
	const char *name;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: nsfast detach NAME\n");
		return 2;
	}
	name = argv[1];
	if (!nsf_valid_name(name)) {
		fprintf(stderr, "nsfast: detach: invalid name '%s'\n", name);
		return 2;
	}
	err = cli_host_open(&h, true, false);
	if (!err) {
		err = nsf_ep_load(&h, name, &rec);
		if (err == -ENOENT)
			err = nsf_fail(0, "no such endpoint");
	}
	if (!err)
		err = nsf_endpoint_detach(&h, &rec);
	nsf_host_close(&h);
	if (err) {
		nsf_report("detach %s", name);
		return 1;
	}
	return 0;
}
