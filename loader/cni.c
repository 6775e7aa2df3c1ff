// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The CNI plugin's entry. One invocation reads the CNI_* environment and
 * the config on stdin, dispatches (ADD and DEL in cni_add.c, CHECK and GC
 * in cni_check.c, STATUS and VERSION here) and writes exactly one JSON
 * document to stdout: a result, or an error with its code (also logged to
 * stderr). Also here: setting a host up from the config when nobody ran
 * `nsfast init`.
 *
 * Each attachment (container id, ifname) is endpoint "cni-<id>-<if>-<hash>"
 * plus a record <state>/cni-<endpoint>.json that DEL, CHECK and GC read.
 */
#include "cni_priv.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "maps.h"
#include "netlink.h"
#include "state.h"

/* ---- output ---- */

int cni_emit_json(cJSON *doc)
{
	char *text = cJSON_Print(doc);
	int rc = 0;

	if (!text || printf("%s\n", text) < 0 || fflush(stdout))
		rc = 1;
	free(text);
	return rc;
}

static const char *reply_version(const struct nsf_cni_conf *c)
{
	return nsf_cni_version_supported(c->cni_version) ? c->cni_version
							 : NSF_CNI_LATEST;
}

static int emit_error(const struct cni_ctx *x)
{
	char details[sizeof(x->e.details)];
	cJSON *doc = cJSON_CreateObject();

	/* Which attachment, for the runtime's log. */
	if (!x->e.details[0] && x->name[0])
		snprintf(details, sizeof(details),
			 "container %s, ifname %s, endpoint %s",
			 x->env.container_id, x->env.ifname, x->name);
	else
		snprintf(details, sizeof(details), "%s", x->e.details);
	fprintf(stderr, "nsfast: cni: %s (code %d)\n", x->e.msg, x->e.code);
	cJSON_AddStringToObject(doc, "cniVersion", reply_version(&x->conf));
	cJSON_AddNumberToObject(doc, "code", x->e.code);
	cJSON_AddStringToObject(doc, "msg", x->e.msg);
	if (details[0])
		cJSON_AddStringToObject(doc, "details", details);
	cni_emit_json(doc);
	cJSON_Delete(doc);
	return 1;
}

/* nsfast's own error (nsf_fail) as a CNI error with @code. */
int cni_fail_nsf(struct cni_ctx *x, int code, const char *what)
{
	const char *why = nsf_last_error();

	return nsf_cni_fail(&x->e, code, "%s%s%s", what, *why ? ": " : "", why);
}

/* ---- the host ---- */

/* The pod CIDR for a host the plugin sets up: podCIDR, else the subnet of
 * a single own ipam range, else nsfast's default. */
static void init_cidr(const struct nsf_cni_conf *c, char out[NSF_CIDR_STRLEN])
{
	struct nsf_cidr4 cidr;

	if (c->has_pod_cidr) {
		nsf_format_cidr4(&c->pod_cidr, out);
	} else if (!c->ipam.delegate && c->ipam.nranges == 1 &&
		   c->ipam.ranges[0].subnet.prefix >= 8 &&
		   c->ipam.ranges[0].subnet.prefix <= 30) {
		nsf_format_cidr4(&c->ipam.ranges[0].subnet, out);
	} else {
		nsf_parse_cidr4(NSF_DEFAULT_POD_CIDR, &cidr, false);
		nsf_format_cidr4(&cidr, out);
	}
}

/* `nsfast init` with the config's settings. Its report goes to stderr:
 * stdout carries the CNI result only. */
