/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The CLI's commands: one file each, dispatched by main.c. Each takes its
 * own argv (argv[0] is the command name) and returns an exit status. */
#ifndef NSF_COMMANDS_H
#define NSF_COMMANDS_H

#include <stdbool.h>

int cmd_ns(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_reset(int argc, char **argv);
int cmd_nat(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_route(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_stats(int argc, char **argv);

/* Shared by commands: open the current host; @lock takes the host lock,
 * and fails with "not initialised" unless @create or init ran before. */
struct nsf_host;
int cli_host_open(struct nsf_host *h, bool lock, bool create);
/* Whether the process may manage namespaces and BPF (else prints why). */
bool cli_privileged(const char *cmd);

#endif /* NSF_COMMANDS_H */
