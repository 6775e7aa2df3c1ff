// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "nat.h"

#include <bpf/bpf.h>
#include <ctype.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define NS_PER_S 1000000000ull

void nsf_nat_default_timeouts(struct nsf_nat_timeouts *t)
{
	t->tcp_syn = 120;
	t->tcp_established = 432000;
	t->tcp_fin = 120;
	t->tcp_close_wait = 60;
	t->tcp_close = 10;
	t->udp = 30;
	t->udp_stream = 120;
	t->icmp = 30;
}

/* The egress key a reply entry belongs to. */
static void egress_key(const struct nsf_nat_key *reply,
		       const struct nsf_nat_entry *in, struct nsf_nat_key *key)
{
	memset(key, 0, sizeof(*key));
	key->saddr = in->addr;
	key->daddr = reply->saddr;
	key->sport = in->port;
	key->dport = reply->sport;
	key->proto = reply->proto;
	key->dir = NSF_NAT_EGRESS;
}

/*
 * Whether both sides have sent. Either may have opened the flow: the pod
 * (masquerading: its egress entry counted the first packet) or, for a
 * published port, the client (the ingress entry did, and the egress one
 * stays at 0 until the pod answers).
 */
static bool replied(const struct nsf_nat_flow *f)
{
	return f->in.packets && f->out.packets;
}

/* TCP state from the flags each direction has seen, as conntrack names it.
 * A SYN-ACK counts as a SYN (tcp_seen): a side has seen an ACK once it
 * sent a segment past its SYN, the opener's first being the handshake's
 * last ACK, whichever side opened. */
static void tcp_state(struct nsf_nat_flow *f, const struct nsf_nat_timeouts *t)
{
	uint32_t out = f->out.seen, in = f->in.seen;

	if ((out | in) & NSF_SEEN_RST) {
		f->state = "CLOSE";
		f->timeout = t->tcp_close;
	} else if ((out & NSF_SEEN_FIN) && (in & NSF_SEEN_FIN)) {
		f->state = "TIME_WAIT";
		f->timeout = t->tcp_fin;
	} else if (out & NSF_SEEN_FIN) {
		f->state = "FIN_WAIT";
		f->timeout = t->tcp_fin;
	} else if (in & NSF_SEEN_FIN) {
		f->state = "CLOSE_WAIT";
		f->timeout = t->tcp_close_wait;
	} else if (!replied(f)) {
		f->state = "SYN_SENT";
		f->timeout = t->tcp_syn;
	} else if (!((out | in) & NSF_SEEN_ACK)) {
		f->state = "SYN_RECV";
		f->timeout = t->tcp_syn;
	} else {
		f->state = "ESTABLISHED";
		f->timeout = t->tcp_established;
	}
}

static void flow_state(struct nsf_nat_flow *f, const struct nsf_nat_timeouts *t,
		       uint64_t now)
{
	uint64_t last = f->out.last_seen > f->in.last_seen ? f->out.last_seen
							   : f->in.last_seen;

	if (f->key.proto == IPPROTO_TCP) {
		tcp_state(f, t);
	} else if (f->key.proto == IPPROTO_UDP) {
		f->state = replied(f) ? "REPLIED" : "UNREPLIED";
		f->timeout = replied(f) ? t->udp_stream : t->udp;
	} else {
		f->state = replied(f) ? "REPLIED" : "UNREPLIED";
		f->timeout = t->icmp;
	}
	f->idle_ns = now > last ? now - last : 0;
	f->age_ns = now > f->out.created ? now - f->out.created : 0;
}

static bool load_flow(int fd, const struct nsf_nat_key *key,
		      const struct nsf_nat_timeouts *t, uint64_t now,
		      struct nsf_nat_flow *f)
{
	struct nsf_nat_key rkey;

