// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nsfast policy: groups of endpoints, allow/deny rules between groups,
 * the host, the world and CIDRs, and per-group defaults. Every change is
 * synced into the maps and then saved to <state>/policy.json, all or
 * nothing: live traffic follows it without reattaching anything
 * (docs/policy.md).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "maps.h"
#include "policy.h"

#define USAGE                                                                 \
	"usage: nsfast policy { group add|set NAME [--ingress allow|deny] "   \
	"[--egress allow|deny] | group del NAME | group list [--json] | "     \
	"assign POD GROUP|none | rule add allow|deny from SRC to DST "        \
	"[proto tcp|udp|icmp] [port N] | rule del ID | rule list [--json] | " \
	"show [--json] | flush }"

static int str_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valueint : 0;
}

static const char *str_get(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static cJSON *list_of(const cJSON *doc, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(doc, name);
}

static cJSON *find_in(const cJSON *doc, const char *list, const char *key,
		      const char *name)
{
	cJSON *o;

	cJSON_ArrayForEach(o, list_of(doc, list))
		if (!strcmp(str_get(o, key), name))
			return o;
	return NULL;
}

static bool id_used(const cJSON *doc, int id)
{
	const cJSON *o;

	cJSON_ArrayForEach(o, list_of(doc, "groups"))
		if (str_num(o, "id") == id)
			return true;
	cJSON_ArrayForEach(o, list_of(doc, "cidrs"))
		if (str_num(o, "id") == id)
			return true;
	return false;
}

static int new_id(const cJSON *doc)
{
	for (int id = NSF_POL_GROUP_FIRST; id < NSF_POL_MAX_GROUPS; id++)
		if (!id_used(doc, id))
			return id;
	return nsf_fail(ENOSPC, "policy identities (%d at most)",
			NSF_POL_MAX_GROUPS - NSF_POL_GROUP_FIRST);
}

static bool is_cidr(const char *s)
{
	struct nsf_cidr4 c;
	uint32_t a;

	return !nsf_parse_cidr4(s, &c, false) || !nsf_parse_ipv4(s, &a);
}

/* "allow" / "deny" of option @opt. */
static int parse_default(const char *opt, const char *v)
{
	if (!v || (strcmp(v, "allow") != 0 && strcmp(v, "deny") != 0))
		return nsf_usage("%s wants allow or deny, not '%s'", opt,
				 v ? v : "(nothing)");
	return 0;
}

/* group add|set NAME [--ingress X] [--egress X] */
static int group_add_set(cJSON *doc, bool add, int argc, char **argv)
{
	const char *name = argv[0], *ingress = NULL, *egress = NULL;
	cJSON *g = find_in(doc, "groups", "name", name);
	int id;

	for (int i = 1; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--ingress"))
			ingress = v;
		else if (!strcmp(argv[i], "--egress"))
			egress = v;
		else
			return nsf_usage("bad option '%s' (%s)", argv[i],
					 USAGE);
		if (parse_default(argv[i], v))
			return -EINVAL;
	}
	if (add) {
		if (g)
			return nsf_fail(EEXIST, "group %s", name);
		if (!nsf_valid_name(name) || !strcmp(name, "any") ||
		    !strcmp(name, "none") || is_cidr(name))
			return nsf_usage("invalid group name '%s' (1-%d of "
					 "A-Z a-z 0-9 _ . -; not any, none or "
					 "an address)",
					 name, NSF_NAME_MAX);
		id = new_id(doc);
		if (id < 0)
			return id;
		g = cJSON_CreateObject();
		cJSON_AddStringToObject(g, "name", name);
		cJSON_AddNumberToObject(g, "id", id);
		cJSON_AddStringToObject(g, "ingress", "allow");
		cJSON_AddStringToObject(g, "egress", "allow");
		cJSON_AddItemToArray(list_of(doc, "groups"), g);
	} else if (!g) {
		return nsf_fail(ENOENT, "group %s", name);
	}
	if (ingress)
		cJSON_ReplaceItemInObjectCaseSensitive(
			g, "ingress", cJSON_CreateString(ingress));
	if (egress)
		cJSON_ReplaceItemInObjectCaseSensitive(
			g, "egress", cJSON_CreateString(egress));
	return 0;
}

static int count_members(const cJSON *doc, const char *group)
{
	const cJSON *m;
	int n = 0;

	cJSON_ArrayForEach(m, list_of(doc, "members"))
		n += cJSON_IsString(m) && !strcmp(m->valuestring, group);
	return n;
}

static int count_rules(const cJSON *doc, const char *peer)
{
	const cJSON *r;
	int n = 0;

	cJSON_ArrayForEach(r, list_of(doc, "rules"))
		n += !strcmp(str_get(r, "from"), peer) ||
		     !strcmp(str_get(r, "to"), peer);
	return n;
}

static int group_del(cJSON *doc, const char *name)
{
	cJSON *groups = list_of(doc, "groups"), *g;
	int i = 0, members, rules;

	cJSON_ArrayForEach(g, groups) {
		if (!strcmp(str_get(g, "name"), name))
			break;
		i++;
	}
	if (!g)
		return nsf_fail(ENOENT, "group %s", name);
	if (str_num(g, "id") < NSF_POL_GROUP_FIRST)
		return nsf_fail(0, "group %s is reserved", name);
	members = count_members(doc, name);
	rules = count_rules(doc, name);
	if (members || rules)
		return nsf_fail(EBUSY,
				"group %s: %d pod(s) and %d rule(s) use it",
				name, members, rules);
	cJSON_DeleteItemFromArray(groups, i);
	return 0;
}

/* A CIDR peer gets an identity of its own the first time a rule names it. */
static int rule_peer(cJSON *doc, const char *peer, bool src, char *out,
		     size_t len)
{
	struct nsf_cidr4 c;
	const cJSON *g;
	uint32_t a;
	cJSON *o;
	int id;

	if (!strcmp(peer, "any")) {
		nsf_strlcpy(out, peer, len);
		return 0;
	}
	/* A CIDR with host bits set is a typo, not a group's name. */
	if (!is_cidr(peer) && !nsf_parse_cidr4(peer, &c, true)) {
		nsf_format_cidr4(&c, out);
		return nsf_usage("%s: host bits set (did you mean %s?)", peer,
				 out);
	}
	if (is_cidr(peer)) {
		if (src)
			return nsf_usage("from %s: sources are pods (a group "
					 "or any); CIDRs are destinations",
					 peer);
		if (nsf_parse_cidr4(peer, &c, false)) {
			nsf_parse_ipv4(peer, &a);
			c.net = a;
			c.prefix = 32;
		}
		nsf_format_cidr4(&c, out);
		if (find_in(doc, "cidrs", "cidr", out))
			return 0;
		id = new_id(doc);
		if (id < 0)
			return id;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "cidr", out);
		cJSON_AddNumberToObject(o, "id", id);
		cJSON_AddItemToArray(list_of(doc, "cidrs"), o);
		return 0;
	}
	g = find_in(doc, "groups", "name", peer);
	if (!g)
		return nsf_fail(0, "no group '%s' (nsfast policy group add %s)",
				peer, peer);
	if (src && str_num(g, "id") < NSF_POL_GROUP_FIRST)
		return nsf_fail(0,
				"from %s: sources are pods (a group or any); "
				"traffic from the host or the world is not "
				"filtered",
				peer);
	nsf_strlcpy(out, peer, len);
	return 0;
}

