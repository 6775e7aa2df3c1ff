// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "maps.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pod_ingress.skel.h"
#include "uplink_tc.skel.h"
#include "uplink_xdp.skel.h"

static bool libbpf_verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (!libbpf_verbose || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void nsf_libbpf_logging(bool verbose)
{
	libbpf_verbose = verbose;
	libbpf_set_print(libbpf_print);
}

static int pin_path(const struct nsf_host *h, const char *name, char *path,
		    size_t len)
{
	if (snprintf(path, len, "%s/%s", h->pin_dir, name) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* The shared parent goes with the last host's pins (nsf_dp_unpin()):
 * nsf_mkdir_p() makes it again if it vanishes meanwhile. */
static int make_pin_dir(const struct nsf_host *h)
{
	int err = nsf_mkdir_p(h->pin_dir, 0700);

	return err ? nsf_fail(-err, "pin directory %s", h->pin_dir) : 0;
}

/*
 * Pin @prog under its name, replacing an older program of that name without
 * a moment where the pin is missing: pin beside it, then rename over it.
 */
static int pin_program(const struct nsf_host *h, struct bpf_program *prog)
{
	char path[NSF_PATH_MAX * 2], tmp[NSF_PATH_MAX * 2 + 8];
	const char *name = bpf_program__name(prog);
	int err;

	if (pin_path(h, name, path, sizeof(path)))
		return nsf_fail(ENAMETOOLONG, "pin %s", name);
	/* bpffs rejects names with a dot (reserved for its own entries). */
	snprintf(tmp, sizeof(tmp), "%s_new", path);
	unlink(tmp);
	err = bpf_obj_pin(bpf_program__fd(prog), tmp);
	if (err)
		return nsf_fail(-err, "pin %s", tmp);
	if (rename(tmp, path)) {
		err = errno;
		unlink(tmp);
		return nsf_fail(err, "pin %s", path);
	}
	return 0;
}

/*
 * libbpf 1.1 compares a pinned map's flags with its definition to decide
 * whether to reuse it; the kernel adds BPF_F_RDONLY_PROG to devmaps, so
 * the check always fails for them (later libbpf masks the flag). Reuse
 * the pinned devmap by hand, or pin the new one after load (*pin_after).
 */
static int reuse_devmap(const struct nsf_host *h, struct bpf_object *obj,
			struct bpf_map **pin_after)
{
	struct bpf_map *map =
		bpf_object__find_map_by_name(obj, NSF_MAP_TX_PORTS);
	char path[NSF_PATH_MAX * 2];
	int fd, err;

	*pin_after = NULL;
	if (!map)
		return 0;
	bpf_map__set_pin_path(map, NULL);
	pin_path(h, NSF_MAP_TX_PORTS, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0) {
		*pin_after = map;
		return 0;
	}
	err = bpf_map__reuse_fd(map, fd);
	close(fd);
	return err ? nsf_fail(-err, "reuse %s", path) : 0;
}

/* Size the NAT map, load, and pin every program of @obj. */
static int load_and_pin(const struct nsf_host *h,
			const struct nsf_host_config *cfg,
			struct bpf_object *obj, const char *name)
{
	struct bpf_map *nat, *devmap;
	char path[NSF_PATH_MAX * 2];
	struct bpf_program *prog;
	int err;

	err = reuse_devmap(h, obj, &devmap);
	if (err)
		return err;
	nat = bpf_object__find_map_by_name(obj, NSF_MAP_NAT4);
	if (nat && cfg->nat_entries &&
	    bpf_map__set_max_entries(nat, cfg->nat_entries))
		return nsf_fail(EINVAL, "%s: NAT map size", name);
	err = bpf_object__load(obj);
	if (err)
		return nsf_fail(-err,
				"load %s (-v shows libbpf's log; a pinned map "
				"from an older version needs 'nsfast reset')",
				name);
	if (devmap) {
		pin_path(h, NSF_MAP_TX_PORTS, path, sizeof(path));
		err = bpf_map__pin(devmap, path);
		if (err)
			return nsf_fail(-err, "pin %s", path);
	}
	bpf_object__for_each_program(prog, obj) {
		err = pin_program(h, prog);
		if (err)
			return err;
	}
	return 0;
}

/*
 * One loader per skeleton. The skeletons embed the BPF objects in the
 * binary; pin_root_path makes libbpf create or reuse each pinned map.
 * Pinned maps and programs outlive the skeleton, which is freed at once.
 */
#define DEFINE_SKEL_LOADER(skel)                                  \
	static int load_##skel(const struct nsf_host *h,          \
			       const struct nsf_host_config *cfg) \
	{                                                         \
		LIBBPF_OPTS(bpf_object_open_opts, opts,           \
			    .pin_root_path = h->pin_dir);         \
		struct skel *s = skel##__open_opts(&opts);        \
		int err;                                          \
                                                                  \
		if (!s)                                           \
			return nsf_fail(errno, "open " #skel);    \
		err = load_and_pin(h, cfg, s->obj, #skel);        \
		skel##__destroy(s);                               \
		return err;                                       \
	}

DEFINE_SKEL_LOADER(pod_ingress)
DEFINE_SKEL_LOADER(uplink_xdp)
DEFINE_SKEL_LOADER(uplink_tc)

int nsf_dp_load(const struct nsf_host *h, const struct nsf_host_config *cfg)
{
	int err = nsf_host_check_bpffs(h);

	if (!err)
		err = make_pin_dir(h);
	if (!err)
		err = load_pod_ingress(h, cfg);
	if (!err)
		err = load_uplink_xdp(h, cfg);
	if (!err)
		err = load_uplink_tc(h, cfg);
	return err;
}

bool nsf_dp_loaded(const struct nsf_host *h)
{
	char path[NSF_PATH_MAX * 2];

	pin_path(h, NSF_PROG_FROM_POD, path, sizeof(path));
	return access(path, F_OK) == 0;
}

int nsf_dp_unpin(const struct nsf_host *h)
{
	char path[NSF_PATH_MAX * 2], parent[NSF_PATH_MAX + 8];
	struct dirent *de;
	int err = 0;
	DIR *d;

	d = opendir(h->pin_dir);
	if (!d)
		return errno == ENOENT ? 0 : nsf_fail(errno, "%s", h->pin_dir);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", h->pin_dir, de->d_name);
		if (unlink(path) && !err)
			err = nsf_fail(errno, "unpin %s", path);
	}
	closedir(d);
	if (!err && rmdir(h->pin_dir))
		err = nsf_fail(errno, "remove %s", h->pin_dir);
	/* The shared parent goes once the last host is gone. */
	snprintf(parent, sizeof(parent), "%s/nsfast", h->bpffs);
	rmdir(parent);
	return err;
}

int nsf_dp_prog_fd(const struct nsf_host *h, const char *prog)
{
	char path[NSF_PATH_MAX * 2];
	int fd;

	pin_path(h, prog, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return nsf_fail(-fd, "program %s", path);
	return fd;
}

uint32_t nsf_dp_prog_id(const struct nsf_host *h, const char *prog)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	char path[NSF_PATH_MAX * 2];
	int fd;

	pin_path(h, prog, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.id = 0;
	close(fd);
	return info.id;
}

int nsf_map_open(const struct nsf_host *h, const char *name)
{
	char path[NSF_PATH_MAX * 2];
	int fd;

	pin_path(h, name, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return nsf_fail(-fd, "map %s", path);
	return fd;
}

static int open_map(const struct nsf_host *h, const char *name, int *fd)
{
	*fd = nsf_map_open(h, name);
	return *fd < 0 ? *fd : 0;
}

int nsf_maps_open(const struct nsf_host *h, struct nsf_maps *m)
{
	int err;

	m->config = m->ep4 = m->ep_stats = m->counters = -1;
	m->nat4 = m->tx_ports = -1;
	err = nsf_host_check_bpffs(h);
	if (!err)
		err = open_map(h, NSF_MAP_CONFIG, &m->config);
	if (!err)
		err = open_map(h, NSF_MAP_EP4, &m->ep4);
	if (!err)
		err = open_map(h, NSF_MAP_EP_STATS, &m->ep_stats);
	if (!err)
		err = open_map(h, NSF_MAP_COUNTERS, &m->counters);
	if (!err)
		err = open_map(h, NSF_MAP_NAT4, &m->nat4);
	if (!err)
		err = open_map(h, NSF_MAP_TX_PORTS, &m->tx_ports);
	if (err)
		nsf_maps_close(m);
	return err;
}

void nsf_maps_close(struct nsf_maps *m)
{
	int *fds[] = { &m->config,   &m->ep4,  &m->ep_stats,
		       &m->counters, &m->nat4, &m->tx_ports };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

int nsf_maps_write_config(const struct nsf_maps *m,
			  const struct nsf_host_config *cfg)
{
	struct nsf_config val = {
		.pod_net4 = htonl(cfg->pod_cidr.net),
		.pod_mask4 = htonl(nsf_cidr4_mask(cfg->pod_cidr.prefix)),
		.gateway4 = htonl(cfg->gateway),
		.uplink_ifindex = (__u32)cfg->uplink_ifindex,
		.snat4 = htonl(cfg->snat),
		.nat_port_min = cfg->nat_port_min,
		.nat_port_max = cfg->nat_port_max,
		.nat_port_min2 = cfg->nat_port_min2,
		.nat_port_max2 = cfg->nat_port_max2,
	};
	__u32 key = 0;
	int err = bpf_map_update_elem(m->config, &key, &val, BPF_ANY);

	return err ? nsf_fail(-err, "map %s", NSF_MAP_CONFIG) : 0;
}

int nsf_maps_add_endpoint(const struct nsf_maps *m,
			  const struct nsf_ep_rec *rec)
{
	struct nsf_endpoint ep = {
		.ifindex = (__u32)rec->host_ifindex,
		.id = rec->id,
		.flags = NSF_EP_F_LOCAL,
	};
	__be32 key = htonl(rec->ip);
	int err;

	memcpy(ep.pod_mac, rec->pod_mac, sizeof(ep.pod_mac));
	memcpy(ep.host_mac, rec->host_mac, sizeof(ep.host_mac));
	err = bpf_map_update_elem(m->ep4, &key, &ep, BPF_ANY);
	return err ? nsf_fail(-err, "map %s", NSF_MAP_EP4) : 0;
}

int nsf_maps_add_tx_port(const struct nsf_maps *m, int ifindex)
{
	struct bpf_devmap_val val = { .ifindex = (__u32)ifindex };
	__u32 key = (__u32)ifindex;
	int err = bpf_map_update_elem(m->tx_ports, &key, &val, BPF_ANY);

	return err ? nsf_fail(-err, "map %s", NSF_MAP_TX_PORTS) : 0;
}

int nsf_maps_del_tx_port(const struct nsf_maps *m, int ifindex)
{
	__u32 key = (__u32)ifindex;
	int err = bpf_map_delete_elem(m->tx_ports, &key);

	if (err && err != -ENOENT)
		return nsf_fail(-err, "map %s", NSF_MAP_TX_PORTS);
	return 0;
}

int nsf_maps_del_endpoint(const struct nsf_maps *m, uint32_t ip)
{
	__be32 key = htonl(ip);
	int err = bpf_map_delete_elem(m->ep4, &key);

	if (err && err != -ENOENT)
		return nsf_fail(-err, "map %s", NSF_MAP_EP4);
	return 0;
}

bool nsf_maps_has_endpoint(const struct nsf_maps *m,
			   const struct nsf_ep_rec *rec)
{
	__be32 key = htonl(rec->ip);
	struct nsf_endpoint ep;

	return !bpf_map_lookup_elem(m->ep4, &key, &ep) &&
	       ep.ifindex == (__u32)rec->host_ifindex;
}

int nsf_maps_del_endpoint_of(const struct nsf_maps *m, uint32_t ip, int ifindex)
{
	__be32 key = htonl(ip);
	struct nsf_endpoint ep;
	int err = bpf_map_lookup_elem(m->ep4, &key, &ep);

	if (!err && ep.ifindex != (__u32)ifindex)
		return 0;
	if (!err)
		err = bpf_map_delete_elem(m->ep4, &key);
	if (err && err != -ENOENT)
		return nsf_fail(-err, "map %s", NSF_MAP_EP4);
	return 0;
}

void *nsf_percpu_lookup(int fd, __u32 key, size_t size, int *ncpu, int *err)
{
	void *vals;

	*ncpu = libbpf_num_possible_cpus();
	if (*ncpu <= 0) {
		*err = *ncpu ? *ncpu : -EINVAL;
		return NULL;
	}
	vals = calloc((size_t)*ncpu, size);
	if (!vals) {
		*err = -ENOMEM;
		return NULL;
	}
	*err = bpf_map_lookup_elem(fd, &key, vals);
	if (*err) {
		free(vals);
		return NULL;
	}
	return vals;
}

int nsf_maps_ep_stats(const struct nsf_maps *m, uint32_t id,
		      struct nsf_ep_stats *out)
{
	struct nsf_ep_stats *vals;
	int ncpu, err;

	memset(out, 0, sizeof(*out));
	vals = nsf_percpu_lookup(m->ep_stats, id, sizeof(*vals), &ncpu, &err);
	if (!vals)
		return nsf_fail(-err, "map %s", NSF_MAP_EP_STATS);
	for (int c = 0; c < ncpu; c++) {
		for (int i = 0; i < NSF_EP_COUNTERS; i++) {
			out->c[i].packets += vals[c].c[i].packets;
			out->c[i].bytes += vals[c].c[i].bytes;
		}
	}
	free(vals);
	return 0;
}

int nsf_maps_zero_ep_stats(const struct nsf_maps *m, uint32_t id)
{
	int ncpu = libbpf_num_possible_cpus(), err;
	struct nsf_ep_stats *zero;

	if (ncpu <= 0)
		return nsf_fail(EINVAL, "possible CPUs");
	zero = calloc((size_t)ncpu, sizeof(*zero));
	if (!zero)
		return nsf_fail(ENOMEM, "map %s", NSF_MAP_EP_STATS);
	err = bpf_map_update_elem(m->ep_stats, &id, zero, BPF_ANY);
	free(zero);
	return err ? nsf_fail(-err, "map %s", NSF_MAP_EP_STATS) : 0;
}

int nsf_maps_counters(const struct nsf_maps *m, struct nsf_counter *out)
{
	for (__u32 r = 0; r < NSF_R_MAX; r++) {
		struct nsf_counter *vals;
		int ncpu, err;

		out[r].packets = out[r].bytes = 0;
		vals = nsf_percpu_lookup(m->counters, r, sizeof(*vals), &ncpu,
					 &err);
		if (!vals)
			return nsf_fail(-err, "map %s", NSF_MAP_COUNTERS);
		for (int c = 0; c < ncpu; c++) {
			out[r].packets += vals[c].packets;
			out[r].bytes += vals[c].bytes;
		}
		free(vals);
	}
	return 0;
}
