// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "policy.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps.h"

#define POLICY_FILE "policy.json"

static cJSON *reserved_group(const char *name, int id, const char *ingress)
{
	cJSON *g = cJSON_CreateObject();

	cJSON_AddStringToObject(g, "name", name);
	cJSON_AddNumberToObject(g, "id", id);
	cJSON_AddStringToObject(g, "ingress", ingress);
	cJSON_AddStringToObject(g, "egress", "allow");
	return g;
}

/* A host starts with the host itself closed to pods, all else open. */
cJSON *nsf_policy_default(void)
{
	cJSON *doc = cJSON_CreateObject(), *groups;

	cJSON_AddNumberToObject(doc, "gen", 0);
	cJSON_AddNumberToObject(doc, "next_rule", 1);
	groups = cJSON_AddArrayToObject(doc, "groups");
	cJSON_AddItemToArray(
		groups, reserved_group("host", NSF_POL_GROUP_HOST, "deny"));
	cJSON_AddItemToArray(
		groups, reserved_group("world", NSF_POL_GROUP_WORLD, "allow"));
	cJSON_AddObjectToObject(doc, "members");
	cJSON_AddArrayToObject(doc, "cidrs");
	cJSON_AddArrayToObject(doc, "rules");
	return doc;
}

cJSON *nsf_policy_load(const struct nsf_host *h)
{
	cJSON *doc;
	int err;

	doc = nsf_state_read_json(h, POLICY_FILE, &err);
	if (!doc && err == -ENOENT)
		return nsf_policy_default();
	return doc;
}

int nsf_policy_save(const struct nsf_host *h, const cJSON *doc)
{
	return nsf_state_write_json(h, POLICY_FILE, doc);
}

static int num_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valueint : 0;
}

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

const char *nsf_policy_member_group(const cJSON *doc, const char *pod)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(doc, "members"), pod);

	return cJSON_IsString(m) ? m->valuestring : NULL;
}

static const cJSON *find_named(const cJSON *doc, const char *list,
			       const char *key, const char *name)
{
	const cJSON *o;

	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(doc, list))
		if (!strcmp(str_of(o, key), name))
			return o;
	return NULL;
}

int nsf_policy_assign(cJSON *doc, const char *pod, const char *group)
{
	cJSON *members = cJSON_GetObjectItemCaseSensitive(doc, "members");
	const cJSON *g = find_named(doc, "groups", "name", group);

	if (strcmp(group, "none") != 0 && !g)
		return nsf_fail(0,
				"no group '%s' (create it with 'nsfast policy "
				"group add %s')",
				group, group);
	if (g && num_of(g, "id") < NSF_POL_GROUP_FIRST)
		return nsf_fail(0, "'%s' is reserved: pods cannot join it",
				group);
	cJSON_DeleteItemFromObjectCaseSensitive(members, pod);
	if (strcmp(group, "none") != 0)
		cJSON_AddStringToObject(members, pod, group);
	return 0;
}

/* ---- identities ---- */

/* Identity of a rule peer: a group, "any" or a CIDR (via "cidrs"). */
static int peer_id(const cJSON *doc, const char *peer, uint32_t *id)
{
	const cJSON *o;

	if (!strcmp(peer, "any")) {
		*id = NSF_POL_ANY;
		return 0;
	}
	o = find_named(doc, "groups", "name", peer);
	if (!o)
		o = find_named(doc, "cidrs", "cidr", peer);
	if (!o)
		return -ENOENT;
	*id = (uint32_t)num_of(o, "id");
	return 0;
}

static uint32_t group_flags(const cJSON *g)
{
	uint32_t f = 0;

	if (!strcmp(str_of(g, "ingress"), "deny"))
		f |= NSF_PG_F_INGRESS_DENY | NSF_PG_F_ENFORCED;
	if (!strcmp(str_of(g, "egress"), "deny"))
		f |= NSF_PG_F_EGRESS_DENY | NSF_PG_F_ENFORCED;
	return f;
}

struct sync_maps {
	int cfg, groups, rules, cidr, ep4;
};