/* Drop CIDR identities no rule uses any more. */
static void gc_cidrs(cJSON *doc)
{
	cJSON *cidrs = list_of(doc, "cidrs");

	for (int i = cJSON_GetArraySize(cidrs) - 1; i >= 0; i--) {
		cJSON *c = cJSON_GetArrayItem(cidrs, i);

		if (!count_rules(doc, str_get(c, "cidr")))
			cJSON_DeleteItemFromArray(cidrs, i);
	}
}

static bool same_match(const cJSON *a, const cJSON *b)
{
	return !strcmp(str_get(a, "from"), str_get(b, "from")) &&
	       !strcmp(str_get(a, "to"), str_get(b, "to")) &&
	       !strcmp(str_get(a, "proto"), str_get(b, "proto")) &&
	       str_num(a, "port") == str_num(b, "port");
}

struct rule_args {
	const char *action, *from, *to, *proto;
	long port;
};

static int parse_rule(int argc, char **argv, struct rule_args *a)
{
	char *end;

	a->action = a->from = a->to = "";
	a->proto = "any";
	a->port = 0;
	if (argc < 5 || strcmp(argv[1], "from") != 0 ||
	    strcmp(argv[3], "to") != 0)
		return nsf_usage("rule add allow|deny from SRC to DST "
				 "[proto tcp|udp|icmp] [port N]");
	a->action = argv[0];
	a->from = argv[2];
	a->to = argv[4];
	if (strcmp(a->action, "allow") != 0 && strcmp(a->action, "deny") != 0)
		return nsf_usage("rule action is allow or deny, not '%s'",
				 a->action);
	for (int i = 5; i < argc; i += 2) {
		if (i + 1 >= argc)
			return nsf_usage("%s needs a value", argv[i]);
		if (!strcmp(argv[i], "proto")) {
			a->proto = argv[i + 1];
		} else if (!strcmp(argv[i], "port")) {
			a->port = strtol(argv[i + 1], &end, 10);
			if (*end || a->port < 1 || a->port > 65535)
				return nsf_usage("invalid port '%s'",
						 argv[i + 1]);
		} else {
			return nsf_usage("unknown rule keyword '%s'", argv[i]);
		}
	}
	if (strcmp(a->proto, "any") != 0 && strcmp(a->proto, "tcp") != 0 &&
	    strcmp(a->proto, "udp") != 0 && strcmp(a->proto, "icmp") != 0)
		return nsf_usage("proto is tcp, udp, icmp or any, not '%s'",
				 a->proto);
	if (a->port && strcmp(a->proto, "tcp") != 0 &&
	    strcmp(a->proto, "udp") != 0)
		return nsf_usage("a port needs proto tcp or udp");
	return 0;
}

