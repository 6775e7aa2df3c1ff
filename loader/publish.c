// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "publish.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks.h"
#include "maps.h"
#include "nat.h"
#include "recover.h"
#include "sysfs.h"

#define PUBLISH_FILE	"publish.json"
#define LO_IFINDEX	1 /* LOOPBACK_IFINDEX: lo is always 1 in a netns */
#define PROG_FROM_HOST	"nsf_from_host"
#define ACCEPT_LOCAL_LO "/proc/sys/net/ipv4/conf/lo/accept_local"

/* What publish.json holds: the mappings and what was done to lo. */
struct pub_state {
	struct nsf_publish *list;
	size_t count;
	bool lo_attached;      /* nsf_from_host is on lo's tc ingress */
	bool lo_qdisc_created; /* we made lo's clsact */
	int lo_accept_local;   /* lo's accept_local before, -1: untouched */
};

const char *nsf_proto_name(uint8_t proto)
{
	return proto == IPPROTO_TCP   ? "tcp"
	       : proto == IPPROTO_UDP ? "udp"
				      : "?";
}

int nsf_proto_parse(const char *s, uint8_t *proto)
{
	if (!strcmp(s, "tcp"))
		*proto = IPPROTO_TCP;
	else if (!strcmp(s, "udp"))
		*proto = IPPROTO_UDP;
	else
		return -EINVAL;
	return 0;
}

/* ---- publish.json ---- */

static bool json_port(const cJSON *o, const char *key, uint16_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 65535)
		return false;
	*out = (uint16_t)v->valuedouble;
	return true;
}

static int entry_from_json(const cJSON *o, struct nsf_publish *p)
{
	const cJSON *proto = cJSON_GetObjectItemCaseSensitive(o, "proto");
	const cJSON *ip = cJSON_GetObjectItemCaseSensitive(o, "pod_ip");
	const cJSON *owner = cJSON_GetObjectItemCaseSensitive(o, "owner");
	uint32_t addr;

	memset(p, 0, sizeof(*p));
	if (!cJSON_IsString(proto) ||
	    nsf_proto_parse(proto->valuestring, &p->proto) ||
	    !json_port(o, "host_port", &p->host_port) ||
	    !json_port(o, "pod_port", &p->pod_port) || !cJSON_IsString(ip) ||
	    nsf_parse_ipv4(ip->valuestring, &addr) || !cJSON_IsString(owner) ||
	    !nsf_strlcpy(p->owner, owner->valuestring, sizeof(p->owner)))
		return -EBADMSG;
	p->pod_ip = htonl(addr);
	return 0;
}

static void state_free(struct pub_state *st)
{
	free(st->list);
	st->list = NULL;
	st->count = 0;
}

static int state_load(const struct nsf_host *h, struct pub_state *st)
{
	const cJSON *arr, *item;
	cJSON *json;
	int err;

	memset(st, 0, sizeof(*st));
	st->lo_accept_local = -1;
	json = nsf_state_read_json(h, PUBLISH_FILE, &err);
	if (!json)
		return err == -ENOENT ? 0 : err;
	arr = cJSON_GetObjectItemCaseSensitive(json, "ports");
	st->lo_attached = cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(json, "lo_attached"));
	st->lo_qdisc_created = cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(json, "lo_qdisc_created"));
	item = cJSON_GetObjectItemCaseSensitive(json, "lo_accept_local");
	if (cJSON_IsNumber(item))
		st->lo_accept_local = item->valueint;
	err = cJSON_IsArray(arr) ? 0 : -EBADMSG;
	if (!err) {
		/* At least one slot: never NULL when err is 0. */
		st->list = calloc((size_t)cJSON_GetArraySize(arr) + 1,
				  sizeof(*st->list));
		if (!st->list)
			err = -ENOMEM;
	}
	cJSON_ArrayForEach(item, arr) {
		if (err)
			break;
		err = entry_from_json(item, &st->list[st->count]);
		if (!err)
			st->count++;
	}
	cJSON_Delete(json);
	if (err) {
		state_free(st);
		return nsf_fail(-err, "%s/%s: invalid content", h->state_dir,
				PUBLISH_FILE);
	}
	return 0;
}

