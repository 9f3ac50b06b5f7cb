/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plan: apply, rollback and status, built from the other modules. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flip.h"
#include "registry.h"

struct hp_patchfile;

struct hp_options {
	uint64_t timeout_ns; /* --timeout */
	uint64_t deadline;   /* when the whole command must be done (monotonic) */
	bool dry_run;
	bool force;		    /* rollback despite a byte mismatch */
	bool keep_loaded;	    /* rollback: leave the patch object loaded */
	const char *default_object; /* --lib: where records naming no object look */
	bool freezer;		    /* flip through the cgroup-v1 freezer */
};

/* What one command did to one process, for the CLI to report. */
struct hp_func_report {
	char *symbol;
	char *object;
	char *replacement;
	uint64_t entry;
	uint64_t dest; /* where the pad now jumps (0 after rollback) */
	uint64_t slot; /* trampoline slot, or 0 */
	const char *layout;
	bool stacked;	    /* on top of another patch of the same function */
	bool bytes_ok;	    /* status: target bytes match the record */
	char found[64];	    /* status: what is there when they do not */
	const char *result; /* applied, would-apply, failed, skipped, ... */
	char *reason;	    /* why it failed or was skipped */
};

struct hp_patch_report {
	uint32_t id;
	const char *action; /* applied, already-applied, rolled-back, would-apply, ... */
	char *path;
	char sha256[65];
	char build_id[129];
	uint64_t applied_ns;
	uint32_t state;
	uint64_t handle, base;
	bool unloaded;
	struct hp_func_report *funcs;
	size_t nfuncs;
	size_t ntramps;
};

struct hp_report {
	pid_t pid;
	char comm[64];
	char exe[4096];
	struct hp_patch_report *patches;
	size_t npatches;
	struct hp_flip_stats flip;
	unsigned in_window;    /* dry run: threads that would be single-stepped */
	unsigned inside;       /* rollback: threads inside the patch at the flip */
	unsigned drain_rounds; /* rollback: looks until they had all left */
	uint64_t total_ns, resolve_ns, load_ns, record_ns, unload_ns;
	unsigned remote_calls;
	bool has_registry;
};

void hp_report_free(struct hp_report *r);

int hp_apply(pid_t pid, struct hp_patchfile *pf, const struct hp_options *o, struct hp_report *rep);
/* `pf` NULL with `all` rolls back every patch, newest first; `path` names
 * a patch whose file is gone. */
int hp_rollback(pid_t pid, struct hp_patchfile *pf, const char *path, bool all,
		const struct hp_options *o, struct hp_report *rep);
int hp_status(pid_t pid, const struct hp_options *o, struct hp_report *rep);

/* list: functions that can be patched, per object */
struct hp_listed_func {
	char *name;
	uint64_t addr;
	const char *layout; /* or "patched" */
};
struct hp_listed_object {
	char *path;
	struct hp_listed_func *funcs;
	size_t nfuncs;
};
struct hp_listing {
	pid_t pid;
	char comm[64];
	struct hp_listed_object *objs;
	size_t nobjs;
};
int hp_list(pid_t pid, const struct hp_options *o, struct hp_listing *ret);
void hp_listing_free(struct hp_listing *l);
