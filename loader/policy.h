/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Policy state (groups, members, rules, CIDR identities) and its copy in
 * the datapath's maps, plus the per-endpoint maps anti-spoofing needs.
 * The file <state>/policy.json is the truth; every change brings all
 * policy maps in line (nsf_policy_sync), bumping the generation so live
 * flows are judged by the new rules, and then rewrites the file
 * (nsf_policy_commit: all or nothing). The caller holds the host lock for
 * anything that changes state.
 */
#ifndef NSF_POLICY_H
#define NSF_POLICY_H

#include <stdint.h>

#include "state.h"

struct cJSON;

/* The policy document (defaults if there is none yet); NULL on error. */
struct cJSON *nsf_policy_load(const struct nsf_host *h);
/* The policy of a host that has none yet. */
struct cJSON *nsf_policy_default(void);
int nsf_policy_save(const struct nsf_host *h, const struct cJSON *doc);

/* Write every policy map from @doc (and bump the generation). */
int nsf_policy_sync(const struct nsf_host *h, const struct cJSON *doc);
/* Change the policy from @old to @doc: maps, then file. On failure the
 * maps hold @old again, the file is untouched, and the error is kept. */
int nsf_policy_commit(const struct nsf_host *h, const struct cJSON *old,
		      const struct cJSON *doc);
/* Load and sync (after init loaded programs). */
int nsf_policy_sync_host(const struct nsf_host *h);

/* Put endpoint @pod in @group ("none": in no group); saves, no sync. */
int nsf_policy_assign(struct cJSON *doc, const char *pod, const char *group);
/* Group of @pod in @doc, or NULL. */
const char *nsf_policy_member_group(const struct cJSON *doc, const char *pod);

/* Endpoint @rec got its map entry: record its veth for anti-spoofing,
 * give it its group and have every flow's connection state checked again
 * (its address may have been another's). Before the program is attached
 * to the veth. */
int nsf_policy_ep_attached(const struct nsf_host *h,
			   const struct nsf_ep_rec *rec);
/* Endpoint @rec is going away: forget its veth and membership. */
/* Only the veth's nsf_ep_ifx entry: an attach undone, or a dead one's
 * veth removed. Absent is fine. */
void nsf_policy_ep_unindex(const struct nsf_host *h, int ifindex);
void nsf_policy_ep_detached(const struct nsf_host *h,
			    const struct nsf_ep_rec *rec);

#endif /* NSF_POLICY_H */