static int rule_add(cJSON *doc, int argc, char **argv)
{
	char from[NSF_CIDR_STRLEN + NSF_NAME_MAX],
		to[NSF_CIDR_STRLEN + NSF_NAME_MAX];
	struct rule_args a = { 0 };
	cJSON *r, *o;
	int id, err;

	err = parse_rule(argc, argv, &a);
	if (!err)
		err = rule_peer(doc, a.from, true, from, sizeof(from));
	if (!err)
		err = rule_peer(doc, a.to, false, to, sizeof(to));
	if (err)
		return err;
	id = str_num(doc, "next_rule");
	r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "id", id);
	cJSON_AddStringToObject(r, "action", a.action);
	cJSON_AddStringToObject(r, "from", from);
	cJSON_AddStringToObject(r, "to", to);
	cJSON_AddStringToObject(r, "proto", a.proto);
	cJSON_AddNumberToObject(r, "port", (double)a.port);
	cJSON_ArrayForEach(o, list_of(doc, "rules")) {
		if (same_match(o, r)) {
			err = nsf_fail(EEXIST,
				       "rule %d matches the same traffic (%s)",
				       str_num(o, "id"), str_get(o, "action"));
			cJSON_Delete(r);
			gc_cidrs(doc);
			return err;
		}
	}
	cJSON_AddItemToArray(list_of(doc, "rules"), r);
	cJSON_ReplaceItemInObjectCaseSensitive(doc, "next_rule",
					       cJSON_CreateNumber(id + 1));
	printf("rule %d\n", id);
	return 0;
}

