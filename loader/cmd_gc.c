// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nsfast gc [--interval SEC] [--tcp-timeout S] [--udp-timeout S]
 * [--icmp-timeout S]: first remove endpoints whose veth or namespace is
 * gone and what dead attaches left (loader/recover.c), then expired NAT
 * flows, once or every SEC seconds until stopped (SIGINT/SIGTERM),
 * following a reset and a new init (each pass checks which NAT map is
 * pinned). Timeouts default to nf_conntrack's.
 */
#include <bpf/bpf.h>
#include <ctype.h>
#include <errno.h>
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

	/* Digits only: strtoul also takes " 5", "+5" and "-0". */
	if (!isdigit((unsigned char)*s) || *end || v > 100000000ul)
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
	int c, idx = 0;

	while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
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
			return nsf_bad_option(opts, argv, optind, USAGE);
		}
		if (parse_u32(optarg, target))
			return nsf_usage("invalid --%s '%s' (seconds, 0 to "
					 "100000000)",
					 opts[idx].name, optarg);
	}
	if (optind != argc)
		return nsf_usage("unexpected argument '%s' (%s)", argv[optind],
				 USAGE);
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

static int gc_pass(int nat_fd, const struct nsf_nat_timeouts *t)
{
	struct nsf_nat_gc_result res;
	int err = nsf_nat_gc(nat_fd, t, &res);

	if (!err)
		printf("nsfast: gc: %" PRIu64 " flows, %" PRIu64
		       " expired, %" PRIu64 " orphaned entries removed\n",
		       res.flows, res.expired, res.orphans);
	fflush(stdout);
	return err;
}

static uint32_t map_id(int fd)
{
	struct bpf_map_info info = { 0 };
	uint32_t len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/*
 * The NAT map pinned now: @nat_fd if it still is (a reset and a new init
 * replace it, and collecting the old one would do nothing), else the new
 * one, or -1 with a message once if the host has no map (reset, not yet
 * initialised again): a daemon waits for the next init.
 */
static int current_nat(const struct nsf_host *h, int nat_fd, bool *gone)
{
	int fd = nsf_map_open(h, NSF_MAP_NAT4);

	if (fd < 0) {
		nsf_clear_error();
		if (!*gone) {
			printf("nsfast: gc: no NAT map (host reset?), waiting "
			       "for nsfast init\n");
			fflush(stdout);
		}
		*gone = true;
		if (nat_fd >= 0)
			close(nat_fd);
		return -1;
	}
	if (nat_fd >= 0 && map_id(fd) == map_id(nat_fd)) {
		close(fd);
		return nat_fd;
	}
	if (nat_fd >= 0 || *gone)
		printf("nsfast: gc: the NAT map was replaced (new init), "
		       "collecting the new one\n");
	*gone = false;
	if (nat_fd >= 0)
		close(nat_fd);
	return fd;
}

int cmd_gc(int argc, char **argv)
{
	struct nsf_maps maps = NSF_MAPS_CLOSED;
	struct nsf_nat_timeouts t;
	uint32_t interval = 0;
	struct nsf_host h = { .lock_fd = -1 };
	bool gone = false;
	int err, nat_fd = -1;

	nsf_nat_default_timeouts(&t);
	err = parse_args(argc, argv, &interval, &t);
	if (!err)
		err = cli_host_open(&h, true, false);
	if (!err)
		err = gc_endpoints(&h);
	if (!err)
		err = nsf_maps_open(&h, &maps);
	if (!err) {
		/* Only the NAT map is needed from here on. */
		nat_fd = dup(maps.nat4);
		if (nat_fd < 0)
			err = nsf_fail(errno, "map %s", NSF_MAP_NAT4);
	}
	nsf_maps_close(&maps);
	if (!err)
		err = gc_pass(nat_fd, &t);
	if (!err && interval) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		while (!err && !stop) {
			sleep(interval);
			if (stop)
				break;
			nat_fd = current_nat(&h, nat_fd, &gone);
			if (nat_fd >= 0)
				err = gc_pass(nat_fd, &t);
		}
	}
	if (nat_fd >= 0)
		close(nat_fd);
	if (err) {
		nsf_report("gc");
		return nsf_exit_status();
	}
	return 0;
}
