/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Port publishing (`nsfast publish`, CNI runtimeConfig.portMappings): a
 * port of the uplink (SNAT) address forwarded to a pod's address and port.
 * The datapath side is bpf/lib/publish.h; here: validation, the map
 * nsf_publish4, the record <state>/publish.json (what `init` restores),
 * and the host-access program on lo. Callers hold the host lock.
 */
#ifndef NSF_PUBLISH_H
#define NSF_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "state.h"

struct nsf_publish {
	uint8_t proto;	    /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t host_port; /* port of the uplink address, host order */
	uint32_t pod_ip;    /* pod address, network order */
	uint16_t pod_port;  /* host order */
	char owner[NSF_NAME_MAX + 1]; /* endpoint name; removed with it */
};

/*
 * Publish @p. Refused: no uplink, a port 0, a host port inside the host's
 * ip_local_port_range (its own connections' ports), a host port already
 * published to something else or held by a listening socket of the
 * host, an owner that is not an endpoint or whose address is not
 * @p->pod_ip. The same mapping again only writes its map entry again
 * (a retried CNI ADD, an add killed after its record was saved).
 */
int nsf_publish_add(const struct nsf_host *h, const struct nsf_publish *p);
/* Remove the mapping of @p->proto/@p->host_port (-ENOENT if none) and
 * the NAT flows it made. */
int nsf_publish_del(const struct nsf_host *h, const struct nsf_publish *p);
/* Remove every mapping of endpoint @endpoint (none is fine). */
int nsf_publish_del_owner(const struct nsf_host *h, const char *endpoint);
/* All mappings, sorted by protocol and port; free(*list). */
int nsf_publish_list(const struct nsf_host *h, struct nsf_publish **list,
		     size_t *count);

/* Before `init` applies @cfg: refuse dropping the uplink while ports are
 * published. */
int nsf_publish_check(const struct nsf_host *h,
		      const struct nsf_host_config *cfg);
/* After `init` loaded the programs: write every recorded mapping into
 * the map again and put the host-access program on lo (or take it off
 * without an uplink). */
int nsf_publish_restore(const struct nsf_host *h,
			const struct nsf_host_config *cfg);
/* Take the host-access program off lo (reset). */
int nsf_publish_teardown(const struct nsf_host *h);

const char *nsf_proto_name(uint8_t proto);
/* "tcp" or "udp"; -EINVAL otherwise. */
int nsf_proto_parse(const char *s, uint8_t *proto);

#endif /* NSF_PUBLISH_H */
