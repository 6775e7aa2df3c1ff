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
/* ID of the program nsfast attached there; 0 when none. */
int nsf_tc_query(int ifindex, bool ingress, uint32_t *prog_id);

#endif /* NSF_HOOKS_H */
