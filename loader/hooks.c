// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "hooks.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <string.h>
#include <unistd.h>

static void tc_hook(struct bpf_tc_hook *hook, int ifindex, bool ingress)
{
	hook->sz = sizeof(*hook);
	hook->ifindex = ifindex;
	hook->attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

int nsf_tc_attach_filter(int ifindex, bool ingress, int prog_fd)
{
	struct bpf_tc_hook hook = { 0 };
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NSF_TC_HANDLE,
		    .priority = NSF_TC_PRIO, .prog_fd = prog_fd,
		    .flags = BPF_TC_F_REPLACE);

	tc_hook(&hook, ifindex, ingress);
	return bpf_tc_attach(&hook, &opts);
}

int nsf_tc_attach(int ifindex, bool ingress, int prog_fd)
{
	struct bpf_tc_hook hook = { 0 };
	int err;

	tc_hook(&hook, ifindex, ingress);
	/* Creates the clsact qdisc; one that exists already is fine. */
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	return nsf_tc_attach_filter(ifindex, ingress, prog_fd);
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

int nsf_tc_qdisc(int ifindex, bool *created)
{
	struct bpf_tc_hook hook = { 0 };
	int err;

	tc_hook(&hook, ifindex, true);
	err = bpf_tc_hook_create(&hook);
	*created = !err;
	return err == -EEXIST ? 0 : err;
}

int nsf_tc_detach(int ifindex, bool ingress, bool destroy_qdisc)
{
	struct bpf_tc_hook hook = { 0 };
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NSF_TC_HANDLE,
		    .priority = NSF_TC_PRIO);
	int err;

	tc_hook(&hook, ifindex, ingress);
	err = bpf_tc_detach(&hook, &opts);
	if (err && err != -ENOENT && err != -EINVAL)
		return err;
	if (destroy_qdisc) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		err = bpf_tc_hook_destroy(&hook);
		if (err && err != -ENOENT && err != -EINVAL)
			return err;
	}
	return 0;
}

/* Whether program @id is called @name (ours). */
static bool prog_named(uint32_t id, const char *name)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);
	bool same;

	if (fd < 0)
		return false;
	same = !bpf_obj_get_info_by_fd(fd, &info, &len) &&
	       !strcmp(info.name, name);
	close(fd);
	return same;
}

int nsf_xdp_query(int ifindex, uint32_t *prog_id, bool *generic)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int err = bpf_xdp_query(ifindex, 0, &q);

	if (err)
		return err;
	*prog_id = q.prog_id;
	*generic = q.attach_mode == XDP_ATTACHED_SKB;
	return 0;
}

int nsf_xdp_detach(int ifindex, const char *prog_name)
{
	uint32_t id;
	bool generic;
	int err;

	err = nsf_xdp_query(ifindex, &id, &generic);
	if (err || !id)
		return err;
	if (!prog_named(id, prog_name))
		return 0;
	return bpf_xdp_detach(ifindex,
			      generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE,
			      NULL);
}

int nsf_xdp_attach(int ifindex, int prog_fd, bool generic,
		   const char *prog_name)
{
	__u32 flags = generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts);
	bool cur_generic;
	uint32_t cur;
	int err, old_fd;

	err = nsf_xdp_query(ifindex, &cur, &cur_generic);
	if (err)
		return err;
	if (cur && !prog_named(cur, prog_name))
		return -EBUSY;
	if (cur && cur_generic != generic) {
		/* Changing mode: the kernel cannot swap across modes. */
		err = nsf_xdp_detach(ifindex, prog_name);
		if (err)
			return err;
		cur = 0;
	}
	if (!cur)
		return bpf_xdp_attach(ifindex, prog_fd,
				      flags | XDP_FLAGS_UPDATE_IF_NOEXIST,
				      NULL);
	old_fd = bpf_prog_get_fd_by_id(cur);
	if (old_fd < 0)
		return old_fd;
	opts.old_prog_fd = old_fd;
	err = bpf_xdp_attach(ifindex, prog_fd, flags | XDP_FLAGS_REPLACE,
			     &opts);
	close(old_fd);
	return err;
}
