/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "procsel.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* Calls match() for every process but hotpatch itself and kernel threads. */
static int scan(bool (*match)(pid_t pid, const void *arg), const void *arg, pid_t **ret, size_t *n)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t *out = NULL;
	size_t cnt = 0, cap = 0;

	if (!d)
		return hp_fail(-errno, "cannot list /proc: %m");
	while ((de = readdir(d))) {
		pid_t pid = (pid_t)atoi(de->d_name);

		if (pid <= 0 || pid == getpid() || !match(pid, arg))
			continue;
		if (hp_grow((void **)&out, &cap, cnt, sizeof(*out)) < 0) {
			closedir(d);
			free(out);
			return hp_fail(-ENOMEM, "out of memory");
		}
		out[cnt++] = pid;
	}
	closedir(d);
	if (cnt)
		qsort(out, cnt, sizeof(*out), cmp_pid);
	*ret = out;
	*n = cnt;
	return 0;
}

struct exe_id {
	dev_t dev;
	ino_t ino;
};

static bool exe_matches(pid_t pid, const void *arg)
{
	const struct exe_id *id = arg;
	char path[64];
	struct stat st;

	/* stat through the link: the file the process runs, even if it was
	 * renamed or replaced on disk since */
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	return stat(path, &st) == 0 && st.st_dev == id->dev && st.st_ino == id->ino;
}

int hp_procs_by_exe(const char *path, pid_t **ret, size_t *n)
{
	struct exe_id id;
	struct stat st;

	if (stat(path, &st) < 0)
		return hp_fail(-errno == -ENOENT ? -EINVAL : -errno, "--exe %s: %m", path);
	if (!S_ISREG(st.st_mode))
		return hp_fail(-EINVAL, "--exe %s is not a regular file", path);
	id.dev = st.st_dev;
	id.ino = st.st_ino;
	return scan(exe_matches, &id, ret, n);
}

static bool lib_matches(pid_t pid, const void *arg)
{
	const char *name = arg;
	bool by_path = strchr(name, '/') != NULL, found = false;
	size_t nlen = strlen(name);
	char path[64], *maps = NULL;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	if (hp_read_file(path, &maps, NULL) < 0)
		return false;
	for (char *line = maps; line && *line && !found;) {
		char *eol = strchr(line, '\n'), *p = strchr(line, '/');

		if (eol)
			*eol = 0;
		if (p) {
			const char *b = by_path ? p : hp_basename(p);

			/* exact, or a soname naming a longer file: libfoo.so.1.2 */
			found = !strcmp(b, name) ||
				(!by_path && !strncmp(b, name, nlen) && b[nlen] == '.');
		}
		line = eol ? eol + 1 : NULL;
	}
	free(maps);
	return found;
}

int hp_procs_by_lib(const char *name, pid_t **ret, size_t *n)
{
	return scan(lib_matches, name, ret, n);
}