static int rule_del(cJSON *doc, const char *arg)
{
	cJSON *rules = list_of(doc, "rules"), *r;
	char *end;
	long id = strtol(arg, &end, 10);
	int i = 0;

	if (end == arg || *end || id <= 0)
		return nsf_usage("rule '%s': not a rule id (a number from "
				 "'nsfast policy rule list')",
				 arg);
	cJSON_ArrayForEach(r, rules) {
		if (str_num(r, "id") == id && id > 0) {
			cJSON_DeleteItemFromArray(rules, i);
			gc_cidrs(doc);
			return 0;
		}
		i++;
	}
	return nsf_fail(ENOENT, "rule %s", arg);
}

static int assign(const struct nsf_host *h, cJSON *doc, const char *pod,
		  const char *group)
{
	struct nsf_ep_rec rec;
	int err = nsf_ep_load(h, pod, &rec);

	if (err == -ENOENT)
		return nsf_fail(0,
				"no endpoint %s (nsfast attach %s --group "
				"%s puts a new one in a group)",
				pod, pod, group);
	if (err)
		return err;
	return nsf_policy_assign(doc, pod, group);
}

/* ---- output ---- */

static const char *reserved_note(int id)
{
	if (id == NSF_POL_GROUP_HOST)
		return "(reserved: the host, its addresses and namespaces)";
	if (id == NSF_POL_GROUP_WORLD)
		return "(reserved: routed out of the uplink)";
	return NULL;
}

/* The document as shown: groups with their members, rules, CIDRs. */
static cJSON *view(const cJSON *doc)
{
	cJSON *out = cJSON_CreateObject(), *groups, *g;
	const cJSON *m;

	cJSON_AddNumberToObject(out, "generation", str_num(doc, "gen"));
	groups = cJSON_AddArrayToObject(out, "groups");
	cJSON_ArrayForEach(g, list_of(doc, "groups")) {
		cJSON *c = cJSON_Duplicate(g, true), *members;

		members = cJSON_AddArrayToObject(c, "members");
		cJSON_ArrayForEach(m, list_of(doc, "members"))
			if (cJSON_IsString(m) &&
			    !strcmp(m->valuestring, str_get(g, "name")))
				cJSON_AddItemToArray(
					members, cJSON_CreateString(m->string));
		cJSON_AddBoolToObject(c, "reserved",
				      str_num(g, "id") < NSF_POL_GROUP_FIRST);
		cJSON_AddItemToArray(groups, c);
	}
	cJSON_AddItemToObject(out, "rules",
			      cJSON_Duplicate(list_of(doc, "rules"), true));
	cJSON_AddItemToObject(out, "cidrs",
			      cJSON_Duplicate(list_of(doc, "cidrs"), true));
	return out;
}

static void print_groups(const cJSON *v)
{
	const cJSON *g, *m;

	printf("%-16s %5s  %-7s %-7s %s\n", "GROUP", "ID", "INGRESS", "EGRESS",
	       "MEMBERS");
	cJSON_ArrayForEach(g, list_of(v, "groups")) {
		const char *note = reserved_note(str_num(g, "id"));

		printf("%-16s %5d  %-7s %-7s", str_get(g, "name"),
		       str_num(g, "id"), str_get(g, "ingress"),
		       str_get(g, "egress"));
		if (note)
			printf(" %s", note);
		cJSON_ArrayForEach(m, list_of(g, "members"))
			printf(" %s", m->valuestring);
		printf("\n");
	}
}

static void print_rules(const cJSON *v)
{
	const cJSON *r;

	printf("%-5s %-6s %-20s %-20s %-6s %s\n", "RULE", "ACTION", "FROM",
	       "TO", "PROTO", "PORT");
	cJSON_ArrayForEach(r, list_of(v, "rules")) {
		printf("%-5d %-6s %-20s %-20s %-6s ", str_num(r, "id"),
		       str_get(r, "action"), str_get(r, "from"),
		       str_get(r, "to"), str_get(r, "proto"));
		if (str_num(r, "port"))
			printf("%d\n", str_num(r, "port"));
		else
			printf("any\n");
	}
}

