/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One command's hold on one target: lock, threads, objects, remote calls,
 * registry; and the steps apply and rollback share. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lock.h"
#include "modules.h"
#include "patch.h"
#include "registry.h"
#include "remote.h"
#include "target.h"

struct hp_session {
	struct hp_target t;
	struct hp_modules m;
	struct hp_remote rc;
	struct hp_registry reg;
	struct hp_lock lock;
	uint64_t deadline;
	int sched_token; /* hotpatch's own priority, raised while it holds the target */
	bool t_open, m_loaded, rc_ready;
	/* rollbacks an interrupted run began and hp_recover() finished */
	struct hp_reg_patch *finished;
	size_t nfinished;
};

/* Opens the target, takes its lock (for `verb`, which the lock file names
 * to whoever waits), reads its objects and registry; with `recover` (apply
 * and rollback, not dry runs), finishes first what an interrupted run
 * left. */
int hp_session_open(struct hp_session *s, pid_t pid, const char *verb, const struct hp_options *o,
		    struct hp_report *rep, bool recover);
/* Detaches every thread, releases everything. */
void hp_session_close(struct hp_session *s);
struct hp_patch_report *hp_report_patch(struct hp_report *rep, const struct hp_reg_patch *p,
					const char *action);
/* An error a syscall returned in the target, as our error. */
int hp_remote_error(struct hp_session *s, uint64_t err, const char *what);
/* dlclose and munmap of the trampolines; the bytes must be back already. */
int hp_session_unload(struct hp_session *s, const struct hp_reg_patch *rp, bool keep_loaded);
int hp_record_remove(struct hp_session *s, uint32_t id);

/* Finishes what an interrupted hotpatch left: an apply whose flip happened
 * is recorded as applied, anything else half done is taken back out. */
int hp_recover(struct hp_session *s, const struct hp_options *o);