static cJSON *entry_to_json(const struct nsf_publish *p)
{
	char ip[NSF_ADDR_STRLEN];
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	nsf_format_ipv4(ntohl(p->pod_ip), ip);
	cJSON_AddStringToObject(o, "proto", nsf_proto_name(p->proto));
	cJSON_AddNumberToObject(o, "host_port", p->host_port);
	cJSON_AddStringToObject(o, "pod_ip", ip);
	cJSON_AddNumberToObject(o, "pod_port", p->pod_port);
	cJSON_AddStringToObject(o, "owner", p->owner);
	return o;
}

static int state_save(const struct nsf_host *h, const struct pub_state *st)
{
	cJSON *json = cJSON_CreateObject(), *arr;
	int err = 0;

	if (!json)
		return nsf_fail(ENOMEM, "%s", PUBLISH_FILE);
	cJSON_AddBoolToObject(json, "lo_attached", st->lo_attached);
	cJSON_AddBoolToObject(json, "lo_qdisc_created", st->lo_qdisc_created);
	cJSON_AddNumberToObject(json, "lo_accept_local", st->lo_accept_local);
	arr = cJSON_AddArrayToObject(json, "ports");
	for (size_t i = 0; arr && i < st->count; i++) {
		cJSON *o = entry_to_json(&st->list[i]);

		if (!o) {
			err = -ENOMEM;
			break;
		}
		cJSON_AddItemToArray(arr, o);
	}
	if (!arr)
		err = -ENOMEM;
	if (!err)
		err = nsf_state_write_json(h, PUBLISH_FILE, json);
	else
		err = nsf_fail(-err, "%s", PUBLISH_FILE);
	cJSON_Delete(json);
	return err;
}

static struct nsf_publish *state_find(const struct pub_state *st, uint8_t proto,
				      uint16_t port)
{
	for (size_t i = 0; i < st->count; i++)
		if (st->list[i].proto == proto && st->list[i].host_port == port)
			return &st->list[i];
	return NULL;
}

/* ---- the map ---- */

static void map_key(const struct nsf_publish *p, struct nsf_publish_key *k)
{
	memset(k, 0, sizeof(*k));
	k->port = htons(p->host_port);
	k->proto = p->proto;
}

static int map_put(int fd, const struct nsf_publish *p)
{
	struct nsf_publish_val v = { .pod_addr = p->pod_ip,
				     .pod_port = htons(p->pod_port) };
	struct nsf_publish_key k;
	int err;

	map_key(p, &k);
	err = bpf_map_update_elem(fd, &k, &v, BPF_ANY);
	return err ? nsf_fail(-err, "map %s", NSF_MAP_PUBLISH4) : 0;
}

static int map_del(int fd, const struct nsf_publish *p)
{
	struct nsf_publish_key k;
	int err;

	map_key(p, &k);
	err = bpf_map_delete_elem(fd, &k);
	if (err && err != -ENOENT)
		return nsf_fail(-err, "map %s", NSF_MAP_PUBLISH4);
	return 0;
}

/* ---- validation ---- */

/*
 * Whether a socket of this (host) namespace holds @port for @proto on
 * @addr or the wildcard address: a TCP listener or a bound UDP socket,
 * IPv4 or dual-stack IPv6. Published traffic would never reach it.
 */