static void sync_close(struct sync_maps *m)
{
	int *fds[] = { &m->cfg, &m->groups, &m->rules, &m->cidr, &m->ep4 };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static int sync_open(const struct nsf_host *h, struct sync_maps *m)
{
	m->cfg = nsf_map_open(h, NSF_MAP_POL_CFG);
	m->groups = nsf_map_open(h, NSF_MAP_POL_GROUPS);
	m->rules = nsf_map_open(h, NSF_MAP_POL_RULES);
	m->cidr = nsf_map_open(h, NSF_MAP_POL_CIDR);
	m->ep4 = nsf_map_open(h, NSF_MAP_EP4);
	if (m->cfg < 0 || m->groups < 0 || m->rules < 0 || m->cidr < 0 ||
	    m->ep4 < 0) {
		sync_close(m);
		return -ENOENT;
	}
	return 0;
}

static bool is_cidr_id(const cJSON *doc, int id)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "cidrs"))
		if (num_of(c, "id") == id)
			return true;
	return false;
}

/* Group flags from defaults and rules; returns NSF_POL_F_* for the cfg. */
static uint32_t compute_flags(const cJSON *doc, uint32_t *flags)
{
	const cJSON *o;
	uint32_t cfg = 0;

	memset(flags, 0, NSF_POL_MAX_GROUPS * sizeof(*flags));
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(doc, "groups"))
		flags[num_of(o, "id") % NSF_POL_MAX_GROUPS] = group_flags(o);
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(doc, "rules")) {
		uint32_t src, dst;

		if (peer_id(doc, str_of(o, "from"), &src) ||
		    peer_id(doc, str_of(o, "to"), &dst))
			continue;
		if (src == NSF_POL_ANY && dst == NSF_POL_ANY) {
			for (int i = 0; i < NSF_POL_MAX_GROUPS; i++)
				flags[i] |= NSF_PG_F_ENFORCED;
			continue;
		}
		if (src != NSF_POL_ANY)
			flags[src % NSF_POL_MAX_GROUPS] |= NSF_PG_F_ENFORCED;
		if (dst != NSF_POL_ANY)
			flags[dst % NSF_POL_MAX_GROUPS] |= NSF_PG_F_ENFORCED;
	}
	for (int i = 0; i < NSF_POL_MAX_GROUPS; i++) {
		if (!(flags[i] & NSF_PG_F_ENFORCED))
			continue;
		cfg |= NSF_POL_F_ACTIVE;
		if (i != NSF_POL_GROUP_HOST && i != NSF_POL_GROUP_WORLD &&
		    !is_cidr_id(doc, i))
			cfg |= NSF_POL_F_PODS;
	}
	if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "cidrs")))
		cfg |= NSF_POL_F_CIDRS;
	return cfg;
}

static int sync_groups(const struct sync_maps *m, const uint32_t *flags)
{
	for (uint32_t i = 0; i < NSF_POL_MAX_GROUPS; i++) {
		struct nsf_pol_group g = { .flags = flags[i] };

		if (bpf_map_update_elem(m->groups, &i, &g, BPF_ANY))
			return nsf_fail(errno, "map %s", NSF_MAP_POL_GROUPS);
	}
	return 0;
}

static int proto_num(const char *p)
{
	if (!strcmp(p, "tcp"))
		return 6;
	if (!strcmp(p, "udp"))
		return 17;
	if (!strcmp(p, "icmp"))
		return 1;
	return 0;
}

static int rule_key(const cJSON *doc, const cJSON *r, struct nsf_pol_key *k)
{
	memset(k, 0, sizeof(*k));
	if (peer_id(doc, str_of(r, "from"), &k->src) ||
	    peer_id(doc, str_of(r, "to"), &k->dst))
		return -ENOENT;
	k->proto = (uint8_t)proto_num(str_of(r, "proto"));
	k->port = htons((uint16_t)num_of(r, "port"));
	return 0;
}

