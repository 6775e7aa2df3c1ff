// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "hooks.h"

#include <bpf/libbpf.h>
#include <errno.h>

static void tc_hook(struct bpf_tc_hook *hook, int ifindex, bool ingress)
{
	hook->sz = sizeof(*hook);
	hook->ifindex = ifindex;
	hook->attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

int nsf_tc_attach(int ifindex, bool ingress, int prog_fd)
{
	struct bpf_tc_hook hook = { 0 };
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NSF_TC_HANDLE,
		    .priority = NSF_TC_PRIO, .prog_fd = prog_fd,
		    .flags = BPF_TC_F_REPLACE);
	int err;

	tc_hook(&hook, ifindex, ingress);
	/* Creates the clsact qdisc; one that exists already is fine. */
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

int nsf_tc_query(int ifindex, bool ingress, uint32_t *prog_id)
{
	struct bpf_tc_hook hook = { 0 };
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NSF_TC_HANDLE,
		    .priority = NSF_TC_PRIO);
	int err;

	tc_hook(&hook, ifindex, ingress);
	*prog_id = 0;
	err = bpf_tc_query(&hook, &opts);
	if (err == -ENOENT || err == -EINVAL)
		return 0; /* no qdisc or no filter of ours */
	if (err)
		return err;
	*prog_id = opts.prog_id;
	return 0;
}
