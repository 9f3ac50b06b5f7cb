/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One command's hold on one target: lock, threads, objects, remote calls,
 * registry.  Opening it changes nothing in the target. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lock.h"
#include "modules.h"
#include "options.h"
#include "registry.h"
#include "remote.h"
#include "report.h"
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
 * to whoever waits), reads its objects and registry.  What an interrupted
 * run left is not touched: that is hp_recover()'s, called by the verbs that
 * may change the target. */
int hp_session_open(struct hp_session *s, pid_t pid, const char *verb, const struct hp_options *o,
		    struct hp_report *rep);
/* Detaches every thread, releases everything. */
void hp_session_close(struct hp_session *s);
