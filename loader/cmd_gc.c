// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nsfast gc [--interval SEC] [--tcp-timeout S] [--udp-timeout S]
 * [--icmp-timeout S]: first remove endpoints whose veth or namespace is
 * gone and what dead attaches left (loader/recover.c), then expired NAT
 * flows, once or every SEC seconds until stopped (SIGINT/SIGTERM).
 * Timeouts default to nf_conntrack's.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "commands.h"
#include "maps.h"
#include "nat.h"
#include "recover.h"

#define USAGE                                                  \
	"usage: nsfast gc [--interval SEC] [--tcp-timeout S] " \
	"[--udp-timeout S] [--icmp-timeout S]"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v > 100000000ul)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_args(int argc, char **argv, uint32_t *interval,
		      struct nsf_nat_timeouts *t)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "tcp-timeout", required_argument, NULL, 't' },
		{ "udp-timeout", required_argument, NULL, 'u' },
		{ "icmp-timeout", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	bool udp_given = false;
	uint32_t *target;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			target = interval;
			break;
		case 't':
			target = &t->tcp_established;
			break;
		case 'u':
			target = &t->udp;
			udp_given = true;
			break;
		case 'c':
			target = &t->icmp;
			break;
		default:
			target = NULL;
		}
		if (!target || parse_u32(optarg, target))
			return nsf_fail(0, "bad option '%s' (%s)",
					argv[optind - 1], USAGE);
	}
	if (optind != argc)
		return nsf_fail(0, "unexpected argument '%s'", argv[optind]);
	/* --udp-timeout covers unreplied and replied UDP alike. */
	if (udp_given)
		t->udp_stream = t->udp;
	return 0;
}

/* Endpoints: stale ones, half-made ones, what nobody owns (host lock). */
static int gc_endpoints(struct nsf_host *h)
{
	struct nsf_ep_gc_result r;
	int err = nsf_ep_gc(h, &r);

	if (!err)
		printf("nsfast: gc: endpoints: %u stale, %u half-attached, %u "
		       "allocations, %u map entries removed\n",
		       r.stale, r.half_made, r.addresses, r.map_entries);
	nsf_host_close(h); /* the NAT passes need no lock */
	return err;
}

static int gc_pass(const struct nsf_maps *maps,
		   const struct nsf_nat_timeouts *t)
{
	struct nsf_nat_gc_result res;
	int err = nsf_nat_gc(maps->nat4, t, &res);

	if (!err)
		printf("nsfast: gc: %" PRIu64 " flows, %" PRIu64
		       " expired, %" PRIu64 " orphaned entries removed\n",
		       res.flows, res.expired, res.orphans);
	fflush(stdout);
	return err;
}

int cmd_gc(int argc, char **argv)
{
	struct nsf_maps maps = NSF_MAPS_CLOSED;
	struct nsf_nat_timeouts t;
	uint32_t interval = 0;
	struct nsf_host h = { .lock_fd = -1 };
	int err;

	nsf_nat_default_timeouts(&t);
	err = parse_args(argc, argv, &interval, &t);
	if (!err)
		err = cli_host_open(&h, true, false);
	if (!err)
		err = gc_endpoints(&h);
	if (!err)
		err = nsf_maps_open(&h, &maps);
	if (!err)
		err = gc_pass(&maps, &t);
	if (!err && interval) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		while (!err && !stop) {
			sleep(interval);
			if (!stop)
				err = gc_pass(&maps, &t);
		}
	}
	nsf_maps_close(&maps);
	if (err) {
		nsf_report("gc");
		return 1;
	}
	return 0;
}
