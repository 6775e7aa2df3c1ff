// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nsfast monitor: live packet events of every pod at once, what tcpdump on
 * a bridge (or PF_RING's "any") shows where there is no bridge any more.
 * The datapath reports through the nsf_mon_rb ring buffer only while
 * nsf_mon_cfg.enabled is set: this command sets it, keeps extending its
 * expiry while it runs, and clears it when it ends (also on SIGINT,
 * SIGTERM, SIGHUP and a closed output pipe; a monitor killed outright
 * stops costing anything once the expiry passes: the first packet after
 * it clears the flag). Events carry the first NSF_MON_SNAPLEN bytes of the
 * packet as it arrived, so --pcap writes a capture tcpdump/tshark read.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "maps.h"
#include "util.h"

#define USAGE                                                              \
	"usage: nsfast monitor [--pod NAME] [--drops] [--reason NAME]... " \
	"[--pcap FILE|-] [-U] [--count N] [--duration SEC] [--sample N] "  \
	"[--rate N] [tcp|udp|icmp|arp] [host ADDR] [port N]"

#define REASON_ROW(name, str, kind, help) { str, NSF_KIND_##kind },
static const struct {
	const char *name;
	enum nsf_reason_kind kind;
} reasons[] = { NSF_REASONS(REASON_ROW) };
#undef REASON_ROW

static const char *const hook_names[] = { "from-pod", "uplink-xdp", "uplink-tc",
					  "from-host" };

/* How long the datapath keeps reporting without a sign of life. */
#define EXPIRY_NS (3ull * 1000000000ull)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct ep_name {
	uint32_t id;
	char name[NSF_NAME_MAX + 1];
	int ifindex;
};

struct mon {
	/* options */
	const char *pod, *pcap_path;
	uint64_t reasons;
	long count, sample, rate;
	double duration;
	int proto; /* IPPROTO_*, -1 = any; ETH_P_ARP as 0x806 */
	bool want_arp;
	bool packet_buffered; /* -U: flush the capture after each packet */
	uint32_t host[2];     /* network order; each in the packet */
	uint16_t port[2];     /* host order; each in the packet */
	int n_hosts, n_ports;
	/* state */
	struct ep_name *eps;
	size_t n_eps;
	uint32_t ep_id;
	FILE *pcap;
	long seen;
	int64_t rt_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	bool draining;
	int out_err; /* errno of a failed write to stdout */
};

static int reason_by_name(const char *name)
{
	for (int r = 0; r < NSF_R_MAX; r++)
		if (!strcmp(reasons[r].name, name))
			return r;
	return -1;
}

