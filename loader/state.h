/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Per-host state. A "host" is a network namespace: the one nsfast runs in,
 * or the one named with -n. It is identified by its netns cookie, so two
 * simulated hosts on one machine never share state, and a namespace that
 * reuses a dead one's inode number never inherits its pins.
 *
 *   <bpffs>/nsfast/<id>/     pinned maps and programs (NSFAST_BPFFS)
 *   <run>/<id>/              config.json, endpoints/, ipam/, ids/, lock
 *                            (NSFAST_STATE_DIR, default /run/nsfast)
 *
 * Both live in tmpfs-like places that vanish at reboot together with the
 * namespaces and veths they describe.
 */
#ifndef NSF_STATE_H
#define NSF_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "ipam.h"
#include "util.h"

#define NSF_BPFFS_DEFAULT "/sys/fs/bpf"
#define NSF_STATE_DEFAULT "/run/nsfast"
#define NSF_PATH_MAX	  256

struct nsf_host {
	uint64_t cookie;	      /* netns cookie of the host */
	char id[24];		      /* the cookie in decimal */
	char bpffs[NSF_PATH_MAX];     /* bpffs mount point */
	char pin_dir[NSF_PATH_MAX];   /* <bpffs>/nsfast/<id> */
	char state_dir[NSF_PATH_MAX]; /* <run>/<id> */
	int lock_fd;		      /* held while a command mutates */
};

enum nsf_xdp_mode {
	NSF_XDP_NATIVE,	 /* XDP in the driver (veth has it) */
	NSF_XDP_GENERIC, /* XDP on skbs, any driver */
	NSF_XDP_OFF,	 /* tc ingress program instead */
	NSF_XDP_AUTO,	 /* native, but tc on a veth uplink (the default) */
	NSF_XDP_MODES,
};

struct nsf_host_config {
	struct nsf_cidr4 pod_cidr; /* addresses handed to pods */
	uint32_t gateway;	   /* link-local gateway, host order */
	char uplink[16];	   /* uplink interface, "" = none */
	int uplink_ifindex;	   /* its ifindex when configured */
	uint32_t snat;		   /* masquerade address, host order */
	bool snat_learned;	   /* snat taken from the uplink */
	enum nsf_xdp_mode xdp_mode;
	uint16_t nat_port_min; /* SNAT source ports */
	uint16_t nat_port_max;
	uint16_t nat_port_min2; /* a second range; 0-0 = none */
	uint16_t nat_port_max2;
	uint32_t nat_entries;	   /* NAT map size (two per flow) */
	bool uplink_tc;		   /* ingress NAT runs at tc (XDP off or
				    * not supported) */
	bool uplink_qdisc_created; /* init made the uplink's clsact */
};

#define NSF_DEFAULT_POD_CIDR "10.244.0.0/16"

/* Defaults for everything init does not get told. */
void nsf_config_defaults(struct nsf_host_config *cfg);
const char *nsf_xdp_mode_name(enum nsf_xdp_mode mode);
int nsf_xdp_mode_parse(const char *s, enum nsf_xdp_mode *mode);

struct nsf_ep_rec {
	char name[NSF_NAME_MAX + 1]; /* endpoint name (pod) */
	char netns[NSF_PATH_MAX];    /* iproute2 netns name, or a path */
	bool netns_created;	     /* attach made it; detach removes it */
	char ifname[16];	     /* pod-side interface */
	char host_ifname[16];	     /* host-side veth */
	int host_ifindex;
	uint32_t ip; /* host order */
	uint8_t pod_mac[6];
	uint8_t host_mac[6];
	uint32_t id;	   /* endpoint id: counters slot */
	bool gw_onlink;	   /* the gateway's /32 was another link's: our
			    * routes name it onlink */
	bool kept_default; /* the netns had a default route: left alone,
			    * the pod CIDR is routed through us instead */
};

/* Identify the current namespace as the host and compute its paths. */
int nsf_host_open(struct nsf_host *h);
/* Fail with a clear message unless bpffs is mounted at h->bpffs. */
int nsf_host_check_bpffs(const struct nsf_host *h);
/* Serialise mutating commands on this host (flock on <state>/lock). */
int nsf_host_lock(struct nsf_host *h);
/* The same for init, which recreates a state directory removed meanwhile. */
int nsf_host_lock_create(struct nsf_host *h);
void nsf_host_close(struct nsf_host *h);
/* Remove the state directory and everything nsfast put in it. */
int nsf_host_remove_state(const struct nsf_host *h);

/* -ENOENT when the host was never initialised. */
int nsf_config_load(const struct nsf_host *h, struct nsf_host_config *cfg);
int nsf_config_save(const struct nsf_host *h,
		    const struct nsf_host_config *cfg);

int nsf_pool_addresses(const struct nsf_host *h,
		       const struct nsf_host_config *cfg,
		       struct nsf_pool *pool);
int nsf_pool_ids(const struct nsf_host *h, struct nsf_pool *pool);

/* -ENOENT when there is no endpoint of that name. */
int nsf_ep_load(const struct nsf_host *h, const char *name,
		struct nsf_ep_rec *rec);
int nsf_ep_save(const struct nsf_host *h, const struct nsf_ep_rec *rec);
int nsf_ep_remove(const struct nsf_host *h, const char *name);
/* Visit every endpoint, sorted by name. Stops at the first non-zero return
 * of @fn and returns it. */
int nsf_ep_foreach(const struct nsf_host *h,
		   int (*fn)(const struct nsf_ep_rec *rec, void *arg),
		   void *arg);

/* ---- feature files: <state>/<file>, JSON, written atomically ---- */
struct cJSON;
/* The parsed file, or NULL with *err (-ENOENT: no such file, reported
 * otherwise). */
struct cJSON *nsf_state_read_json(const struct nsf_host *h, const char *file,
				  int *err);
int nsf_state_write_json(const struct nsf_host *h, const char *file,
			 const struct cJSON *json);

#endif /* NSF_STATE_H */
