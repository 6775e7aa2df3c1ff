// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nsfast: kernel fast path for container networking. main() only parses the
 * global options, enters the host namespace (-n) and dispatches.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni.h"
#include "commands.h"
#include "maps.h"
#include "netns.h"
#include "util.h"

#define NSFAST_VERSION "0.1.0"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	bool privileged;
};

static const struct command commands[] = {
	{ "ns", cmd_ns, true },		  { "init", cmd_init, true },
	{ "attach", cmd_attach, true },	  { "detach", cmd_detach, true },
	{ "status", cmd_status, true },	  { "reset", cmd_reset, true },
	{ "nat", cmd_nat, true },	  { "gc", cmd_gc, true },
	{ "publish", cmd_publish, true }, { "route", cmd_route, true },
	{ "policy", cmd_policy, true },	  { "monitor", cmd_monitor, true },
	{ "stats", cmd_stats, true },
};

static const char usage_text[] =
	"Usage: nsfast [-n HOSTNS] [-v] COMMAND [ARGS]\n"
	"\n"
	"Kernel fast path between pod network namespaces (tc/XDP eBPF instead of a\n"
	"bridge and iptables).\n"
	"\n"
	"Global options:\n"
	"  -n, --netns HOSTNS   act inside network namespace HOSTNS (an iproute2\n"
	"                       name or a path), as if it were the host\n"
	"  -v, --verbose        show libbpf's messages\n"
	"  -h, --help           this help (COMMAND --help: COMMAND's usage)\n"
	"  -V, --version        the version\n"
	"\n"
	"Commands:\n"
	"  init [--pod-cidr CIDR] [--uplink IFACE [--snat-ip ADDR]\n"
	"       [--xdp-mode auto|native|generic|off]\n"
	"       [--nat-ports MIN-MAX[,MIN-MAX]] [--nat-entries N]]\n"
	"       [--no-uplink]\n"
	"                                  load programs, create and pin maps\n"
	"                                  (default CIDR 10.244.0.0/16); with an\n"
	"                                  uplink, masquerade pods leaving through\n"
	"                                  it (XDP for replies; tc on a veth\n"
	"                                  uplink, or without native XDP).\n"
	"                                  Idempotent: a re-run reloads programs,\n"
	"                                  keeping all state (flows included)\n"
	"  attach NAME [--ip ADDR] [--ifname IF] [--netns-path PATH]\n"
	"       [--group GROUP]\n"
	"                                  put pod NAME on the fast path: creates\n"
	"                                  netns NAME if absent (or uses PATH), a\n"
	"                                  veth pair, addresses and routes; prints\n"
	"                                  the pod's address\n"
	"  detach NAME                     remove the pod's veth, routes, map\n"
	"                                  entries (and the netns attach created)\n"
	"  status [--json]                 endpoints, programs and counters\n"
	"  reset                           detach every pod, remove all pins/state\n"
	"  nat list [--json] | flush       masquerading flows, as conntrack -L/-F\n"
	"  gc [--interval SEC] [--tcp-timeout S] [--udp-timeout S]\n"
	"     [--icmp-timeout S]           remove expired NAT flows, once or every\n"
	"                                  SEC seconds (nf_conntrack timeouts)\n"
	"  publish add [--proto tcp|udp] HOSTPORT POD[:PORT]\n"
	"  publish del [--proto tcp|udp] HOSTPORT | list [--json]\n"
	"                                  forward a port of the uplink address to\n"
	"                                  a pod (name or address), as docker -p\n"
	"  route add POD_CIDR via NODE_IP | del POD_CIDR | list [--json]\n"
	"                                  another node's pods: reached without\n"
	"                                  NAT through that node\n"
	"  policy group add|set NAME [--ingress allow|deny] [--egress allow|deny]\n"
	"  policy group del NAME | group list [--json]\n"
	"  policy assign POD GROUP|none    put a pod in a group (or attach --group)\n"
	"  policy rule add allow|deny from GROUP|any to GROUP|any|host|world|CIDR\n"
	"         [proto tcp|udp|icmp] [port N]\n"
	"  policy rule del ID | rule list [--json] | show [--json] | flush\n"
	"                                  isolation between pods, the host and the\n"
	"                                  world, enforced in BPF (docs/policy.md)\n"
	"  monitor [--pod NAME] [--drops] [--reason R] [--pcap FILE|- [-U]]\n"
	"          [--count N] [--duration S] [--sample N] [--rate N] [FILTER]\n"
	"                                  live packet events of all pods\n"
	"  stats [--json | --prometheus] [--watch [SEC]]\n"
	"                                  packets, drops by reason, NAT fill\n"
	"  ns add|del NAME                 named netns, as `ip netns add|del`\n"
	"  ns list                         named namespaces, as `ip netns list`\n"
	"  ns exec NAME -- CMD [ARGS]      run CMD inside NAME, as `ip netns exec`\n"
	"\n"
	"With CNI_COMMAND set (or run as nsfast-cni), nsfast is a CNI plugin\n"
	"reading the network config on stdin (see docs/cni.md).\n"
	"\n"
	"Exit status: 0 done, 1 failed, 2 usage error (the command line is wrong).\n"
	"\n"
	"State: pins in /sys/fs/bpf/nsfast/<netns-cookie>/ (NSFAST_BPFFS), files in\n"
	"/run/nsfast/<netns-cookie>/ (NSFAST_STATE_DIR), one set per host netns.\n";