static bool port_held(uint8_t proto, uint16_t port, uint32_t addr_be)
{
	static const char *const tcp[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	static const char *const udp[] = { "/proc/net/udp", "/proc/net/udp6" };
	const char *const *files = proto == IPPROTO_TCP ? tcp : udp;
	char line[512], local[64];
	bool held = false;

	for (int i = 0; i < 2 && !held; i++) {
		FILE *f = fopen(files[i], "re");
		unsigned int lport, state;

		if (!f)
			continue;
		while (!held && fgets(line, sizeof(line), f)) {
			char *colon;

			if (sscanf(line, " %*d: %63s %*s %x", local, &state) !=
			    2)
				continue;
			colon = strrchr(local, ':');
			if (!colon || sscanf(colon + 1, "%x", &lport) != 1 ||
			    lport != port)
				continue;
			if (proto == IPPROTO_TCP && state != 0x0A) /* LISTEN */
				continue;
			*colon = '\0';
			/* /proc prints the address as the raw 32-bit words. */
			held = strspn(local, "0") == strlen(local) ||
			       (i == 0 && strtoul(local, NULL, 16) == addr_be);
		}
		fclose(f);
	}
	return held;
}

static int check_owner(const struct nsf_host *h, const struct nsf_publish *p)
{
	char addr[NSF_ADDR_STRLEN], own[NSF_ADDR_STRLEN];
	struct nsf_ep_rec rec;
	int err;

	nsf_format_ipv4(ntohl(p->pod_ip), addr);
	if (!nsf_valid_name(p->owner))
		return nsf_fail(0, "invalid endpoint name '%s'", p->owner);
	err = nsf_ep_load(h, p->owner, &rec);
	if (err == -ENOENT)
		return nsf_fail(0, "no endpoint %s", p->owner);
	if (err)
		return err;
	nsf_format_ipv4(rec.ip, own);
	if (htonl(rec.ip) != p->pod_ip)
		return nsf_fail(0, "endpoint %s has address %s, not %s",
				p->owner, own, addr);
	return 0;
}

static int check_new(const struct nsf_host *h,
		     const struct nsf_host_config *cfg,
		     const struct nsf_publish *p)
{
	const char *proto = nsf_proto_name(p->proto);
	unsigned int lo, hi;

	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
		return nsf_fail(0, "protocol must be tcp or udp");
	if (!p->host_port || !p->pod_port)
		return nsf_fail(0, "port 0 cannot be published");
	if (!cfg->uplink[0])
		return nsf_fail(0, "no uplink (publishing needs 'nsfast init "
				   "--uplink IFACE')");
	/*
	 * The NAT port range is no obstacle, as with conntrack: an inbound
	 * packet first matches the NAT entries (a reply to a masqueraded
	 * flow wins), and a masquerading port claim collides with a live
	 * published flow's entry and moves on (BPF_NOEXIST).
	 */
	/* Replies to the host's own connections arrive on those ports. */
	if (!nsf_local_port_range(&lo, &hi) && p->host_port >= lo &&
	    p->host_port <= hi)
		return nsf_fail(0,
				"%s port %u is in the host's "
				"ip_local_port_range %u-%u (its own "
				"connections' ports)",
				proto, p->host_port, lo, hi);
	if (port_held(p->proto, p->host_port, htonl(cfg->snat)))
		return nsf_fail(0,
				"%s port %u is in use by a socket of the host",
				proto, p->host_port);
	return check_owner(h, p);
}

static bool same_mapping(const struct nsf_publish *a,
			 const struct nsf_publish *b)
{
	return a->pod_ip == b->pod_ip && a->pod_port == b->pod_port &&
	       !strcmp(a->owner, b->owner);
}

/* ---- API ---- */

/* Write mapping @p into the map. */
static int map_write(const struct nsf_host *h, const struct nsf_publish *p)
{
	int fd = nsf_map_open(h, NSF_MAP_PUBLISH4);
	int err = fd < 0 ? fd : map_put(fd, p);

	if (fd >= 0)
		close(fd);
	return err;
}

/* @p again, recorded already: the same mapping is a no-op, another an
 * error. */
static int add_again(const struct nsf_host *h, const struct nsf_publish *old,
		     const struct nsf_publish *p)
{
	char addr[NSF_ADDR_STRLEN];

	nsf_format_ipv4(ntohl(old->pod_ip), addr);
	if (!same_mapping(old, p))
		return nsf_fail(0,
				"%s port %u is already published to %s (%s:%u)",
				nsf_proto_name(p->proto), p->host_port,
				old->owner, addr, old->pod_port);
	/* Written again: an add killed after its record did not get to. */
	return map_write(h, p);
}

int nsf_publish_add(const struct nsf_host *h, const struct nsf_publish *p)
{
	struct nsf_host_config cfg;
	struct nsf_publish *old, *grown;
	struct pub_state st;
	int err;

	err = nsf_config_load(h, &cfg);
	if (err == -ENOENT)
		return nsf_fail(0, "not initialised (run 'nsfast init' first)");
	if (err)
		return err;
	err = state_load(h, &st);
	if (err)
		return err;
	old = state_find(&st, p->proto, p->host_port);
	err = old ? add_again(h, old, p) : check_new(h, &cfg, p);
	if (err || old) {
		state_free(&st);
		return err;
	}
	grown = realloc(st.list, (st.count + 1) * sizeof(*st.list));
	if (!grown) {
		state_free(&st);
		return nsf_fail(ENOMEM, "publish");
	}
	st.list = grown;
	st.list[st.count++] = *p;
	/*
	 * Recorded first, so the map never holds what the file does not: an
	 * add killed in between leaves a mapping that list shows, del
	 * removes, and init or the same add again writes into the map.
	 */
	err = state_save(h, &st);
	nsf_fault("publish-add");
	if (!err) {
		err = map_write(h, p);
		if (err) {
			st.count--;
			state_save(h, &st);
		}
	}
	state_free(&st);
	return err;
}

/*
 * The flows the mapping @p made end with it, as with a pod's detach:
 * left alone, a client that keeps sending (UDP, or a TCP tuple used
 * again) would go on reaching the pod through a port no longer
 * published, even after the port is published to another pod.
 */
static int del_flows(const struct nsf_host *h, const struct nsf_publish *p)
{
	struct nsf_nat_published pub = { .pod = p->pod_ip,
					 .host_port = htons(p->host_port),
					 .pod_port = htons(p->pod_port),
					 .proto = p->proto };
	struct nsf_host_config cfg;
	uint64_t n;
	int fd, err;

	err = nsf_config_load(h, &cfg);
	if (err)
		return err == -ENOENT ? 0 : err;
	pub.snat = htonl(cfg.snat);
	fd = nsf_map_open(h, NSF_MAP_NAT4);
	if (fd < 0) {
		nsf_clear_error(); /* no table, no flows */
		return 0;
	}
	err = nsf_nat_del_published(fd, &pub, &n);
	close(fd);
	return err ? nsf_fail(-err, "map %s", NSF_MAP_NAT4) : 0;
}

int nsf_publish_del(const struct nsf_host *h, const struct nsf_publish *p)
{
	struct nsf_publish *old, gone;
	struct pub_state st;
	int fd, err;

	err = state_load(h, &st);
	if (err)
		return err;
	old = state_find(&st, p->proto, p->host_port);
	if (!old) {
		state_free(&st);
		return nsf_fail(ENOENT, "%s port %u is not published",
				nsf_proto_name(p->proto), p->host_port);
	}
	gone = *old;
	fd = nsf_map_open(h, NSF_MAP_PUBLISH4);
	err = fd < 0 ? fd : map_del(fd, old);
	if (fd >= 0)
		close(fd);
	if (!err) {
		*old = st.list[--st.count];
		err = state_save(h, &st);
	}
	/* After the map entry: no new flow starts meanwhile. */
	if (!err)
		err = del_flows(h, &gone);
	state_free(&st);
	return err;
}

int nsf_publish_del_owner(const struct nsf_host *h, const char *endpoint)
{
	struct pub_state st;
	size_t i, removed = 0;
	int fd, err;

	err = state_load(h, &st);
	if (err || !st.count) {
		state_free(&st);
		return err;
	}
	fd = nsf_map_open(h, NSF_MAP_PUBLISH4);
	if (fd < 0 && fd != -ENOENT) {
		state_free(&st);
		return fd;
	}
	nsf_clear_error(); /* no map (pins gone): the record still goes */
	for (i = 0; i < st.count && !err;) {
		if (strcmp(st.list[i].owner, endpoint) != 0) {
			i++;
			continue;
		}
		if (fd >= 0)
			err = map_del(fd, &st.list[i]);
		st.list[i] = st.list[--st.count];
		removed++;
	}
	if (fd >= 0)
		close(fd);
	if (!err && removed)
		err = state_save(h, &st);
	state_free(&st);
	return err;
}

static int cmp_publish(const void *a, const void *b)
{
	const struct nsf_publish *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return (int)x->host_port - (int)y->host_port;
}

int nsf_publish_list(const struct nsf_host *h, struct nsf_publish **list,
		     size_t *count)
{
	struct pub_state st;
	int err = state_load(h, &st);

	if (err)
		return err;
	if (st.count)
		qsort(st.list, st.count, sizeof(*st.list), cmp_publish);
	*list = st.list;
	*count = st.count;
	return 0;
}

/* ---- lo: the host's own connections to published ports ---- */

static int read_int(const char *path, int *v)
{
	FILE *f = fopen(path, "re");
	int n;

	if (!f)
		return -errno;
	n = fscanf(f, "%d", v);
	fclose(f);
	return n == 1 ? 0 : -EIO;
}

static int write_int(const char *path, int v)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f)
		return -errno;
	if (fprintf(f, "%d\n", v) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/*
 * nsf_from_host on lo's tc ingress, and accept_local on lo: a pod's reply
 * to the host comes back through lo with the host's address as source,
 * which the kernel otherwise drops as a martian.
 */
static int lo_attach(const struct nsf_host *h, struct pub_state *st)
{
	bool created = false;
	int fd, err, old = 0;

	err = nsf_tc_qdisc(LO_IFINDEX, &created);
	if (err)
		return nsf_fail(-err, "lo: clsact");
	st->lo_qdisc_created |= created;
	fd = nsf_dp_prog_fd(h, PROG_FROM_HOST);
	if (fd < 0)
		return fd;
	err = nsf_tc_attach(LO_IFINDEX, true, fd);
	close(fd);
	if (err)
		return nsf_fail(-err, "lo: attach tc ingress");
	st->lo_attached = true;
	if (st->lo_accept_local < 0) {
		err = read_int(ACCEPT_LOCAL_LO, &old);
		if (!err)
			err = write_int(ACCEPT_LOCAL_LO, 1);
		if (err)
			return nsf_fail(-err, "%s", ACCEPT_LOCAL_LO);
		st->lo_accept_local = old;
	}
	return 0;
}

static int lo_detach(struct pub_state *st)
{
	int err = 0;

	if (st->lo_attached || st->lo_qdisc_created) {
		err = nsf_tc_detach(LO_IFINDEX, true, st->lo_qdisc_created);
		if (err && err != -ENOENT)
			return nsf_fail(-err, "lo: detach tc");
		st->lo_attached = st->lo_qdisc_created = false;
	}
	if (st->lo_accept_local >= 0) {
		err = write_int(ACCEPT_LOCAL_LO, st->lo_accept_local);
		if (err)
			return nsf_fail(-err, "%s", ACCEPT_LOCAL_LO);
		st->lo_accept_local = -1;
	}
	return 0;
}

int nsf_publish_check(const struct nsf_host *h,
		      const struct nsf_host_config *cfg)
{
	struct pub_state st;
	int err = state_load(h, &st);

	for (size_t i = 0; !err && i < st.count; i++) {
		const struct nsf_publish *p = &st.list[i];

		if (!cfg->uplink[0])
			err = nsf_fail(0,
				       "%s port %u is published: publishing "
				       "needs the uplink",
				       nsf_proto_name(p->proto), p->host_port);
	}
	state_free(&st);
	return err;
}

int nsf_publish_restore(const struct nsf_host *h,
			const struct nsf_host_config *cfg)
{
	struct pub_state st;
	int fd = -1, err;

	err = state_load(h, &st);
	if (err)
		return err;
	if (st.count) {
		fd = nsf_map_open(h, NSF_MAP_PUBLISH4);
		err = fd < 0 ? fd : 0;
	}
	for (size_t i = 0; i < st.count && !err; i++)
		err = map_put(fd, &st.list[i]);
	if (fd >= 0)
		close(fd);
	if (!err) {
		err = cfg->uplink[0] ? lo_attach(h, &st) : lo_detach(&st);
		/*
		 * Recorded even when that failed midway: a clsact qdisc made
		 * or a program attached before the failure would otherwise
		 * stay on lo, unknown to reset (and a qdisc found there by
		 * the next init would pass for the host's own).
		 */
		if (err)
			state_save(h, &st);
		else
			err = state_save(h, &st);
	}
	state_free(&st);
	return err;
}

int nsf_publish_teardown(const struct nsf_host *h)
{
	struct pub_state st;
	int err = state_load(h, &st);

	if (err || (!st.lo_attached && !st.lo_qdisc_created &&
		    st.lo_accept_local < 0)) {
		state_free(&st);
		return err;
	}
	err = lo_detach(&st);
	if (!err)
		err = state_save(h, &st);
	state_free(&st);
	return err;
}
