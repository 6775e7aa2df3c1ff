/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Inside the CNI plugin: what cni.c (invocation, host, STATUS, VERSION),
 * cni_add.c (records, results, ADD, DEL) and cni_check.c (CHECK, GC)
 * share. Not for the rest of nsfast: cni.h is the interface.
 */
#ifndef NSF_CNI_PRIV_H
#define NSF_CNI_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "cni.h"
#include "state.h"

/* One invocation. */
struct cni_ctx {
	struct nsf_cni_env env;
	struct nsf_cni_conf conf;
	const char *stdin_text;
	struct nsf_host h;
	struct nsf_host_config cfg;
	char name[64]; /* endpoint name */
	cJSON *ipres;  /* ADD: the delegated IPAM plugin's result, if any */
	struct nsf_cni_err e;
};

/* @doc on stdout: 0, or 1 if it could not be written. */
int cni_emit_json(cJSON *doc);
/* nsfast's own error (nsf_fail) as a CNI error with @code; returns -1. */
int cni_fail_nsf(struct cni_ctx *x, int code, const char *what);

/* Open the host and load its config; with @create, set up a host that
 * never was from the network config. 1: not set up (and !@create). */
int cni_host_prepare(struct cni_ctx *x, bool create);
/* The config agrees with the host (podCIDR, ipam ranges inside it). */
int cni_host_check_conf(struct cni_ctx *x);

/* <state>/cni-<endpoint>.json: the attachment's record. */
void cni_record_path(const struct cni_ctx *x, const char *name, char *path,
		     size_t len);
cJSON *cni_record_load(const struct cni_ctx *x, const char *name);
void cni_record_remove(const struct cni_ctx *x, const char *name);
/* Take attachment @name off the host (gone is fine), release its address
 * and port mappings, remove its record. */
int cni_remove_attachment(struct cni_ctx *x, const char *name);

/* The newest CNI version both nsfast and the delegated IPAM plugin speak,
 * not newer than the config's: a delegate older than CNI 1.1 refuses a
 * 1.1 config even for DEL, and knows no GC or STATUS. */
int cni_delegate_version(struct cni_ctx *x, char *out, size_t len);

int cni_add(struct cni_ctx *x);
int cni_del(struct cni_ctx *x);
int cni_check(struct cni_ctx *x);
int cni_gc(struct cni_ctx *x);
int cni_status(struct cni_ctx *x);

#endif /* NSF_CNI_PRIV_H */
