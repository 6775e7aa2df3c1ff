// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "ipam.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static int pool_init(struct nsf_pool *pool, const char *dir,
		     enum nsf_pool_kind kind, uint32_t first, uint32_t last)
{
	if (first > last)
		return -ERANGE;
	if (!nsf_strlcpy(pool->dir, dir, sizeof(pool->dir)))
		return -ENAMETOOLONG;
	pool->kind = kind;
	pool->first = first;
	pool->last = last;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int nsf_pool_init_cidr(struct nsf_pool *pool, const char *dir,
		       const struct nsf_cidr4 *cidr)
{
	uint32_t first = cidr->net, last = nsf_cidr4_last(cidr);

	if (cidr->prefix <= 30) {
		first++;
		last--;
	}
	return pool_init(pool, dir, NSF_POOL_IPV4, first, last);
}

int nsf_pool_init_range(struct nsf_pool *pool, const char *dir, uint32_t first,
			uint32_t last)
{
	return pool_init(pool, dir, NSF_POOL_ID, first, last);
}

static void value_path(const struct nsf_pool *pool, uint32_t value, char *path,
		       size_t len)
{
	char name[NSF_ADDR_STRLEN];

	if (pool->kind == NSF_POOL_IPV4)
		nsf_format_ipv4(value, name);
	else
		snprintf(name, sizeof(name), "%u", value);
	snprintf(path, len, "%s/%s", pool->dir, name);
}

int nsf_pool_reserve(const struct nsf_pool *pool, uint32_t value,
		     const char *owner)
{
	char path[512];
	size_t len = strlen(owner);
	int fd, err = 0;
	ssize_t n;

	if (value < pool->first || value > pool->last)
		return -ERANGE;
	value_path(pool, value, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	n = write(fd, owner, len);
	if (n < 0)
		err = -errno;
	else if (n != (ssize_t)len)
		err = -EIO; /* short write: errno is not set */
	if (close(fd) && !err)
		err = -errno;
	if (err)
		unlink(path);
	return err;
}

uint32_t nsf_pool_last(const struct nsf_pool *pool)
{
	char path[512], buf[32] = "";
	unsigned long v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/last", pool->dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	v = strtoul(buf, NULL, 10);
	return v > UINT32_MAX ? 0 : (uint32_t)v;
}

/* The value after the one last handed out, if within @lo..@hi, else @lo. */
static uint32_t next_start(const struct nsf_pool *pool, uint32_t lo,
			   uint32_t hi)
{
	uint32_t v = nsf_pool_last(pool);

	if (v < lo || v >= hi)
		return lo;
	return v + 1;
}

/*
 * Remember @value as the last handed out. Only a hint: failing to write it
 * costs a longer search next time, never a wrong answer, so it is
 * overwritten in place (fixed width) rather than replaced by rename(): on
 * ext4 every replaced inode is one more "recently deleted" inode that each
 * later file creation in the group scans past, which made attach slower
 * the more pods a host had.
 */
static void save_last(const struct nsf_pool *pool, uint32_t value)
{
	char path[512], buf[16];
	int fd, len;

	snprintf(path, sizeof(path), "%s/last", pool->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	len = snprintf(buf, sizeof(buf), "%010u\n", value);
	if (pwrite(fd, buf, (size_t)len, 0) != len)
		(void)ftruncate(fd, 0); /* a torn hint reads as "no hint" */
	close(fd);
}

int nsf_pool_alloc_in(const struct nsf_pool *pool, uint32_t lo, uint32_t hi,
		      bool (*skip)(uint32_t value, const void *arg),
		      const void *arg, const char *owner, uint32_t *value)
{
	uint64_t size = (uint64_t)hi - lo + 1;
	uint32_t v;

	if (lo > hi || lo < pool->first || hi > pool->last)
		return -ERANGE;
	v = next_start(pool, lo, hi);
	for (uint64_t i = 0; i < size; i++) {
		int err = skip && skip(v, arg)
				  ? -EEXIST
				  : nsf_pool_reserve(pool, v, owner);

		if (!err) {
			save_last(pool, v);
			*value = v;
			return 0;
		}
		if (err != -EEXIST)
			return err;
		v = v == hi ? lo : v + 1;
	}
	return -ENOSPC;
}

int nsf_pool_alloc(const struct nsf_pool *pool, const char *owner,
		   uint32_t *value)
{
	return nsf_pool_alloc_in(pool, pool->first, pool->last, NULL, NULL,
				 owner, value);
}

int nsf_pool_release(const struct nsf_pool *pool, uint32_t value)
{
	char path[512];

	value_path(pool, value, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

int nsf_pool_release_owned(const struct nsf_pool *pool, uint32_t value,
			   const char *owner)
{
	char who[NSF_OWNER_MAX];
	int err = nsf_pool_owner(pool, value, who, sizeof(who));

	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	who[strcspn(who, "\n")] = '\0';
	if (strcmp(who, owner) != 0)
		return -EBUSY;
	return nsf_pool_release(pool, value);
}

int nsf_pool_owner(const struct nsf_pool *pool, uint32_t value, char *owner,
		   size_t len)
{
	char path[512];
	ssize_t n;
	int fd;

	if (len == 0)
		return -EINVAL;
	value_path(pool, value, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, owner, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	owner[n] = '\0';
	return 0;
}