static void usage(FILE *out)
{
	fputs(usage_text, out);
}

/*
 * nsfast CMD --help: the first line of the help and CMD's entries of its
 * command list (an entry starts with two spaces and a word; its further
 * lines are indented deeper).
 */
static void command_usage(const char *name)
{
	const char *line = usage_text, *end;
	size_t len = strlen(name);
	bool in_list = false, mine = false;

	end = strchr(line, '\n');
	printf("%.*s\n\n", (int)(end - line), line);
	for (; *line; line = end + 1) {
		end = strchr(line, '\n');
		if (!strncmp(line, "Commands:", 9)) {
			in_list = true;
			continue;
		}
		if (!in_list)
			continue;
		if (line == end)
			break;
		if (line[0] == ' ' && line[1] == ' ' && line[2] != ' ')
			mine = !strncmp(line + 2, name, len) &&
			       line[2 + len] == ' ';
		if (mine)
			printf("%.*s\n", (int)(end - line), line);
	}
	printf("\nGlobal options, exit status, state: nsfast --help\n");
}

/*
 * -h or --help among a command's arguments (before "--", and for ns exec
 * before the command it runs, whose own options they may be).
 */
static bool wants_help(int argc, char **argv)
{
	int last = argc;

	if (!strcmp(argv[0], "ns") && argc > 1 && !strcmp(argv[1], "exec"))
		last = argc < 3 ? argc : 3;
	for (int i = 1; i < last; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	}
	return false;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "netns", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *host_netns = NULL;
	const struct command *cmd;
	bool verbose = false;
	int c;

	/* A CNI runtime runs us with CNI_COMMAND set and no arguments. */
	if (nsf_cni_invoked(argv[0]))
		return nsf_cni_main();
	while ((c = getopt_long(argc, argv, "+n:vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			host_netns = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("nsfast %s\n", NSFAST_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind], "help")) {
		usage(stdout);
		return 0;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		fprintf(stderr,
			"nsfast: unknown command '%s' (see nsfast --help)\n",
			argv[optind]);
		return 2;
	}
	if (wants_help(argc - optind, argv + optind)) {
		command_usage(cmd->name);
		return 0;
	}
	if (cmd->privileged && !cli_privileged(cmd->name))
		return 1;
	nsf_libbpf_logging(verbose);
	if (host_netns && nsf_netns_switch(host_netns)) {
		nsf_report("%s", cmd->name);
		return 1;
	}
	argv += optind;
	argc -= optind;
	optind = 0; /* glibc: 0 resets getopt fully for the command */
	opterr = 0; /* commands report bad options in one line themselves */
	return cmd->run(argc, argv);
}