	memset(f, 0, sizeof(*f));
	f->key = *key;
	if (bpf_map_lookup_elem(fd, key, &f->out))
		return false; /* evicted or expired meanwhile */
	nsf_nat_reply_key(&rkey, key, f->out.addr, f->out.port);
	f->has_reply_entry = !bpf_map_lookup_elem(fd, &rkey, &f->in);
	if (!f->has_reply_entry)
		memset(&f->in, 0, sizeof(f->in));
	flow_state(f, t, now);
	return true;
}

/* All keys of the map, in one array (deleting while walking with
 * get_next_key would restart the walk). */
static struct nsf_nat_key *all_keys(int fd, size_t *count, int *err)
{
	struct nsf_nat_key *keys = NULL, *grown, cur, next;
	size_t n = 0, cap = 0;
	void *prev = NULL;

	*err = 0;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			grown = realloc(keys, cap * sizeof(*keys));
			if (!grown) {
				*err = -ENOMEM;
				break;
			}
			keys = grown;
		}
		keys[n++] = next;
		cur = next;
		prev = &cur;
	}
	*count = n;
	return keys;
}

int nsf_nat_foreach(int map_fd, const struct nsf_nat_timeouts *t,
		    int (*fn)(const struct nsf_nat_flow *flow, void *arg),
		    void *arg)
{
	uint64_t now = nsf_mono_ns();
	struct nsf_nat_flow flow;
	size_t count;
	int err;
	struct nsf_nat_key *keys = all_keys(map_fd, &count, &err);

	for (size_t i = 0; !err && i < count; i++) {
		if (keys[i].dir != NSF_NAT_EGRESS)
			continue;
		if (load_flow(map_fd, &keys[i], t, now, &flow))
			err = fn(&flow, arg);
	}
	free(keys);
	return err;
}

/* Whether reply entry @key (value @in) has its egress entry, in @ekey:
 * there, and still mapped to this reply's address and port. */
static bool reply_paired(int fd, const struct nsf_nat_key *key,
			 const struct nsf_nat_entry *in,
			 struct nsf_nat_key *ekey)
{
	struct nsf_nat_entry out;

	egress_key(key, in, ekey);
	return !bpf_map_lookup_elem(fd, ekey, &out) && out.addr == key->daddr &&
	       out.port == key->dport;
}

/* A reply entry whose egress entry is gone or maps elsewhere, idle for
 * longer than its protocol's shortest timeout. */
static bool stale_orphan(int fd, const struct nsf_nat_key *key,
			 const struct nsf_nat_timeouts *t, uint64_t now)
{
	struct nsf_nat_entry in;
	struct nsf_nat_key ekey;
	uint64_t limit;

	if (bpf_map_lookup_elem(fd, key, &in))
		return false;
	if (reply_paired(fd, key, &in, &ekey))
		return false; /* has its egress entry: judged with the flow */
	limit = key->proto == IPPROTO_TCP   ? t->tcp_syn
		: key->proto == IPPROTO_UDP ? t->udp
					    : t->icmp;
	limit *= NS_PER_S;
	return now > in.last_seen && now - in.last_seen > limit;
}

int nsf_nat_gc(int map_fd, const struct nsf_nat_timeouts *t,
	       struct nsf_nat_gc_result *res)
{
	uint64_t now = nsf_mono_ns();
	struct nsf_nat_flow flow;
	struct nsf_nat_key rkey;
	size_t count;
	int err;
	struct nsf_nat_key *keys = all_keys(map_fd, &count, &err);

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; !err && i < count; i++) {
		if (keys[i].dir != NSF_NAT_EGRESS) {
			if (stale_orphan(map_fd, &keys[i], t, now) &&
			    !bpf_map_delete_elem(map_fd, &keys[i]))
				res->orphans++;
			continue;
		}
		if (!load_flow(map_fd, &keys[i], t, now, &flow))
			continue;
		res->flows++;
		if (flow.idle_ns <= (uint64_t)flow.timeout * NS_PER_S)
			continue;
		nsf_nat_reply_key(&rkey, &keys[i], flow.out.addr,
				  flow.out.port);
		bpf_map_delete_elem(map_fd, &rkey);
		if (!bpf_map_delete_elem(map_fd, &keys[i]))
			res->expired++;
	}
	free(keys);
	return err;
}

