// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "addr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Parse one decimal part of at most @max, advancing *s. */
static int parse_dec(const char **s, unsigned int max, unsigned int *out)
{
	const char *p = *s;
	unsigned int v = 0;
	int digits = 0;

	while (*p >= '0' && *p <= '9') {
		if (digits > 0 && v == 0)
			return -EINVAL; /* leading zero */
		v = v * 10 + (unsigned int)(*p - '0');
		if (v > max)
			return -EINVAL;
		p++;
		digits++;
	}
	if (digits == 0)
		return -EINVAL;
	*s = p;
	*out = v;
	return 0;
}

static int parse_ipv4_prefix(const char **s, uint32_t *addr)
{
	uint32_t a = 0;

	for (int i = 0; i < 4; i++) {
		unsigned int part;

		if (i > 0 && *(*s)++ != '.')
			return -EINVAL;
		if (parse_dec(s, 255, &part))
			return -EINVAL;
		a = (a << 8) | part;
	}
	*addr = a;
	return 0;
}

int nsf_parse_ipv4(const char *s, uint32_t *addr)
{
	if (parse_ipv4_prefix(&s, addr) || *s != '\0')
		return -EINVAL;
	return 0;
}

uint32_t nsf_cidr4_mask(uint8_t prefix)
{
	return prefix == 0 ? 0 : ~0u << (32 - prefix);
}

int nsf_parse_cidr4(const char *s, struct nsf_cidr4 *cidr, bool allow_host_bits)
{
	unsigned int prefix;
	uint32_t addr;

	if (parse_ipv4_prefix(&s, &addr) || *s++ != '/')
		return -EINVAL;
	if (parse_dec(&s, 32, &prefix) || *s != '\0')
		return -EINVAL;
	if (!allow_host_bits && (addr & ~nsf_cidr4_mask((uint8_t)prefix)))
		return -EINVAL;
	cidr->prefix = (uint8_t)prefix;
	cidr->net = addr & nsf_cidr4_mask(cidr->prefix);
	return 0;
}

void nsf_format_ipv4(uint32_t addr, char out[NSF_ADDR_STRLEN])
{
	snprintf(out, NSF_ADDR_STRLEN, "%u.%u.%u.%u", addr >> 24,
		 (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff);
}

void nsf_format_cidr4(const struct nsf_cidr4 *cidr, char out[NSF_CIDR_STRLEN])
{
	char a[NSF_ADDR_STRLEN];

	nsf_format_ipv4(cidr->net, a);
	snprintf(out, NSF_CIDR_STRLEN, "%s/%u", a, cidr->prefix);
}

bool nsf_cidr4_contains(const struct nsf_cidr4 *cidr, uint32_t addr)
{
	return (addr & nsf_cidr4_mask(cidr->prefix)) == cidr->net;
}

uint32_t nsf_cidr4_last(const struct nsf_cidr4 *cidr)
{
	return cidr->net | ~nsf_cidr4_mask(cidr->prefix);
}

bool nsf_cidr4_assignable(const struct nsf_cidr4 *cidr, uint32_t addr)
{
	if (!nsf_cidr4_contains(cidr, addr))
		return false;
	if (cidr->prefix <= 30 &&
	    (addr == cidr->net || addr == nsf_cidr4_last(cidr)))
		return false;
	return true;
}

bool nsf_cidr4_overlap(const struct nsf_cidr4 *a, const struct nsf_cidr4 *b)
{
	uint32_t mask =
		nsf_cidr4_mask(a->prefix < b->prefix ? a->prefix : b->prefix);

	return (a->net & mask) == (b->net & mask);
}

/* Ranges no pod address may come from: a pod given one could not be
 * reached, or would be taken for something else. */
static const struct {
	struct nsf_cidr4 range;
	const char *what;
} reserved[] = {
	{ { 0x00000000, 8 }, "0.0.0.0/8 (this network)" },
	{ { 0x7f000000, 8 }, "127.0.0.0/8 (loopback)" },
	{ { 0xa9fe0000, 16 },
	  "169.254.0.0/16 (link-local, where the pods' gateway is)" },
	{ { 0xe0000000, 4 }, "224.0.0.0/4 (multicast)" },
	{ { 0xf0000000, 4 },
	  "240.0.0.0/4 (reserved, with the broadcast 255.255.255.255)" },
};

const char *nsf_cidr4_reserved(const struct nsf_cidr4 *cidr)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (nsf_cidr4_overlap(cidr, &reserved[i].range))
			return reserved[i].what;
	return NULL;
}

void nsf_format_mac(const uint8_t mac[6], char out[NSF_MAC_STRLEN])
{
	snprintf(out, NSF_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
		 mac[1], mac[2], mac[3], mac[4], mac[5]);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Strictly "xx:xx:xx:xx:xx:xx", two hex digits each, as nsf_format_mac(). */
int nsf_parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[0]), lo = hi < 0 ? -1 : hex_digit(s[1]);

		if (lo < 0 || s[2] != (i < 5 ? ':' : '\0'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
		s += 3;
	}
	return 0;
}
