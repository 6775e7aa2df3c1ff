// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static void netns_path(const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", NSF_NETNS_RUN_DIR, name);
}

int nsf_netns_open(const char *ref)
{
	char path[512];
	int fd;

	if (strchr(ref, '/'))
		snprintf(path, sizeof(path), "%s", ref);
	else
		netns_path(ref, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return nsf_fail(errno, "netns %s", ref);
	/* Else setns() says only EINVAL, long after, naming nothing. */
	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(fd);
		return nsf_fail(0, "netns %s: not a network namespace", ref);
	}
	return fd;
}

int nsf_netns_abspath(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	char dir[PATH_MAX], *real;
	int n;

	if (path[0] == '/' || !*base)
		n = snprintf(out, len, "%s", path);
	else if (!strcmp(base, ".") || !strcmp(base, ".."))
		return -EISDIR; /* a directory is never a namespace */
	else {
		/* The directory resolved, the file itself not: a magic link
		 * such as ns/net does not resolve to a path. */
		snprintf(dir, sizeof(dir), "%.*s",
			 slash ? (int)(slash - path) : 1, slash ? path : ".");
		if (!dir[0])
			snprintf(dir, sizeof(dir), "/");
		real = realpath(dir, NULL);
		if (!real)
			return -errno;
		n = snprintf(out, len, "%s/%s", strcmp(real, "/") ? real : "",
			     base);
		free(real);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool nsf_netns_exists(const char *name)
{
	char path[512];

	netns_path(name, path, sizeof(path));
	return access(path, F_OK) == 0;
}

/*
 * /run/netns must be a shared mount point so that a namespace bind-mounted
 * under it shows up in every mount namespace (as iproute2 arranges it).
 * Not recursively, unlike iproute2: the namespaces bound under it already
 * joined its peer group when they were mounted, and MS_REC walks every
 * one of them, which made each attach slower the more namespaces the
 * machine had.
 */
static int prepare_run_dir(void)
{
	if (mkdir(NSF_NETNS_RUN_DIR, 0755) && errno != EEXIST)
		return nsf_fail(errno, "mkdir %s", NSF_NETNS_RUN_DIR);
	if (!mount("", NSF_NETNS_RUN_DIR, "none", MS_SHARED, NULL))
		return 0;
	if (errno != EINVAL)
		return nsf_fail(errno, "mount --make-shared %s",
				NSF_NETNS_RUN_DIR);
	/* Not a mount point yet: bind it onto itself, then share it. */
	if (mount(NSF_NETNS_RUN_DIR, NSF_NETNS_RUN_DIR, "none",
		  MS_BIND | MS_REC, NULL))
		return nsf_fail(errno, "mount --bind %s", NSF_NETNS_RUN_DIR);
	if (mount("", NSF_NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL))
		return nsf_fail(errno, "mount --make-shared %s",
				NSF_NETNS_RUN_DIR);
	return 0;
}

/* Create a new namespace and bind it onto @path, staying where we are. */
static int bind_new_netns(const char *name, const char *path)
{
	int saved, err = 0;

	saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (saved < 0)
		return nsf_fail(errno, "open /proc/self/ns/net");
	if (unshare(CLONE_NEWNET)) {
		err = nsf_fail(errno, "netns %s: unshare", name);
		close(saved);
		return err;
	}
	if (mount("/proc/self/ns/net", path, "none", MS_BIND, NULL))
		err = nsf_fail(errno, "netns %s: bind mount", name);
	if (setns(saved, CLONE_NEWNET) && !err)
		err = nsf_fail(errno, "netns %s: return to caller", name);
	close(saved);
	return err;
}

int nsf_netns_add(const char *name)
{
	char path[512];
	int fd, err;

	err = prepare_run_dir();
	if (err)
		return err;
	netns_path(name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return nsf_fail(errno, "netns %s", name);
	close(fd);
	err = bind_new_netns(name, path);
	if (err)
		unlink(path);
	return err;
}

int nsf_netns_del(const char *name)
{
	char path[512];

	netns_path(name, path, sizeof(path));
	if (umount2(path, MNT_DETACH) && errno != EINVAL)
		return nsf_fail(errno, "netns %s", name);
	if (unlink(path))
		return nsf_fail(errno, "netns %s", name);
	return 0;
}

int nsf_netns_foreach(int (*fn)(const char *name, void *arg), void *arg)
{
	struct dirent *de;
	int err = 0;
	DIR *dir;

	dir = opendir(NSF_NETNS_RUN_DIR);
	if (!dir)
		return errno == ENOENT
			       ? 0
			       : nsf_fail(errno, "%s", NSF_NETNS_RUN_DIR);
	while (!err && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		err = fn(de->d_name, arg);
	}
	closedir(dir);
	return err;
}

int nsf_netns_enter(int fd, int *saved)
{
	*saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0)
		return nsf_fail(errno, "open /proc/self/ns/net");
	if (setns(fd, CLONE_NEWNET)) {
		int err = errno;

		close(*saved);
		*saved = -1;
		return nsf_fail(err, "setns");
	}
	return 0;
}

int nsf_netns_leave(int saved)
{
	int err = 0;

	if (saved < 0)
		return 0;
	if (setns(saved, CLONE_NEWNET))
		err = nsf_fail(errno, "setns back");
	close(saved);
	return err;
}

int nsf_netns_switch(const char *ref)
{
	int fd = nsf_netns_open(ref);
	int err = 0;

	if (fd < 0)
		return fd;
	if (setns(fd, CLONE_NEWNET))
		err = nsf_fail(errno, "netns %s", ref);
	close(fd);
	return err;
}

int nsf_netns_cookie(uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);
	int fd, err = 0;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return nsf_fail(errno, "socket");
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len))
		err = nsf_fail(errno, "netns cookie");
	close(fd);
	return err;
}

bool nsf_netns_is_current(int fd)
{
	struct stat a, b;

	return !fstat(fd, &a) && !stat("/proc/thread-self/ns/net", &b) &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int nsf_netns_exec(const char *name, char *const argv[])
{
	int fd = nsf_netns_open(name);

	if (fd < 0)
		return fd;
	if (setns(fd, CLONE_NEWNET)) {
		close(fd);
		return nsf_fail(errno, "netns %s", name);
	}
	close(fd);
	/* As `ip netns exec`: a private /sys that lists this namespace's
	 * devices, without touching the caller's mounts. */
	if (unshare(CLONE_NEWNS))
		return nsf_fail(errno, "unshare mount namespace");
	if (mount("", "/", "none", MS_SLAVE | MS_REC, NULL))
		return nsf_fail(errno, "mount --make-rslave /");
	if (umount2("/sys", MNT_DETACH) == 0 &&
	    mount(name, "/sys", "sysfs", 0, NULL))
		return nsf_fail(errno, "mount sysfs for netns %s", name);
	execvp(argv[0], argv);
	return nsf_fail(errno, "exec %s", argv[0]);
}
