/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "procsel.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "modules.h"
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
	char name[256]; /* its file name */
	uint64_t deadline;
};

/* A stat() of a process's executable asks its filesystem, which the
 * process's owner may control: no longer than this for each. */
#define EXE_STAT_NS 1000000000ull

static bool exe_matches(pid_t pid, const void *arg)
{
	const struct exe_id *id = arg;
	char path[64], link[4096];
	struct stat st;
	ssize_t n;
	uint64_t until = HP_MIN(id->deadline, hp_now_ns() + EXE_STAT_NS);

	/* The name first, from the kernel alone: only a process running a
	 * file of the same name is asked more. */
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = 0;
	if (n > 10 && !strcmp(link + n - 10, " (deleted)"))
		link[n - 10] = 0;
	if (strcmp(hp_basename(link), id->name))
		return false;
	/* stat through the link: the file the process runs, even if it was
	 * renamed or replaced on disk since */
	if (hp_file_stat(path, until, &st) < 0) {
		hp_error_clear();
		return false;
	}
	return st.st_dev == id->dev && st.st_ino == id->ino;
}

int hp_procs_by_exe(const char *path, uint64_t deadline, pid_t **ret, size_t *n)
{
	struct exe_id id = {.deadline = deadline};
	char real[PATH_MAX];
	struct stat st;

	if (stat(path, &st) < 0)
		return hp_fail(-errno == -ENOENT ? -EINVAL : -errno, "--exe %s: %m", path);
	if (!S_ISREG(st.st_mode))
		return hp_fail(-EINVAL, "--exe %s is not a regular file", path);
	id.dev = st.st_dev;
	id.ino = st.st_ino;
	snprintf(id.name, sizeof(id.name), "%s", hp_basename(realpath(path, real) ? real : path));
	return scan(exe_matches, &id, ret, n);
}

struct lib_id {
	const char *name;
	uint64_t deadline;
	struct hp_path_id own; /* what the path names for hotpatch */
	char own_mnt[64];      /* hotpatch's mount namespace */
};

static bool link_is(const char *link, const char *want)
{
	char buf[128];
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);

	if (n <= 0)
		return false;
	buf[n] = 0;
	return !strcmp(buf, want);
}

/* By name: the maps text alone, as a file name or a soname prefix. */
static bool lib_named(char *maps, const char *name)
{
	size_t nlen = strlen(name);
	bool found = false;

	for (char *line = maps; line && *line && !found;) {
		char *eol = strchr(line, '\n'), *p = strchr(line, '/');

		if (eol)
			*eol = 0;
		if (p) {
			const char *b = hp_basename(p);

			/* exact, or a soname naming a longer file: libfoo.so.1.2 */
			found = !strcmp(b, name) || (!strncmp(b, name, nlen) && b[nlen] == '.');
		}
		line = eol ? eol + 1 : NULL;
	}
	return found;
}

/*
 * By path: the file that path names in the process's own root, as apply
 * will take it (hp_modules_find).  A process that shares hotpatch's mount
 * namespace and root sees what hotpatch sees, which was looked up once;
 * any other is asked on its own, within EXE_STAT_NS.
 */
static bool lib_at_path(pid_t pid, const char *maps, const struct lib_id *id)
{
	struct hp_path_id theirs = {0};
	const struct hp_path_id *pid_id = &id->own;
	struct hp_maps m;
	char link[64], root[64];
	bool found = false;

	if (hp_maps_parse(maps, &m) < 0) {
		hp_error_clear();
		return false;
	}
	snprintf(link, sizeof(link), "/proc/%d/ns/mnt", pid);
	snprintf(root, sizeof(root), "/proc/%d/root", pid);
	if (!id->own_mnt[0] || !link_is(link, id->own_mnt) || !link_is(root, "/")) {
		uint64_t until = HP_MIN(id->deadline, hp_now_ns() + EXE_STAT_NS);

		if (hp_path_lookup(root, id->name, until, &theirs) < 0)
			hp_error_clear(); /* its files do not answer: only the text counts */
		pid_id = &theirs;
	}
	for (size_t i = 0; i < m.n && !found; i++)
		found = m.m[i].path && m.m[i].inode &&
			hp_path_match(pid_id, id->name, m.m[i].path, m.m[i].dev_major,
				      m.m[i].dev_minor, m.m[i].inode) != HP_PATH_NONE;
	hp_path_id_free(&theirs);
	hp_maps_free(&m);
	return found;
}

static bool lib_matches(pid_t pid, const void *arg)
{
	const struct lib_id *id = arg;
	char path[64], *maps = NULL;
	bool found;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	if (hp_read_file(path, &maps, NULL) < 0)
		return false;
	found = strchr(id->name, '/') ? lib_at_path(pid, maps, id) : lib_named(maps, id->name);
	free(maps);
	return found;
}

int hp_procs_by_lib(const char *name, uint64_t deadline, pid_t **ret, size_t *n)
{
	struct lib_id id = {.name = name, .deadline = deadline};
	ssize_t l;
	int r;

	if (strchr(name, '/')) {
		r = hp_path_lookup("/", name, deadline, &id.own);
		if (r < 0)
			return hp_fail_prefix(r, "--lib %s: ", name);
		l = readlink("/proc/self/ns/mnt", id.own_mnt, sizeof(id.own_mnt) - 1);
		id.own_mnt[l > 0 ? l : 0] = 0;
	}
	r = scan(lib_matches, &id, ret, n);
	hp_path_id_free(&id.own);
	return r;
}
