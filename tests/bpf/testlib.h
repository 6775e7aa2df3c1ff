/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Helpers shared by the BPF program tests (the .c files here) and the datapath
 * fuzzer (tests/fuzz/): the MACs of the private test network, building that
 * network in a namespace of the test's own (shell commands, sysctls, veths)
 * and loading the programs unpinned so that they share one set of maps.
 *
 * Error messages go to TESTLIB_ERROR(fmt, ...), by default stderr; a cmocka
 * suite defines it as print_error before including this header. Everything
 * is static inline so that a file uses what it needs without warnings.
 */
#ifndef NSF_TESTLIB_H
#define NSF_TESTLIB_H

#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>

#ifndef TESTLIB_ERROR
#define TESTLIB_ERROR(...) fprintf(stderr, __VA_ARGS__)
#endif

/*
 * The test network's MACs: pod veths pod0/pod1 (pod side, as a pod's eth0)
 * with host ends pod0p/pod1p, the uplink wan0 with its peer wan0p, and the
 * uplink's gateway (a permanent neighbour entry).
 */
static const uint8_t mac_pod0[ETH_ALEN] = { 0xee, 0xee, 0xee, 0, 0, 0x01 };
static const uint8_t mac_pod0p[ETH_ALEN] = { 0x02, 0, 0x0a, 0xf4, 0, 0x02 };
static const uint8_t mac_pod1[ETH_ALEN] = { 0xee, 0xee, 0xee, 0, 0, 0x02 };
static const uint8_t mac_pod1p[ETH_ALEN] = { 0x02, 0, 0x0a, 0xf4, 0, 0x03 };
static const uint8_t mac_wan0[ETH_ALEN] = { 0x02, 0, 0, 0x63, 0, 0x02 };
static const uint8_t mac_wan0p[ETH_ALEN] = { 0x02, 0, 0, 0x63, 0, 0x01 };
static const uint8_t mac_gw[ETH_ALEN] = { 0x02, 0, 0, 0x63, 0, 0xfe };

/* sh(fmt, ...): run a shell command; 0 if it exited 0, else -1. */
__attribute__((format(printf, 1, 2))) static inline int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc)
		TESTLIB_ERROR("'%s' failed (status %d)\n", cmd, rc);
	return rc ? -1 : 0;
}

/* Write @value to the file @path (a sysctl); 0 or -errno. */
static inline int write_file(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(value, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/* @m as aa:bb:cc:dd:ee:ff, in one of four rotating static buffers. */
static inline const char *mac_str(const uint8_t m[ETH_ALEN])
{
	static char buf[4][18];
	static int n;
	char *s = buf[n++ % 4];

	snprintf(s, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
		 m[4], m[5]);
	return s;
}

/* A veth pair @a <-> @b, with the given MACs unless @mac_a is NULL. */
static inline int veth(const char *a, const uint8_t *mac_a, const char *b,
		       const uint8_t *mac_b)
{
	if (!mac_a)
		return sh("ip link add %s type veth peer name %s", a, b);
	return sh("ip link add %s address %s type veth peer name %s address %s",
		  a, mac_str(mac_a), b, mac_str(mac_b));
}

/* The ifindex of device @name into *@ifindex; 0 or -ENODEV. */
static inline int if_index(const char *name, int *ifindex)
{
	*ifindex = (int)if_nametoindex(name);
	if (!*ifindex) {
		TESTLIB_ERROR("no device %s: %s\n", name, strerror(errno));
		return -ENODEV;
	}
	return 0;
}

/* Load @obj without pins: the test's maps are its own, never shared. */
static inline int unpin_all(struct bpf_object *obj)
{
	struct bpf_map *map;
	int err;

	bpf_object__for_each_map(map, obj) {
		err = bpf_map__set_pin_path(map, NULL);
		if (err)
			return err;
	}
	return 0;
}

/* Give @obj (not loaded yet, unpinned here) the maps of the loaded @from,
 * by name, as pinning by name does for the loader. */
static inline int reuse_maps(struct bpf_object *obj, struct bpf_object *from)
{
	struct bpf_map *map, *src;
	int err;

	err = unpin_all(obj);
	if (err)
		return err;
	bpf_object__for_each_map(map, obj) {
		if (bpf_map__is_internal(map))
			continue;
		src = bpf_object__find_map_by_name(from, bpf_map__name(map));
		if (!src) {
			TESTLIB_ERROR("map %s not in %s\n", bpf_map__name(map),
				      bpf_object__name(from));
			return -ENOENT;
		}
		err = bpf_map__reuse_fd(map, bpf_map__fd(src));
		if (err)
			return err;
	}
	return 0;
}

/* Delete every entry of map @fd; @key is scratch space of its key size. */
static inline int clear_map(int fd, void *key)
{
	while (!bpf_map_get_next_key(fd, NULL, key))
		if (bpf_map_delete_elem(fd, key))
			return -errno;
	return errno == ENOENT ? 0 : -errno;
}

#endif /* NSF_TESTLIB_H */
