// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for loader/ipam.c: on-disk pools of addresses and ids. Every
 * test gets a fresh directory under /tmp, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "ipam.h"

#define IP(a, b, c, d)                                   \
	(((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | \
	 ((uint32_t)(c) << 8) | (uint32_t)(d))
#define NET29(host) IP(10, 244, 0, host)

struct fixture {
	char top[64];  /* the mkdtemp() directory */
	char dir[128]; /* the pool directory inside it */
	struct nsf_pool pool;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	strcpy(fx->top, "/tmp/nsf-unit-ipam-XXXXXX");
	if (!mkdtemp(fx->top)) {
		free(fx);
		return -1;
	}
	/* Not created yet: pool init must create it. */
	snprintf(fx->dir, sizeof(fx->dir), "%s/pool", fx->top);
	*state = fx;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int err;

	err = nftw(fx->top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return err ? -1 : 0;
}

/* The pool of 10.244.0.0/29: .1 to .6. */
static struct nsf_pool *pool29(struct fixture *fx)
{
	struct nsf_cidr4 c = { .net = NET29(0), .prefix = 29 };

	assert_int_equal(nsf_pool_init_cidr(&fx->pool, fx->dir, &c), 0);
	return &fx->pool;
}

static uint32_t alloc_ok(const struct nsf_pool *pool, const char *owner)
{
	uint32_t v = 0;

	assert_int_equal(nsf_pool_alloc(pool, owner, &v), 0);
	return v;
}

static bool is_value_name(const char *name, enum nsf_pool_kind kind)
{
	uint32_t a;

	if (kind == NSF_POOL_IPV4)
		return !nsf_parse_ipv4(name, &a);
	if (!*name)
		return false;
	for (; *name; name++)
		if (*name < '0' || *name > '9')
			return false;
	return true;
}

/* Number of files in @dir named like a value of @kind. */
static int count_values(const char *dir, enum nsf_pool_kind kind)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (is_value_name(e->d_name, kind))
			n++;
	closedir(d);
	return n;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_init_creates_dir(void **state)
{
	struct fixture *fx = *state;
	struct stat st;

	pool29(fx);
	assert_int_equal(stat(fx->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(fx->pool.kind, NSF_POOL_IPV4);
	assert_int_equal(fx->pool.first, NET29(1));
	assert_int_equal(fx->pool.last, NET29(6));
	/* Again on the existing directory. */
	pool29(fx);
}

static void test_cidr_pool_hands_out_1_to_6(void **state)
{
	struct fixture *fx = *state;
	struct nsf_pool *pool = pool29(fx);
	uint32_t v = 0;

	for (int i = 1; i <= 6; i++)
		assert_int_equal(alloc_ok(pool, "pod"), NET29(i));
	assert_int_equal(nsf_pool_alloc(pool, "pod", &v), -ENOSPC);
	assert_int_equal(count_values(fx->dir, NSF_POOL_IPV4), 6);
}

static void test_next_fit(void **state)
{
	struct fixture *fx = *state;
	struct nsf_pool *pool = pool29(fx);
	uint32_t v = 0;

	assert_int_equal(alloc_ok(pool, "a"), NET29(1));
	assert_int_equal(alloc_ok(pool, "b"), NET29(2));
	assert_int_equal(alloc_ok(pool, "c"), NET29(3));
	assert_int_equal(nsf_pool_release(pool, NET29(1)), 0);
	/* .1 is free again but not reused at once. */
	assert_int_equal(alloc_ok(pool, "d"), NET29(4));
	assert_int_equal(alloc_ok(pool, "e"), NET29(5));
	assert_int_equal(alloc_ok(pool, "f"), NET29(6));
	/* Now the search wraps around to it. */
	assert_int_equal(alloc_ok(pool, "g"), NET29(1));
	assert_int_equal(nsf_pool_alloc(pool, "h", &v), -ENOSPC);
}

/* The next-fit position is on disk, not in the struct. */
static void test_next_fit_persists(void **state)
{
	struct fixture *fx = *state;
	struct nsf_pool again;
	struct nsf_cidr4 c = { .net = NET29(0), .prefix = 29 };
	uint32_t v = 0;

	assert_int_equal(alloc_ok(pool29(fx), "a"), NET29(1));
	assert_int_equal(alloc_ok(&fx->pool, "b"), NET29(2));
	assert_int_equal(nsf_pool_release(&fx->pool, NET29(1)), 0);
	assert_int_equal(nsf_pool_init_cidr(&again, fx->dir, &c), 0);
	assert_int_equal(nsf_pool_alloc(&again, "c", &v), 0);
	assert_int_equal(v, NET29(3));
	assert_int_equal(nsf_pool_reserve(&again, NET29(2), "x"), -EEXIST);
}

static void test_reserve_taken(void **state)
{
	struct fixture *fx = *state;
	struct nsf_pool *pool = pool29(fx);
	char owner[NSF_OWNER_MAX];

	assert_int_equal(nsf_pool_reserve(pool, NET29(3), "a"), 0);
	assert_int_equal(nsf_pool_reserve(pool, NET29(3), "a"), -EEXIST);
	assert_int_equal(nsf_pool_reserve(pool, NET29(3), "b"), -EEXIST);
	assert_int_equal(nsf_pool_owner(pool, NET29(3), owner, sizeof(owner)),
			 0);
	assert_string_equal(owner, "a");
	/* Allocation steps over the reserved value. */
	assert_int_equal(alloc_ok(pool, "c"), NET29(1));
	assert_int_equal(alloc_ok(pool, "d"), NET29(2));
	assert_int_equal(alloc_ok(pool, "e"), NET29(4));
}

static void test_reserve_out_of_range(void **state)
{
	struct fixture *fx = *state;
	struct nsf_pool *pool = pool29(fx);

	assert_int_equal(nsf_pool_reserve(pool, NET29(0), "a"), -ERANGE);
	assert_int_equal(nsf_pool_reserve(pool, NET29(7), "a"), -ERANGE);
	assert_int_equal(nsf_pool_reserve(pool, NET29(8), "a"), -ERANGE);
	assert_int_equal(nsf_pool_reserve(pool, IP(10, 243, 255, 255), "a"),
			 -ERANGE);
	assert_int_equal(nsf_pool_reserve(pool, 0, "a"), -ERANGE);
	assert_int_equal(nsf_pool_reserve(pool, 0xffffffff, "a"), -ERANGE);
	assert_int_equal(count_values(fx->dir, NSF_POOL_IPV4), 0);
	assert_int_equal(nsf_pool_reserve(pool, NET29(6), "a"), 0);
}

static void test_full_then_release(void **state)
{
	struct fixture *fx = *state;
	struct nsf_pool *pool = pool29(fx);
	uint32_t v = 0;

	for (int i = 1; i <= 6; i++)
		assert_int_equal(nsf_pool_reserve(pool, NET29(i), "x"), 0);
	assert_int_equal(nsf_pool_alloc(pool, "y", &v), -ENOSPC);
	assert_int_equal(nsf_pool_alloc(pool, "y", &v), -ENOSPC);
	assert_int_equal(nsf_pool_release(pool, NET29(4)), 0);
	assert_int_equal(alloc_ok(pool, "y"), NET29(4));
	assert_int_equal(nsf_pool_alloc(pool, "z", &v), -ENOSPC);
}

static void test_owner(void **state)
{
	struct fixture *fx = *state;
	struct nsf_pool *pool = pool29(fx);
	char owner[NSF_OWNER_MAX];
	char small[4];

	assert_int_equal(nsf_pool_reserve(pool, NET29(2), "pod-a"), 0);
	memset(owner, 'X', sizeof(owner));
	assert_int_equal(nsf_pool_owner(pool, NET29(2), owner, sizeof(owner)),
			 0);
	assert_string_equal(owner, "pod-a");
	/* Truncated, still terminated. */
	assert_int_equal(nsf_pool_owner(pool, NET29(2), small, sizeof(small)),
			 0);
	assert_string_equal(small, "pod");
	assert_int_equal(nsf_pool_owner(pool, NET29(3), owner, sizeof(owner)),
			 -ENOENT);
	assert_int_equal(nsf_pool_release(pool, NET29(2)), 0);
	assert_int_equal(nsf_pool_owner(pool, NET29(2), owner, sizeof(owner)),
			 -ENOENT);
}

/* The on-disk format is CNI host-local's: file named after the value,
 * holding the owner. */
static void test_file_layout(void **state)
{
	struct fixture *fx = *state;
	struct nsf_pool *pool = pool29(fx);
	char path[256], buf[64] = "";
	ssize_t n;
	int fd;

	assert_int_equal(nsf_pool_reserve(pool, NET29(5), "web"), 0);
	snprintf(path, sizeof(path), "%s/10.244.0.5", fx->dir);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_int_equal(n, 3);
	assert_string_equal(buf, "web");
	assert_int_equal(nsf_pool_release(pool, NET29(5)), 0);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_release_free(void **state)
{
	struct fixture *fx = *state;
	struct nsf_pool *pool = pool29(fx);

	assert_int_equal(nsf_pool_release(pool, NET29(3)), 0);
	assert_int_equal(nsf_pool_reserve(pool, NET29(3), "a"), 0);
	assert_int_equal(nsf_pool_release(pool, NET29(3)), 0);
	assert_int_equal(nsf_pool_release(pool, NET29(3)), 0);
	assert_int_equal(count_values(fx->dir, NSF_POOL_IPV4), 0);
}

/* A detach replayed after a crash may name a value another has taken
 * since: only its own owner's claim goes. */
static void test_release_owned(void **state)
{
	struct fixture *fx = *state;
	struct nsf_pool *pool = pool29(fx);
	char owner[NSF_OWNER_MAX];

	assert_int_equal(nsf_pool_release_owned(pool, NET29(3), "a"), 0);
	assert_int_equal(nsf_pool_reserve(pool, NET29(3), "b"), 0);
	assert_int_equal(nsf_pool_release_owned(pool, NET29(3), "a"), -EBUSY);
	assert_int_equal(nsf_pool_owner(pool, NET29(3), owner, sizeof(owner)),
			 0);
	assert_string_equal(owner, "b");
	/* A prefix of the owner is someone else. */
	assert_int_equal(nsf_pool_release_owned(pool, NET29(3), "bb"), -EBUSY);
	assert_int_equal(nsf_pool_release_owned(pool, NET29(3), "b"), 0);
	assert_int_equal(count_values(fx->dir, NSF_POOL_IPV4), 0);
}

static void test_id_pool(void **state)
{
	struct fixture *fx = *state;
	struct nsf_pool *pool = &fx->pool;
	char path[256];
	uint32_t v = 0;

	assert_int_equal(nsf_pool_init_range(pool, fx->dir, 100, 103), 0);
	assert_int_equal(pool->kind, NSF_POOL_ID);
	for (uint32_t i = 100; i <= 103; i++)
		assert_int_equal(alloc_ok(pool, "ep"), i);
	assert_int_equal(nsf_pool_alloc(pool, "ep", &v), -ENOSPC);
	assert_int_equal(nsf_pool_reserve(pool, 99, "ep"), -ERANGE);
	assert_int_equal(nsf_pool_reserve(pool, 104, "ep"), -ERANGE);
	assert_int_equal(nsf_pool_reserve(pool, 102, "ep"), -EEXIST);
	snprintf(path, sizeof(path), "%s/102", fx->dir);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(count_values(fx->dir, NSF_POOL_ID), 4);
	assert_int_equal(nsf_pool_release(pool, 101), 0);
	assert_int_equal(alloc_ok(pool, "ep"), 101);
}

static void test_id_pool_single(void **state)
{
	struct fixture *fx = *state;
	struct nsf_pool *pool = &fx->pool;
	uint32_t v = 0;

	assert_int_equal(nsf_pool_init_range(pool, fx->dir, 5, 5), 0);
	assert_int_equal(alloc_ok(pool, "a"), 5);
	assert_int_equal(nsf_pool_alloc(pool, "b", &v), -ENOSPC);
	assert_int_equal(nsf_pool_release(pool, 5), 0);
	assert_int_equal(alloc_ok(pool, "b"), 5);
}

static void test_id_pool_bad_range(void **state)
{
	struct fixture *fx = *state;

	assert_true(nsf_pool_init_range(&fx->pool, fx->dir, 10, 9) < 0);
}

/* A `last` file with rubbish is only a bad hint: allocation still works. */
static void test_last_garbage(void **state)
{
	static const char *const junk[] = {
		"garbage\n",	"",    "-1\n",	    "99999999999999999999\n",
		"4294967295\n", "0\n", "167510017", "\n\n\n",
	};
	struct fixture *fx = *state;
	struct nsf_pool *pool = pool29(fx);
	struct nsf_cidr4 c = { .net = NET29(0), .prefix = 29 };

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		uint32_t v;

		write_file(fx->dir, "last", junk[i]);
		v = alloc_ok(pool, "x");
		if (!nsf_cidr4_assignable(&c, v))
			fail_msg("last \"%s\": got 0x%08x", junk[i], v);
		assert_int_equal(nsf_pool_release(pool, v), 0);
	}
}

#define KIDS	8
#define PER_KID 20

/* What a child reports: sent in one write, atomic as it is smaller than
 * PIPE_BUF, so reports from several children never interleave. */
struct report {
	uint32_t kid;
	uint32_t got[PER_KID];
};

/* Child @id: wait for the start signal, allocate PER_KID addresses, report
 * them. Never returns. */
static void kid(const struct nsf_pool *pool, uint32_t id, int go, int out)
{
	struct report r = { .kid = id };
	char owner[32], c;

	snprintf(owner, sizeof(owner), "kid-%u", id);
	if (read(go, &c, 1) != 0)
		_exit(2);
	for (int i = 0; i < PER_KID; i++)
		if (nsf_pool_alloc(pool, owner, &r.got[i]))
			_exit(3);
	if (write(out, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(4);
	_exit(0);
}

static void start_kids(const struct nsf_pool *pool, pid_t *pids, int out)
{
	int go[2];

	assert_int_equal(pipe(go), 0);
	for (uint32_t i = 0; i < KIDS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(go[1]);
			kid(pool, i, go[0], out);
		}
	}
	close(go[0]);
	/* EOF on the pipe starts them all at once. */
	close(go[1]);
}

static void wait_kids(const pid_t *pids)
{
	for (int i = 0; i < KIDS; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			fail_msg("kid %d: status 0x%x", i, status);
	}
}

/* Every value a kid reported is on disk as that kid's. */
static void check_report(const struct nsf_pool *pool, const struct report *r)
{
	char owner[NSF_OWNER_MAX], want[32];

	assert_in_range(r->kid, 0, KIDS - 1);
	snprintf(want, sizeof(want), "kid-%u", r->kid);
	for (int i = 0; i < PER_KID; i++) {
		assert_int_equal(
			nsf_pool_owner(pool, r->got[i], owner, sizeof(owner)),
			0);
		assert_string_equal(owner, want);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void check_distinct(const struct nsf_cidr4 *c, uint32_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u32);
	for (size_t i = 0; i < n; i++) {
		if (!nsf_cidr4_assignable(c, v[i]))
			fail_msg("0x%08x is not assignable", v[i]);
		if (i > 0 && v[i] == v[i - 1])
			fail_msg("0x%08x handed out twice", v[i]);
	}
}

static void test_concurrent_alloc(void **state)
{
	struct fixture *fx = *state;
	struct nsf_cidr4 c = { .net = IP(10, 244, 1, 0), .prefix = 24 };
	uint32_t all[KIDS * PER_KID];
	bool seen[KIDS] = { false };
	pid_t pids[KIDS];
	int out[2];

	assert_int_equal(nsf_pool_init_cidr(&fx->pool, fx->dir, &c), 0);
	assert_int_equal(pipe(out), 0);
	start_kids(&fx->pool, pids, out[1]);
	close(out[1]);
	wait_kids(pids);
	for (int i = 0; i < KIDS; i++) {
		struct report r;

		assert_int_equal(read(out[0], &r, sizeof(r)), sizeof(r));
		check_report(&fx->pool, &r);
		assert_false(seen[r.kid]);
		seen[r.kid] = true;
		memcpy(all + i * PER_KID, r.got, sizeof(r.got));
	}
	close(out[0]);
	check_distinct(&c, all, KIDS * PER_KID);
	assert_int_equal(count_values(fx->dir, NSF_POOL_IPV4), KIDS * PER_KID);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_init_creates_dir),  T(test_cidr_pool_hands_out_1_to_6),
		T(test_next_fit),	   T(test_next_fit_persists),
		T(test_reserve_taken),	   T(test_reserve_out_of_range),
		T(test_full_then_release), T(test_owner),
		T(test_file_layout),	   T(test_release_free),
		T(test_release_owned),	   T(test_id_pool),
		T(test_id_pool_single),	   T(test_id_pool_bad_range),
		T(test_last_garbage),	   T(test_concurrent_alloc),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
