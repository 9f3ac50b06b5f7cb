/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What one command did to one process, for the CLI to report. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flip.h"
#include "registry.h"

struct hp_patchfile;
struct hp_patch_rec;

struct hp_func_report {
	char *symbol;
	char *object;
	char *replacement;
	uint64_t entry;
	uint64_t dest; /* where the pad now jumps (0 after rollback) */
	uint64_t slot; /* trampoline slot, or 0 */
	const char *layout;
	const char *method; /* prologue, padding, relocate */
	unsigned displaced; /* bytes the jump displaced (0 with a prologue) */
	unsigned ninsn;	    /* instructions relocated into the trampoline */
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
/* Adds the patch `p` with every function of it, each with `action` as its
 * result; NULL when out of memory. */
struct hp_patch_report *hp_report_patch(struct hp_report *rep, const struct hp_reg_patch *p,
					const char *action);
/* A failed apply still says, per function, what happened to it: `failed`
 * (the record that stopped it, or NULL) failed with `reason`, the others
 * were skipped with it. */
void hp_report_failure(struct hp_report *rep, const struct hp_patchfile *pf,
		       const struct hp_patch_rec *failed, const char *reason);