/* Upsert every rule, then delete the keys no rule has any more. */
static int sync_rules(const struct sync_maps *m, const cJSON *doc)
{
	struct nsf_pol_key key, next;
	struct nsf_pol_rule val;
	const cJSON *r;
	void *prev = NULL;

	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "rules")) {
		if (rule_key(doc, r, &key))
			continue;
		val.action = strcmp(str_of(r, "action"), "deny") != 0
				     ? NSF_POL_ALLOW
				     : NSF_POL_DENY;
		val.id = (uint32_t)num_of(r, "id");
		if (bpf_map_update_elem(m->rules, &key, &val, BPF_ANY))
			return nsf_fail(errno, "map %s", NSF_MAP_POL_RULES);
	}
	while (!bpf_map_get_next_key(m->rules, prev, &next)) {
		bool keep = false;

		key = next;
		prev = &key;
		cJSON_ArrayForEach(
			r, cJSON_GetObjectItemCaseSensitive(doc, "rules")) {
			struct nsf_pol_key k;

			if (!rule_key(doc, r, &k) &&
			    !memcmp(&k, &key, sizeof(k)))
				keep = true;
		}
		if (!keep && !bpf_map_delete_elem(m->rules, &key))
			prev = NULL; /* restart: the walk lost its place */
	}
	return 0;
}

static int parse_cidr(const char *s, struct nsf_pol_cidr_key *k)
{
	struct nsf_cidr4 c;

	if (nsf_parse_cidr4(s, &c, false))
		return -EINVAL;
	k->prefixlen = c.prefix;
	k->addr = htonl(c.net);
	return 0;
}

static int sync_cidrs(const struct sync_maps *m, const cJSON *doc)
{
	struct nsf_pol_cidr_key key, next;
	const cJSON *c;
	void *prev = NULL;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "cidrs")) {
		uint32_t id = (uint32_t)num_of(c, "id");

		if (parse_cidr(str_of(c, "cidr"), &key))
			continue;
		if (bpf_map_update_elem(m->cidr, &key, &id, BPF_ANY))
			return nsf_fail(errno, "map %s", NSF_MAP_POL_CIDR);
	}
	while (!bpf_map_get_next_key(m->cidr, prev, &next)) {
		bool keep = false;

		key = next;
		prev = &key;
		cJSON_ArrayForEach(
			c, cJSON_GetObjectItemCaseSensitive(doc, "cidrs")) {
			struct nsf_pol_cidr_key k;

			if (!parse_cidr(str_of(c, "cidr"), &k) &&
			    !memcmp(&k, &key, sizeof(k)))
				keep = true;
		}
		if (!keep && !bpf_map_delete_elem(m->cidr, &key))
			prev = NULL;
	}
	return 0;
}

struct ep_sync {
	const struct sync_maps *m;
	const cJSON *doc;
};

static uint32_t member_id(const cJSON *doc, const char *pod)
{
	const char *group = nsf_policy_member_group(doc, pod);
	const cJSON *g =
		group ? find_named(doc, "groups", "name", group) : NULL;

	return g ? (uint32_t)num_of(g, "id") : NSF_POL_GROUP_NONE;
}

static int set_ep_group(int ep4, const struct nsf_ep_rec *rec, uint32_t id)
{
	struct nsf_endpoint ep;
	__be32 key = htonl(rec->ip);

	if (bpf_map_lookup_elem(ep4, &key, &ep))
		return 0; /* not on the fast path (stale): nothing to do */
	if (ep.group == id)
		return 0;
	ep.group = id;
	if (bpf_map_update_elem(ep4, &key, &ep, BPF_EXIST))
		return nsf_fail(errno, "map %s", NSF_MAP_EP4);
	return 0;
}

static int sync_one_ep(const struct nsf_ep_rec *rec, void *arg)
{
	struct ep_sync *s = arg;

	return set_ep_group(s->m->ep4, rec, member_id(s->doc, rec->name));
}

int nsf_policy_sync(const struct nsf_host *h, const cJSON *doc)
{
	struct sync_maps m = { -1, -1, -1, -1, -1 };
	struct ep_sync es = { &m, doc };
	struct nsf_pol_cfg cfg = { 0 };
	uint32_t *flags, zero = 0;
	int err;

	err = sync_open(h, &m);
	if (err)
		return err;
	flags = calloc(NSF_POL_MAX_GROUPS, sizeof(*flags));
	if (!flags) {
		sync_close(&m);
		return nsf_fail(ENOMEM, "policy");
	}
	cfg.flags = compute_flags(doc, flags);
	err = sync_groups(&m, flags);
	if (!err)
		err = sync_rules(&m, doc);
	if (!err)
		err = sync_cidrs(&m, doc);
	if (!err)
		err = nsf_ep_foreach(h, sync_one_ep, &es);
	if (!err) {
		struct nsf_pol_cfg old;

		if (!bpf_map_lookup_elem(m.cfg, &zero, &old))
			cfg.gen = old.gen + 1;
		if (bpf_map_update_elem(m.cfg, &zero, &cfg, BPF_ANY))
			err = nsf_fail(errno, "map %s", NSF_MAP_POL_CFG);
	}
	free(flags);
	sync_close(&m);
	return err;
}

