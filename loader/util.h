/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Error reporting with context. Lower layers record what failed
 * ("veth nsf1a2b: File exists") with nsf_fail() and return a negative errno;
 * the command prefixes its own context once, so every error is one line:
 *   nsfast: attach web: veth nsf1a2b: File exists
 */
#ifndef NSF_UTIL_H
#define NSF_UTIL_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#define NSF_ERR_MAX 512

/* Record "<fmt>: strerror(err)" (err > 0) or "<fmt>" (err == 0); returns -err
 * (or -EINVAL when err == 0) so callers can `return nsf_fail(...)`. */
int nsf_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Like nsf_fail(0, ...) for a command line that is wrong: an unknown
 * option or keyword, a missing or extra argument, a value not of its form
 * (number, address, CIDR, name, one of a set of words). The command then
 * exits 2 instead of 1 (nsf_exit_status()), as most CLIs do. */
int nsf_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* nsf_usage() for what getopt_long() refused at argv[optind - 1]: an option
 * of @opts given without its value ("--ip needs a value"), or an unknown
 * one ("bad option '--bogus'"); @usage, if not NULL, follows in brackets. */
struct option;
int nsf_bad_option(const struct option *opts, char **argv, int optind,
		   const char *usage);
/* Exit status of a failed command: 2 if the last recorded error came
 * from nsf_usage(), 1 otherwise. */
int nsf_exit_status(void);
/* The last recorded error, "" when none. */
const char *nsf_last_error(void);
void nsf_clear_error(void);
/* Print "nsfast: <context>: <last error>" to stderr. */
void nsf_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct cJSON;
/* Print @json (pretty) and a newline on stdout: what every --json option
 * prints. -ENOMEM, reported, if it cannot be formatted. */
int nsf_print_json(const struct cJSON *json);

/* Longest endpoint name: also the longest named netns we create. */
#define NSF_NAME_MAX 63

/* Endpoint and namespace names: 1..NSF_NAME_MAX of [A-Za-z0-9_.-], not "."
 * or "..", so they are safe as file names and as iproute2 netns names. */
bool nsf_valid_name(const char *name);
/* Interface names: 1..15 bytes, no '/', ':', '%' or white space
 * (dev_valid_name), not "all" or "default" (sysctl directories). */
bool nsf_valid_ifname(const char *ifname);
/* Host-side veth name for an endpoint: "nsf" + 8 hex digits of a hash of the
 * endpoint name, stable across runs (like Cilium's "lxc" + hash). */
void nsf_host_ifname(const char *name, char out[16]);
/* The alternatives when another endpoint's name hashed to the same one (32
 * bits collide): salt 1, 2, ... The name in use is in the endpoint's
 * record. */
void nsf_host_ifname_salted(const char *name, unsigned int salt, char out[16]);

/* Copy with truncation detection: returns false if @src did not fit. */
bool nsf_strlcpy(char *dst, const char *src, size_t size);

/*
 * mkdir -p: 0 or a negative errno. A shared parent (/run/nsfast, the pin
 * parent) goes with the last host's reset once it is empty, so it can
 * vanish between two of these mkdir()s: then the walk starts over.
 */
int nsf_mkdir_p(const char *path, mode_t mode);

/* CLOCK_MONOTONIC in ns: bpf_ktime_get_ns()'s clock, which the datapath
 * stamps NAT entries and the monitor's expiry with. */
uint64_t nsf_mono_ns(void);

#endif /* NSF_UTIL_H */
