// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* nsfast ns add|del|list|exec: named namespaces, as iproute2 keeps them. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "netns.h"
#include "util.h"

static int print_name(const char *name, void *arg)
{
	(void)arg;
	printf("%s\n", name);
	return 0;
}

static int ns_usage(void)
{
	fprintf(stderr, "usage: nsfast ns add|del NAME | list | "
			"exec NAME -- CMD [ARGS]\n");
	return 2;
}

static int ns_add_del(const char *verb, const char *name)
{
	int err;

	if (!nsf_valid_name(name)) {
		fprintf(stderr,
			"nsfast: ns %s: invalid name '%s' (1-%d characters "
			"of A-Z a-z 0-9 _ . -)\n",
			verb, name, NSF_NAME_MAX);
		return 2;
	}
	err = !strcmp(verb, "add") ? nsf_netns_add(name) : nsf_netns_del(name);
	if (err) {
		nsf_report("ns %s", verb);
		return 1;
	}
	return 0;
}

static int ns_exec(int argc, char **argv)
{
	int first = 2;

	/* nsfast ns exec NAME [--] CMD ... */
	if (argc > first && !strcmp(argv[first], "--"))
		first++;
	if (argc <= first)
		return ns_usage();
	nsf_netns_exec(argv[1], &argv[first]);
	nsf_report("ns exec %s", argv[1]);
	return 1;
}

int cmd_ns(int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";

	if (!strcmp(verb, "list") && argc == 2) {
		if (nsf_netns_foreach(print_name, NULL)) {
			nsf_report("ns list");
			return 1;
		}
		return 0;
	}
	if ((!strcmp(verb, "add") || !strcmp(verb, "del")) && argc == 3)
		return ns_add_del(verb, argv[2]);
	if (!strcmp(verb, "exec") && argc >= 4)
		return ns_exec(argc - 1, argv + 1);
	return ns_usage();
}
