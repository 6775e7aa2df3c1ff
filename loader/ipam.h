/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Allocation of numbered resources (pod addresses, endpoint ids) from a range,
 * persisted on disk in the style of CNI host-local: one file per allocated
 * value, named after it and holding its owner. Creating that file with
 * O_EXCL is the allocation, so two allocators never hand out one value,
 * even without a lock; a `last` file makes the search next-fit, so a value
 * just released is not reused at once.
 */
#ifndef NSF_IPAM_H
#define NSF_IPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define NSF_OWNER_MAX 128

enum nsf_pool_kind {
	NSF_POOL_IPV4, /* file names are dotted quads */
	NSF_POOL_ID,   /* file names are decimal numbers */
};

struct nsf_pool {
	char dir[256]; /* one file per allocated value */
	enum nsf_pool_kind kind;
	uint32_t first; /* lowest value handed out */
	uint32_t last;	/* highest value handed out */
};

/* A pool of pod addresses: the CIDR without its network and broadcast
 * addresses (for prefixes up to /30). */
int nsf_pool_init_cidr(struct nsf_pool *pool, const char *dir,
		       const struct nsf_cidr4 *cidr);
/* A pool of integers first..last. */
int nsf_pool_init_range(struct nsf_pool *pool, const char *dir, uint32_t first,
			uint32_t last);

/* Claim @value for @owner. -EEXIST if taken (by anyone, even @owner),
 * -ERANGE if outside the pool. */
int nsf_pool_reserve(const struct nsf_pool *pool, uint32_t value,
		     const char *owner);
/* Claim the next free value after the last one handed out. -ENOSPC when the
 * pool is full. */
int nsf_pool_alloc(const struct nsf_pool *pool, const char *owner,
		   uint32_t *value);
/* Same, but only from @lo..@hi (within the pool) and never a value that
 * @skip (if not NULL) rejects: CNI ranges, gateways, excluded addresses.
 * The search starts after the last value handed out if that lies in
 * @lo..@hi, else at @lo. -ERANGE if @lo..@hi is not inside the pool. */
int nsf_pool_alloc_in(const struct nsf_pool *pool, uint32_t lo, uint32_t hi,
		      bool (*skip)(uint32_t value, const void *arg),
		      const void *arg, const char *owner, uint32_t *value);
/* The last value handed out (the next-fit hint), 0 if none is known. */
uint32_t nsf_pool_last(const struct nsf_pool *pool);
/* Give @value back. Releasing a free value is not an error. */
int nsf_pool_release(const struct nsf_pool *pool, uint32_t value);
/* Give @value back only if @owner holds it: free already is fine (0),
 * held by another is -EBUSY and left alone. A detach replayed after a
 * crash (or by gc) must not free a value another took meanwhile. */
int nsf_pool_release_owned(const struct nsf_pool *pool, uint32_t value,
			   const char *owner);
/* Who holds @value: 0 and the owner, or -ENOENT when free. */
int nsf_pool_owner(const struct nsf_pool *pool, uint32_t value, char *owner,
		   size_t len);

#endif /* NSF_IPAM_H */
