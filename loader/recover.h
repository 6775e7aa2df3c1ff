/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Crash consistency: fault injection, recovery of half-made endpoints and
 * endpoint garbage collection (docs/guarantees.md).
 *
 * A fresh attach first writes its name into the host's journal,
 * <state>/attaching (and, once it made one, that the pod's namespace is
 * its own). Rollback and success empty it, so a name outlives its attach
 * only if the process died. The next attach (of any name), `nsfast gc`
 * and `nsfast reset` then remove what the dead attach had made: addresses
 * and ids it held, map entries, its veth and
 * the namespace it created. All callers hold the host lock.
 */
#ifndef NSF_RECOVER_H
#define NSF_RECOVER_H

#include <stdint.h>

#include "state.h"

/*
 * Fault injection for the tests: with NSFAST_FAULT=<point> in the
 * environment the process kills itself with SIGKILL when it reaches
 * nsf_fault("<point>"), as a crash, the OOM killer or `kill -9` would.
 * Costs a getenv() otherwise.
 */
void nsf_fault(const char *point);

/* Create the (empty) journal if it does not exist yet (init). */
int nsf_pending_init(const struct nsf_host *h);
int nsf_pending_begin(const struct nsf_host *h, const char *name);
/* The attach created the pod's named namespace: recovery deletes it. */
void nsf_pending_netns(const struct nsf_host *h, const char *name);
/* The attach tries host veth name @ifname next (another endpoint's name
 * hashed to its first): recovery deletes that one. */
int nsf_pending_veth(const struct nsf_host *h, const char *name,
		     const char *ifname);
void nsf_pending_end(const struct nsf_host *h, const char *name);
/* Undo what a dead attach of @name left, if it left a marker. Returns 1
 * if there was one, 0 if not, or a negative errno. */
int nsf_pending_recover(const struct nsf_host *h, const char *name);

/* Why endpoint @rec no longer works ("veth missing", "netns missing"), or
 * NULL if its veth and namespace are there. */
const char *nsf_ep_stale_reason(const struct nsf_ep_rec *rec);

struct nsf_ep_gc_result {
	unsigned int stale;	  /* endpoints whose veth or netns was gone */
	unsigned int half_made;	  /* attaches that died midway */
	unsigned int addresses;	  /* addresses and ids held by nobody */
	unsigned int map_entries; /* endpoint/devmap entries of nobody */
};

/* Remove stale endpoints and everything nobody owns any more. */
int nsf_ep_gc(const struct nsf_host *h, struct nsf_ep_gc_result *res);

#endif /* NSF_RECOVER_H */
