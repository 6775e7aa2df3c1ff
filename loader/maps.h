/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * BPF objects, pins and maps. `init` loads every program object with its
 * maps pinned by name under the host's pin directory: a map that is already
 * pinned there is reused, so endpoints, counters (and later NAT state)
 * survive reloading newer programs. Programs are pinned too, so commands
 * that run later (attach) find them without loading anything.
 */
#ifndef NSF_MAPS_H
#define NSF_MAPS_H

#include <stdbool.h>
#include <stdint.h>

#include <nsfast/maps.h>
#include <nsfast/reasons.h>

#include "state.h"

/* Pinned program names (bpf_program__name of each entry point). */
#define NSF_PROG_FROM_POD   "nsf_from_pod"
#define NSF_PROG_UPLINK_XDP "nsf_uplink_xdp"
#define NSF_PROG_UPLINK_TC  "nsf_uplink_tc"

struct nsf_maps {
	int config;
	int ep4;
	int ep_stats;
	int counters;
	int nat4;
	int tx_ports;
};

/* A struct nsf_maps with no map open, safe to nsf_maps_close(). */
#define NSF_MAPS_CLOSED                \
	{                              \
		-1, -1, -1, -1, -1, -1 \
	}

/* Route libbpf's messages to stderr only when @verbose. */
void nsf_libbpf_logging(bool verbose);

/* Load (or reload) all programs, creating or reusing pinned maps, and pin
 * the programs, atomically replacing older ones. */
int nsf_dp_load(const struct nsf_host *h, const struct nsf_host_config *cfg);
/* Whether this host has been initialised (its pins exist). */
bool nsf_dp_loaded(const struct nsf_host *h);
/* Remove every pin of this host and its pin directory. */
int nsf_dp_unpin(const struct nsf_host *h);

/* fd of a pinned program. */
int nsf_dp_prog_fd(const struct nsf_host *h, const char *prog);
/* ID of a pinned program (0 if absent). */
uint32_t nsf_dp_prog_id(const struct nsf_host *h, const char *prog);

/* fd of the pinned map @name (NSF_MAP_*), or a negative errno after
 * reporting it. For maps a feature adds, instead of growing struct nsf_maps. */
int nsf_map_open(const struct nsf_host *h, const char *name);
/* Read per-CPU entry @key of map @fd as a malloc'ed array of @ncpu values
 * of @size bytes each; NULL with *err set on failure. */
void *nsf_percpu_lookup(int fd, __u32 key, size_t size, int *ncpu, int *err);

int nsf_maps_open(const struct nsf_host *h, struct nsf_maps *m);
void nsf_maps_close(struct nsf_maps *m);

int nsf_maps_write_config(const struct nsf_maps *m,
			  const struct nsf_host_config *cfg);
int nsf_maps_add_endpoint(const struct nsf_maps *m,
			  const struct nsf_ep_rec *rec);
/* XDP redirect targets (host-side veths); deleting an absent one is fine. */
int nsf_maps_add_tx_port(const struct nsf_maps *m, int ifindex);
int nsf_maps_del_tx_port(const struct nsf_maps *m, int ifindex);
/* Removing an absent endpoint is not an error. */
int nsf_maps_del_endpoint(const struct nsf_maps *m, uint32_t ip);
/* @rec's address maps to @rec's veth: the fast path knows the pod. */
bool nsf_maps_has_endpoint(const struct nsf_maps *m,
			   const struct nsf_ep_rec *rec);
/* Same, but only while the entry still points at @ifindex: the address
 * may belong to another endpoint by now (a detach finished after a crash). */
int nsf_maps_del_endpoint_of(const struct nsf_maps *m, uint32_t ip,
			     int ifindex);
/* Sum of all CPUs' counters of endpoint @id. */
int nsf_maps_ep_stats(const struct nsf_maps *m, uint32_t id,
		      struct nsf_ep_stats *out);
int nsf_maps_zero_ep_stats(const struct nsf_maps *m, uint32_t id);
/* Sum of all CPUs' global counters, out[NSF_R_MAX]. */
int nsf_maps_counters(const struct nsf_maps *m, struct nsf_counter *out);

#endif /* NSF_MAPS_H */
