/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "proc.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

int hp_proc_stat(pid_t pid, char *comm, size_t commsz, char *state, uint64_t *start)
{
	char path[64], *buf = NULL, *p;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	r = hp_read_file(path, &buf, NULL);
	if (r < 0)
		return r;
	/* comm may contain spaces and parentheses: the last ')' ends it. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ') {
		free(buf);
		return -EINVAL;
	}
	if (comm) {
		char *o = strchr(buf, '(');
		size_t len = o ? (size_t)(p - o - 1) : 0;

		snprintf(comm, commsz, "%.*s", (int)len, o ? o + 1 : "");
	}
	if (state)
		*state = p[2];
	if (start) {
		/* field 3 is the state; start time is field 22 */
		char *f = p + 2;
		for (int i = 3; i < 22 && f; i++) {
			f = strchr(f, ' ');
			if (f)
				f++;
		}
		*start = f ? strtoull(f, NULL, 10) : 0;
	}
	free(buf);
	return 0;
}

int hp_task_state(pid_t pid, pid_t tid, char *state)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EIO;
	*state = p[2];
	return 0;
}

int hp_status_value(const char *text, const char *key, char *out, size_t outsz)
{
	size_t klen = strlen(key);

	for (const char *line = text; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			const char *v = line + klen + 1, *e;

			while (*v == ' ' || *v == '\t')
				v++;
			e = strchr(v, '\n');
			snprintf(out, outsz, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
			return 0;
		}
	}
	return -ENOENT;
}

int hp_proc_status(pid_t pid, pid_t tid, char **ret)
{
	char path[64];

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
	return hp_read_file(path, ret, NULL);
}

int hp_status_field(pid_t pid, pid_t tid, const char *key, char *out, size_t outsz)
{
	char *buf = NULL;
	int r = hp_proc_status(pid, tid, &buf);

	if (r == 0)
		r = hp_status_value(buf, key, out, outsz);
	free(buf);
	return r;
}

static bool read_schedstat(pid_t pid, pid_t tid, uint64_t *run_ns, uint64_t *slices)
{
	char path[64], buf[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return sscanf(buf, "%" SCNu64 " %*u %" SCNu64, run_ns, slices) == 2;
}

void hp_thread_wait_ran(pid_t pid, pid_t tid, unsigned max_us)
{
	uint64_t run0, sl0, run, sl, end = hp_now_ns() + (uint64_t)max_us * 1000;

	if (!read_schedstat(pid, tid, &run0, &sl0)) {
		hp_sleep_us(HP_MIN(max_us, 1000u));
		return;
	}
	while (hp_now_ns() < end) {
		hp_sleep_us(50);
		if (!read_schedstat(pid, tid, &run, &sl) || (sl > sl0 && run > run0 + 20000))
			return;
	}
}
