/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The NAT table seen from user space: flows (an egress entry and its reply
 * entry), their state derived from what each direction has seen, expiry
 * with nf_conntrack's default timeouts, and garbage collection.
 */
#ifndef NSF_NAT_H
#define NSF_NAT_H

#include <stdbool.h>
#include <stdint.h>

#include <nsfast/maps.h>

/* Timeouts in seconds (nf_conntrack's defaults); gc can override them. */
struct nsf_nat_timeouts {
	uint32_t tcp_syn;	  /* SYN_SENT, SYN_RECV: 120 */
	uint32_t tcp_established; /* 432000 (5 days) */
	uint32_t tcp_fin;	  /* FIN_WAIT, TIME_WAIT: 120 */
	uint32_t tcp_close_wait;  /* 60 */
	uint32_t tcp_close;	  /* after RST: 10 */
	uint32_t udp;		  /* no reply yet: 30 */
	uint32_t udp_stream;	  /* replied: 120 */
	uint32_t icmp;		  /* 30 */
};

void nsf_nat_default_timeouts(struct nsf_nat_timeouts *t);

/*
 * SNAT port ranges as `init --nat-ports` and CNI's natPorts take them:
 * "MIN-MAX" or "MIN-MAX,MIN-MAX", within 1024-65535, the two apart.
 * @out: { min, max, min2, max2 }, the second 0-0 when there is one range.
 * Returns 0 or -EINVAL.
 */
int nsf_nat_ports_parse(const char *s, uint16_t out[4]);

struct nsf_nat_flow {
	struct nsf_nat_key key;	  /* the pod's tuple (egress key) */
	struct nsf_nat_entry out; /* egress entry */
	struct nsf_nat_entry in;  /* reply entry (zero if missing) */
	bool has_reply_entry;
	const char *state; /* "ESTABLISHED", "UNREPLIED", ... */
	uint32_t timeout;  /* for that state, seconds */
	uint64_t idle_ns;  /* since the latest packet either way */
	uint64_t age_ns;   /* since creation */
};

/* Visit every flow. */
int nsf_nat_foreach(int map_fd, const struct nsf_nat_timeouts *t,
		    int (*fn)(const struct nsf_nat_flow *flow, void *arg),
		    void *arg);

struct nsf_nat_gc_result {
	uint64_t flows;	  /* flows seen */
	uint64_t expired; /* flows removed (both entries) */
	uint64_t orphans; /* reply entries without their egress entry */
};

/* Remove expired flows and idle orphaned reply entries. */
int nsf_nat_gc(int map_fd, const struct nsf_nat_timeouts *t,
	       struct nsf_nat_gc_result *res);
/* Remove the flows of pod address @addr (host order): its egress entries
 * and the reply entries that lead back to it; *removed counts entries. */
int nsf_nat_del_addr(int map_fd, uint32_t addr, uint64_t *removed);
/* A published port (network order): @proto @snat:@host_port to
 * @pod:@pod_port. */
struct nsf_nat_published {
	__be32 snat, pod;
	__be16 host_port, pod_port;
	uint8_t proto;
};

/* Remove the flows through published port @p, both entries: from the
 * world, hairpin and host flows alike; *removed counts entries. */
int nsf_nat_del_published(int map_fd, const struct nsf_nat_published *p,
			  uint64_t *removed);
/* Remove everything; *removed counts entries. */
int nsf_nat_flush(int map_fd, uint64_t *removed);

#endif /* NSF_NAT_H */