int nsf_nat_flush(int map_fd, uint64_t *removed)
{
	size_t count;
	int err;
	struct nsf_nat_key *keys = all_keys(map_fd, &count, &err);

	*removed = 0;
	for (size_t i = 0; !err && i < count; i++)
		if (!bpf_map_delete_elem(map_fd, &keys[i]))
			(*removed)++;
	free(keys);
	return err;
}

static bool flow_of(const struct nsf_nat_key *k, const struct nsf_nat_entry *e,
		    const void *arg)
{
	__be32 a = *(const __be32 *)arg;

	return k->dir == NSF_NAT_EGRESS ? k->saddr == a : e->addr == a;
}

typedef bool (*nat_match_fn)(const struct nsf_nat_key *k,
			     const struct nsf_nat_entry *e, const void *arg);

struct nat_kv {
	struct nsf_nat_key key;
	struct nsf_nat_entry val;
};

static int kv_push(struct nat_kv **list, size_t *n, size_t *cap,
		   const struct nsf_nat_key *k, const struct nsf_nat_entry *e)
{
	struct nat_kv *grown;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		grown = realloc(*list, *cap * sizeof(**list));
		if (!grown)
			return -ENOMEM;
		*list = grown;
	}
	(*list)[*n].key = *k;
	(*list)[(*n)++].val = *e;
	return 0;
}

#define BATCH 4096

/*
 * Keys and values in batches: one system call per BATCH entries instead of
 * two per entry, since this runs at every detach, over the whole table
 * (~0.3 s for 500,000 entries, 1.3 s one by one). The entries @match
 * picks are collected, to be deleted after the walk, which deletions
 * during it could make skip entries.
 */
static int collect_batched(int fd, nat_match_fn match, const void *arg,
			   struct nat_kv **out, size_t *n)
{
	struct nsf_nat_key *keys = calloc(BATCH, sizeof(*keys));
	struct nsf_nat_entry *vals = calloc(BATCH, sizeof(*vals));
	size_t cap = 0;
	__u32 batch, count;
	void *in = NULL;
	int err = keys && vals ? 0 : -ENOMEM;

	while (!err) {
		count = BATCH;
		err = bpf_map_lookup_batch(fd, in, &batch, keys, vals, &count,
					   NULL);
		for (__u32 i = 0; (!err || err == -ENOENT) && i < count; i++) {
			if (!match(&keys[i], &vals[i], arg))
				continue;
			if (kv_push(out, n, &cap, &keys[i], &vals[i])) {
				err = -ENOMEM;
				break;
			}
		}
		in = &batch;
	}
	if (err == -ENOENT) /* the end of the table */
		err = 0;
	free(keys);
	free(vals);
	return err;
}

/* The same, one entry at a time: a kernel without batches, or a bucket
 * larger than BATCH. */
static int collect_each(int fd, nat_match_fn match, const void *arg,
			struct nat_kv **out, size_t *n)
{
	struct nsf_nat_entry e;
	size_t count, cap = 0;
	int err;
	struct nsf_nat_key *keys = all_keys(fd, &count, &err);

	for (size_t i = 0; !err && i < count; i++)
		if (!bpf_map_lookup_elem(fd, &keys[i], &e) &&
		    match(&keys[i], &e, arg))
			err = kv_push(out, n, &cap, &keys[i], &e);
	free(keys);
	return err;
}

/* Every entry @match picks, in *out (free it), *n of them. */
static int collect(int fd, nat_match_fn match, const void *arg,
		   struct nat_kv **out, size_t *n)
{
	int err;

