// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nsfast stats [--json] [--prometheus] [--watch [SEC]]: what the datapath
 * did, for operators: packets and bytes per pod and in total, the share
 * the fast path handled versus the kernel, drops by reason, NAT and
 * connection-state table fill. One cJSON document feeds all outputs.
 */
#include <bpf/bpf.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "maps.h"
#include "util.h"

#define USAGE "usage: nsfast stats [--json | --prometheus] [--watch [SEC]]"

#define REASON_ROW(name, str, kind, help) { str, NSF_KIND_##kind, help },
static const struct {
	const char *name;
	enum nsf_reason_kind kind;
	const char *help;
} reasons[] = { NSF_REASONS(REASON_ROW) };
#undef REASON_ROW

static const char *const kind_names[] = { "fwd", "pass", "drop" };
static const char *const ep_names[NSF_EP_COUNTERS] = {
	[NSF_EP_FROM_POD] = "from_pod",
	[NSF_EP_TO_POD] = "to_pod",
	[NSF_EP_FALLBACK] = "fallback",
	[NSF_EP_DROP] = "drop",
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static cJSON *pkt_bytes(double packets, double bytes)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "packets", packets);
	cJSON_AddNumberToObject(o, "bytes", bytes);
	return o;
}

/* Entries of hash map @fd (walked) and its capacity. */
static cJSON *table_fill(int fd, size_t key_size)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	char key[64], next[64];
	cJSON *o = cJSON_CreateObject();
	void *prev = NULL;
	double n = 0;

	if (key_size <= sizeof(key)) {
		while (fd >= 0 && !bpf_map_get_next_key(fd, prev, next)) {
			n++;
			memcpy(key, next, key_size);
			prev = key;
		}
	}
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		info.max_entries = 0;
	cJSON_AddNumberToObject(o, "entries", n);
	cJSON_AddNumberToObject(o, "capacity", info.max_entries);
	cJSON_AddNumberToObject(o, "fill",
				info.max_entries ? n / info.max_entries : 0);
	return o;
}

/* Whether a monitor has the datapath report events right now. */
static cJSON *monitor_state(const struct nsf_host *h)
{
	int fd = nsf_map_open(h, NSF_MAP_MON_CFG);
	struct nsf_mon_cfg cfg = { 0 };
	cJSON *o = cJSON_CreateObject();
	uint32_t zero = 0;

	nsf_clear_error();
	if (fd >= 0) {
		if (bpf_map_lookup_elem(fd, &zero, &cfg))
			memset(&cfg, 0, sizeof(cfg));
		close(fd);
	}
	/* Past its expiry a killed monitor's flag is still set until a
	 * packet clears it, but nothing is reported any more. */
	cJSON_AddBoolToObject(o, "enabled",
			      cfg.enabled && cfg.expires > nsf_mono_ns());
	return o;
}

struct ep_ctx {
	const struct nsf_maps *maps;
	cJSON *arr;
	int err;
};

static int add_ep(const struct nsf_ep_rec *rec, void *arg)
{
	struct ep_ctx *c = arg;
	char ip[NSF_ADDR_STRLEN];
	struct nsf_ep_stats s;
	cJSON *o = cJSON_CreateObject();

	if (nsf_maps_ep_stats(c->maps, rec->id, &s)) {
		c->err = -EIO;
		memset(&s, 0, sizeof(s));
	}
	nsf_format_ipv4(rec->ip, ip);
	cJSON_AddStringToObject(o, "name", rec->name);
	cJSON_AddStringToObject(o, "ip", ip);
	cJSON_AddStringToObject(o, "veth", rec->host_ifname);
	cJSON_AddNumberToObject(o, "id", rec->id);
	for (int i = 0; i < NSF_EP_COUNTERS; i++)
		cJSON_AddItemToObject(o, ep_names[i],
				      pkt_bytes((double)s.c[i].packets,
						(double)s.c[i].bytes));
	cJSON_AddItemToArray(c->arr, o);
	return 0;
}