static int add_ep_name(const struct nsf_ep_rec *rec, void *arg)
{
	struct mon *m = arg;
	struct ep_name *n = realloc(m->eps, (m->n_eps + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	m->eps = n;
	n[m->n_eps].id = rec->id;
	n[m->n_eps].ifindex = rec->host_ifindex;
	nsf_strlcpy(n[m->n_eps].name, rec->name, sizeof(n->name));
	m->n_eps++;
	return 0;
}

static const char *ep_name(const struct mon *m, uint32_t id)
{
	for (size_t i = 0; id && i < m->n_eps; i++)
		if (m->eps[i].id == id)
			return m->eps[i].name;
	return id ? "?" : "-";
}

static long parse_long(const char *s, long min, long max, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || end == s || v < min || v > max) {
		nsf_usage("invalid %s '%s'", what, s);
		return -1;
	}
	return v;
}

/* tcp|udp|icmp|arp as the one protocol: another one can never match. */
static int set_proto(struct mon *m, const char *word, int proto)
{
	static const char *const names[] = { [IPPROTO_ICMP] = "icmp",
					     [IPPROTO_TCP] = "tcp",
					     [IPPROTO_UDP] = "udp" };
	int cur = m->want_arp ? ETH_P_ARP : m->proto;

	if (cur >= 0 && cur != proto)
		return nsf_usage("%s and %s can never match",
				 cur == ETH_P_ARP ? "arp" : names[cur], word);
	if (proto == ETH_P_ARP)
		m->want_arp = true;
	else
		m->proto = proto;
	return 0;
}

/* host ADDR: at most two, one for each end of a packet. */
static int add_host(struct mon *m, const char *v)
{
	if (m->n_hosts == 2)
		return nsf_usage("a third host can never match");
	if (inet_pton(AF_INET, v, &m->host[m->n_hosts]) != 1)
		return nsf_usage("invalid address '%s'", v);
	m->n_hosts++;
	return 0;
}

/* port N: likewise. */
static int add_port(struct mon *m, const char *v)
{
	long p;

	if (m->n_ports == 2)
		return nsf_usage("a third port can never match");
	p = parse_long(v, 1, 65535, "port");
	if (p < 0)
		return -EINVAL;
	m->port[m->n_ports++] = (uint16_t)p;
	return 0;
}

/*
 * tcpdump's AND of primitives: "host X and host Y" is a packet between X
 * and Y, likewise two ports; a third can never match, nor can two
 * protocols. "and" (or "&&") may only stand between two primitives.
 */
static int parse_filter(struct mon *m, int argc, char **argv, int i)
{
	bool after_and = false, any = false;

	for (; i < argc; i++) {
		const char *t = argv[i];
		int err = 0;

		if (!strcmp(t, "and") || !strcmp(t, "&&")) {
			if (!any || after_and)
				return nsf_usage("'%s' must stand between "
						 "two filters (%s)",
						 t, USAGE);
			after_and = true;
			continue;
		}
		if (!strcmp(t, "tcp"))
			err = set_proto(m, t, IPPROTO_TCP);
		else if (!strcmp(t, "udp"))
			err = set_proto(m, t, IPPROTO_UDP);
		else if (!strcmp(t, "icmp"))
			err = set_proto(m, t, IPPROTO_ICMP);
		else if (!strcmp(t, "arp"))
			err = set_proto(m, t, ETH_P_ARP);
		else if (!strcmp(t, "host") || !strcmp(t, "port")) {
			if (i + 1 >= argc)
				return nsf_usage("%s needs a value (%s)", t,
						 USAGE);
			i++;
			err = t[0] == 'h' ? add_host(m, argv[i])
					  : add_port(m, argv[i]);
		} else {
			return nsf_usage("unknown filter '%s' (%s)", t, USAGE);
		}
		if (err)
			return err;
		any = true;
		after_and = false;
	}
	if (after_and)
		return nsf_usage("'and' must stand between two filters (%s)",
				 USAGE);
	return 0;
}

static int parse_args(struct mon *m, int argc, char **argv)
{
	bool drops = false;
	int r;

	m->proto = -1;
	m->rate = 10000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (a[0] != '-') {
			if (parse_filter(m, argc, argv, i))
				return -EINVAL;
			break;
		}
		if (!strcmp(a, "--drops")) {
			drops = true;
			continue;
		}
		if (!strcmp(a, "-U") || !strcmp(a, "--packet-buffered")) {
			m->packet_buffered = true;
			continue;
		}
		if (!v)
			return nsf_usage("%s needs a value (%s)", a, USAGE);
		i++;
		if (!strcmp(a, "--pod")) {
			m->pod = v;
		} else if (!strcmp(a, "--pcap") || !strcmp(a, "-w")) {
			m->pcap_path = v;
		} else if (!strcmp(a, "--reason")) {
			r = reason_by_name(v);
			if (r < 0)
				return nsf_usage("unknown reason '%s'", v);
			m->reasons |= 1ull << r;
		} else if (!strcmp(a, "--count") || !strcmp(a, "-c")) {
			m->count = parse_long(v, 1, 1L << 40, "count");
		} else if (!strcmp(a, "--duration")) {
			char *end;

			/* Up to ~31 years: seconds * 1e9 fits in 64 bits. */
			m->duration = strtod(v, &end);
			if (end == v || *end || !(m->duration > 0) ||
			    m->duration > 1e9)
				return nsf_usage("invalid duration '%s'", v);
		} else if (!strcmp(a, "--sample")) {
			m->sample = parse_long(v, 1, 1 << 30, "sample");
		} else if (!strcmp(a, "--rate")) {
			m->rate = parse_long(v, 0, 1 << 30, "rate");
		} else {
			return nsf_usage("bad option '%s' (%s)", a, USAGE);
		}
		if (m->count < 0 || m->sample < 0 || m->rate < 0)
			return -EINVAL;
	}
	for (r = 0; r < NSF_R_MAX; r++)
		if (drops && reasons[r].kind == NSF_KIND_DROP)
			m->reasons |= 1ull << r;
	if (!m->reasons)
		m->reasons = ~0ull;
	return 0;
}

