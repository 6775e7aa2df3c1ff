// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "state.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <nsfast/maps.h>

#include "netns.h"

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

int nsf_host_open(struct nsf_host *h)
{
	int err;

	memset(h, 0, sizeof(*h));
	h->lock_fd = -1;
	err = nsf_netns_cookie(&h->cookie);
	if (err)
		return err;
	snprintf(h->id, sizeof(h->id), "%llu", (unsigned long long)h->cookie);
	if (!nsf_strlcpy(h->bpffs, env_or("NSFAST_BPFFS", NSF_BPFFS_DEFAULT),
			 sizeof(h->bpffs)))
		return nsf_fail(ENAMETOOLONG, "NSFAST_BPFFS");
	if (snprintf(h->pin_dir, sizeof(h->pin_dir), "%s/nsfast/%s", h->bpffs,
		     h->id) >= (int)sizeof(h->pin_dir))
		return nsf_fail(ENAMETOOLONG, "pin directory");
	if (snprintf(h->state_dir, sizeof(h->state_dir), "%s/%s",
		     env_or("NSFAST_STATE_DIR", NSF_STATE_DEFAULT),
		     h->id) >= (int)sizeof(h->state_dir))
		return nsf_fail(ENAMETOOLONG, "state directory");
	return 0;
}

int nsf_host_check_bpffs(const struct nsf_host *h)
{
	struct statfs st;

	if (statfs(h->bpffs, &st))
		return nsf_fail(errno, "bpffs %s", h->bpffs);
	if (st.f_type != BPF_FS_MAGIC)
		return nsf_fail(0,
				"bpffs not mounted at %s (mount -t bpf bpf %s)",
				h->bpffs, h->bpffs);
	return 0;
}

static int lock_once(struct nsf_host *h)
{
	char path[NSF_PATH_MAX + 8];
	int err;

	err = nsf_mkdir_p(h->state_dir, 0700);
	if (err)
		return nsf_fail(-err, "state directory %s", h->state_dir);
	snprintf(path, sizeof(path), "%s/lock", h->state_dir);
	h->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (h->lock_fd < 0)
		return nsf_fail(errno, "lock %s", path);
	if (flock(h->lock_fd, LOCK_EX))
		return nsf_fail(errno, "lock %s", path);
	return 0;
}

/* Whether the lock file we hold is still the one at its path: a reset (or
 * a first init that failed) removes the state directory with its lock
 * while others wait on it. 1: it is; 0: another took its place (a new
 * init); -ENOENT: none is there. */
static int lock_current(int fd, const char *path)
{
	struct stat a, b;

	if (stat(path, &b))
		return -ENOENT;
	return !fstat(fd, &a) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* A waiter must not go on under a lock nobody else sees: it locks the new
 * file. When there is none, the host is gone: commands go on under the old
 * lock and find no config (and so recreate nothing), init makes it anew. */
static int host_lock(struct nsf_host *h, bool create)
{
	char path[NSF_PATH_MAX + 8];
	int err, cur;

	snprintf(path, sizeof(path), "%s/lock", h->state_dir);
	for (;;) {
		err = lock_once(h);
		if (err)
			return err;
		cur = lock_current(h->lock_fd, path);
		if (cur == 1 || (cur == -ENOENT && !create))
			return 0;
		nsf_host_close(h);
	}
}

int nsf_host_lock(struct nsf_host *h)
{
	return host_lock(h, false);
}

int nsf_host_lock_create(struct nsf_host *h)
{
	return host_lock(h, true);
}

void nsf_host_close(struct nsf_host *h)
{
	if (h->lock_fd >= 0)
		close(h->lock_fd); /* releases the flock */
	h->lock_fd = -1;
}

static int remove_dir_files(const char *dir)
{
	char path[NSF_PATH_MAX * 2];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	if (rmdir(dir) && errno != ENOENT)
		return -errno;
	return 0;
}

int nsf_host_remove_state(const struct nsf_host *h)
{
	static const char *const subdirs[] = { "endpoints", "ipam", "ids" };
	char path[NSF_PATH_MAX + 16];
	int err;

	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", h->state_dir, subdirs[i]);
		err = remove_dir_files(path);
		if (err)
			return nsf_fail(-err, "remove %s", path);
	}
	err = remove_dir_files(h->state_dir);
	if (err)
		return nsf_fail(-err, "remove %s", h->state_dir);
	/* The shared parent goes once the last host is gone (ENOTEMPTY:
	 * other hosts remain, fine). */
	snprintf(path, sizeof(path), "%s", h->state_dir);
	if (strrchr(path, '/'))
		*strrchr(path, '/') = '\0';
	rmdir(path);
	return 0;
}

