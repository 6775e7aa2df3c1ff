// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nsfast init: load the programs and pin them with their maps, and set up
 * the uplink if one is given. Re-running it reloads the programs (e.g.
 * after an upgrade) and swaps them in on every endpoint and the uplink,
 * keeping the maps, so endpoints, counters and NAT flows survive. Options
 * not given on a re-run keep their previous values.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nsfast/maps.h>

#include "commands.h"
#include "nat.h"
#include "sysfs.h"
#include "policy.h"
#include "endpoint.h"
#include "maps.h"
#include "publish.h"
#include "routes.h"
#include "recover.h"
#include "uplink.h"

#define USAGE                                                                 \
	"usage: nsfast init [--pod-cidr CIDR] [--uplink IFACE|--no-uplink] "  \
	"[--snat-ip ADDR] [--xdp-mode auto|native|generic|off] [--nat-ports " \
	"MIN-MAX[,MIN-MAX]] [--nat-entries N]"

struct init_args {
	const char *pod_cidr;
	const char *uplink;
	bool no_uplink;
	const char *snat_ip;
	const char *xdp_mode;
	const char *nat_ports;
	const char *nat_entries;
};

static int count_endpoint(const struct nsf_ep_rec *rec, void *arg)
{
	(void)rec;
	(*(int *)arg)++;
	return 0;
}

/* A pod CIDR can change only while no endpoint holds an address from it. */
static int check_cidr_change(const struct nsf_host *h,
			     const struct nsf_host_config *old,
			     const struct nsf_host_config *new)
{
	char cidr[NSF_CIDR_STRLEN];
	int n = 0, err;

	if (old->pod_cidr.net == new->pod_cidr.net &&
	    old->pod_cidr.prefix == new->pod_cidr.prefix)
		return 0;
	err = nsf_ep_foreach(h, count_endpoint, &n);
	if (err)
		return err;
	nsf_format_cidr4(&old->pod_cidr, cidr);
	if (n)
		return nsf_fail(0,
				"pod CIDR is %s with %d endpoint(s) attached "
				"(detach them or reset first)",
				cidr, n);
	return 0;
}

struct reattach_ctx {
	const struct nsf_host *h;
	int prog_fd;
};

static int reattach_one(const struct nsf_ep_rec *rec, void *arg)
{
	struct reattach_ctx *ctx = arg;

	/* A pod whose veth vanished must not block init: say so, go on. */
	if (nsf_endpoint_reattach(ctx->h, ctx->prog_fd, rec))
		nsf_report("init: endpoint %s (run 'nsfast detach %s')",
			   rec->name, rec->name);
	nsf_fault("init-reattach");
	return 0;
}

static int reattach_all(const struct nsf_host *h)
{
	struct reattach_ctx ctx = { .h = h };
	int err;

	ctx.prog_fd = nsf_dp_prog_fd(h, NSF_PROG_FROM_POD);
	if (ctx.prog_fd < 0)
		return ctx.prog_fd;
	err = nsf_ep_foreach(h, reattach_one, &ctx);
	close(ctx.prog_fd);
	return err;
}

static int configure(const struct nsf_host *h, struct nsf_host_config *cfg)
{
	struct nsf_maps maps;
	int err;

	err = nsf_dp_load(h, cfg);
	nsf_fault("init-load");
	if (!err)
		err = nsf_maps_open(h, &maps);
	if (err)
		return err;
	err = nsf_maps_write_config(&maps, cfg);
	nsf_maps_close(&maps);
	/* Saved before the uplink is touched too, so that whatever happens
	 * to this process, reset knows which uplink to clean. */
	if (!err && cfg->uplink[0])
		err = nsf_config_save(h, cfg);
	nsf_fault("init-config");
	if (!err && cfg->uplink[0])
		err = nsf_uplink_attach(h, cfg);
	nsf_fault("init-uplink");
	if (!err)
		err = nsf_config_save(h, cfg);
	/* The attach journal is part of the host's state from the start,
	 * so a failed attach leaves no new file behind. */
	if (!err)
		err = nsf_pending_init(h);
	nsf_fault("init-saved");
	if (!err)
		err = reattach_all(h);
	if (!err)
		err = nsf_route_restore(h);
	if (!err)
		err = nsf_publish_restore(h, cfg);
	if (!err)
		err = nsf_policy_sync_host(h);
	return err;
}

static int parse_ports(const char *s, struct nsf_host_config *cfg)
{
	uint16_t r[4];

	if (nsf_nat_ports_parse(s, r))
		return -EINVAL;
	cfg->nat_port_min = r[0];
	cfg->nat_port_max = r[1];
	cfg->nat_port_min2 = r[2];
	cfg->nat_port_max2 = r[3];
	return 0;
}

