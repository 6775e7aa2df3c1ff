// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for loader/util.c: name validation, host veth names, string
 * copies and error reporting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* A string of @n copies of @c in @buf (of at least n + 1 bytes). */
static const char *repeat(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* @s with control and non-ASCII bytes as \xNN, for failure messages. */
static const char *escape(const char *s)
{
	static char buf[4 * 64 + 1];
	size_t n = 0;

	for (; *s && n + 5 <= sizeof(buf); s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c >= 0x7f)
			n += (size_t)snprintf(buf + n, 5, "\\x%02x", c);
		else
			buf[n++] = (char)c;
	}
	buf[n] = '\0';
	return buf;
}

static void check_name(const char *name, bool want)
{
	if (nsf_valid_name(name) != want)
		fail_msg("nsf_valid_name(\"%s\") should be %s", escape(name),
			 want ? "true" : "false");
}

static void check_ifname(const char *name, bool want)
{
	if (nsf_valid_ifname(name) != want)
		fail_msg("nsf_valid_ifname(\"%s\") should be %s", escape(name),
			 want ? "true" : "false");
}

static void test_valid_name_accepts(void **state)
{
	char buf[NSF_NAME_MAX + 2];

	(void)state;
	check_name("a", true);
	check_name("web", true);
	check_name("pod-1_x.y", true);
	check_name("A.b-C_9", true);
	check_name("...", true);
	check_name(".hidden", true);
	check_name("0", true);
	check_name(repeat(buf, 'a', NSF_NAME_MAX), true);
}

static void test_valid_name_length(void **state)
{
	char buf[NSF_NAME_MAX + 2];

	(void)state;
	assert_int_equal(NSF_NAME_MAX, 63);
	check_name("", false);
	check_name(repeat(buf, 'a', NSF_NAME_MAX + 1), false);
	check_name(repeat(buf, 'a', 1), true);
}

static void test_valid_name_rejects(void **state)
{
	(void)state;
	check_name(".", false);
	check_name("..", false);
	check_name("/", false);
	check_name("a/b", false);
	check_name("../etc", false);
	check_name("a b", false);
	check_name("a\tb", false);
	check_name("a\n", false);
	check_name("a:b", false);
	check_name("a*b", false);
	check_name("a\\b", false);
	check_name("caf\xc3\xa9", false);
	check_name("a@b", false);
}

static void test_valid_ifname_accepts(void **state)
{
	char buf[32];

	(void)state;
	check_ifname("eth0", true);
	check_ifname("a", true);
	check_ifname("eth0.100", true);
	check_ifname("veth-x_y", true);
	check_ifname("nsf0fd9bc91", true);
	check_ifname(repeat(buf, 'x', 15), true);
}

static void test_valid_ifname_rejects(void **state)
{
	char buf[32];

	(void)state;
	check_ifname("", false);
	check_ifname(repeat(buf, 'x', 16), false);
	check_ifname(repeat(buf, 'x', 31), false);
	check_ifname("a/b", false);
	check_ifname("a:b", false);
	check_ifname("eth0:1", false);
	check_ifname(".", false);
	check_ifname("..", false);
	/* The kernel takes '%' for a template ("e%d" becomes e0, e1...). */
	check_ifname("e%d", false);
	check_ifname("%", false);
	/* Taken by net.ipv4.conf.{all,default}: the kernel refuses them
	 * with a bare EINVAL. */
	check_ifname("all", false);
	check_ifname("default", false);
	check_ifname("all0", true);
}

/* dev_valid_name() rejects every isspace() character. */
static void test_valid_ifname_whitespace(void **state)
{
	(void)state;
	check_ifname("a b", false);
	check_ifname("a\tb", false);
	check_ifname("a\nb", false);
	check_ifname("a\rb", false);
	check_ifname("a\vb", false);
	check_ifname("a\fb", false);
	check_ifname(" ", false);
}

static void check_host_ifname_form(const char *name)
{
	char out[32];

	memset(out, 0x7f, sizeof(out));
	nsf_host_ifname(name, out);
	/* Nothing written past the 16 bytes the caller gives. */
	for (size_t i = 16; i < sizeof(out); i++)
		assert_int_equal(out[i], 0x7f);
	assert_int_equal(strlen(out), 11);
	assert_memory_equal(out, "nsf", 3);
	for (int i = 3; i < 11; i++)
		if (!strchr("0123456789abcdef", out[i]) || !out[i])
			fail_msg("\"%s\" -> \"%s\": not hex", name, out);
	assert_true(nsf_valid_ifname(out));
}

