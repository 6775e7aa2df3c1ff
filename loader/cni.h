/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * nsfast as a CNI plugin (spec 1.0.0 and 1.1.0, answering 0.3.x/0.4.0
 * runtimes too). The nsfast binary turns into the plugin when CNI_COMMAND
 * is set (or when it runs as nsfast-cni); see docs/cni.md.
 *
 *   cni_conf.c  network config, CNI_ARGS, versions, errors: pure parsing,
 *               unit-tested without a kernel
 *   cni_ipam.c  address allocation from host-local style ranges, and
 *               delegation to an external IPAM plugin
 *   cni.c       one invocation: env, stdin, dispatch, errors; host set-up;
 *               STATUS, VERSION
 *   cni_add.c   ADD and DEL, records, results, port mappings
 *   cni_check.c CHECK and GC
 *   cni_priv.h  what those three share
 */
#ifndef NSF_CNI_H
#define NSF_CNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "ipam.h"

/* Error codes of the spec, and nsfast's own (100 and up). */
enum {
	NSF_CNI_E_VERSION = 1,	     /* incompatible CNI version */
	NSF_CNI_E_FIELD = 2,	     /* unsupported field in the config */
	NSF_CNI_E_UNKNOWN_CONT = 3,  /* container unknown or gone */
	NSF_CNI_E_ENV = 4,	     /* invalid CNI_* environment */
	NSF_CNI_E_IO = 5,	     /* I/O failure (stdin, stdout) */
	NSF_CNI_E_DECODE = 6,	     /* failed to decode the config */
	NSF_CNI_E_CONFIG = 7,	     /* invalid network config */
	NSF_CNI_E_TRY_AGAIN = 11,    /* transient: try again later */
	NSF_CNI_E_UNAVAILABLE = 50,  /* STATUS: plugin not available */
	NSF_CNI_E_ATTACH = 100,	     /* nsfast could not attach */
	NSF_CNI_E_IPAM_FULL = 101,   /* no free address in the ranges */
	NSF_CNI_E_ADDR_TAKEN = 102,  /* requested address is in use */
	NSF_CNI_E_HOST_INIT = 103,   /* setting up the host failed */
	NSF_CNI_E_CHECK = 104,	     /* CHECK found something missing */
	NSF_CNI_E_IPAM_PLUGIN = 105, /* delegated IPAM plugin failed */
};

struct nsf_cni_err {
	int code;
	char msg[256];
	char details[512];
};

