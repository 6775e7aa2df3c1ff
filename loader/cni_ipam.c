// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * CNI IPAM. nsfast's own: host-local style ranges carved out of the host's
 * pod CIDR, allocated in the same on-disk pool the CLI uses (one O_EXCL
 * file per address, under the host lock), so CLI and CNI endpoints never
 * collide and allocations survive a restart of the plugin. Or delegated:
 * ipam.type names another plugin (host-local, dhcp, ...), run from
 * CNI_PATH exactly as the reference plugins run theirs.
 */
#include "cni.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

int nsf_cni_ipam_fit(struct nsf_cni_ipam *ipam, const struct nsf_cidr4 *pod,
		     struct nsf_cni_err *e)
{
	char cidr[NSF_CIDR_STRLEN], sub[NSF_CIDR_STRLEN];
	uint32_t first = pod->net + 1, last = nsf_cidr4_last(pod) - 1;

	nsf_format_cidr4(pod, cidr);
	if (ipam->nranges == 0) {
		ipam->nranges = 1;
		ipam->ranges[0] = (struct nsf_cni_range){ .subnet = *pod,
							  .start = first,
							  .end = last };
		return 0;
	}
	for (int i = 0; i < ipam->nranges; i++) {
		const struct nsf_cni_range *r = &ipam->ranges[i];

		nsf_format_cidr4(&r->subnet, sub);
		if (r->start < first || r->end > last)
			return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
					    "ipam range %d (subnet %s) is not "
					    "inside the host's pod CIDR %s",
					    i, sub, cidr);
	}
	return 0;
}

bool nsf_cni_ipam_skip(uint32_t addr, const void *arg)
{
	const struct nsf_cni_ipam *ipam = arg;

	for (int i = 0; i < ipam->nranges; i++)
		if (ipam->ranges[i].gateway == addr)
			return true;
	for (int i = 0; i < ipam->nexclude; i++)
		if (nsf_cidr4_contains(&ipam->exclude[i], addr))
			return true;
	return false;
}

static int claim_wanted(const struct nsf_cni_ipam *ipam,
			const struct nsf_pool *pool, uint32_t want,
			const char *owner, struct nsf_cni_err *e)
{
	char a[NSF_ADDR_STRLEN], who[NSF_OWNER_MAX];
	bool in_range = false;
	int err;

	nsf_format_ipv4(want, a);
	for (int i = 0; i < ipam->nranges; i++)
		if (want >= ipam->ranges[i].start &&
		    want <= ipam->ranges[i].end)
			in_range = true;
	if (!in_range)
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "requested address %s is outside the ipam "
				    "ranges",
				    a);
	if (nsf_cni_ipam_skip(want, ipam))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "requested address %s is a gateway or "
				    "excluded",
				    a);
	err = nsf_pool_reserve(pool, want, owner);
	if (err == -EEXIST) {
		if (nsf_pool_owner(pool, want, who, sizeof(who)))
			snprintf(who, sizeof(who), "another endpoint");
		return nsf_cni_fail(e, NSF_CNI_E_ADDR_TAKEN,
				    "requested address %s is in use by %s", a,
				    who);
	}
	if (err)
		return nsf_cni_fail(e, NSF_CNI_E_ATTACH, "reserve %s: %s", a,
				    strerror(-err));
	return 0;
}

int nsf_cni_ipam_alloc(const struct nsf_cni_ipam *ipam,
		       const struct nsf_pool *pool, uint32_t want,
		       const char *owner, uint32_t *addr, struct nsf_cni_err *e)
{
	uint32_t hint = nsf_pool_last(pool);
	int k = 0, err;

	if (want) {
		if (claim_wanted(ipam, pool, want, owner, e))
			return -1;
		*addr = want;
		return 0;
	}
	/* Next-fit over the range set: start in the range that holds the
	 * last address handed out, then go on through the others. */
	for (int i = 0; i < ipam->nranges; i++)
		if (hint >= ipam->ranges[i].start &&
		    hint <= ipam->ranges[i].end)
			k = i;
	for (int n = 0; n < ipam->nranges; n++) {
		const struct nsf_cni_range *r =
			&ipam->ranges[(k + n) % ipam->nranges];

		err = nsf_pool_alloc_in(pool, r->start, r->end,
					nsf_cni_ipam_skip, ipam, owner, addr);
		if (!err)
			return 0;
		if (err != -ENOSPC)
			return nsf_cni_fail(e, NSF_CNI_E_ATTACH,
					    "allocate address: %s",
					    strerror(-err));
	}
	return nsf_cni_fail(e, NSF_CNI_E_IPAM_FULL,
			    "no free address left in the ipam ranges");
}