static void test_host_ifname_form(void **state)
{
	char buf[NSF_NAME_MAX + 1];

	(void)state;
	check_host_ifname_form("web");
	check_host_ifname_form("a");
	check_host_ifname_form(repeat(buf, 'z', NSF_NAME_MAX));
}

static void test_host_ifname_stable(void **state)
{
	char a[16], b[16];

	(void)state;
	nsf_host_ifname("web", a);
	nsf_host_ifname("web", b);
	assert_string_equal(a, b);
	/* Pinned values: host veths of existing endpoints are found by these
	 * names, so changing the hash renames them on upgrade. */
	assert_string_equal(a, "nsf0fd9bc91");
	nsf_host_ifname("pod-1", b);
	assert_string_equal(b, "nsf23208cc6");
}

/* 32 bits collide: a colliding name gets salted alternatives, as stable. */
static void test_host_ifname_salted(void **state)
{
	char a[16], b[16], c[16];

	(void)state;
	nsf_host_ifname("rv-562789", a);
	nsf_host_ifname("rv-779192", b);
	assert_string_equal(a, b);
	nsf_host_ifname_salted("rv-779192", 0, c);
	assert_string_equal(b, c);
	nsf_host_ifname_salted("rv-779192", 1, c);
	assert_string_equal(c, "nsf5ece63be");
	nsf_host_ifname_salted("rv-779192", 2, b);
	assert_string_not_equal(b, c);
	assert_string_not_equal(b, a);
}

#define SAMPLE 2000

static void test_host_ifname_distinct(void **state)
{
	static char names[SAMPLE][16];
	char name[32];

	(void)state;
	for (int i = 0; i < SAMPLE; i++) {
		snprintf(name, sizeof(name), "pod-%d", i);
		nsf_host_ifname(name, names[i]);
	}
	for (int i = 0; i < SAMPLE; i++)
		for (int j = i + 1; j < SAMPLE; j++)
			if (!strcmp(names[i], names[j]))
				fail_msg("pod-%d and pod-%d both give %s", i, j,
					 names[i]);
	nsf_host_ifname("web", name);
	nsf_host_ifname("Web", names[0]);
	assert_string_not_equal(name, names[0]);
	nsf_host_ifname("ab", name);
	nsf_host_ifname("ba", names[0]);
	assert_string_not_equal(name, names[0]);
}

static void test_strlcpy_fits(void **state)
{
	char dst[8];

	(void)state;
	memset(dst, 'X', sizeof(dst));
	assert_true(nsf_strlcpy(dst, "abc", sizeof(dst)));
	assert_string_equal(dst, "abc");
	assert_true(nsf_strlcpy(dst, "1234567", sizeof(dst)));
	assert_string_equal(dst, "1234567");
	assert_true(nsf_strlcpy(dst, "", sizeof(dst)));
	assert_string_equal(dst, "");
}

static void test_strlcpy_truncates(void **state)
{
	char dst[12];

	(void)state;
	memset(dst, 'X', sizeof(dst));
	assert_false(nsf_strlcpy(dst, "12345678", 8));
	assert_string_equal(dst, "1234567");
	/* Only @size bytes are touched. */
	assert_int_equal(dst[8], 'X');
	assert_false(nsf_strlcpy(dst, "a much longer string", 8));
	assert_string_equal(dst, "a much ");
	assert_false(nsf_strlcpy(dst, "a", 1));
	assert_string_equal(dst, "");
	assert_true(nsf_strlcpy(dst, "", 1));
	assert_string_equal(dst, "");
}

static void test_strlcpy_size_zero(void **state)
{
	char dst[4] = "old";

	(void)state;
	assert_false(nsf_strlcpy(dst, "new", 0));
	assert_string_equal(dst, "old");
}

