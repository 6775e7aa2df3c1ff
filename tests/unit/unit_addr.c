// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for loader/addr.c: IPv4 address and CIDR parsing, formatting
 * and arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "addr.h"

#define IP(a, b, c, d)                                   \
	(((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | \
	 ((uint32_t)(c) << 8) | (uint32_t)(d))

/* Parse @s, which must be accepted and give @want. */
static void expect_ipv4(const char *s, uint32_t want)
{
	uint32_t got = 0xdeadbeef;
	int err = nsf_parse_ipv4(s, &got);

	if (err)
		fail_msg("\"%s\": rejected (%d)", s, err);
	if (got != want)
		fail_msg("\"%s\": got 0x%08x, want 0x%08x", s, got, want);
}

/* Parse @s, which must be rejected with -EINVAL. */
static void reject_ipv4(const char *s)
{
	uint32_t got;
	int err = nsf_parse_ipv4(s, &got);

	if (err != -EINVAL)
		fail_msg("\"%s\": got %d, want -EINVAL", s, err);
}

static void expect_cidr(const char *s, bool host_bits, uint32_t net,
			uint8_t prefix)
{
	struct nsf_cidr4 c = { .net = 0xdeadbeef, .prefix = 99 };
	int err = nsf_parse_cidr4(s, &c, host_bits);

	if (err)
		fail_msg("\"%s\": rejected (%d)", s, err);
	if (c.net != net || c.prefix != prefix)
		fail_msg("\"%s\": got 0x%08x/%u, want 0x%08x/%u", s, c.net,
			 c.prefix, net, prefix);
}

static void reject_cidr(const char *s, bool host_bits)
{
	struct nsf_cidr4 c;
	int err = nsf_parse_cidr4(s, &c, host_bits);

	if (err != -EINVAL)
		fail_msg("\"%s\": got %d, want -EINVAL", s, err);
}

static struct nsf_cidr4 cidr(uint32_t net, uint8_t prefix)
{
	struct nsf_cidr4 c = { .net = net, .prefix = prefix };

	return c;
}

static void test_parse_ipv4_valid(void **state)
{
	(void)state;
	expect_ipv4("0.0.0.0", 0);
	expect_ipv4("255.255.255.255", 0xffffffff);
	expect_ipv4("10.244.0.1", 0x0af40001);
	expect_ipv4("1.2.3.4", 0x01020304);
	expect_ipv4("192.168.100.200", IP(192, 168, 100, 200));
	expect_ipv4("10.0.0.0", IP(10, 0, 0, 0));
	expect_ipv4("100.101.110.199", IP(100, 101, 110, 199));
}

static void test_parse_ipv4_out_of_range(void **state)
{
	(void)state;
	reject_ipv4("256.0.0.0");
	reject_ipv4("1.256.3.4");
	reject_ipv4("1.2.3.256");
	reject_ipv4("1.2.3.1000");
	reject_ipv4("1.2.3.4294967297");
	reject_ipv4("99999999999999999999.1.1.1");
}

static void test_parse_ipv4_leading_zeros(void **state)
{
	(void)state;
	reject_ipv4("01.2.3.4");
	reject_ipv4("1.02.3.4");
	reject_ipv4("1.2.3.04");
	reject_ipv4("1.2.00.4");
	reject_ipv4("010.0.0.1");
	reject_ipv4("0x1.2.3.4");
}

static void test_parse_ipv4_part_count(void **state)
{
	(void)state;
	reject_ipv4("1");
	reject_ipv4("1.2");
	reject_ipv4("1.2.3");
	reject_ipv4("1.2.3.4.5");
	reject_ipv4("1.2.3.");
	reject_ipv4(".1.2.3.4");
	reject_ipv4("1..3.4");
	reject_ipv4("...");
}

static void test_parse_ipv4_garbage(void **state)
{
	(void)state;
	reject_ipv4("");
	reject_ipv4("1.2.3.4x");
	reject_ipv4("1.2.3.4/24");
	reject_ipv4("1.2.3.4\n");
	reject_ipv4("1.2.3.4.");
	reject_ipv4("a.b.c.d");
	reject_ipv4("localhost");
}

static void test_parse_ipv4_spaces_and_signs(void **state)
{
	(void)state;
	reject_ipv4(" 1.2.3.4");
	reject_ipv4("1.2.3.4 ");
	reject_ipv4("1. 2.3.4");
	reject_ipv4("1 .2.3.4");
	reject_ipv4("\t1.2.3.4");
	reject_ipv4("+1.2.3.4");
	reject_ipv4("1.+2.3.4");
	reject_ipv4("-1.2.3.4");
	reject_ipv4("1.2.3.-4");
}

static void test_parse_cidr4_valid(void **state)
{
	(void)state;
	expect_cidr("10.244.0.0/16", false, IP(10, 244, 0, 0), 16);
	expect_cidr("0.0.0.0/0", false, 0, 0);
	expect_cidr("1.2.3.4/32", false, IP(1, 2, 3, 4), 32);
	expect_cidr("10.0.0.0/8", false, IP(10, 0, 0, 0), 8);
	expect_cidr("192.168.1.128/25", false, IP(192, 168, 1, 128), 25);
	expect_cidr("10.244.0.0/29", false, IP(10, 244, 0, 0), 29);
	expect_cidr("255.255.255.254/31", false, IP(255, 255, 255, 254), 31);
}

static void test_parse_cidr4_host_bits(void **state)
{
	(void)state;
	reject_cidr("10.244.0.1/16", false);
	reject_cidr("10.244.0.1/31", false);
	reject_cidr("1.2.3.4/0", false);
	reject_cidr("192.168.1.129/25", false);
	/* Allowed on request, and the network part is kept. */
	expect_cidr("10.244.0.1/16", true, IP(10, 244, 0, 0), 16);
	expect_cidr("192.168.1.200/25", true, IP(192, 168, 1, 128), 25);
	expect_cidr("1.2.3.4/0", true, 0, 0);
	expect_cidr("1.2.3.4/32", true, IP(1, 2, 3, 4), 32);
}

static void test_parse_cidr4_bad_prefix(void **state)
{
	(void)state;
	reject_cidr("10.0.0.0/33", false);
	reject_cidr("10.0.0.0/33", true);
	reject_cidr("10.0.0.0/99999999999", true);
	reject_cidr("10.0.0.0/", false);
	reject_cidr("10.0.0.0", false);
	reject_cidr("10.0.0.0", true);
	reject_cidr("10.0.0.0/-1", false);
	reject_cidr("10.0.0.0/+8", false);
	reject_cidr("10.0.0.0/ 8", false);
	reject_cidr("10.0.0.0/8 ", false);
	reject_cidr("10.0.0.0/8x", false);
	reject_cidr("10.0.0.0/8/8", false);
	reject_cidr("10.0.0.0//8", false);
}

static void test_parse_cidr4_bad_address(void **state)
{
	(void)state;
	reject_cidr("", false);
	reject_cidr("/8", false);
	reject_cidr("256.0.0.0/8", true);
	reject_cidr("010.0.0.0/8", false);
	reject_cidr("10.0.0/8", false);
	reject_cidr("10.0.0.0.0/8", false);
	reject_cidr(" 10.0.0.0/8", false);
	reject_cidr("10.0.0.0 /8", false);
}

static void test_format_ipv4(void **state)
{
	char buf[NSF_ADDR_STRLEN];

	(void)state;
	nsf_format_ipv4(0, buf);
	assert_string_equal(buf, "0.0.0.0");
	nsf_format_ipv4(0xffffffff, buf);
	assert_string_equal(buf, "255.255.255.255");
	nsf_format_ipv4(IP(10, 244, 0, 1), buf);
	assert_string_equal(buf, "10.244.0.1");
	nsf_format_ipv4(IP(1, 2, 3, 4), buf);
	assert_string_equal(buf, "1.2.3.4");
}

static void test_ipv4_round_trip(void **state)
{
	static const char *const addrs[] = {
		"0.0.0.0",	"255.255.255.255", "10.244.0.1",
		"192.168.0.10", "172.16.254.3",	   "1.0.0.0",
		"0.0.0.1",	"100.64.128.200",
	};
	char buf[NSF_ADDR_STRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		uint32_t a;

		assert_int_equal(nsf_parse_ipv4(addrs[i], &a), 0);
		nsf_format_ipv4(a, buf);
		assert_string_equal(buf, addrs[i]);
	}
}

static void test_cidr4_round_trip(void **state)
{
	static const char *const cidrs[] = {
		"10.244.0.0/16",    "0.0.0.0/0",     "255.255.255.255/32",
		"192.168.1.128/25", "10.0.0.0/8",    "10.244.0.0/29",
		"128.0.0.0/1",	    "172.16.0.2/31",
	};
	char buf[NSF_CIDR_STRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(cidrs) / sizeof(cidrs[0]); i++) {
		struct nsf_cidr4 c;

		assert_int_equal(nsf_parse_cidr4(cidrs[i], &c, false), 0);
		nsf_format_cidr4(&c, buf);
		assert_string_equal(buf, cidrs[i]);
	}
}

static void test_format_cidr4_host_bits_dropped(void **state)
{
	char buf[NSF_CIDR_STRLEN];
	struct nsf_cidr4 c;

	(void)state;
	assert_int_equal(nsf_parse_cidr4("10.244.7.9/16", &c, true), 0);
	nsf_format_cidr4(&c, buf);
	assert_string_equal(buf, "10.244.0.0/16");
}

static void test_cidr4_mask(void **state)
{
	(void)state;
	assert_int_equal(nsf_cidr4_mask(0), 0);
	assert_int_equal(nsf_cidr4_mask(1), 0x80000000);
	assert_int_equal(nsf_cidr4_mask(8), 0xff000000);
	assert_int_equal(nsf_cidr4_mask(16), 0xffff0000);
	assert_int_equal(nsf_cidr4_mask(24), 0xffffff00);
	assert_int_equal(nsf_cidr4_mask(29), 0xfffffff8);
	assert_int_equal(nsf_cidr4_mask(31), 0xfffffffe);
	assert_int_equal(nsf_cidr4_mask(32), 0xffffffff);
}

/* Every mask is @prefix ones followed by zeros. */
static void test_cidr4_mask_all_prefixes(void **state)
{
	(void)state;
	for (unsigned int p = 0; p <= 32; p++) {
		uint32_t m = nsf_cidr4_mask((uint8_t)p);
		uint32_t host = ~m;

		assert_int_equal(__builtin_popcount(m), p);
		/* Host part contiguous from bit 0: host + 1 is a power of 2. */
		assert_int_equal(host & (host + 1), 0);
	}
}

static void test_cidr4_contains(void **state)
{
	struct nsf_cidr4 c16 = cidr(IP(10, 244, 0, 0), 16);
	struct nsf_cidr4 c0 = cidr(0, 0);
	struct nsf_cidr4 c32 = cidr(IP(1, 2, 3, 4), 32);

	(void)state;
	assert_true(nsf_cidr4_contains(&c16, IP(10, 244, 0, 0)));
	assert_true(nsf_cidr4_contains(&c16, IP(10, 244, 0, 1)));
	assert_true(nsf_cidr4_contains(&c16, IP(10, 244, 255, 255)));
	assert_false(nsf_cidr4_contains(&c16, IP(10, 245, 0, 0)));
	assert_false(nsf_cidr4_contains(&c16, IP(10, 243, 255, 255)));
	assert_false(nsf_cidr4_contains(&c16, IP(11, 244, 0, 1)));
	assert_true(nsf_cidr4_contains(&c0, 0));
	assert_true(nsf_cidr4_contains(&c0, 0xffffffff));
	assert_true(nsf_cidr4_contains(&c0, IP(8, 8, 8, 8)));
	assert_true(nsf_cidr4_contains(&c32, IP(1, 2, 3, 4)));
	assert_false(nsf_cidr4_contains(&c32, IP(1, 2, 3, 5)));
	assert_false(nsf_cidr4_contains(&c32, IP(1, 2, 3, 3)));
}

static void test_cidr4_reserved(void **state)
{
	static const struct {
		uint32_t net;
		uint8_t prefix;
		bool reserved;
	} cases[] = {
		{ IP(10, 244, 0, 0), 16, false },
		{ IP(10, 0, 0, 0), 8, false },
		{ IP(192, 168, 0, 0), 16, false },
		{ IP(198, 18, 0, 0), 24, false },
		{ IP(223, 255, 255, 0), 24, false },
		{ IP(1, 0, 0, 0), 8, false },
		{ IP(126, 0, 0, 0), 8, false },
		{ IP(169, 253, 0, 0), 16, false },
		{ IP(169, 255, 0, 0), 16, false },
		{ IP(169, 254, 1, 0), 30, true },
		{ IP(169, 254, 0, 0), 16, true },
		{ IP(169, 0, 0, 0), 8, true }, /* holds 169.254/16 */
		{ IP(127, 0, 0, 0), 8, true },
		{ IP(127, 1, 2, 0), 24, true },
		{ IP(0, 0, 0, 0), 8, true },
		{ IP(0, 1, 0, 0), 16, true },
		{ IP(224, 0, 0, 0), 8, true },
		{ IP(239, 255, 255, 0), 24, true },
		{ IP(240, 0, 0, 0), 8, true },
		{ IP(255, 255, 255, 252), 30, true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nsf_cidr4 c = cidr(cases[i].net, cases[i].prefix);
		char s[NSF_CIDR_STRLEN];

		nsf_format_cidr4(&c, s);
		if ((nsf_cidr4_reserved(&c) != NULL) != cases[i].reserved)
			fail_msg("%s should %sbe reserved", s,
				 cases[i].reserved ? "" : "not ");
	}
}

static void test_cidr4_last(void **state)
{
	struct nsf_cidr4 c;

	(void)state;
	c = cidr(IP(10, 244, 0, 0), 16);
	assert_int_equal(nsf_cidr4_last(&c), IP(10, 244, 255, 255));
	c = cidr(IP(10, 244, 0, 0), 29);
	assert_int_equal(nsf_cidr4_last(&c), IP(10, 244, 0, 7));
	c = cidr(IP(10, 244, 0, 2), 31);
	assert_int_equal(nsf_cidr4_last(&c), IP(10, 244, 0, 3));
	c = cidr(IP(1, 2, 3, 4), 32);
	assert_int_equal(nsf_cidr4_last(&c), IP(1, 2, 3, 4));
	c = cidr(0, 0);
	assert_int_equal(nsf_cidr4_last(&c), 0xffffffff);
	c = cidr(IP(128, 0, 0, 0), 1);
	assert_int_equal(nsf_cidr4_last(&c), 0xffffffff);
}

static void test_assignable_29(void **state)
{
	struct nsf_cidr4 c = cidr(IP(10, 244, 0, 0), 29);

	(void)state;
	assert_false(nsf_cidr4_assignable(&c, IP(10, 244, 0, 0)));
	for (int i = 1; i <= 6; i++)
		assert_true(nsf_cidr4_assignable(&c, IP(10, 244, 0, i)));
	assert_false(nsf_cidr4_assignable(&c, IP(10, 244, 0, 7)));
	assert_false(nsf_cidr4_assignable(&c, IP(10, 244, 0, 8)));
	assert_false(nsf_cidr4_assignable(&c, IP(10, 243, 255, 255)));
}

static void test_assignable_24_and_30(void **state)
{
	struct nsf_cidr4 c24 = cidr(IP(192, 168, 1, 0), 24);
	struct nsf_cidr4 c30 = cidr(IP(192, 168, 1, 4), 30);

	(void)state;
	assert_false(nsf_cidr4_assignable(&c24, IP(192, 168, 1, 0)));
	assert_true(nsf_cidr4_assignable(&c24, IP(192, 168, 1, 1)));
	assert_true(nsf_cidr4_assignable(&c24, IP(192, 168, 1, 254)));
	assert_false(nsf_cidr4_assignable(&c24, IP(192, 168, 1, 255)));
	assert_false(nsf_cidr4_assignable(&c30, IP(192, 168, 1, 4)));
	assert_true(nsf_cidr4_assignable(&c30, IP(192, 168, 1, 5)));
	assert_true(nsf_cidr4_assignable(&c30, IP(192, 168, 1, 6)));
	assert_false(nsf_cidr4_assignable(&c30, IP(192, 168, 1, 7)));
	assert_false(nsf_cidr4_assignable(&c30, IP(192, 168, 1, 3)));
}

/* /31 (RFC 3021) and /32 have no network or broadcast address. */
static void test_assignable_31_32(void **state)
{
	struct nsf_cidr4 c31 = cidr(IP(10, 0, 0, 2), 31);
	struct nsf_cidr4 c32 = cidr(IP(10, 0, 0, 9), 32);

	(void)state;
	assert_true(nsf_cidr4_assignable(&c31, IP(10, 0, 0, 2)));
	assert_true(nsf_cidr4_assignable(&c31, IP(10, 0, 0, 3)));
	assert_false(nsf_cidr4_assignable(&c31, IP(10, 0, 0, 1)));
	assert_false(nsf_cidr4_assignable(&c31, IP(10, 0, 0, 4)));
	assert_true(nsf_cidr4_assignable(&c32, IP(10, 0, 0, 9)));
	assert_false(nsf_cidr4_assignable(&c32, IP(10, 0, 0, 8)));
	assert_false(nsf_cidr4_assignable(&c32, IP(10, 0, 0, 10)));
}

static void test_format_mac(void **state)
{
	const uint8_t mac[6] = { 0x02, 0x00, 0x0a, 0xf4, 0xff, 0x01 };
	char buf[NSF_MAC_STRLEN];

	(void)state;
	nsf_format_mac(mac, buf);
	assert_string_equal(buf, "02:00:0a:f4:ff:01");
}

static void test_parse_mac(void **state)
{
	const uint8_t want[6] = { 0x02, 0x00, 0x0a, 0xf4, 0xff, 0x01 };
	uint8_t mac[6] = { 0 };
	char buf[NSF_MAC_STRLEN];

	(void)state;
	assert_int_equal(nsf_parse_mac("02:00:0a:f4:ff:01", mac), 0);
	assert_memory_equal(mac, want, sizeof(want));
	assert_int_equal(nsf_parse_mac("02:00:0A:F4:FF:01", mac), 0);
	assert_memory_equal(mac, want, sizeof(want));
	nsf_format_mac(mac, buf);
	assert_string_equal(buf, "02:00:0a:f4:ff:01");
	assert_int_equal(nsf_parse_mac("", mac), -EINVAL);
	assert_int_equal(nsf_parse_mac("02:00:0a:f4:ff", mac), -EINVAL);
	assert_int_equal(nsf_parse_mac("02:00:0a:f4:ff:01:02", mac), -EINVAL);
	assert_int_equal(nsf_parse_mac("02:00:0a:f4:ff:01x", mac), -EINVAL);
	assert_int_equal(nsf_parse_mac("02:00:0a:f4:ff:zz", mac), -EINVAL);
	assert_int_equal(nsf_parse_mac("02-00-0a-f4-ff-01", mac), -EINVAL);
	assert_int_equal(nsf_parse_mac("020:00:0a:f4:ff:01", mac), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ipv4_valid),
		cmocka_unit_test(test_parse_ipv4_out_of_range),
		cmocka_unit_test(test_parse_ipv4_leading_zeros),
		cmocka_unit_test(test_parse_ipv4_part_count),
		cmocka_unit_test(test_parse_ipv4_garbage),
		cmocka_unit_test(test_parse_ipv4_spaces_and_signs),
		cmocka_unit_test(test_parse_cidr4_valid),
		cmocka_unit_test(test_parse_cidr4_host_bits),
		cmocka_unit_test(test_parse_cidr4_bad_prefix),
		cmocka_unit_test(test_parse_cidr4_bad_address),
		cmocka_unit_test(test_format_ipv4),
		cmocka_unit_test(test_ipv4_round_trip),
		cmocka_unit_test(test_cidr4_round_trip),
		cmocka_unit_test(test_format_cidr4_host_bits_dropped),
		cmocka_unit_test(test_cidr4_mask),
		cmocka_unit_test(test_cidr4_mask_all_prefixes),
		cmocka_unit_test(test_cidr4_contains),
		cmocka_unit_test(test_cidr4_reserved),
		cmocka_unit_test(test_cidr4_last),
		cmocka_unit_test(test_assignable_29),
		cmocka_unit_test(test_assignable_24_and_30),
		cmocka_unit_test(test_assignable_31_32),
		cmocka_unit_test(test_format_mac),
		cmocka_unit_test(test_parse_mac),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