static int run_init(struct cni_ctx *x)
{
	char cidr[NSF_CIDR_STRLEN], *argv[16];
	const struct nsf_cni_conf *c = &x->conf;
	int argc = 0, saved, rc;

	init_cidr(c, cidr);
	argv[argc++] = "init";
	argv[argc++] = "--pod-cidr";
	argv[argc++] = cidr;
	if (*c->uplink) {
		argv[argc++] = "--uplink";
		argv[argc++] = (char *)c->uplink;
	}
	if (*c->snat_ip) {
		argv[argc++] = "--snat-ip";
		argv[argc++] = (char *)c->snat_ip;
	}
	if (*c->xdp_mode) {
		argv[argc++] = "--xdp-mode";
		argv[argc++] = (char *)c->xdp_mode;
	}
	if (*c->nat_ports) {
		argv[argc++] = "--nat-ports";
		argv[argc++] = (char *)c->nat_ports;
	}
	argv[argc] = NULL;
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	if (saved < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		return nsf_cni_fail(&x->e, NSF_CNI_E_HOST_INIT, "dup: %s",
				    strerror(errno));
	nsf_clear_error();
	optind = 0;
	opterr = 0;
	rc = cmd_init(argc, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	if (rc)
		return cni_fail_nsf(x, NSF_CNI_E_HOST_INIT, "set up the host");
	return 0;
}

/*
 * Open the host and load its config; when it was never initialised and
 * @create, initialise it from the network config first. Concurrent ADDs
 * on a fresh host: a flock on the state directory lets one initialise,
 * the others then find the config. Returns 1 when not initialised (and
 * !@create).
 */
int cni_host_prepare(struct cni_ctx *x, bool create)
{
	int err, fd;

	if (nsf_host_open(&x->h))
		return cni_fail_nsf(x, NSF_CNI_E_ATTACH, "host");
	err = nsf_config_load(&x->h, &x->cfg);
	/* Never set up: nothing to delete or check, bpffs or not. */
	if (err == -ENOENT && !create)
		return 1;
	if (nsf_host_check_bpffs(&x->h))
		return cni_fail_nsf(x, NSF_CNI_E_ATTACH, "host");
	if (err != -ENOENT)
		return err ? cni_fail_nsf(x, NSF_CNI_E_ATTACH, "host config")
			   : 0;
	err = nsf_mkdir_p(x->h.state_dir, 0700);
	fd = err ? -1
		 : open(x->h.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX)) {
		if (fd >= 0)
			close(fd);
		return nsf_cni_fail(&x->e, NSF_CNI_E_HOST_INIT, "state %s: %s",
				    x->h.state_dir,
				    strerror(err ? -err : errno));
	}
	err = nsf_config_load(&x->h, &x->cfg);
	if (err == -ENOENT)
		err = run_init(x) ? -1 : nsf_config_load(&x->h, &x->cfg);
	close(fd);
	if (err && !x->e.code)
		return cni_fail_nsf(x, NSF_CNI_E_HOST_INIT, "host config");
	return err ? -1 : 0;
}

int cni_host_check_conf(struct cni_ctx *x)
{
	char want[NSF_CIDR_STRLEN], have[NSF_CIDR_STRLEN];
	const struct nsf_cni_conf *c = &x->conf;

	if (c->has_pod_cidr && (c->pod_cidr.net != x->cfg.pod_cidr.net ||
				c->pod_cidr.prefix != x->cfg.pod_cidr.prefix)) {
		nsf_format_cidr4(&c->pod_cidr, want);
		nsf_format_cidr4(&x->cfg.pod_cidr, have);
		return nsf_cni_fail(&x->e, NSF_CNI_E_CONFIG,
				    "podCIDR %s differs from the host's pod "
				    "CIDR %s (change it with nsfast init)",
				    want, have);
	}
	if (c->ipam.delegate)
		return 0;
	return nsf_cni_ipam_fit(&x->conf.ipam, &x->cfg.pod_cidr, &x->e);
}

/* ---- STATUS (1.1) ---- */

/* Not set up yet: the first ADD will need the uplink. */
static int status_uplink(struct cni_ctx *x)
{
	struct nsf_link link = { 0 };
	struct nsf_nl nl;
	int err;

	if (!*x->conf.uplink)
		return 0;
	err = nsf_nl_open(&nl);
	if (!err) {
		err = nsf_nl_link_get(&nl, x->conf.uplink, &link);
		nsf_nl_close(&nl);
	}
	if (err)
		return nsf_cni_fail(&x->e, NSF_CNI_E_UNAVAILABLE,
				    "uplink %s: %s", x->conf.uplink,
				    strerror(-err));
	return 0;
}

/* Spec 1.1: a plugin with limited resources fails STATUS once no ADD
 * can be served; for nsfast's own IPAM that is a full range set. */
static int status_pool(struct cni_ctx *x)
{
	struct nsf_pool pool;

	if (cni_host_check_conf(x))
		return -1;
	if (nsf_pool_addresses(&x->h, &x->cfg, &pool))
		return cni_fail_nsf(x, NSF_CNI_E_UNAVAILABLE, "address pool");
	if (!nsf_cni_ipam_has_free(&x->conf.ipam, &pool))
		return nsf_cni_fail(&x->e, NSF_CNI_E_UNAVAILABLE,
				    "no free address left in the ipam "
				    "ranges");
	return 0;
}

/* A delegated IPAM plugin that speaks 1.1.0 answers for its addresses. */
static int status_delegate(struct cni_ctx *x)
{
	char version[16];

	if (cni_delegate_version(x, version, sizeof(version)))
		return -1;
	if (nsf_cni_version_cmp(version, "1.1.0") < 0)
		return 0;
	return nsf_cni_ipam_exec(&x->env, x->conf.ipam.type, "STATUS",
				 x->stdin_text, NULL, &x->e);
}

int cni_status(struct cni_ctx *x)
{
	int rc = cni_host_prepare(x, false);

	/* A host not set up yet needs bpffs for its first ADD. */
	if (rc > 0 && nsf_host_check_bpffs(&x->h))
		rc = cni_fail_nsf(x, NSF_CNI_E_UNAVAILABLE, "host");
	if (rc < 0) {
		x->e.code = NSF_CNI_E_UNAVAILABLE;
		return -1;
	}
	if (rc > 0 && status_uplink(x))
		return -1;
	if (x->conf.ipam.delegate)
		return status_delegate(x);
	return rc == 0 ? status_pool(x) : 0;
}

/* ---- VERSION and main ---- */

static int cni_version(struct cni_ctx *x)
{
	cJSON *doc = cJSON_CreateObject(), *list;
	int rc;

	cJSON_AddStringToObject(doc, "cniVersion", reply_version(&x->conf));
	list = cJSON_AddArrayToObject(doc, "supportedVersions");
	for (int i = 0; nsf_cni_versions[i]; i++)
		cJSON_AddItemToArray(list,
				     cJSON_CreateString(nsf_cni_versions[i]));
	rc = cni_emit_json(doc);
	cJSON_Delete(doc);
	return rc ? -1 : 0;
}

static char *read_stdin(void)
{
	size_t len = 0, cap = 8192;
	char *buf = malloc(cap);
	ssize_t n;

	if (!buf)
		return NULL;
	while ((n = read(STDIN_FILENO, buf + len, cap - len - 1)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
		if (len + 1 == cap) {
			char *bigger = realloc(buf, cap * 2);

			if (!bigger) {
				free(buf);
				return NULL;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	return buf;
}

/* The config's bpffs/stateDir, for hosts that keep nsfast state elsewhere
 * (the runtime passes no NSFAST_* variables). */
static void apply_paths(const struct nsf_cni_conf *c)
{
	if (*c->bpffs)
		setenv("NSFAST_BPFFS", c->bpffs, 1);
	if (*c->state_dir)
		setenv("NSFAST_STATE_DIR", c->state_dir, 1);
}

static int dispatch(struct cni_ctx *x)
{
	uint32_t arg_ip = 0;

	if (x->env.cmd == NSF_CNI_VERSION)
		return cni_version(x);
	/* Only ADD and CHECK use CNI_ARGS (IP=): DEL, GC and STATUS must not
	 * fail on what they ignore. */
	if ((x->env.cmd == NSF_CNI_ADD || x->env.cmd == NSF_CNI_CHECK) &&
	    nsf_cni_args_parse(x->env.args, &arg_ip, &x->e))
		return -1;
	if (!x->conf.req_ip)
		x->conf.req_ip = arg_ip;
	apply_paths(&x->conf);
	if (x->env.cmd == NSF_CNI_ADD || x->env.cmd == NSF_CNI_DEL ||
	    x->env.cmd == NSF_CNI_CHECK)
		nsf_cni_endpoint_name(x->env.container_id, x->env.ifname,
				      x->name);
	switch (x->env.cmd) {
	case NSF_CNI_ADD:
		return cni_add(x);
	case NSF_CNI_DEL:
		return cni_del(x);
	case NSF_CNI_CHECK:
		return cni_check(x);
	case NSF_CNI_GC:
		return cni_gc(x);
	case NSF_CNI_STATUS:
		return cni_status(x);
	default:
		return 0;
	}
}

bool nsf_cni_invoked(const char *argv0)
{
	const char *base = strrchr(argv0, '/');
	const char *cmd = getenv("CNI_COMMAND");

	base = base ? base + 1 : argv0;
	return (cmd && *cmd) || !strcmp(base, "nsfast-cni");
}

int nsf_cni_main(void)
{
	struct cni_ctx *x = calloc(1, sizeof(*x));
	char *text = NULL;
	int rc = 1;

	if (!x)
		return 1;
	x->h.lock_fd = -1;
	nsf_libbpf_logging(false);
	if (nsf_cni_env_parse(&x->env, &x->e))
		goto out;
	text = read_stdin();
	if (!text) {
		nsf_cni_fail(&x->e, NSF_CNI_E_IO, "read stdin: %s",
			     strerror(errno));
		goto out;
	}
	x->stdin_text = text;
	if (nsf_cni_conf_parse(text, x->env.cmd, &x->conf, &x->e))
		goto out;
	rc = dispatch(x) ? 1 : 0;
out:
	if (rc && !x->e.code)
		nsf_cni_fail(&x->e, NSF_CNI_E_ATTACH, "internal error");
	if (rc)
		emit_error(x);
	nsf_host_close(&x->h);
	nsf_cni_conf_free(&x->conf);
	free(text);
	free(x);
	return rc;
}