static void test_fail_with_errno(void **state)
{
	(void)state;
	nsf_clear_error();
	assert_int_equal(nsf_fail(EEXIST, "veth %s", "x"), -EEXIST);
	assert_string_equal(nsf_last_error(), "veth x: File exists");
	assert_int_equal(nsf_fail(ENOENT, "netns %s", "web"), -ENOENT);
	assert_string_equal(nsf_last_error(),
			    "netns web: No such file or directory");
}

static void test_fail_without_errno(void **state)
{
	(void)state;
	nsf_clear_error();
	assert_int_equal(nsf_fail(0, "bad name \"%s\"", "a/b"), -EINVAL);
	assert_string_equal(nsf_last_error(), "bad name \"a/b\"");
}

static void test_clear_error(void **state)
{
	(void)state;
	nsf_fail(EPERM, "map %d", 3);
	assert_string_equal(nsf_last_error(), "map 3: Operation not permitted");
	nsf_clear_error();
	assert_string_equal(nsf_last_error(), "");
}

static void test_fail_long_message(void **state)
{
	static char big[NSF_ERR_MAX * 2];

	(void)state;
	repeat(big, 'm', sizeof(big) - 1);
	assert_int_equal(nsf_fail(EEXIST, "%s", big), -EEXIST);
	assert_int_equal(strlen(nsf_last_error()), NSF_ERR_MAX - 1);
	assert_memory_equal(nsf_last_error(), big, NSF_ERR_MAX - 1);
	/* A short message afterwards replaces it completely. */
	nsf_fail(EIO, "x");
	assert_string_equal(nsf_last_error(), "x: Input/output error");
}

/* Run nsf_report() with stderr sent to a temporary file; return its first
 * line in @out. */
static void capture_report(const char *ctx, char *out, size_t len)
{
	FILE *f = tmpfile();
	int saved;

	assert_non_null(f);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	nsf_report("%s", ctx);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	if (!fgets(out, (int)len, f))
		out[0] = '\0';
	fclose(f);
}

static void test_report(void **state)
{
	char line[NSF_ERR_MAX * 2];

	(void)state;
	nsf_fail(EEXIST, "veth %s", "nsf1a2b");
	capture_report("attach web", line, sizeof(line));
	assert_string_equal(line, "nsfast: attach web: veth nsf1a2b: "
				  "File exists\n");
	nsf_clear_error();
	capture_report("attach web", line, sizeof(line));
	assert_string_equal(line, "nsfast: attach web\n");
}

/* mkdir -p: every level made, existing ones fine, a file in the way an
 * error naming why. */
static void test_mkdir_p(void **state)
{
	char root[] = "/tmp/nsf-unit-XXXXXX", path[128], file[128];
	struct stat st;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/a/b/c", root);
	assert_int_equal(nsf_mkdir_p(path, 0700), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(nsf_mkdir_p(path, 0700), 0); /* again: exists */
	snprintf(file, sizeof(file), "%s/f", root);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/f/x", root);
	assert_int_equal(nsf_mkdir_p(path, 0700), -ENOTDIR);
	unlink(file);
	for (int depth = 3; depth > 0; depth--) {
		snprintf(path, sizeof(path), "%s/%.*s", root, 2 * depth - 1,
			 "a/b/c");
		assert_int_equal(rmdir(path), 0);
	}
	assert_int_equal(rmdir(root), 0); /* nothing else was left */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_name_accepts),
		cmocka_unit_test(test_valid_name_length),
		cmocka_unit_test(test_valid_name_rejects),
		cmocka_unit_test(test_valid_ifname_accepts),
		cmocka_unit_test(test_valid_ifname_rejects),
		cmocka_unit_test(test_valid_ifname_whitespace),
		cmocka_unit_test(test_host_ifname_form),
		cmocka_unit_test(test_host_ifname_stable),
		cmocka_unit_test(test_host_ifname_salted),
		cmocka_unit_test(test_host_ifname_distinct),
		cmocka_unit_test(test_strlcpy_fits),
		cmocka_unit_test(test_strlcpy_truncates),
		cmocka_unit_test(test_strlcpy_size_zero),
		cmocka_unit_test(test_fail_with_errno),
		cmocka_unit_test(test_fail_without_errno),
		cmocka_unit_test(test_clear_error),
		cmocka_unit_test(test_fail_long_message),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_mkdir_p),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