/*
 * Maps first, file last, so that a change either lands in both or in
 * neither: on a failure the maps get @old back (which bumps the
 * generation again, so flows judged against the half-written maps are
 * judged again) and the file is never written. A crash between the two
 * leaves the old file, which the next init syncs back into the maps.
 */
int nsf_policy_commit(const struct nsf_host *h, const cJSON *old,
		      const cJSON *doc)
{
	char why[NSF_ERR_MAX];
	int err;

	err = nsf_policy_sync(h, doc);
	if (!err)
		err = nsf_policy_save(h, doc);
	if (!err)
		return 0;
	nsf_strlcpy(why, nsf_last_error(), sizeof(why));
	if (nsf_policy_sync(h, old)) {
		char again[NSF_ERR_MAX];

		nsf_strlcpy(again, nsf_last_error(), sizeof(again));
		nsf_fail(0, "%s (restoring the old policy: %s)", why, again);
	} else {
		nsf_fail(0, "%s", why);
	}
	return err;
}

int nsf_policy_sync_host(const struct nsf_host *h)
{
	cJSON *doc = nsf_policy_load(h);
	int err;

	if (!doc)
		return -EIO;
	err = nsf_policy_sync(h, doc);
	cJSON_Delete(doc);
	return err;
}

/*
 * Connection state is keyed by addresses, and an address may have been
 * another pod's, with other rules, a moment ago (or nobody's, judged as
 * host or world): a new generation makes every flow's state be checked
 * against the rules again, as after a policy change.
 */
static int bump_gen(const struct nsf_host *h)
{
	int fd = nsf_map_open(h, NSF_MAP_POL_CFG), err = 0;
	struct nsf_pol_cfg cfg;
	uint32_t zero = 0;

	if (fd < 0)
		return fd;
	if (!bpf_map_lookup_elem(fd, &zero, &cfg)) {
		cfg.gen++;
		if (bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY))
			err = nsf_fail(errno, "map %s", NSF_MAP_POL_CFG);
	}
	close(fd);
	return err;
}

int nsf_policy_ep_attached(const struct nsf_host *h,
			   const struct nsf_ep_rec *rec)
{
	int ifx = nsf_map_open(h, NSF_MAP_EP_IFX), ep4, err = 0;
	__u32 key = (__u32)rec->host_ifindex;
	__be32 addr = htonl(rec->ip);
	cJSON *doc;

	if (ifx < 0)
		return ifx;
	if (bpf_map_update_elem(ifx, &key, &addr, BPF_ANY))
		err = nsf_fail(errno, "map %s", NSF_MAP_EP_IFX);
	close(ifx);
	if (err)
		return err;
	doc = nsf_policy_load(h);
	if (!doc)
		return -EIO;
	ep4 = nsf_map_open(h, NSF_MAP_EP4);
	err = ep4 < 0 ? ep4 : set_ep_group(ep4, rec, member_id(doc, rec->name));
	if (ep4 >= 0)
		close(ep4);
	cJSON_Delete(doc);
	return err ? err : bump_gen(h);
}

void nsf_policy_ep_unindex(const struct nsf_host *h, int ifindex)
{
	int ifx = nsf_map_open(h, NSF_MAP_EP_IFX);
	__u32 key = (__u32)ifindex;

	if (ifx >= 0) {
		bpf_map_delete_elem(ifx, &key);
		close(ifx);
	}
	nsf_clear_error();
}

void nsf_policy_ep_detached(const struct nsf_host *h,
			    const struct nsf_ep_rec *rec)
{
	cJSON *doc;

	nsf_policy_ep_unindex(h, rec->host_ifindex);
	doc = nsf_policy_load(h);
	if (doc && nsf_policy_member_group(doc, rec->name)) {
		nsf_policy_assign(doc, rec->name, "none");
		nsf_policy_save(h, doc);
	}
	cJSON_Delete(doc);
	nsf_clear_error();
}