/* ---- decoding, filtering, printing ---- */

struct pkt {
	uint16_t ethertype;
	uint8_t proto;
	uint32_t saddr, daddr; /* network order */
	uint16_t sport, dport; /* host order, 0 if none */
	const uint8_t *l4;
	size_t l4_len;
	bool ipv4;
};

static void decode(const struct nsf_mon_event *ev, struct pkt *p)
{
	const uint8_t *d = ev->data;
	size_t n = ev->cap_len, ihl;

	memset(p, 0, sizeof(*p));
	if (n < 14)
		return;
	p->ethertype = (uint16_t)(d[12] << 8 | d[13]);
	if (p->ethertype == ETH_P_ARP && n >= 42) {
		memcpy(&p->saddr, d + 28, 4);
		memcpy(&p->daddr, d + 38, 4);
		return;
	}
	if (p->ethertype != ETH_P_IP || n < 34 || (d[14] >> 4) != 4)
		return;
	p->ipv4 = true;
	ihl = (size_t)(d[14] & 15) * 4;
	p->proto = d[23];
	memcpy(&p->saddr, d + 26, 4);
	memcpy(&p->daddr, d + 30, 4);
	if (14 + ihl >= n)
		return;
	p->l4 = d + 14 + ihl;
	p->l4_len = n - 14 - ihl;
	if ((p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) &&
	    p->l4_len >= 4) {
		p->sport = (uint16_t)(p->l4[0] << 8 | p->l4[1]);
		p->dport = (uint16_t)(p->l4[2] << 8 | p->l4[3]);
	}
}

static bool matches(const struct mon *m, const struct pkt *p)
{
	if (m->want_arp && p->ethertype != ETH_P_ARP)
		return false;
	if (m->proto >= 0 && (!p->ipv4 || p->proto != m->proto))
		return false;
	/* Each host (port) at either end: two different ones are then one
	 * at each end. */
	for (int i = 0; i < m->n_hosts; i++)
		if (p->saddr != m->host[i] && p->daddr != m->host[i])
			return false;
	for (int i = 0; i < m->n_ports; i++)
		if (p->sport != m->port[i] && p->dport != m->port[i])
			return false;
	return true;
}

static void describe(const struct pkt *p, const struct nsf_mon_event *ev,
		     char *out, size_t len)
{
	char s[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &p->saddr, s, sizeof(s));
	inet_ntop(AF_INET, &p->daddr, d, sizeof(d));
	if (p->ethertype == ETH_P_ARP)
		snprintf(out, len, "ARP %s %s tell %s",
			 ev->cap_len > 21 && ev->data[21] == 2 ? "reply"
							       : "who-has",
			 d, s);
	else if (!p->ipv4)
		snprintf(out, len, "ethertype 0x%04x", p->ethertype);
	else if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP)
		snprintf(out, len, "%s %s:%u > %s:%u",
			 p->proto == IPPROTO_TCP ? "TCP" : "UDP", s, p->sport,
			 d, p->dport);
	else if (p->proto == IPPROTO_ICMP && p->l4_len >= 1)
		snprintf(out, len, "ICMP %s > %s type %u", s, d, p->l4[0]);
	else
		snprintf(out, len, "IPv4 %s > %s proto %u", s, d, p->proto);
}

static void pcap_header(FILE *f)
{
	struct {
		uint32_t magic;
		uint16_t major, minor;
		int32_t zone;
		uint32_t sigfigs, snaplen, linktype;
	} h = { 0xa1b2c3d4, 2, 4, 0, 0, NSF_MON_SNAPLEN, 1 /* Ethernet */ };

	fwrite(&h, sizeof(h), 1, f);
}