	*out = NULL;
	*n = 0;
	err = collect_batched(fd, match, arg, out, n);
	if (err != -EINVAL && err != -ENOSPC)
		return err;
	free(*out);
	*out = NULL;
	*n = 0;
	return collect_each(fd, match, arg, out, n);
}

static void del_counted(int fd, const struct nsf_nat_key *k, uint64_t *removed)
{
	if (!bpf_map_delete_elem(fd, k))
		(*removed)++;
}

int nsf_nat_del_addr(int map_fd, uint32_t addr, uint64_t *removed)
{
	__be32 a = htonl(addr);
	struct nat_kv *list;
	size_t n;
	int err;

	*removed = 0;
	err = collect(map_fd, flow_of, &a, &list, &n);
	for (size_t i = 0; !err && i < n; i++)
		del_counted(map_fd, &list[i].key, removed);
	free(list);
	return err;
}

/*
 * An entry of a flow through published port @arg: its ingress entry
 * (client -> snat:hport, to the pod; a hairpin flow's DNAT pair too), or
 * the egress entry of a hairpin flow to it (pod or host -> snat:hport).
 */
static bool published_of(const struct nsf_nat_key *k,
			 const struct nsf_nat_entry *e, const void *arg)
{
	const struct nsf_nat_published *p = arg;

	if (k->proto != p->proto || k->daddr != p->snat ||
	    k->dport != p->host_port)
		return false;
	if (k->dir == NSF_NAT_EGRESS)
		return true;
	return e->addr == p->pod && e->port == p->pod_port;
}

/* The other entry of the flow of @kv, if it is that flow's. */
static bool partner(int fd, const struct nat_kv *kv, struct nsf_nat_key *other)
{
	struct nsf_nat_entry e;

	if (kv->key.dir == NSF_NAT_EGRESS) {
		nsf_nat_reply_key(other, &kv->key, kv->val.addr, kv->val.port);
		return !bpf_map_lookup_elem(fd, other, &e) &&
		       e.addr == kv->key.saddr && e.port == kv->key.sport;
	}
	return reply_paired(fd, &kv->key, &kv->val, other);
}

int nsf_nat_del_published(int map_fd, const struct nsf_nat_published *p,
			  uint64_t *removed)
{
	struct nsf_nat_key other;
	struct nat_kv *list;
	size_t n;
	int err;

	*removed = 0;
	err = collect(map_fd, published_of, p, &list, &n);
	for (size_t i = 0; !err && i < n; i++) {
		if (partner(map_fd, &list[i], &other))
			del_counted(map_fd, &other, removed);
		del_counted(map_fd, &list[i].key, removed);
	}
	free(list);
	return err;
}

/* "MIN-MAX" at @s, within 1024-65535; *end just after it. */
static int parse_port_range(const char *s, const char **end, uint16_t r[2])
{
	unsigned long v[2];
	char *e;

	for (int i = 0; i < 2; i++) {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		v[i] = strtoul(s, &e, 10);
		if (i == 0 && *e != '-')
			return -EINVAL;
		s = e + (i == 0);
	}
	if (v[0] < 1024 || v[1] > 65535 || v[0] > v[1])
		return -EINVAL;
	r[0] = (uint16_t)v[0];
	r[1] = (uint16_t)v[1];
	*end = s;
	return 0;
}

int nsf_nat_ports_parse(const char *s, uint16_t out[4])
{
	const char *end;

	memset(out, 0, 4 * sizeof(out[0]));
	if (parse_port_range(s, &end, out))
		return -EINVAL;
	if (*end == ',' && parse_port_range(end + 1, &end, out + 2))
		return -EINVAL;
	if (*end)
		return -EINVAL;
	/* Overlapping ranges would offer some ports twice. */
	if (out[2] && out[2] <= out[1] && out[0] <= out[3])
		return -EINVAL;
	return 0;
}