static int build(const struct nsf_host *h, cJSON *doc)
{
	struct nsf_maps maps = NSF_MAPS_CLOSED;
	struct nsf_counter c[NSF_R_MAX];
	double kind_pk[3] = { 0 }, kind_by[3] = { 0 }, total = 0;
	cJSON *rs, *drops, *share;
	struct ep_ctx ec;
	int ct, err;

	err = nsf_maps_open(h, &maps);
	if (!err)
		err = nsf_maps_counters(&maps, c);
	if (err) {
		nsf_maps_close(&maps);
		return err;
	}
	rs = cJSON_AddObjectToObject(doc, "reasons");
	drops = cJSON_AddObjectToObject(doc, "drops");
	for (int r = 0; r < NSF_R_MAX; r++) {
		cJSON *o = pkt_bytes((double)c[r].packets, (double)c[r].bytes);

		cJSON_AddStringToObject(o, "kind", kind_names[reasons[r].kind]);
		cJSON_AddItemToObject(rs, reasons[r].name, o);
		kind_pk[reasons[r].kind] += (double)c[r].packets;
		kind_by[reasons[r].kind] += (double)c[r].bytes;
		if (reasons[r].kind == NSF_KIND_DROP && c[r].packets)
			cJSON_AddItemToObject(drops, reasons[r].name,
					      pkt_bytes((double)c[r].packets,
							(double)c[r].bytes));
	}
	for (int k = 0; k < 3; k++)
		total += kind_pk[k];
	share = cJSON_AddObjectToObject(doc, "totals");
	for (int k = 0; k < 3; k++) {
		static const char *const names[] = { "fast_path", "kernel",
						     "dropped" };
		cJSON *o = pkt_bytes(kind_pk[k], kind_by[k]);

		cJSON_AddNumberToObject(o, "share",
					total ? kind_pk[k] / total : 0);
		cJSON_AddItemToObject(share, names[k], o);
	}
	cJSON_AddItemToObject(
		doc, "nat", table_fill(maps.nat4, sizeof(struct nsf_nat_key)));
	ct = nsf_map_open(h, NSF_MAP_CT4);
	nsf_clear_error();
	cJSON_AddItemToObject(doc, "conntrack",
			      table_fill(ct, sizeof(struct nsf_ct_key)));
	if (ct >= 0)
		close(ct);
	cJSON_AddItemToObject(doc, "monitor", monitor_state(h));
	ec = (struct ep_ctx){ &maps, cJSON_AddArrayToObject(doc, "endpoints"),
			      0 };
	err = nsf_ep_foreach(h, add_ep, &ec);
	nsf_maps_close(&maps);
	return err ? err : ec.err;
}

static double num(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static void print_text(const cJSON *doc)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "totals"), *e,
		    *d;

	printf("packets   fast path %.0f (%.1f%%)   kernel %.0f (%.1f%%)   "
	       "dropped %.0f (%.1f%%)\n",
	       num(t, "fast_path", "packets"),
	       100 * num(t, "fast_path", "share"), num(t, "kernel", "packets"),
	       100 * num(t, "kernel", "share"), num(t, "dropped", "packets"),
	       100 * num(t, "dropped", "share"));
	printf("NAT       %.0f of %.0f entries (%.2f%%, two per flow)\n",
	       num(doc, "nat", "entries"), num(doc, "nat", "capacity"),
	       100 * num(doc, "nat", "fill"));
	printf("conntrack %.0f of %.0f entries (flows under policy)\n",
	       num(doc, "conntrack", "entries"),
	       num(doc, "conntrack", "capacity"));
	printf("monitor   %s\n",
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		       cJSON_GetObjectItemCaseSensitive(doc, "monitor"),
		       "enabled"))
		       ? "on (events are being reported)"
		       : "off");
	printf("\n%-20s %-15s %12s %12s %12s %12s %14s %14s\n", "ENDPOINT",
	       "IP", "FROM-POD", "TO-POD", "FALLBACK", "DROP", "FROM-BYTES",
	       "TO-BYTES");
	cJSON_ArrayForEach(e,
			   cJSON_GetObjectItemCaseSensitive(doc, "endpoints"))
		printf("%-20s %-15s %12.0f %12.0f %12.0f %12.0f %14.0f %14.0f\n",
		       str(e, "name"), str(e, "ip"),
		       num(e, "from_pod", "packets"),
		       num(e, "to_pod", "packets"),
		       num(e, "fallback", "packets"), num(e, "drop", "packets"),
		       num(e, "from_pod", "bytes"), num(e, "to_pod", "bytes"));
	printf("\n%-24s %12s %14s\n", "DROP REASON", "PACKETS", "BYTES");
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(doc, "drops"))
		printf("%-24s %12.0f %14.0f\n", d->string,
		       num(d, "packets", NULL), num(d, "bytes", NULL));
}

/* Label values: backslash, quote and newline escaped. */
static void prom_label(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			putchar('\\');
		if (*s == '\n') {
			fputs("\\n", stdout);
			continue;
		}
		putchar(*s);
	}
}