static void pcap_record(FILE *f, const struct nsf_mon_event *ev, int64_t rt_ns)
{
	struct {
		uint32_t sec, usec, incl, orig;
	} r = { (uint32_t)(rt_ns / 1000000000),
		(uint32_t)(rt_ns % 1000000000 / 1000), ev->cap_len, ev->len };

	fwrite(&r, sizeof(r), 1, f);
	fwrite(ev->data, ev->cap_len, 1, f);
}

/* A write failed. The reader went away (`monitor | head`, `--pcap - |
 * tcpdump -c 1 -r -`): the end, not an error. Anything else is. */
static void out_failed(struct mon *m)
{
	if (errno != EPIPE)
		m->out_err = errno;
	stop = 1;
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct nsf_mon_event *ev = data;
	struct mon *m = ctx;
	char what[160], when[32];
	struct pkt p;
	int64_t rt;
	time_t sec;
	struct tm tm;

	if (stop || m->draining || size < sizeof(*ev) ||
	    ev->cap_len > NSF_MON_SNAPLEN)
		return 0;
	if (m->count && m->seen >= m->count)
		return 0;
	decode(ev, &p);
	if (!matches(m, &p))
		return 0;
	m->seen++;
	rt = (int64_t)ev->ts + m->rt_offset_ns;
	if (m->pcap) {
		pcap_record(m->pcap, ev, rt);
		if ((m->packet_buffered && fflush(m->pcap)) || ferror(m->pcap))
			out_failed(m);
		return 0;
	}
	sec = (time_t)(rt / 1000000000);
	localtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	describe(&p, ev, what, sizeof(what));
	printf("%s.%06ld %-10s %-21s %s%s%s, len %u\n", when,
	       (long)(rt % 1000000000 / 1000),
	       ev->hook < 4 ? hook_names[ev->hook] : "?",
	       ev->reason < NSF_R_MAX ? reasons[ev->reason].name : "?", what,
	       ev->src_ep ? " from " : "",
	       ev->src_ep ? ep_name(m, ev->src_ep) : "", ev->len);
	if (ev->dst_ep)
		printf("%*s-> %s\n", 16, "", ep_name(m, ev->dst_ep));
	if (fflush(stdout) || ferror(stdout))
		out_failed(m);
	return 0;
}

static int64_t realtime_offset(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec -
	       (int64_t)nsf_mono_ns();
}

static int write_cfg(int fd, const struct mon *m, bool on)
{
	struct nsf_mon_cfg cfg = { 0 };
	uint32_t zero = 0;

	if (on) {
		cfg.enabled = 1;
		cfg.sample = (uint32_t)m->sample;
		cfg.rate = (uint32_t)m->rate;
		cfg.ep_id = m->ep_id;
		cfg.reasons = m->reasons;
		cfg.expires = nsf_mono_ns() + EXPIRY_NS;
	}
	if (bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY))
		return nsf_fail(errno, "map %s", NSF_MAP_MON_CFG);
	return 0;
}

