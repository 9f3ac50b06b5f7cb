/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "session.h"

#include <stdio.h>
#include <string.h>

#include "lock.h"
#include "modules.h"
#include "util.h"

int hp_session_open(struct hp_session *s, pid_t pid, const char *verb, const struct hp_options *o,
		    struct hp_report *rep)
{
	int r;

	memset(s, 0, sizeof(*s));
	/* On a host whose cores are all busy, a tool at the default priority
	 * gets a sliver of a CPU and holds the target's threads for seconds:
	 * hotpatch runs ahead of them while it holds the target. */
	s->sched_token = hp_sched_raise();
	s->lock = HP_LOCK_INIT;
	s->deadline = o->deadline ? o->deadline : hp_now_ns() + o->timeout_ns;
	rep->pid = pid;
	hp_trace("session open");
	r = hp_target_open(&s->t, pid);
	s->t_open = true;
	snprintf(rep->comm, sizeof(rep->comm), "%s", s->t.comm);
	if (r < 0)
		return r;
	snprintf(rep->exe, sizeof(rep->exe), "%s", s->t.exe);
	s->t.use_freezer = o->freezer;
	s->t.freezer_auto = o->freezer_auto;
	s->t.deadline = s->deadline;
	r = hp_lock_take(&s->lock, pid, s->t.start_time, verb, s->deadline);
	if (r < 0)
		return r;
	hp_fault_point("lock:taken");
	r = hp_modules_load(&s->t, &s->m);
	if (r < 0)
		return r;
	s->m_loaded = true;
	hp_trace("modules loaded");
	r = hp_remote_init(&s->rc, &s->t, &s->m);
	if (r < 0)
		return r;
	s->rc_ready = true;
	hp_trace("remote ready");
	r = hp_registry_read(&s->rc, &s->reg);
	hp_trace("registry read");
	rep->has_registry = s->rc.ctl != 0;
	return r;
}

void hp_session_close(struct hp_session *s)
{
	hp_trace("session close");
	/* whatever failed, no thread stays stopped or attached */
	if (s->t_open)
		hp_target_close(&s->t);
	hp_registry_free(&s->reg);
	for (size_t i = 0; i < s->nfinished; i++)
		free(s->finished[i].path);
	free(s->finished);
	if (s->rc_ready)
		hp_remote_free(&s->rc);
	if (s->m_loaded)
		hp_modules_free(&s->m);
	hp_trace("session: target closed");
	hp_lock_release(&s->lock);
	hp_sched_restore(s->sched_token);
	hp_trace("session closed");
}