/*
 * A new host's second port range: from above the host's ephemeral range
 * (ip_local_port_range, 32768-60999 by default) to 65535, 4,536 more
 * ports per destination next to the default 1024-32767. None when the
 * host's range reaches 65535 or the first range lies above it.
 */
static void default_second_range(struct nsf_host_config *cfg)
{
	unsigned int lo, hi;

	if (nsf_local_port_range(&lo, &hi) || hi >= 65535 ||
	    hi < cfg->nat_port_max)
		return;
	cfg->nat_port_min2 = (uint16_t)(hi + 1);
	cfg->nat_port_max2 = 65535;
}

static int parse_args(int argc, char **argv, struct init_args *a)
{
	static const struct option opts[] = {
		{ "pod-cidr", required_argument, NULL, 'c' },
		{ "uplink", required_argument, NULL, 'u' },
		{ "no-uplink", no_argument, NULL, 'U' },
		{ "snat-ip", required_argument, NULL, 's' },
		{ "xdp-mode", required_argument, NULL, 'x' },
		{ "nat-ports", required_argument, NULL, 'p' },
		{ "nat-entries", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->pod_cidr = optarg;
			break;
		case 'u':
			a->uplink = optarg;
			break;
		case 'U':
			a->no_uplink = true;
			break;
		case 's':
			a->snat_ip = optarg;
			break;
		case 'x':
			a->xdp_mode = optarg;
			break;
		case 'p':
			a->nat_ports = optarg;
			break;
		case 'e':
			a->nat_entries = optarg;
			break;
		default:
			return nsf_bad_option(opts, argv, optind, USAGE);
		}
	}
	if (optind != argc)
		return nsf_usage("unexpected argument '%s' (%s)", argv[optind],
				 USAGE);
	if (a->uplink && a->no_uplink)
		return nsf_usage("--uplink and --no-uplink exclude each other");
	return 0;
}

static int apply_cidr(const struct init_args *a, struct nsf_host_config *cfg)
{
	if (!a->pod_cidr)
		return 0;
	if (nsf_parse_cidr4(a->pod_cidr, &cfg->pod_cidr, false))
		return nsf_usage("invalid pod CIDR '%s' (want a.b.c.d/len with "
				 "no host bits)",
				 a->pod_cidr);
	if (cfg->pod_cidr.prefix < 8 || cfg->pod_cidr.prefix > 30)
		return nsf_usage("pod CIDR %s: prefix must be /8 to /30",
				 a->pod_cidr);
	return 0;
}

/* Pods must get addresses nothing else uses: not a special range (their
 * gateway is link-local), not the address the host masquerades to. */
static int check_pod_cidr(const struct nsf_host_config *cfg)
{
	char cidr[NSF_CIDR_STRLEN], snat[NSF_ADDR_STRLEN];
	const char *what = nsf_cidr4_reserved(&cfg->pod_cidr);

	nsf_format_cidr4(&cfg->pod_cidr, cidr);
	if (what)
		return nsf_fail(0, "pod CIDR %s overlaps %s", cidr, what);
	if (cfg->uplink[0] && nsf_cidr4_contains(&cfg->pod_cidr, cfg->snat)) {
		nsf_format_ipv4(cfg->snat, snat);
		return nsf_fail(0,
				"pod CIDR %s holds %s, the uplink %s's address "
				"pods are masqueraded to",
				cidr, snat, cfg->uplink);
	}
	return 0;
}

/* The pinned NAT table keeps its size: loading the programs against it
 * with another would fail with a bare EINVAL from libbpf. */
static int check_nat_resize(const struct nsf_host_config *old,
			    const struct nsf_host_config *cfg)
{
	if (old->nat_entries == cfg->nat_entries)
		return 0;
	return nsf_fail(0,
			"--nat-entries %u: the NAT table of an initialised "
			"host has %u entries and cannot be resized; 'nsfast "
			"reset' first",
			cfg->nat_entries, old->nat_entries);
}