bool nsf_cni_ipam_has_free(const struct nsf_cni_ipam *ipam,
			   const struct nsf_pool *pool)
{
	char owner[NSF_OWNER_MAX];

	for (int i = 0; i < ipam->nranges; i++) {
		const struct nsf_cni_range *r = &ipam->ranges[i];

		for (uint64_t v = r->start; v <= r->end; v++)
			if (!nsf_cni_ipam_skip((uint32_t)v, ipam) &&
			    nsf_pool_owner(pool, (uint32_t)v, owner,
					   sizeof(owner)) == -ENOENT)
				return true;
	}
	return false;
}

/* ---- delegation ---- */

/* @type's executable in one of CNI_PATH's directories. */
static int find_plugin(const char *path, const char *type, char *out,
		       size_t len)
{
	char dirs[4096], *save = NULL;

	if (!nsf_strlcpy(dirs, path, sizeof(dirs)))
		return -ENAMETOOLONG;
	for (char *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", d, type);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static char *read_all(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;

	if (!buf)
		return NULL;
	while ((n = read(fd, buf + len, cap - len - 1)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		len += (size_t)n;
		if (len + 1 == cap) {
			char *bigger = realloc(buf, cap * 2);

			if (!bigger)
				break;
			buf = bigger;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	return buf;
}

/* The attachment's identity from @env: the runtime's own variables on
 * ADD, DEL and CHECK, a stale attachment's on GC (which has none). */
static void child(const char *exe, const char *command,
		  const struct nsf_cni_env *env, int in, int out)
{
	dup2(in, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	setenv("CNI_COMMAND", command, 1);
	if (env->container_id && *env->container_id)
		setenv("CNI_CONTAINERID", env->container_id, 1);
	if (env->ifname && *env->ifname)
		setenv("CNI_IFNAME", env->ifname, 1);
	if (env->netns && *env->netns)
		setenv("CNI_NETNS", env->netns, 1);
	execl(exe, exe, (char *)NULL);
	_exit(127);
}

/* The plugin's error JSON as ours, code and message kept. */
static int plugin_error(const char *type, const char *out, int status,
			struct nsf_cni_err *e)
{
	cJSON *j = cJSON_Parse(out);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "code");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "msg");

	if (cJSON_IsNumber(code) && cJSON_IsString(msg))
		nsf_cni_fail(e, code->valueint, "ipam plugin %s: %s", type,
			     msg->valuestring);
	else
		nsf_cni_fail(e, NSF_CNI_E_IPAM_PLUGIN,
			     "ipam plugin %s failed (status %d)", type,
			     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	cJSON_Delete(j);
	return -1;
}

int nsf_cni_ipam_exec(const struct nsf_cni_env *env, const char *type,
		      const char *command, const char *stdin_text,
		      void **result, struct nsf_cni_err *e)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, status = 0;
	size_t len = strlen(stdin_text);
	char exe[4352], *text;
	void (*old)(int);
	pid_t pid;

	if (find_plugin(env->path, type, exe, sizeof(exe)))
		return nsf_cni_fail(e, NSF_CNI_E_CONFIG,
				    "ipam plugin '%s' not found in CNI_PATH "
				    "'%s'",
				    type, env->path);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		nsf_cni_fail(e, NSF_CNI_E_IPAM_PLUGIN, "pipe: %s",
			     strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		nsf_cni_fail(e, NSF_CNI_E_IPAM_PLUGIN, "fork: %s",
			     strerror(errno));
		goto fail;
	}
	if (pid == 0)
		child(exe, command, env, in[0], out[1]);
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	/* A plugin that exits without reading must not kill us. */
	old = signal(SIGPIPE, SIG_IGN);
	if (write(in[1], stdin_text, len) != (ssize_t)len)
		fprintf(stderr, "nsfast: ipam plugin %s: short write\n", type);
	signal(SIGPIPE, old);
	close(in[1]);
	in[1] = -1;
	text = read_all(out[0]);
	close(out[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!text)
		return nsf_cni_fail(e, NSF_CNI_E_IPAM_PLUGIN, "out of memory");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		plugin_error(type, text, status, e);
		free(text);
		return -1;
	}
	if (result) {
		*result = cJSON_Parse(text);
		if (!*result || !cJSON_IsObject((cJSON *)*result)) {
			cJSON_Delete(*result);
			*result = NULL;
			free(text);
			return nsf_cni_fail(e, NSF_CNI_E_IPAM_PLUGIN,
					    "ipam plugin %s: result is not a "
					    "JSON object",
					    type);
		}
	}
	free(text);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return -1;
}