static void prom_header(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The Prometheus text exposition format (version 0.0.4). */
static void print_prometheus(const cJSON *doc)
{
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(doc, "reasons"), *r,
		    *e;
	const char *metric[2] = { "nsfast_packets_total",
				  "nsfast_bytes_total" };
	const char *field[2] = { "packets", "bytes" };

	for (int m = 0; m < 2; m++) {
		prom_header(metric[m], "counter",
			    m ? "Bytes handled by the datapath, by reason."
			      : "Packets handled by the datapath, by reason.");
		cJSON_ArrayForEach(r, rs)
			printf("%s{reason=\"%s\",kind=\"%s\"} %.0f\n",
			       metric[m], r->string, str(r, "kind"),
			       num(r, field[m], NULL));
	}
	metric[0] = "nsfast_endpoint_packets_total";
	metric[1] = "nsfast_endpoint_bytes_total";
	for (int m = 0; m < 2; m++) {
		prom_header(metric[m], "counter",
			    m ? "Bytes per endpoint and direction."
			      : "Packets per endpoint and direction.");
		cJSON_ArrayForEach(
			e, cJSON_GetObjectItemCaseSensitive(doc, "endpoints")) {
			for (int i = 0; i < NSF_EP_COUNTERS; i++) {
				printf("%s{endpoint=\"", metric[m]);
				prom_label(str(e, "name"));
				printf("\",ip=\"%s\",counter=\"%s\"} %.0f\n",
				       str(e, "ip"), ep_names[i],
				       num(e, ep_names[i], field[m]));
			}
		}
	}
	prom_header("nsfast_nat_entries", "gauge",
		    "Live NAT entries (two per masqueraded flow).");
	printf("nsfast_nat_entries %.0f\n", num(doc, "nat", "entries"));
	prom_header("nsfast_nat_capacity", "gauge", "NAT table size.");
	printf("nsfast_nat_capacity %.0f\n", num(doc, "nat", "capacity"));
	prom_header("nsfast_conntrack_entries", "gauge",
		    "Connection state entries of flows under policy.");
	printf("nsfast_conntrack_entries %.0f\n",
	       num(doc, "conntrack", "entries"));
	prom_header("nsfast_endpoints", "gauge", "Attached endpoints.");
	printf("nsfast_endpoints %d\n",
	       cJSON_GetArraySize(
		       cJSON_GetObjectItemCaseSensitive(doc, "endpoints")));
}

enum stats_fmt {
	FMT_TEXT,
	FMT_JSON,
	FMT_PROM
};

static int once(const struct nsf_host *h, enum stats_fmt fmt)
{
	cJSON *doc = cJSON_CreateObject();
	int err;

	cJSON_AddStringToObject(doc, "host", h->id);
	err = build(h, doc);
	if (!err && fmt == FMT_JSON) {
		err = nsf_print_json(doc);
	} else if (!err && fmt == FMT_PROM) {
		print_prometheus(doc);
	} else if (!err) {
		print_text(doc);
	}
	cJSON_Delete(doc);
	fflush(stdout);
	return err;
}

/* @sec up to a day; usleep's 32-bit microseconds wrap above ~4295 s. */
static void sleep_for(double sec)
{
	struct timespec ts = { .tv_sec = (time_t)sec };

	ts.tv_nsec = (long)((sec - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) && errno == EINTR && !stop)
		;
}

int cmd_stats(int argc, char **argv)
{
	struct nsf_host h = { .lock_fd = -1 };
	enum stats_fmt fmt = FMT_TEXT;
	double watch = 0;
	char *end;
	int err;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j") ||
		    !strcmp(argv[i], "--prometheus")) {
			enum stats_fmt f =
				argv[i][2] == 'p' ? FMT_PROM : FMT_JSON;

			if (fmt != FMT_TEXT && fmt != f) {
				fprintf(stderr,
					"nsfast: stats: --json and "
					"--prometheus exclude each other\n");
				return 2;
			}
			fmt = f;
		} else if (!strcmp(argv[i], "--watch") ||
			   !strcmp(argv[i], "-w")) {
			watch = 1;
			if (i + 1 < argc && argv[i + 1][0] != '-') {
				watch = strtod(argv[++i], &end);
				if (end == argv[i] || *end ||
				    !(watch >= 0.1 && watch <= 86400)) {
					fprintf(stderr,
						"nsfast: stats: invalid "
						"interval '%s'\n",
						argv[i]);
					return 2;
				}
			}
		} else {
			fprintf(stderr, "nsfast: stats: bad option '%s' (%s)\n",
				argv[i], USAGE);
			return 2;
		}
	}
	err = cli_host_open(&h, false, false);
	if (err) {
		nsf_report("stats");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	do {
		if (watch && fmt == FMT_TEXT)
			printf("\033[H\033[2J"); /* refresh in place */
		if (watch && fmt == FMT_TEXT) {
			time_t now = time(NULL);

			printf("nsfast stats every %gs   %s", watch,
			       ctime(&now));
		}
		err = once(&h, fmt);
		if (err || !watch)
			break;
		sleep_for(watch);
	} while (!stop);
	nsf_host_close(&h);
	if (err) {
		nsf_report("stats");
		return 1;
	}
	return 0;
}
