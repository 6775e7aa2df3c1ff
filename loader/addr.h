/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* IPv4 addresses and CIDRs. Addresses are kept in host order internally and
 * converted at the map boundary. */
#ifndef NSF_ADDR_H
#define NSF_ADDR_H

#include <stdbool.h>
#include <stdint.h>

#define NSF_ADDR_STRLEN 16 /* "255.255.255.255" */
#define NSF_CIDR_STRLEN 20 /* "255.255.255.255/32" and a margin */

struct nsf_cidr4 {
	uint32_t net;	/* network address, host order, host bits zero */
	uint8_t prefix; /* 0..32 */
};

/* Strict dotted quad: four decimal parts 0..255, no leading '+', no spaces,
 * no leading zeros (which inet_aton would read as octal). */
int nsf_parse_ipv4(const char *s, uint32_t *addr);
/* "a.b.c.d/len". Host bits must be zero unless @allow_host_bits. */
int nsf_parse_cidr4(const char *s, struct nsf_cidr4 *cidr,
		    bool allow_host_bits);
void nsf_format_ipv4(uint32_t addr, char out[NSF_ADDR_STRLEN]);
void nsf_format_cidr4(const struct nsf_cidr4 *cidr, char out[NSF_CIDR_STRLEN]);

uint32_t nsf_cidr4_mask(uint8_t prefix);
bool nsf_cidr4_contains(const struct nsf_cidr4 *cidr, uint32_t addr);
/* Last address of the CIDR (its broadcast address). */
uint32_t nsf_cidr4_last(const struct nsf_cidr4 *cidr);
/* Whether @addr may be given to a pod: inside the CIDR and, for prefixes up
 * to /30, neither the network nor the broadcast address. */
bool nsf_cidr4_assignable(const struct nsf_cidr4 *cidr, uint32_t addr);
bool nsf_cidr4_overlap(const struct nsf_cidr4 *a, const struct nsf_cidr4 *b);
/* The special-purpose range (loopback, link-local, multicast, ...) @cidr
 * overlaps, described, or NULL: pod CIDRs must not. */
const char *nsf_cidr4_reserved(const struct nsf_cidr4 *cidr);

#define NSF_MAC_STRLEN 18 /* "aa:bb:cc:dd:ee:ff" */

void nsf_format_mac(const uint8_t mac[6], char out[NSF_MAC_STRLEN]);
int nsf_parse_mac(const char *s, uint8_t mac[6]);

#endif /* NSF_ADDR_H */
