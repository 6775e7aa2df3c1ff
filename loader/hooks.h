/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Where programs hook into interfaces. tc programs are attached through
 * cls_bpf on a clsact qdisc (what `tc filter show` lists), because Debian's
 * libbpf 1.1 has no tcx API; a fixed handle and priority make re-attaching
 * an atomic replace.
 */
#ifndef NSF_HOOKS_H
#define NSF_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

#define NSF_TC_HANDLE 1
#define NSF_TC_PRIO   1

/* Attach (or atomically replace) @prog_fd at tc ingress/egress of @ifindex. */
int nsf_tc_attach(int ifindex, bool ingress, int prog_fd);
/* The same where the clsact qdisc is known to exist (one round trip less). */
int nsf_tc_attach_filter(int ifindex, bool ingress, int prog_fd);
/* ID of the program nsfast attached there; 0 when none. */
int nsf_tc_query(int ifindex, bool ingress, uint32_t *prog_id);

/* Remove nsfast's filter there; also its clsact qdisc if @destroy_qdisc. */
int nsf_tc_detach(int ifindex, bool ingress, bool destroy_qdisc);
/* Create the clsact qdisc; *created says whether it was not there before. */
int nsf_tc_qdisc(int ifindex, bool *created);

/*
 * XDP through libbpf's netlink attach (not libxdp's dispatcher, which does
 * not load on this kernel and whose fallback cannot replace a program
 * atomically). A program of ours already there (same @prog_name) is
 * replaced atomically (XDP_FLAGS_REPLACE), so re-running init never drops
 * a packet; anyone else's program is left alone with -EBUSY.
 */
int nsf_xdp_attach(int ifindex, int prog_fd, bool generic,
		   const char *prog_name);
/* Remove our program (by name) in either mode; absent is fine. */
int nsf_xdp_detach(int ifindex, const char *prog_name);
/* ID of the XDP program on @ifindex and whether it runs in generic mode. */
int nsf_xdp_query(int ifindex, uint32_t *prog_id, bool *generic);

#endif /* NSF_HOOKS_H */
