// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * connrate: short TCP connections per second, for bench/run.sh.
 *
 *   connrate server ADDR PORT SECS
 *       accept connections for at most SECS seconds; on each, read one
 *       byte, answer one byte and close (the server closes first, so the
 *       client never holds TIME_WAIT and its ports stay reusable).
 *   connrate client ADDR PORT SECS [CONCURRENCY]
 *       keep CONCURRENCY (default 8) connections in flight for SECS
 *       seconds: connect, send one byte, read the answer and the end of
 *       the stream, close, start the next. Prints one line:
 *       "conns N secs S rate R failed F timeouts T"
 *       With CONNRATE_TIMELINE set in the environment, the client also
 *       prints the running totals every 250 ms on stderr.
 *
 * A connection counts when the whole exchange completed. A connection
 * still unfinished after 1 s (lost SYN, NAT table full, ...) is abandoned
 * and counted in "timeouts"; refused or reset ones in "failed".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONC	256
#define CONN_TIMEOUT_NS 1000000000ull

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull +
	       (unsigned long long)ts.tv_nsec;
}

static int parse_addr(const char *ip, const char *port, struct sockaddr_in *sa)
{
	char *end;
	long p = strtol(port, &end, 10);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (*end || p < 1 || p > 65535 ||
	    inet_pton(AF_INET, ip, &sa->sin_addr) != 1)
		return -1;
	sa->sin_port = htons((unsigned short)p);
	return 0;
}

/* ---- server ---- */

static int serve(const struct sockaddr_in *sa, double secs)
{
	unsigned long long end = now_ns() + (unsigned long long)(secs * 1e9);
	struct epoll_event ev, evs[64];
	int one = 1, lfd, ep, n, i, fd;
	unsigned long served = 0;
	char c;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (const struct sockaddr *)sa, sizeof(*sa)) ||
	    listen(lfd, 4096)) {
		perror("connrate server: listen");
		return 1;
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev)) {
		perror("connrate server: epoll");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	while (now_ns() < end) {
		n = epoll_wait(ep, evs, 64, 100);
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == lfd) {
				while ((fd = accept4(lfd, NULL, NULL,
						     SOCK_NONBLOCK)) >= 0) {
					ev.events = EPOLLIN;
					ev.data.fd = fd;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd,
						      &ev))
						close(fd);
				}
				continue;
			}
			/* The request byte (or EOF/error): answer and close. */
			if (read(fd, &c, 1) == 1 && write(fd, &c, 1) == 1)
				served++;
			close(fd); /* also removes it from the epoll set */
		}
	}
	printf("served %lu\n", served);
	return 0;
}

/* ---- client ---- */

struct conn {
	int fd;
	int state; /* 0 free, 1 connecting, 2 waiting for the answer */
	unsigned long long started;
};

struct client {
	const struct sockaddr_in *sa;
	int ep;
	struct conn conns[MAX_CONC];
	unsigned long done, failed, timeouts;
};

static void conn_close(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->state = 0;
}

static void conn_start(struct client *cl, struct conn *c)
{
	struct epoll_event ev;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		cl->failed++;
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->started = now_ns();
	if (connect(fd, (const struct sockaddr *)cl->sa, sizeof(*cl->sa)) &&
	    errno != EINPROGRESS) {
		cl->failed++;
		conn_close(c);
		return;
	}
	c->state = 1;
	ev.events = EPOLLOUT | EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(cl->ep, EPOLL_CTL_ADD, fd, &ev)) {
		cl->failed++;
		conn_close(c);
	}
}

static void conn_event(struct client *cl, struct conn *c, unsigned int events)
{
	struct epoll_event ev;
	socklen_t len = sizeof(int);
	char buf[16];
	int err = 0;
	ssize_t n;

	if (c->state == 1) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) ||
		    err || !(events & EPOLLOUT) || write(c->fd, "x", 1) != 1) {
			cl->failed++;
			conn_close(c);
			return;
		}
		c->state = 2;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		epoll_ctl(cl->ep, EPOLL_CTL_MOD, c->fd, &ev);
		return;
	}
	/* The answer, then the server's FIN; both may come in one wakeup. */
	while ((n = read(c->fd, buf, sizeof(buf))) > 0)
		c->state = 3;
	if (n == 0) {
		if (c->state == 3)
			cl->done++;
		else
			cl->failed++;
		conn_close(c);
	} else if (errno != EAGAIN) {
		cl->failed++;
		conn_close(c);
	}
}

static int client(const struct sockaddr_in *sa, double secs, int conc)
{
	struct client cl = { .sa = sa };
	unsigned long long start = now_ns(), end, t, tick = start;
	bool timeline = getenv("CONNRATE_TIMELINE") != NULL;
	struct epoll_event evs[MAX_CONC];
	int i, n;

	end = start + (unsigned long long)(secs * 1e9);
	cl.ep = epoll_create1(0);
	if (cl.ep < 0) {
		perror("connrate client: epoll");
		return 1;
	}
	for (i = 0; i < conc; i++)
		cl.conns[i].fd = -1;
	while ((t = now_ns()) < end) {
		if (timeline && t >= tick) {
			fprintf(stderr,
				"t %.2f conns %lu failed %lu timeouts %lu\n",
				(double)(t - start) / 1e9, cl.done, cl.failed,
				cl.timeouts);
			tick += 250000000ull;
		}
		for (i = 0; i < conc; i++) {
			struct conn *c = &cl.conns[i];

			if (c->state && t - c->started > CONN_TIMEOUT_NS) {
				cl.timeouts++;
				conn_close(c);
			}
			if (!c->state)
				conn_start(&cl, c);
		}
		n = epoll_wait(cl.ep, evs, MAX_CONC, 10);
		for (i = 0; i < n; i++)
			conn_event(&cl, evs[i].data.ptr, evs[i].events);
	}
	t = now_ns();
	printf("conns %lu secs %.3f rate %.1f failed %lu timeouts %lu\n",
	       cl.done, (double)(t - start) / 1e9,
	       (double)cl.done * 1e9 / (double)(t - start), cl.failed,
	       cl.timeouts);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	double secs;
	int conc = 8;

	if (argc < 5 || parse_addr(argv[2], argv[3], &sa) ||
	    (secs = atof(argv[4])) <= 0 || secs > 600) {
		fprintf(stderr, "usage: connrate server|client ADDR PORT SECS "
				"[CONCURRENCY]\n");
		return 2;
	}
	if (argc > 5)
		conc = atoi(argv[5]);
	if (conc < 1 || conc > MAX_CONC) {
		fprintf(stderr, "connrate: concurrency 1-%d\n", MAX_CONC);
		return 2;
	}
	if (!strcmp(argv[1], "server"))
		return serve(&sa, secs);
	if (!strcmp(argv[1], "client"))
		return client(&sa, secs, conc);
	fprintf(stderr, "connrate: mode is server or client\n");
	return 2;
}