/* Options given on this run, merged over the saved (or default) config. */
static int apply_args(const struct init_args *a, struct nsf_host_config *cfg)
{
	unsigned long n;
	char *end;
	int err = apply_cidr(a, cfg);

	if (err)
		return err;
	if (a->xdp_mode && nsf_xdp_mode_parse(a->xdp_mode, &cfg->xdp_mode))
		return nsf_usage("invalid --xdp-mode '%s' (auto, native, "
				 "generic or off)",
				 a->xdp_mode);
	if (a->nat_ports && parse_ports(a->nat_ports, cfg))
		return nsf_usage("invalid --nat-ports '%s' (MIN-MAX or "
				 "MIN-MAX,MIN-MAX within 1024-65535, apart)",
				 a->nat_ports);
	if (a->nat_entries) {
		n = strtoul(a->nat_entries, &end, 10);
		if (*end || n < 1024 || n > (1ul << 25))
			return nsf_usage("invalid --nat-entries '%s' (1024 "
					 "to 33554432)",
					 a->nat_entries);
		cfg->nat_entries = (uint32_t)n;
	}
	if (a->no_uplink)
		cfg->uplink[0] = '\0';
	if (a->uplink &&
	    !nsf_strlcpy(cfg->uplink, a->uplink, sizeof(cfg->uplink)))
		return nsf_usage("invalid uplink name '%s'", a->uplink);
	if (a->snat_ip && !cfg->uplink[0])
		return nsf_usage("--snat-ip needs an uplink");
	if (cfg->uplink[0] && (a->uplink || a->snat_ip || cfg->snat_learned))
		return nsf_uplink_resolve(cfg, a->snat_ip);
	return 0;
}

static void print_result(const struct nsf_host *h,
			 const struct nsf_host_config *cfg, bool fresh)
{
	char cidr[NSF_CIDR_STRLEN], snat[NSF_ADDR_STRLEN];

	nsf_format_cidr4(&cfg->pod_cidr, cidr);
	printf("nsfast: host %s %s: pod CIDR %s", h->id,
	       fresh ? "initialised" : "reloaded", cidr);
	if (cfg->uplink[0]) {
		nsf_format_ipv4(cfg->snat, snat);
		printf(", uplink %s (%s, %s) masquerading to %s", cfg->uplink,
		       cfg->uplink_tc ? "tc" : "xdp",
		       nsf_xdp_mode_name(cfg->xdp_mode), snat);
	}
	printf(", pins in %s\n", h->pin_dir);
}

/* Take the uplink programs off an uplink this run no longer uses. */
static int drop_old_uplink(const struct nsf_host_config *old,
			   const struct nsf_host_config *cfg)
{
	if (!old->uplink[0] || !strcmp(old->uplink, cfg->uplink))
		return 0;
	return nsf_uplink_detach(old);
}

/* The saved config, or the defaults for a host not initialised yet. */
static int load_or_default(const struct nsf_host *h,
			   struct nsf_host_config *cfg, bool *fresh)
{
	int err = nsf_config_load(h, cfg);

	*fresh = err == -ENOENT;
	if (*fresh) {
		nsf_clear_error();
		nsf_config_defaults(cfg);
		default_second_range(cfg);
	}
	return 0;
}

int cmd_init(int argc, char **argv)
{
	struct nsf_host_config cfg, old = { 0 };
	struct init_args args = { 0 };
	struct nsf_host h;
	bool fresh;
	int err;

	err = parse_args(argc, argv, &args);
	if (!err)
		err = nsf_host_open(&h);
	if (!err)
		err = nsf_host_check_bpffs(&h);
	if (err) {
		nsf_report("init");
		return nsf_exit_status();
	}
	/* Whether this run makes the host is decided under the lock: an init
	 * that waited on another's lock finds its config, and a failure
	 * then must not undo what the other made. */
	fresh = false;
	err = nsf_host_lock_create(&h);
	if (!err)
		err = load_or_default(&h, &old, &fresh);
	cfg = old;
	if (!err)
		err = apply_args(&args, &cfg);
	if (!err)
		err = check_pod_cidr(&cfg);
	if (!err && !fresh)
		err = check_nat_resize(&old, &cfg);
	if (!err && !fresh)
		err = check_cidr_change(&h, &old, &cfg);
	if (!err && !fresh)
		err = nsf_route_check(&h, &cfg);
	if (!err && !fresh)
		err = nsf_publish_check(&h, &cfg);
	if (!err && !fresh)
		err = drop_old_uplink(&old, &cfg);
	if (!err)
		err = configure(&h, &cfg);
	if (err) {
		nsf_report("init");
		err = nsf_exit_status(); /* before the cleanup records more */
		/* A first init that failed leaves nothing behind. */
		if (fresh) {
			nsf_uplink_detach(&cfg);
			nsf_publish_teardown(&h); /* lo, from its record */
			nsf_dp_unpin(&h);
			nsf_host_remove_state(&h);
		}
		nsf_host_close(&h);
		return err;
	}
	print_result(&h, &cfg, fresh);
	nsf_host_close(&h);
	return 0;
}
