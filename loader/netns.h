/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Network namespaces, compatible with iproute2: a named namespace is a bind
 * mount of the namespace file on /run/netns/NAME, so `ip netns list/exec`
 * and nsfast see the same set.
 */
#ifndef NSF_NETNS_H
#define NSF_NETNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NSF_NETNS_RUN_DIR "/run/netns"

/* Open a namespace by iproute2 name or, if @ref contains '/', by path
 * (e.g. /proc/PID/ns/net or a runtime's bind mount). Returns an fd. */
int nsf_netns_open(const char *ref);
/* A relative namespace path as an absolute one, its directory resolved
 * from the working directory: a record must mean the same file to every
 * later command, wherever it runs. Absolute paths are kept as given. */
int nsf_netns_abspath(const char *path, char *out, size_t len);
/* Create named namespace @name; -EEXIST if it exists. */
int nsf_netns_add(const char *name);
/* Remove named namespace @name; -ENOENT if there is none. */
int nsf_netns_del(const char *name);
bool nsf_netns_exists(const char *name);
/* Call @fn for each named namespace, in directory order. */
int nsf_netns_foreach(int (*fn)(const char *name, void *arg), void *arg);

/* Switch the calling thread into @fd's namespace. The previous namespace
 * is returned in *saved (an fd) for nsf_netns_leave(). */
int nsf_netns_enter(int fd, int *saved);
/* Switch back to @saved and close it. */
int nsf_netns_leave(int saved);
/* Enter @ref for good (the CLI's -n HOST). */
int nsf_netns_switch(const char *ref);

/* The current namespace's cookie: a 64-bit id the kernel never reuses,
 * unlike inode numbers. Keys the per-host state and pins. */
int nsf_netns_cookie(uint64_t *cookie);
/* Namespace file @fd is the namespace we are in (the host's). */
bool nsf_netns_is_current(int fd);

/* Run @argv in named namespace @name like `ip netns exec`: a private mount
 * namespace with /sys remounted so it shows the namespace's devices.
 * Only returns on failure. */
int nsf_netns_exec(const char *name, char *const argv[]);

#endif /* NSF_NETNS_H */
