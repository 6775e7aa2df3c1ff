// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static char last_error[NSF_ERR_MAX];
static bool last_is_usage;

int nsf_print_json(const struct cJSON *json)
{
	char *text = cJSON_Print(json);

	if (!text)
		return nsf_fail(ENOMEM, "format JSON");
	printf("%s\n", text);
	free(text);
	return 0;
}

int nsf_fail(int err, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	last_is_usage = false;
	used = strlen(last_error);
	if (err > 0 && used < sizeof(last_error))
		snprintf(last_error + used, sizeof(last_error) - used, ": %s",
			 strerror(err));
	return err > 0 ? -err : -EINVAL;
}

int nsf_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	last_is_usage = true;
	return -EINVAL;
}

int nsf_bad_option(const struct option *opts, char **argv, int optind,
		   const char *usage)
{
	const char *arg = argv[optind - 1];

	/* glibc: optopt is the option's val when its argument is missing,
	 * 0 for an unknown long option. */
	for (; optopt && opts->name; opts++) {
		if (opts->val != optopt || opts->has_arg != required_argument ||
		    strncmp(arg, "--", 2) != 0)
			continue;
		if (usage)
			return nsf_usage("--%s needs a value (%s)", opts->name,
					 usage);
		return nsf_usage("--%s needs a value", opts->name);
	}
	if (usage)
		return nsf_usage("bad option '%s' (%s)", arg, usage);
	return nsf_usage("bad option '%s'", arg);
}

int nsf_exit_status(void)
{
	return last_is_usage ? 2 : 1;
}

const char *nsf_last_error(void)
{
	return last_error;
}

void nsf_clear_error(void)
{
	last_error[0] = '\0';
	last_is_usage = false;
}

void nsf_report(const char *fmt, ...)
{
	char ctx[NSF_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	if (last_error[0])
		fprintf(stderr, "nsfast: %s: %s\n", ctx, last_error);
	else
		fprintf(stderr, "nsfast: %s\n", ctx);
}

bool nsf_valid_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > NSF_NAME_MAX)
		return false;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const char *p = name; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return false;
	}
	return true;
}

bool nsf_valid_ifname(const char *ifname)
{
	size_t len = strlen(ifname);

	if (len == 0 || len > 15)
		return false;
	if (!strcmp(ifname, ".") || !strcmp(ifname, ".."))
		return false;
	/* The names of net.ipv4.conf.all and .default: the kernel refuses
	 * a device so named with a bare EINVAL, which attach would report
	 * against the host veth. */
	if (!strcmp(ifname, "all") || !strcmp(ifname, "default"))
		return false;
	for (const unsigned char *p = (const unsigned char *)ifname; *p; p++)
		/* As the kernel's dev_valid_name(), whose isspace() also
		 * counts 0xa0 (Latin-1 no-break space); and no '%', which
		 * the kernel takes for a template ("e%d": e0, e1...). */
		if (*p == '/' || *p == ':' || *p == '%' || isspace(*p) ||
		    *p == 0xa0)
			return false;
	return true;
}

/* FNV-1a: tiny, stable, good enough to spread names over 32 bits. */
static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

void nsf_host_ifname(const char *name, char out[16])
{
	nsf_host_ifname_salted(name, 0, out);
}

/* Salt n > 0 goes on hashing n's byte after the name: another name for the
 * same endpoint, as stable as the first. */
void nsf_host_ifname_salted(const char *name, unsigned int salt, char out[16])
{
	uint32_t h = fnv1a(name);

	if (salt) {
		h ^= salt & 0xff;
		h *= 16777619u;
	}
	snprintf(out, 16, "nsf%08x", h);
}

bool nsf_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size == 0)
		return false;
	if (len >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return false;
	}
	memcpy(dst, src, len + 1);
	return true;
}

/* One walk of mkdir -p: each level of @path, existing ones left alone. */
static int mkdir_p_once(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if (!nsf_strlcpy(buf, path, sizeof(buf)))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

int nsf_mkdir_p(const char *path, mode_t mode)
{
	int err = -ENOENT;

	for (int i = 0; i < 3 && err == -ENOENT; i++)
		err = mkdir_p_once(path, mode);
	return err;
}

uint64_t nsf_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
