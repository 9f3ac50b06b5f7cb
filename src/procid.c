/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A command over many processes meets some that exit or exec while it
 * works on them (a pre-forking server recycling its workers).  Their
 * failure is no failure of the command: comparing what /proc/PID/stat
 * said when the process was selected with what it says after a failure
 * tells them apart.  The name (comm) is not compared: a process may
 * rename itself.
 */
#include "procid.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Field numbers of proc(5) */
enum {
	F_STATE = 3,
	F_START = 22,
	F_STARTCODE = 26,
	F_ENDCODE = 27,
	F_STARTSTACK = 28,
	F_ARGSTART = 48
};

int hp_proc_id_parse(const char *text, struct hp_proc_id *ret)
{
	const char *open = strchr(text, '('), *close = strrchr(text, ')');
	struct hp_proc_id id = {0};
	const char *p;
	char state = 0;

	if (!open || !close || close < open)
		return -EINVAL;
	snprintf(id.comm, sizeof(id.comm), "%.*s", (int)HP_MIN((size_t)(close - open - 1), 63),
		 open + 1);
	p = close + 1;
	for (int field = F_STATE; *p && field <= F_ARGSTART; field++) {
		char *end;
		uint64_t v;

		while (*p == ' ')
			p++;
		if (field == F_STATE) {
			state = *p;
			p++;
			continue;
		}
		v = strtoull(p, &end, 10);
		if (end == p)
			break;
		p = end;
		if (field == F_START)
			id.start = v;
		else if (field == F_STARTCODE)
			id.startcode = v;
		else if (field == F_ENDCODE)
			id.endcode = v;
		else if (field == F_STARTSTACK)
			id.startstack = v;
		else if (field == F_ARGSTART)
			id.argstart = v;
	}
	if (!id.start)
		return -EINVAL;
	/* a zombie has exited: its pid is not a process to patch */
	if (state == 'Z' || state == 'X')
		return -ESRCH;
	id.valid = true;
	*ret = id;
	return 0;
}

int hp_proc_id_read(pid_t pid, struct hp_proc_id *ret)
{
	char path[64], *text = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	r = hp_read_file(path, &text, NULL);
	if (r < 0) {
		hp_error_clear();
		return -ESRCH;
	}
	r = hp_proc_id_parse(text, ret);
	free(text);
	return r;
}

enum hp_proc_change hp_proc_id_changed(pid_t pid, const struct hp_proc_id *then)
{
	struct hp_proc_id now;

	if (!then->valid)
		return HP_PROC_SAME;
	if (hp_proc_id_read(pid, &now) < 0 || now.start != then->start)
		return HP_PROC_EXITED;
	if (now.startcode != then->startcode || now.endcode != then->endcode ||
	    now.startstack != then->startstack || now.argstart != then->argstart)
		return HP_PROC_EXECED;
	return HP_PROC_SAME;
}
