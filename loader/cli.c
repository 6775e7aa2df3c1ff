// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Helpers shared by the CLI commands. */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "commands.h"
#include "state.h"

int cli_host_open(struct nsf_host *h, bool lock, bool create)
{
	struct nsf_host_config cfg;
	int err;

	err = nsf_host_open(h);
	if (err)
		return err;
	if (!create && nsf_config_load(h, &cfg) == -ENOENT)
		return nsf_fail(0, "not initialised (run 'nsfast init' first)");
	return lock ? nsf_host_lock(h) : 0;
}

static bool has_cap(const struct __user_cap_data_struct *data, int cap)
{
	return data[cap / 32].effective & (1u << (cap % 32));
}

bool cli_privileged(const char *cmd)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = { 0 };

	if (syscall(SYS_capget, &hdr, data) == 0 &&
	    has_cap(data, CAP_NET_ADMIN) && has_cap(data, CAP_SYS_ADMIN))
		return true;
	nsf_clear_error();
	fprintf(stderr,
		"nsfast: %s: permission denied: needs CAP_NET_ADMIN and "
		"CAP_SYS_ADMIN (run as root)\n",
		cmd);
	return false;
}