static int show(const cJSON *doc, const char *what, bool json)
{
	cJSON *v = view(doc);

	if (json && !strcmp(what, "groups"))
		nsf_print_json(list_of(v, "groups"));
	else if (json && !strcmp(what, "rules"))
		nsf_print_json(list_of(v, "rules"));
	else if (json)
		nsf_print_json(v);
	if (!json && strcmp(what, "rules") != 0)
		print_groups(v);
	if (!json && !strcmp(what, "all"))
		printf("\n");
	if (!json && strcmp(what, "groups") != 0)
		print_rules(v);
	cJSON_Delete(v);
	return 0;
}

static bool want_json(int argc, char **argv, int from)
{
	for (int i = from; i < argc; i++)
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			return true;
	return false;
}

/* ---- dispatch ---- */

/* Back to the defaults; the file is replaced only once the maps are. */
static int flush(cJSON **doc)
{
	cJSON_Delete(*doc);
	*doc = nsf_policy_default();
	return 0;
}

/* Apply one change to @doc; *changed says whether to save and sync. */
static int change(const struct nsf_host *h, cJSON **doc, int argc, char **argv,
		  bool *changed)
{
	const char *obj = argv[0], *verb = argc > 1 ? argv[1] : "";

	*changed = true;
	if (!strcmp(obj, "group") &&
	    (!strcmp(verb, "add") || !strcmp(verb, "set")) && argc >= 3)
		return group_add_set(*doc, !strcmp(verb, "add"), argc - 2,
				     argv + 2);
	if (!strcmp(obj, "group") && !strcmp(verb, "del") && argc == 3)
		return group_del(*doc, argv[2]);
	if (!strcmp(obj, "assign") && argc == 3)
		return assign(h, *doc, argv[1], argv[2]);
	if (!strcmp(obj, "rule") && !strcmp(verb, "add"))
		return rule_add(*doc, argc - 2, argv + 2);
	if (!strcmp(obj, "rule") && !strcmp(verb, "del") && argc == 3)
		return rule_del(*doc, argv[2]);
	if (!strcmp(obj, "flush") && argc == 1)
		return flush(doc);
	*changed = false;
	if (!strcmp(obj, "group") &&
	    (!strcmp(verb, "list") || !strcmp(verb, "show")))
		return show(*doc, "groups", want_json(argc, argv, 2));
	if (!strcmp(obj, "rule") &&
	    (!strcmp(verb, "list") || !strcmp(verb, "show")))
		return show(*doc, "rules", want_json(argc, argv, 2));
	if (!strcmp(obj, "show") || !strcmp(obj, "list"))
		return show(*doc, "all", want_json(argc, argv, 1));
	return nsf_usage("%s", USAGE);
}

int cmd_policy(int argc, char **argv)
{
	struct nsf_host h = { .lock_fd = -1 };
	cJSON *doc = NULL, *old = NULL;
	bool changed = false;
	int err;

	argc--;
	argv++;
	if (argc < 1) {
		fprintf(stderr, "%s\n", USAGE);
		return 2;
	}
	err = cli_host_open(&h, true, false);
	if (!err) {
		doc = nsf_policy_load(&h);
		old = doc ? cJSON_Duplicate(doc, true) : NULL;
		err = old ? 0 : -EIO;
	}
	if (!err)
		err = change(&h, &doc, argc, argv, &changed);
	if (!err && changed)
		err = nsf_policy_commit(&h, old, doc);
	cJSON_Delete(old);
	cJSON_Delete(doc);
	nsf_host_close(&h);
	if (err) {
		nsf_report("policy");
		return nsf_exit_status();
	}
	return 0;
}