/* One monitor per host: the configuration map has room for one. */
static int lock_monitor(const struct nsf_host *h)
{
	char path[NSF_PATH_MAX * 2];
	int fd;

	snprintf(path, sizeof(path), "%s/monitor.lock", h->state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return nsf_fail(errno, "%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return nsf_fail(EBUSY, "another monitor runs on this host");
	}
	return fd;
}

static int resolve_pod(const struct nsf_host *h, struct mon *m)
{
	struct nsf_ep_rec rec;
	int err;

	if (!m->pod)
		return 0;
	err = nsf_ep_load(h, m->pod, &rec);
	if (err == -ENOENT)
		return nsf_fail(0, "no endpoint %s", m->pod);
	if (!err)
		m->ep_id = rec.id;
	return err;
}

static int run(const struct nsf_host *h, struct mon *m)
{
	struct ring_buffer *rb = NULL;
	int cfg_fd, rb_fd, err = 0;
	uint64_t end = 0;

	cfg_fd = nsf_map_open(h, NSF_MAP_MON_CFG);
	rb_fd = nsf_map_open(h, NSF_MAP_MON_RB);
	err = cfg_fd < 0 ? cfg_fd : rb_fd < 0 ? rb_fd : 0;
	if (!err) {
		rb = ring_buffer__new(rb_fd, on_event, m, NULL);
		if (!rb)
			err = nsf_fail(errno, "ring buffer %s", NSF_MAP_MON_RB);
	}
	if (!err) {
		/* Whatever an earlier monitor left unread is not ours. */
		m->draining = true;
		ring_buffer__consume(rb);
		m->draining = false;
		m->rt_offset_ns = realtime_offset();
		err = write_cfg(cfg_fd, m, true);
	}
	if (!err) {
		fprintf(stderr, "nsfast: monitoring%s%s (Ctrl-C to stop)\n",
			m->pod ? " pod " : " all pods", m->pod ? m->pod : "");
		if (m->duration)
			end = nsf_mono_ns() + (uint64_t)(m->duration * 1e9);
	}
	while (!err && !stop) {
		int n = ring_buffer__poll(rb, 200);

		if (n < 0 && n != -EINTR) {
			err = nsf_fail(-n, "ring buffer");
			break;
		}
		if ((m->count && m->seen >= m->count) ||
		    (end && nsf_mono_ns() >= end))
			break;
		err = write_cfg(cfg_fd, m, true); /* extend the expiry */
	}
	if (!err && m->out_err)
		err = nsf_fail(m->out_err, "%s",
			       m->pcap && m->pcap != stdout
				       ? m->pcap_path
				       : "standard output");
	if (cfg_fd >= 0)
		write_cfg(cfg_fd, m,
			  false); /* off: the datapath pays nothing */
	ring_buffer__free(rb);
	if (cfg_fd >= 0)
		close(cfg_fd);
	if (rb_fd >= 0)
		close(rb_fd);
	fprintf(stderr, "nsfast: %ld event%s\n", m->seen,
		m->seen == 1 ? "" : "s");
	return err;
}

int cmd_monitor(int argc, char **argv)
{
	struct nsf_host h = { .lock_fd = -1 };
	struct mon m = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	int lock_fd = -1, err;

	err = parse_args(&m, argc, argv);
	if (!err)
		err = cli_host_open(&h, false, false);
	if (!err)
		err = resolve_pod(&h, &m);
	if (!err)
		err = nsf_ep_foreach(&h, add_ep_name, &m);
	/* Before --pcap FILE is opened: a refused monitor must not truncate
	 * the capture the running one writes. */
	if (!err) {
		lock_fd = lock_monitor(&h);
		if (lock_fd < 0)
			err = lock_fd;
	}
	if (!err && m.pcap_path) {
		/* "-": standard output, as tcpdump -w - */
		m.pcap = strcmp(m.pcap_path, "-") ? fopen(m.pcap_path, "we")
						  : stdout;
		if (!m.pcap)
			err = nsf_fail(errno, "%s", m.pcap_path);
		else
			pcap_header(m.pcap);
		/* -U: a reader of a pipe sees the header and each packet
		 * at once, not a stdio buffer's worth (4 KiB) at a time. */
		if (m.pcap && m.packet_buffered)
			fflush(m.pcap);
	}
	if (!err) {
		/* No SA_RESTART: poll returns at once and the loop ends.
		 * SIGHUP too (a closed terminal), and a closed pipe shows
		 * as EPIPE: each must still turn the datapath's side off. */
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		err = run(&h, &m);
	}
	/* (EPIPE: the reader of --pcap - went away, the end as above) */
	if (m.pcap && fclose(m.pcap) && !err && errno != EPIPE)
		err = nsf_fail(errno, "%s", m.pcap_path);
	if (lock_fd >= 0)
		close(lock_fd);
	free(m.eps);
	nsf_host_close(&h);
	if (err) {
		nsf_report("monitor");
		return nsf_exit_status();
	}
	return 0;
}
