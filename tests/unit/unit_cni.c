// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for the CNI plugin's input handling (loader/cni_conf.c) and
 * its range IPAM (loader/cni_ipam.c, loader/ipam.c nsf_pool_alloc_in). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni.h"
#include "nat.h"
#include "util.h"

#define IP(a, b, c, d)                                   \
	(((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | \
	 ((uint32_t)(c) << 8) | (uint32_t)(d))

/* Parse @json for ADD; returns the error code (0 on success). */
static int parse(const char *json, struct nsf_cni_conf *c)
{
	struct nsf_cni_err e = { 0 };

	if (nsf_cni_conf_parse(json, NSF_CNI_ADD, c, &e) == 0)
		return 0;
	assert_true(e.code > 0);
	assert_true(e.msg[0] != '\0');
	return e.code;
}

static int parse_code(const char *json)
{
	struct nsf_cni_conf c;
	int code = parse(json, &c);

	if (!code)
		nsf_cni_conf_free(&c);
	return code;
}

#define HEAD "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"nsfast\""

static void test_minimal(void **state)
{
	struct nsf_cni_conf c;

	(void)state;
	assert_int_equal(parse(HEAD "}", &c), 0);
	assert_string_equal(c.cni_version, "1.0.0");
	assert_string_equal(c.name, "n");
	assert_false(c.has_pod_cidr);
	assert_false(c.ipam.delegate);
	assert_int_equal(c.ipam.nranges, 0);
	assert_null(c.prev_result);
	nsf_cni_conf_free(&c);
}

static void test_full(void **state)
{
	struct nsf_cni_conf c;
	const char *j = HEAD
		",\"podCIDR\":\"10.1.0.0/16\",\"uplink\":\"wan0\","
		"\"snatIP\":\"192.0.2.1\",\"xdpMode\":\"generic\","
		"\"natPorts\":\"2000-3000\",\"dns\":{\"nameservers\":[]},"
		"\"ipam\":{\"type\":\"nsfast\",\"ranges\":[[{\"subnet\":"
		"\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.5\",\"gateway\":"
		"\"10.1.0.1\"},{\"subnet\":\"10.1.1.0/25\"}]],\"exclude\":["
		"\"10.1.0.7\",\"10.1.0.16/30\"],\"routes\":[{\"dst\":"
		"\"10.9.0.0/16\"}]},\"runtimeConfig\":{\"portMappings\":[{"
		"\"hostPort\":80,\"containerPort\":8080,\"protocol\":\"UDP\"}],"
		"\"ips\":[\"10.1.0.9/24\"]},\"prevResult\":{\"ips\":[]}}";

	(void)state;
	assert_int_equal(parse(j, &c), 0);
	assert_true(c.has_pod_cidr);
	assert_int_equal(c.pod_cidr.net, IP(10, 1, 0, 0));
	assert_int_equal(c.pod_cidr.prefix, 16);
	assert_string_equal(c.uplink, "wan0");
	assert_string_equal(c.xdp_mode, "generic");
	assert_int_equal(c.ipam.nranges, 2);
	assert_int_equal(c.ipam.ranges[0].start, IP(10, 1, 0, 5));
	assert_int_equal(c.ipam.ranges[0].end, IP(10, 1, 0, 254));
	assert_int_equal(c.ipam.ranges[0].gateway, IP(10, 1, 0, 1));
	assert_int_equal(c.ipam.ranges[1].start, IP(10, 1, 1, 1));
	assert_int_equal(c.ipam.ranges[1].end, IP(10, 1, 1, 126));
	assert_int_equal(c.ipam.nexclude, 2);
	assert_int_equal(c.ipam.exclude[0].prefix, 32);
	assert_int_equal(c.ipam.nroutes, 1);
	assert_int_equal(c.nportmaps, 1);
	assert_int_equal(c.portmaps[0].proto, IPPROTO_UDP);
	assert_int_equal(c.portmaps[0].host_port, 80);
	assert_int_equal(c.portmaps[0].container_port, 8080);
	assert_int_equal(c.req_ip, IP(10, 1, 0, 9));
	assert_non_null(c.prev_result);
	assert_non_null(c.dns);
	nsf_cni_conf_free(&c);
}

static void test_legacy_subnet_and_delegate(void **state)
{
	struct nsf_cni_conf c;

	(void)state;
	assert_int_equal(
		parse(HEAD ",\"ipam\":{\"subnet\":\"10.2.0.0/24\"}}", &c), 0);
	assert_int_equal(c.ipam.nranges, 1);
	assert_int_equal(c.ipam.ranges[0].start, IP(10, 2, 0, 1));
	nsf_cni_conf_free(&c);
	/* Another plugin's section is not ours to validate. */
	assert_int_equal(parse(HEAD ",\"ipam\":{\"type\":\"host-local\","
				    "\"ranges\":\"whatever\"}}",
			       &c),
			 0);
	assert_true(c.ipam.delegate);
	assert_string_equal(c.ipam.type, "host-local");
	nsf_cni_conf_free(&c);
}

static void test_errors(void **state)
{
	(void)state;
	assert_int_equal(parse_code("{"), NSF_CNI_E_DECODE);
	assert_int_equal(parse_code("[1]"), NSF_CNI_E_DECODE);
	assert_int_equal(parse_code("{\"name\":\"n\",\"type\":\"x\"}"),
			 NSF_CNI_E_VERSION);
	assert_int_equal(parse_code("{\"cniVersion\":\"2.0.0\",\"name\":\"n\","
				    "\"type\":\"x\"}"),
			 NSF_CNI_E_VERSION);
	assert_int_equal(parse_code("{\"cniVersion\":1}"), NSF_CNI_E_VERSION);
	assert_int_equal(
		parse_code("{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}"),
		NSF_CNI_E_CONFIG);
	assert_int_equal(
		parse_code("{\"cniVersion\":\"1.0.0\",\"name\":\"a b\","
			   "\"type\":\"x\"}"),
		NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(HEAD ",\"podCIDR\":\"10.1.0.1/16\"}"),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(HEAD ",\"podCIDR\":\"10.0.0.0/31\"}"),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(HEAD ",\"xdpMode\":\"turbo\"}"),
			 NSF_CNI_E_CONFIG);
	/* Every mode init takes is accepted, auto (the default) too. */
	assert_int_equal(parse_code(HEAD ",\"xdpMode\":\"auto\"}"), 0);
	assert_int_equal(parse_code(HEAD ",\"xdpMode\":\"off\"}"), 0);
	assert_int_equal(parse_code(HEAD ",\"snatIP\":\"1.2.3.4\"}"),
			 NSF_CNI_E_CONFIG); /* without an uplink */
	assert_int_equal(parse_code(HEAD ",\"natPorts\":\"80-90\"}"),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(HEAD ",\"natPorts\":\"1024-32767,"
					 "61000-65535\"}"),
			 0);
	assert_int_equal(parse_code(HEAD ",\"uplink\":7}"), NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(HEAD ",\"ipam\":[]}"), NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(HEAD ",\"ipam\":{\"type\":\"../x\"}}"),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(HEAD ",\"dns\":\"8.8.8.8\"}"),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(HEAD ",\"prevResult\":[]}"),
			 NSF_CNI_E_CONFIG);
}

static void test_range_errors(void **state)
{
#define R(x) HEAD ",\"ipam\":{\"ranges\":[[" x "]]}}"
	(void)state;
	assert_int_equal(parse_code(R("{}")), NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(R("{\"subnet\":\"fd00::/64\"}")),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(R("{\"subnet\":\"10.0.0.0/33\"}")),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(R("{\"subnet\":\"10.0.0.0/24\","
				      "\"rangeStart\":\"10.0.1.1\"}")),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(R("{\"subnet\":\"10.0.0.0/24\","
				      "\"rangeStart\":\"10.0.0.9\","
				      "\"rangeEnd\":\"10.0.0.8\"}")),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(R("{\"subnet\":\"10.0.0.0/24\","
				      "\"gateway\":\"10.0.5.1\"}")),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(R("{\"subnet\":\"10.0.0.0/24\"},"
				      "{\"subnet\":\"10.0.0.128/25\"}")),
			 NSF_CNI_E_CONFIG); /* overlap */
	assert_int_equal(parse_code(HEAD ",\"ipam\":{\"ranges\":[[{\"subnet\":"
					 "\"10.0.0.0/24\"}],[{\"subnet\":"
					 "\"10.0.1.0/24\"}]]}}"),
			 NSF_CNI_E_CONFIG); /* two range sets */
	assert_int_equal(parse_code(HEAD ",\"ipam\":{\"exclude\":[\"x\"]}}"),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(HEAD ",\"ipam\":{\"routes\":[{\"dst\":"
					 "\"10.0.0.1/8\"}]}}"),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(HEAD
				    ",\"ipam\":{\"routes\":[{\"dst\":"
				    "\"10.0.0.0/8\",\"gw\":\"10.0.0.1\"}]}}"),
			 NSF_CNI_E_CONFIG);
#undef R
}

static void test_portmap_errors(void **state)
{
#define PM(x) HEAD ",\"runtimeConfig\":{\"portMappings\":[" x "]}}"
	(void)state;
	assert_int_equal(parse_code(PM("{\"hostPort\":0,\"containerPort\":1}")),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(
		parse_code(PM("{\"hostPort\":70000,\"containerPort\":1}")),
		NSF_CNI_E_CONFIG);
	assert_int_equal(
		parse_code(PM("{\"hostPort\":1.5,\"containerPort\":1}")),
		NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(PM("{\"hostPort\":80}")), NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(PM("{\"hostPort\":80,\"containerPort\":80,"
				       "\"protocol\":\"sctp\"}")),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(PM("{\"hostPort\":80,\"containerPort\":80,"
				       "\"hostIP\":\"::1\"}")),
			 NSF_CNI_E_CONFIG);
	assert_int_equal(parse_code(PM("{\"hostPort\":80,\"containerPort\":80,"
				       "\"hostIP\":\"10.0.0.1\"}")),
			 0);
#undef PM
}

static void test_versions(void **state)
{
	struct nsf_cni_conf c;
	struct nsf_cni_err e = { 0 };
	const char *v = "{\"cniVersion\":\"0.3.1\",\"name\":\"n\","
			"\"type\":\"x\"}";

	(void)state;
	assert_true(nsf_cni_version_cmp("0.4.0", "1.0.0") < 0);
	assert_true(nsf_cni_version_cmp("1.1.0", "1.0.0") > 0);
	assert_true(nsf_cni_version_cmp("0.10.0", "0.9.0") > 0);
	assert_int_equal(nsf_cni_version_cmp("1.0.0", "1.0.0"), 0);
	assert_true(nsf_cni_version_supported("0.4.0"));
	assert_false(nsf_cni_version_supported("0.2.0"));
	assert_int_equal(nsf_cni_conf_parse(v, NSF_CNI_ADD, &c, &e), 0);
	nsf_cni_conf_free(&c);
	assert_int_equal(nsf_cni_conf_parse(v, NSF_CNI_CHECK, &c, &e), -1);
	assert_int_equal(e.code, NSF_CNI_E_VERSION);
	assert_int_equal(nsf_cni_conf_parse(v, NSF_CNI_GC, &c, &e), -1);
	assert_int_equal(e.code, NSF_CNI_E_VERSION);
	/* VERSION needs nothing, not even a config. */
	assert_int_equal(nsf_cni_conf_parse("", NSF_CNI_VERSION, &c, &e), 0);
	nsf_cni_conf_free(&c);
}

static void test_args(void **state)
{
	char longargs[4096], pad[3001];
	struct nsf_cni_err e = { 0 };
	uint32_t ip = 0;

	(void)state;
	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	assert_int_equal(nsf_cni_args_parse(NULL, &ip, &e), 0);
	assert_int_equal(
		nsf_cni_args_parse("IP=10.0.0.5;K8S_POD_NAME=x", &ip, &e), 0);
	assert_int_equal(ip, IP(10, 0, 0, 5));
	assert_int_equal(nsf_cni_args_parse("FOO=1", &ip, &e), -1);
	assert_int_equal(e.code, NSF_CNI_E_FIELD);
	assert_int_equal(nsf_cni_args_parse("FOO=1;IgnoreUnknown=1", &ip, &e),
			 0);
	assert_int_equal(
		nsf_cni_args_parse("IgnoreUnknown=true;FOO=1", &ip, &e), 0);
	assert_int_equal(nsf_cni_args_parse("IP=10.0.0", &ip, &e), -1);
	assert_int_equal(e.code, NSF_CNI_E_ENV);
	assert_int_equal(nsf_cni_args_parse("garbage", &ip, &e), -1);
	/* No length limit (it was 1,023 bytes): a long pod name passes. */
	snprintf(longargs, sizeof(longargs),
		 "IgnoreUnknown=1;K8S_POD_NAME=%.*s;IP=10.0.0.9", 3000, pad);
	assert_int_equal(nsf_cni_args_parse(longargs, &ip, &e), 0);
	assert_int_equal(ip, IP(10, 0, 0, 9));
}

static void test_endpoint_name(void **state)
{
	char a[64], b[64], c[64];
	char longid[] = "0123456789abcdef0123456789abcdef0123456789abcdef"
			"0123456789abcdef";

	(void)state;
	nsf_cni_endpoint_name(longid, "eth0", a);
	nsf_cni_endpoint_name(longid, "eth1", b);
	assert_true(nsf_valid_name(a));
	assert_string_not_equal(a, b);
	assert_memory_equal(a, "cni-0123456789ab-eth0-", 22);
	longid[63] = '0'; /* differs only past the readable prefix */
	nsf_cni_endpoint_name(longid, "eth0", c);
	assert_string_not_equal(a, c);
	nsf_cni_endpoint_name("x.y", "net@1", a);
	assert_true(nsf_valid_name(a));
	/* Stable: DEL must find what ADD made. */
	nsf_cni_endpoint_name("x.y", "net@1", b);
	assert_string_equal(a, b);
}

/* ---- IPAM over a real on-disk pool ---- */

struct fx {
	char dir[64];
	struct nsf_pool pool;
	struct nsf_cidr4 pod;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/nsf-unit-cni-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	f->pod = (struct nsf_cidr4){ IP(10, 5, 0, 0), 16 };
	if (nsf_pool_init_cidr(&f->pool, f->dir, &f->pod))
		return -1;
	*state = f;
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
	struct fx *f = *state;
	int err = nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);

	free(f);
	return err ? -1 : 0;
}

static struct nsf_cni_ipam two_ranges(void)
{
	struct nsf_cni_ipam ipam = { 0 };

	/* .1-.4 with gateway .1 and .3 excluded, then 10.5.1.8-.9 */
	ipam.nranges = 2;
	ipam.ranges[0] = (struct nsf_cni_range){ { IP(10, 5, 0, 0), 24 },
						 IP(10, 5, 0, 1),
						 IP(10, 5, 0, 4),
						 IP(10, 5, 0, 1) };
	ipam.ranges[1] = (struct nsf_cni_range){
		{ IP(10, 5, 1, 0), 24 }, IP(10, 5, 1, 8), IP(10, 5, 1, 9), 0
	};
	ipam.nexclude = 1;
	ipam.exclude[0] = (struct nsf_cidr4){ IP(10, 5, 0, 3), 32 };
	return ipam;
}

static void test_alloc_ranges(void **state)
{
	struct fx *f = *state;
	struct nsf_cni_ipam ipam = two_ranges();
	struct nsf_cni_err e = { 0 };
	const uint32_t want[] = { IP(10, 5, 0, 2), IP(10, 5, 0, 4),
				  IP(10, 5, 1, 8), IP(10, 5, 1, 9) };
	uint32_t a;

	assert_int_equal(nsf_cni_ipam_fit(&ipam, &f->pod, &e), 0);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(
			nsf_cni_ipam_alloc(&ipam, &f->pool, 0, "o", &a, &e), 0);
		assert_int_equal(a, want[i]);
	}
	assert_int_equal(nsf_cni_ipam_alloc(&ipam, &f->pool, 0, "o", &a, &e),
			 -1);
	assert_int_equal(e.code, NSF_CNI_E_IPAM_FULL);
	/* Freed in the first range: next-fit wraps around to it. */
	assert_int_equal(nsf_pool_release(&f->pool, IP(10, 5, 0, 2)), 0);
	assert_int_equal(nsf_cni_ipam_alloc(&ipam, &f->pool, 0, "o", &a, &e),
			 0);
	assert_int_equal(a, IP(10, 5, 0, 2));
}

/* STATUS's question: is any address of the ranges free? Gateways and
 * excluded addresses do not count. */
static void test_has_free(void **state)
{
	struct fx *f = *state;
	struct nsf_cni_ipam ipam = two_ranges();
	struct nsf_cni_err e = { 0 };
	uint32_t a;

	for (size_t i = 0; i < 3; i++) {
		assert_true(nsf_cni_ipam_has_free(&ipam, &f->pool));
		assert_int_equal(
			nsf_cni_ipam_alloc(&ipam, &f->pool, 0, "o", &a, &e), 0);
	}
	assert_true(nsf_cni_ipam_has_free(&ipam, &f->pool));
	assert_int_equal(nsf_cni_ipam_alloc(&ipam, &f->pool, 0, "o", &a, &e),
			 0);
	assert_false(nsf_cni_ipam_has_free(&ipam, &f->pool));
	assert_int_equal(nsf_pool_release(&f->pool, IP(10, 5, 1, 9)), 0);
	assert_true(nsf_cni_ipam_has_free(&ipam, &f->pool));
}

static void test_alloc_next_fit(void **state)
{
	struct fx *f = *state;
	struct nsf_cni_ipam ipam = two_ranges();
	struct nsf_cni_err e = { 0 };
	uint32_t a, b;

	assert_int_equal(nsf_cni_ipam_alloc(&ipam, &f->pool, 0, "o", &a, &e),
			 0);
	assert_int_equal(nsf_pool_release(&f->pool, a), 0);
	assert_int_equal(nsf_cni_ipam_alloc(&ipam, &f->pool, 0, "o", &b, &e),
			 0);
	assert_int_not_equal(a, b); /* not reused at once */
	assert_int_equal(b, IP(10, 5, 0, 4));
}

static void test_alloc_wanted(void **state)
{
	struct fx *f = *state;
	struct nsf_cni_ipam ipam = two_ranges();
	struct nsf_cni_err e = { 0 };
	char owner[NSF_OWNER_MAX];
	uint32_t a;

	assert_int_equal(nsf_cni_ipam_alloc(&ipam, &f->pool, IP(10, 5, 1, 9),
					    "me", &a, &e),
			 0);
	assert_int_equal(a, IP(10, 5, 1, 9));
	assert_int_equal(nsf_pool_owner(&f->pool, a, owner, sizeof(owner)), 0);
	assert_string_equal(owner, "me");
	assert_int_equal(nsf_cni_ipam_alloc(&ipam, &f->pool, IP(10, 5, 1, 9),
					    "you", &a, &e),
			 -1);
	assert_int_equal(e.code, NSF_CNI_E_ADDR_TAKEN);
	assert_int_equal(nsf_cni_ipam_alloc(&ipam, &f->pool, IP(10, 5, 0, 3),
					    "you", &a, &e),
			 -1); /* excluded */
	assert_int_equal(e.code, NSF_CNI_E_CONFIG);
	assert_int_equal(nsf_cni_ipam_alloc(&ipam, &f->pool, IP(10, 5, 2, 1),
					    "you", &a, &e),
			 -1); /* outside the ranges */
	assert_int_equal(e.code, NSF_CNI_E_CONFIG);
}

static void test_fit(void **state)
{
	struct fx *f = *state;
	struct nsf_cni_ipam ipam = { 0 };
	struct nsf_cni_err e = { 0 };

	assert_int_equal(nsf_cni_ipam_fit(&ipam, &f->pod, &e), 0);
	assert_int_equal(ipam.nranges, 1); /* the whole pod CIDR */
	assert_int_equal(ipam.ranges[0].start, IP(10, 5, 0, 1));
	assert_int_equal(ipam.ranges[0].end, IP(10, 5, 255, 254));
	ipam.ranges[0] = (struct nsf_cni_range){
		{ IP(10, 6, 0, 0), 24 }, IP(10, 6, 0, 1), IP(10, 6, 0, 254), 0
	};
	assert_int_equal(nsf_cni_ipam_fit(&ipam, &f->pod, &e), -1);
	assert_int_equal(e.code, NSF_CNI_E_CONFIG);
}

static void test_alloc_in_bounds(void **state)
{
	struct fx *f = *state;
	uint32_t v;

	/* The network address is not in the pool. */
	assert_int_equal(nsf_pool_alloc_in(&f->pool, IP(10, 5, 0, 0),
					   IP(10, 5, 0, 9), NULL, NULL, "o",
					   &v),
			 -ERANGE);
	assert_int_equal(nsf_pool_alloc_in(&f->pool, IP(10, 5, 0, 9),
					   IP(10, 5, 0, 8), NULL, NULL, "o",
					   &v),
			 -ERANGE);
	assert_int_equal(nsf_pool_alloc_in(&f->pool, IP(10, 5, 0, 9),
					   IP(10, 5, 0, 9), NULL, NULL, "o",
					   &v),
			 0);
	assert_int_equal(nsf_pool_alloc_in(&f->pool, IP(10, 5, 0, 9),
					   IP(10, 5, 0, 9), NULL, NULL, "o",
					   &v),
			 -ENOSPC);
}

/* natPorts and init --nat-ports: one range or two, apart, 1024-65535. */
static void test_nat_ports(void **state)
{
	static const char *const bad[] = {
		"",
		"1024",
		"1024-",
		"-2000",
		"2000-1024",
		"80-90",
		"1024-65536",
		"1024-2000,",
		"1024-2000,3000",
		"1024-2000;3000-4000",
		"1024-2000,1500-3000",
		"3000-4000,1024-3000",
		" 1024-2000",
		"1024-2000 ",
		"+1024-2000",
		"1024--2000",
	};
	uint16_t r[4];

	(void)state;
	assert_int_equal(nsf_nat_ports_parse("1024-32767", r), 0);
	assert_int_equal(r[0], 1024);
	assert_int_equal(r[1], 32767);
	assert_int_equal(r[2], 0);
	assert_int_equal(r[3], 0);
	assert_int_equal(nsf_nat_ports_parse("1024-32767,61000-65535", r), 0);
	assert_int_equal(r[2], 61000);
	assert_int_equal(r[3], 65535);
	/* Either order, as long as they are apart; single ports too. */
	assert_int_equal(nsf_nat_ports_parse("61000-61000,1024-1024", r), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (nsf_nat_ports_parse(bad[i], r) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	}
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_legacy_subnet_and_delegate),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_range_errors),
		cmocka_unit_test(test_portmap_errors),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_endpoint_name),
		cmocka_unit_test(test_nat_ports),
		T(test_alloc_ranges),
		T(test_alloc_next_fit),
		T(test_has_free),
		T(test_alloc_wanted),
		T(test_fit),
		T(test_alloc_in_bounds),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