/* Fill @e and return -1 (so callers can `return nsf_cni_fail(...)`). */
int nsf_cni_fail(struct nsf_cni_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

enum nsf_cni_cmd {
	NSF_CNI_ADD,
	NSF_CNI_DEL,
	NSF_CNI_CHECK,
	NSF_CNI_VERSION,
	NSF_CNI_GC,
	NSF_CNI_STATUS,
};

/* The CNI_* environment. Strings point into the environment. */
struct nsf_cni_env {
	enum nsf_cni_cmd cmd;
	const char *container_id; /* CNI_CONTAINERID */
	const char *netns;	  /* CNI_NETNS: a path, "" on some DELs */
	const char *ifname;	  /* CNI_IFNAME */
	const char *args;	  /* CNI_ARGS: "K=V;K=V", may be NULL */
	const char *path;	  /* CNI_PATH: plugin directories */
};

/* Read and check the variables @cmd needs (code 4 when bad). */
int nsf_cni_env_parse(struct nsf_cni_env *env, struct nsf_cni_err *e);
int nsf_cni_cmd_parse(const char *s, enum nsf_cni_cmd *cmd);

/* Versions: the ones nsfast speaks, and comparison of "a.b.c" strings. */
extern const char *const nsf_cni_versions[];
#define NSF_CNI_LATEST "1.1.0"
bool nsf_cni_version_supported(const char *v);
/* <0, 0, >0 like strcmp, numerically per component. */
int nsf_cni_version_cmp(const char *a, const char *b);

#define NSF_CNI_MAX_RANGES   16
#define NSF_CNI_MAX_EXCLUDE  64
#define NSF_CNI_MAX_ROUTES   32
#define NSF_CNI_MAX_PORTMAPS 256

struct nsf_cni_range {
	struct nsf_cidr4 subnet;
	uint32_t start;	  /* first address handed out (host order) */
	uint32_t end;	  /* last one */
	uint32_t gateway; /* never handed out; 0 = none given */
};

struct nsf_cni_portmap {
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t host_port;
	uint16_t container_port;
	uint32_t host_ip; /* 0 = any */
};

struct nsf_cni_ipam {
	bool delegate; /* ipam.type names another plugin */
	char type[64]; /* ipam.type ("nsfast" or empty: our own) */
	int nranges;   /* one IPv4 range set: its ranges */
	struct nsf_cni_range ranges[NSF_CNI_MAX_RANGES];
	int nexclude; /* ipam.exclude: addresses and CIDRs */
	struct nsf_cidr4 exclude[NSF_CNI_MAX_EXCLUDE];
	int nroutes; /* ipam.routes: destinations (via nsfast's gw) */
	struct nsf_cidr4 routes[NSF_CNI_MAX_ROUTES];
};

/* A parsed network config (one plugin's entry of a conflist). */
struct nsf_cni_conf {
	char cni_version[16];
	char name[128];
	char type[64];
	/* Host set-up on the first ADD of an uninitialised host. */
	bool has_pod_cidr;
	struct nsf_cidr4 pod_cidr; /* podCIDR */
	char uplink[16];	   /* uplink */
	char snat_ip[NSF_ADDR_STRLEN];
	char xdp_mode[16];
	char nat_ports[32]; /* "MIN-MAX" or "MIN-MAX,MIN-MAX" */
	char bpffs[256];    /* NSFAST_BPFFS for the plugin */
	char state_dir[256];
	struct nsf_cni_ipam ipam;
	uint32_t req_ip; /* runtimeConfig.ips or CNI_ARGS IP=, 0 = none */
	int nportmaps;
	struct nsf_cni_portmap portmaps[NSF_CNI_MAX_PORTMAPS];
	/* GC: cni.dev/valid-attachments, kept as JSON */
	void *valid_attachments; /* cJSON array or NULL (owned by json) */
	void *prev_result;	 /* cJSON object or NULL (owned by json) */
	void *dns;		 /* cJSON object or NULL (owned by json) */
	void *json;		 /* the whole parsed config (cJSON) */
};

/* Parse and validate @text for command @cmd. On success the caller frees
 * with nsf_cni_conf_free(). */
int nsf_cni_conf_parse(const char *text, enum nsf_cni_cmd cmd,
		       struct nsf_cni_conf *c, struct nsf_cni_err *e);
void nsf_cni_conf_free(struct nsf_cni_conf *c);

/* CNI_ARGS: IP=a.b.c.d sets *ip; K8S_* and IgnoreUnknown are known;
 * any other key is an error (code 2) unless IgnoreUnknown=1|true. */
int nsf_cni_args_parse(const char *args, uint32_t *ip, struct nsf_cni_err *e);

/* Endpoint name for (container id, ifname): readable, valid for
 * nsf_valid_name() and unique (a hash of both). */
void nsf_cni_endpoint_name(const char *container_id, const char *ifname,
			   char out[64]);

/* ---- IPAM (cni_ipam.c) ---- */

/* Check the ranges against the host's pod CIDR (all must lie inside). An
 * empty range set becomes one range covering the pod CIDR. */
int nsf_cni_ipam_fit(struct nsf_cni_ipam *ipam, const struct nsf_cidr4 *pod,
		     struct nsf_cni_err *e);
/* Whether @addr is never handed out (gateway or excluded). */
bool nsf_cni_ipam_skip(uint32_t addr, const void *ipam);
/* Claim an address for @owner in @pool: @want if non-zero (must lie in a
 * range and not be skipped), else the next free one, next-fit over the
 * ranges in order. */
int nsf_cni_ipam_alloc(const struct nsf_cni_ipam *ipam,
		       const struct nsf_pool *pool, uint32_t want,
		       const char *owner, uint32_t *addr,
		       struct nsf_cni_err *e);

/* Whether an ADD could still get an address: one in the ranges, neither
 * skipped nor held in @pool (STATUS). Stops at the first free one. */
bool nsf_cni_ipam_has_free(const struct nsf_cni_ipam *ipam,
			   const struct nsf_pool *pool);

/* Run the delegated IPAM plugin (ipam.type) from CNI_PATH with @command
 * ("ADD", "DEL", "GC", ...), @stdin_text as its input. ADD: its result in
 * *result (a cJSON object the caller frees). */
int nsf_cni_ipam_exec(const struct nsf_cni_env *env, const char *type,
		      const char *command, const char *stdin_text,
		      void **result, struct nsf_cni_err *e);

/* ---- the plugin (cni.c, cni_add.c, cni_check.c) ---- */

/* Everything of one invocation: env, stdin, stdout. Returns the exit
 * status. */
int nsf_cni_main(void);
/* Whether this process is a CNI plugin invocation: CNI_COMMAND is set or
 * the binary runs as nsfast-cni. */
bool nsf_cni_invoked(const char *argv0);

#endif /* NSF_CNI_H */