/* ---- JSON files ---- */

static cJSON *read_json(const char *path, int *err)
{
	char *buf = NULL;
	cJSON *json;
	long len;
	FILE *f;

	*err = 0;
	f = fopen(path, "re");
	if (!f) {
		*err = -errno;
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET)) {
		*err = -EIO;
		fclose(f);
		return NULL;
	}
	buf = calloc(1, (size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
		*err = buf ? -EIO : -ENOMEM;
	fclose(f);
	json = *err ? NULL : cJSON_Parse(buf);
	free(buf);
	if (!*err && !json)
		*err = -EBADMSG;
	return json;
}

/* Write @text to a fresh file at @path, which must not exist yet: an
 * unnamed O_TMPFILE inode linked in once complete, so a reader (or a
 * crash) never sees half a file and no inode is deleted (on ext4, many
 * recently deleted inodes slow down every later file creation). */
static int write_new(const char *path, const char *text)
{
	char dir[NSF_PATH_MAX * 2], fdpath[64];
	char *slash;
	int fd, err = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		err = -EIO;
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	if (!err && linkat(AT_FDCWD, fdpath, AT_FDCWD, path, AT_SYMLINK_FOLLOW))
		err = -errno;
	close(fd);
	return err;
}

/* Replace (or create) @path with @text via a temporary file and rename(),
 * so a reader (or a crash) never sees half a file. */
static int write_replace(const char *path, const char *text)
{
	char tmp[NSF_PATH_MAX * 2];
	int err = 0;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static int write_json(const char *path, const cJSON *json)
{
	char *printed = cJSON_Print(json), *text;
	int err;

	if (!printed)
		return -ENOMEM;
	err = asprintf(&text, "%s\n", printed) < 0 ? -ENOMEM : 0;
	free(printed);
	if (err)
		return err;
	/* Most writes create a record (attach); only updates replace one. */
	err = write_new(path, text);
	if (err)
		err = write_replace(path, text);
	free(text);
	return err;
}

static const char *json_str(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(item) ? item->valuestring : NULL;
}

static bool json_num(const cJSON *obj, const char *key, double *out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsNumber(item))
		return false;
	*out = item->valuedouble;
	return true;
}

/* ---- host config ---- */

static void config_path(const struct nsf_host *h, char *path, size_t len)
{
	snprintf(path, len, "%s/config.json", h->state_dir);
}

static const char *const xdp_mode_names[] = {
	[NSF_XDP_NATIVE] = "native",
	[NSF_XDP_GENERIC] = "generic",
	[NSF_XDP_OFF] = "off",
	[NSF_XDP_AUTO] = "auto",
};

const char *nsf_xdp_mode_name(enum nsf_xdp_mode mode)
{
	return mode < NSF_XDP_MODES ? xdp_mode_names[mode] : "?";
}

int nsf_xdp_mode_parse(const char *s, enum nsf_xdp_mode *mode)
{
	for (int m = NSF_XDP_NATIVE; m < NSF_XDP_MODES; m++) {
		if (!strcmp(s, xdp_mode_names[m])) {
			*mode = (enum nsf_xdp_mode)m;
			return 0;
		}
	}
	return -EINVAL;
}

void nsf_config_defaults(struct nsf_host_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	nsf_parse_cidr4(NSF_DEFAULT_POD_CIDR, &cfg->pod_cidr, false);
	cfg->gateway = NSF_GATEWAY4;
	cfg->xdp_mode = NSF_XDP_AUTO;
	cfg->nat_port_min = NSF_NAT_PORT_MIN;
	cfg->nat_port_max = NSF_NAT_PORT_MAX;
	cfg->nat_entries = NSF_NAT_DEFAULT_ENTRIES;
}

/* NAT settings apply with or without an uplink (init may add one later). */
static int nat_from_json(const cJSON *json, struct nsf_host_config *cfg)
{
	const char *mode = json_str(json, "xdp_mode");
	double v;

	if (mode && nsf_xdp_mode_parse(mode, &cfg->xdp_mode))
		return -EBADMSG;
	if (json_num(json, "nat_port_min", &v))
		cfg->nat_port_min = (uint16_t)v;
	if (json_num(json, "nat_port_max", &v))
		cfg->nat_port_max = (uint16_t)v;
	/* Absent in hosts made before there was a second range: none. */
	if (json_num(json, "nat_port_min2", &v))
		cfg->nat_port_min2 = (uint16_t)v;
	if (json_num(json, "nat_port_max2", &v))
		cfg->nat_port_max2 = (uint16_t)v;
	if (json_num(json, "nat_entries", &v))
		cfg->nat_entries = (uint32_t)v;
	return 0;
}

static int config_from_json(const cJSON *json, struct nsf_host_config *cfg)
{
	const char *cidr = json_str(json, "pod_cidr");
	const char *gw = json_str(json, "gateway");
	const char *uplink = json_str(json, "uplink");
	const char *snat = json_str(json, "snat_ip");
	double v;

	nsf_config_defaults(cfg);
	if (!cidr || !gw || nsf_parse_cidr4(cidr, &cfg->pod_cidr, false) ||
	    nsf_parse_ipv4(gw, &cfg->gateway) || nat_from_json(json, cfg))
		return -EBADMSG;
	if (!uplink)
		return 0;
	if (!nsf_strlcpy(cfg->uplink, uplink, sizeof(cfg->uplink)) || !snat ||
	    nsf_parse_ipv4(snat, &cfg->snat))
		return -EBADMSG;
	cfg->snat_learned = cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(json, "snat_learned"));
	cfg->uplink_tc = cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(json, "uplink_tc"));
	cfg->uplink_qdisc_created = cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(json, "uplink_qdisc_created"));
	if (!json_num(json, "uplink_ifindex", &v))
		return -EBADMSG;
	cfg->uplink_ifindex = (int)v;
	return 0;
}

int nsf_config_load(const struct nsf_host *h, struct nsf_host_config *cfg)
{
	char path[NSF_PATH_MAX + 16];
	cJSON *json;
	int err;

	config_path(h, path, sizeof(path));
	json = read_json(path, &err);
	if (err == -ENOENT)
		nsf_fail(0, "not initialised (run 'nsfast init' first)");
	if (!json)
		return err == -ENOENT ? -ENOENT : nsf_fail(-err, "%s", path);
	err = config_from_json(json, cfg);
	cJSON_Delete(json);
	return err ? nsf_fail(0, "%s: invalid content", path) : 0;
}

static void config_uplink_to_json(const struct nsf_host_config *cfg,
				  cJSON *json)
{
	char snat[NSF_ADDR_STRLEN];

	nsf_format_ipv4(cfg->snat, snat);
	cJSON_AddStringToObject(json, "uplink", cfg->uplink);
	cJSON_AddNumberToObject(json, "uplink_ifindex", cfg->uplink_ifindex);
	cJSON_AddStringToObject(json, "snat_ip", snat);
	cJSON_AddBoolToObject(json, "snat_learned", cfg->snat_learned);
	cJSON_AddBoolToObject(json, "uplink_tc", cfg->uplink_tc);
	cJSON_AddBoolToObject(json, "uplink_qdisc_created",
			      cfg->uplink_qdisc_created);
}

int nsf_config_save(const struct nsf_host *h, const struct nsf_host_config *cfg)
{
	char path[NSF_PATH_MAX + 16], cidr[NSF_CIDR_STRLEN],
		gw[NSF_ADDR_STRLEN];
	cJSON *json = cJSON_CreateObject();
	int err;

	if (!json)
		return nsf_fail(ENOMEM, "config");
	nsf_format_cidr4(&cfg->pod_cidr, cidr);
	nsf_format_ipv4(cfg->gateway, gw);
	cJSON_AddStringToObject(json, "pod_cidr", cidr);
	cJSON_AddStringToObject(json, "gateway", gw);
	cJSON_AddStringToObject(json, "xdp_mode",
				nsf_xdp_mode_name(cfg->xdp_mode));
	cJSON_AddNumberToObject(json, "nat_port_min", cfg->nat_port_min);
	cJSON_AddNumberToObject(json, "nat_port_max", cfg->nat_port_max);
	cJSON_AddNumberToObject(json, "nat_port_min2", cfg->nat_port_min2);
	cJSON_AddNumberToObject(json, "nat_port_max2", cfg->nat_port_max2);
	cJSON_AddNumberToObject(json, "nat_entries", cfg->nat_entries);
	if (cfg->uplink[0])
		config_uplink_to_json(cfg, json);
	config_path(h, path, sizeof(path));
	err = write_json(path, json);
	cJSON_Delete(json);
	return err ? nsf_fail(-err, "%s", path) : 0;
}

int nsf_pool_addresses(const struct nsf_host *h,
		       const struct nsf_host_config *cfg, struct nsf_pool *pool)
{
	char dir[NSF_PATH_MAX + 8];
	int err;

	snprintf(dir, sizeof(dir), "%s/ipam", h->state_dir);
	err = nsf_pool_init_cidr(pool, dir, &cfg->pod_cidr);
	return err ? nsf_fail(-err, "%s", dir) : 0;
}

int nsf_pool_ids(const struct nsf_host *h, struct nsf_pool *pool)
{
	char dir[NSF_PATH_MAX + 8];
	int err;

	snprintf(dir, sizeof(dir), "%s/ids", h->state_dir);
	err = nsf_pool_init_range(pool, dir, 1, NSF_MAX_ENDPOINTS - 1);
	return err ? nsf_fail(-err, "%s", dir) : 0;
}

/* ---- endpoint records ---- */

static int ep_path(const struct nsf_host *h, const char *name, char *path,
		   size_t len)
{
	if (snprintf(path, len, "%s/endpoints/%s.json", h->state_dir, name) >=
	    (int)len)
		return -ENAMETOOLONG;
	return 0;
}

static int ep_from_json(const cJSON *json, struct nsf_ep_rec *rec)
{
	const char *name = json_str(json, "name"),
		   *netns = json_str(json, "netns");
	const char *ifname = json_str(json, "ifname");
	const char *host_ifname = json_str(json, "host_ifname");
	const char *ip = json_str(json, "ip"),
		   *pod_mac = json_str(json, "pod_mac");
	const char *host_mac = json_str(json, "host_mac");
	double ifindex, id;

	memset(rec, 0, sizeof(*rec));
	if (!name || !netns || !ifname || !host_ifname || !ip || !pod_mac ||
	    !host_mac || !json_num(json, "host_ifindex", &ifindex) ||
	    !json_num(json, "id", &id))
		return -EBADMSG;
	if (!nsf_strlcpy(rec->name, name, sizeof(rec->name)) ||
	    !nsf_strlcpy(rec->netns, netns, sizeof(rec->netns)) ||
	    !nsf_strlcpy(rec->ifname, ifname, sizeof(rec->ifname)) ||
	    !nsf_strlcpy(rec->host_ifname, host_ifname,
			 sizeof(rec->host_ifname)))
		return -EBADMSG;
	if (nsf_parse_ipv4(ip, &rec->ip) ||
	    nsf_parse_mac(pod_mac, rec->pod_mac) ||
	    nsf_parse_mac(host_mac, rec->host_mac))
		return -EBADMSG;
	rec->netns_created = cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(json, "netns_created"));
	rec->gw_onlink = cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(json, "gw_onlink"));
	rec->kept_default = cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(json, "kept_default"));
	rec->host_ifindex = (int)ifindex;
	rec->id = (uint32_t)id;
	return 0;
}

static cJSON *ep_to_json(const struct nsf_ep_rec *rec)
{
	char ip[NSF_ADDR_STRLEN], pod_mac[NSF_MAC_STRLEN],
		host_mac[NSF_MAC_STRLEN];
	cJSON *json = cJSON_CreateObject();

	if (!json)
		return NULL;
	nsf_format_ipv4(rec->ip, ip);
	nsf_format_mac(rec->pod_mac, pod_mac);
	nsf_format_mac(rec->host_mac, host_mac);
	cJSON_AddStringToObject(json, "name", rec->name);
	cJSON_AddStringToObject(json, "netns", rec->netns);
	cJSON_AddBoolToObject(json, "netns_created", rec->netns_created);
	cJSON_AddStringToObject(json, "ifname", rec->ifname);
	cJSON_AddStringToObject(json, "host_ifname", rec->host_ifname);
	cJSON_AddNumberToObject(json, "host_ifindex", rec->host_ifindex);
	cJSON_AddStringToObject(json, "ip", ip);
	cJSON_AddStringToObject(json, "pod_mac", pod_mac);
	cJSON_AddStringToObject(json, "host_mac", host_mac);
	cJSON_AddNumberToObject(json, "id", rec->id);
	/* Only when set: records without them read as false. */
	if (rec->gw_onlink)
		cJSON_AddBoolToObject(json, "gw_onlink", true);
	if (rec->kept_default)
		cJSON_AddBoolToObject(json, "kept_default", true);
	return json;
}

int nsf_ep_load(const struct nsf_host *h, const char *name,
		struct nsf_ep_rec *rec)
{
	char path[NSF_PATH_MAX * 2];
	cJSON *json;
	int err;

	if (ep_path(h, name, path, sizeof(path)))
		return nsf_fail(ENAMETOOLONG, "endpoint %s", name);
	json = read_json(path, &err);
	if (!json)
		return err == -ENOENT ? -ENOENT : nsf_fail(-err, "%s", path);
	err = ep_from_json(json, rec);
	cJSON_Delete(json);
	return err ? nsf_fail(-err, "%s", path) : 0;
}

int nsf_ep_save(const struct nsf_host *h, const struct nsf_ep_rec *rec)
{
	char dir[NSF_PATH_MAX + 16], path[NSF_PATH_MAX * 2];
	cJSON *json;
	int err;

	snprintf(dir, sizeof(dir), "%s/endpoints", h->state_dir);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return nsf_fail(errno, "%s", dir);
	if (ep_path(h, rec->name, path, sizeof(path)))
		return nsf_fail(ENAMETOOLONG, "endpoint %s", rec->name);
	json = ep_to_json(rec);
	if (!json)
		return nsf_fail(ENOMEM, "endpoint %s", rec->name);
	err = write_json(path, json);
	cJSON_Delete(json);
	return err ? nsf_fail(-err, "%s", path) : 0;
}

int nsf_ep_remove(const struct nsf_host *h, const char *name)
{
	char path[NSF_PATH_MAX * 2];

	if (ep_path(h, name, path, sizeof(path)))
		return nsf_fail(ENAMETOOLONG, "endpoint %s", name);
	if (unlink(path) && errno != ENOENT)
		return nsf_fail(errno, "%s", path);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Endpoint names in the state directory, sorted; *count of them. */
static char **ep_names(const struct nsf_host *h, size_t *count, int *err)
{
	char dir[NSF_PATH_MAX + 16];
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*err = 0;
	*count = 0;
	snprintf(dir, sizeof(dir), "%s/endpoints", h->state_dir);
	d = opendir(dir);
	if (!d) {
		*err = errno == ENOENT ? 0 : -errno;
		return NULL;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **grown;

		if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown) {
				*err = -ENOMEM;
				break;
			}
			names = grown;
		}
		names[n] = strndup(de->d_name, len - 5);
		if (!names[n]) {
			*err = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	*count = n;
	return names;
}

int nsf_ep_foreach(const struct nsf_host *h,
		   int (*fn)(const struct nsf_ep_rec *rec, void *arg),
		   void *arg)
{
	struct nsf_ep_rec rec;
	size_t count, i;
	char **names;
	int err;

	names = ep_names(h, &count, &err);
	for (i = 0; !err && i < count; i++) {
		err = nsf_ep_load(h, names[i], &rec);
		if (err == -ENOENT) { /* removed meanwhile */
			err = 0;
			continue;
		}
		if (!err)
			err = fn(&rec, arg);
	}
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return err < 0 && !nsf_last_error()[0]
		       ? nsf_fail(-err, "endpoints of %s", h->state_dir)
		       : err;
}

/* ---- feature files ---- */

struct cJSON *nsf_state_read_json(const struct nsf_host *h, const char *file,
				  int *err)
{
	char path[NSF_PATH_MAX * 2];
	cJSON *json;

	snprintf(path, sizeof(path), "%s/%s", h->state_dir, file);
	json = read_json(path, err);
	if (!json && *err != -ENOENT)
		*err = nsf_fail(-*err, "%s", path);
	return json;
}

int nsf_state_write_json(const struct nsf_host *h, const char *file,
			 const struct cJSON *json)
{
	char path[NSF_PATH_MAX * 2];
	int err;

	snprintf(path, sizeof(path), "%s/%s", h->state_dir, file);
	err = write_json(path, json);
	return err ? nsf_fail(-err, "%s", path) : 0;
}
