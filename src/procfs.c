/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The patch reaches the target as a sealed memfd that the target's dlopen
 * opens by the name /proc/self/fd/N: that keeps "the target loads exactly
 * the bytes that were checked" whatever the target does to its files.  A
 * target whose root has no procfs showing it (a chroot without /proc, a
 * /proc of another PID namespace) cannot open that name, so it is refused
 * before anything is written, with what to do about it.
 */
#include "procfs.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "target.h"
#include "util.h"

#define MAX_LEVELS 32

/* Field 22 of a stat line; 0 when it has none. */
static uint64_t start_time_of(const struct hp_file *f)
{
	char buf[1024], *p, *end;
	size_t n = HP_MIN(f->len, sizeof(buf) - 1);

	memcpy(buf, f->data, n);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the name in parentheses may hold anything */
	if (!p)
		return 0;
	p++;
	for (int field = 3; field <= 22; field++) {
		p += strspn(p, " ");
		if (!*p)
			return 0;
		if (field < 22)
			p += strcspn(p, " ");
	}
	uint64_t v = strtoull(p, &end, 10);

	return end != p ? v : 0;
}

static bool same_mount_ns(pid_t pid)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
	return stat("/proc/self/ns/mnt", &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

int hp_procfs_check(const struct hp_target *t)
{
	char root[64], where[4096], nspid[256], rel[64], procdir[4200], how[4400];
	pid_t pids[MAX_LEVELS];
	size_t npids = 0;
	bool other_ns = false;
	const char *why = "which has no /proc for it";
	ssize_t n;

	snprintf(root, sizeof(root), "/proc/%d/root", t->pid);
	n = readlink(root, where, sizeof(where) - 1);
	if (n <= 0)
		return errno == ENOENT || errno == ESRCH
			       ? hp_fail(-ESRCH, "process %d exited while hotpatch looked at it",
					 t->pid)
			       : hp_fail(-errno, "cannot look at the root of pid %d: %m", t->pid);
	where[n] = 0;
	/* the target's pid at each PID namespace level, ours first: its /proc
	 * may be of any of them */
	if (hp_status_field(t->pid, 0, "NSpid", nspid, sizeof(nspid)) == 0) {
		for (char *s = nspid, *end; npids < MAX_LEVELS; s = end) {
			long v = strtol(s, &end, 10);

			if (end == s)
				break;
			if (v > 0)
				pids[npids++] = (pid_t)v;
		}
	}
	if (!npids)
		pids[npids++] = t->pid;
	/* innermost first: that is where a container's own /proc lives */
	for (size_t i = npids; i-- > 0;) {
		struct hp_file f;
		int r;

		snprintf(rel, sizeof(rel), "proc/%d/stat", pids[i]);
		r = hp_file_read_proc(root, rel, 1024, t->deadline, &f);
		if (r == -HP_ETIMEOUT)
			return hp_fail_prefix(r, "cannot tell whether pid %d can load a patch: ",
					      t->pid);
		if (r == -EMEDIUMTYPE) {
			why = "whose /proc is not a procfs";
			continue;
		}
		if (r < 0)
			continue;
		uint64_t st = start_time_of(&f);

		hp_file_free(&f);
		if (st == t->start_time)
			return 0;
		/* a procfs, but pid i there is some other process */
		other_ns = true;
	}
	hp_error_clear();
	struct pollfd gone = {.fd = t->pidfd, .events = POLLIN};

	/* a root that vanished may only mean the process did */
	if (t->pidfd >= 0 && poll(&gone, 1, 0) > 0)
		return hp_fail(-ESRCH, "process %d exited while hotpatch looked at it", t->pid);
	if (other_ns && strcmp(why, "whose /proc is not a procfs"))
		why = "whose /proc belongs to another PID namespace and does not show it";
	snprintf(procdir, sizeof(procdir), "%s/proc", strcmp(where, "/") ? where : "");
	if (same_mount_ns(t->pid))
		snprintf(how, sizeof(how), "mount -t proc proc %s", procdir);
	else
		snprintf(how, sizeof(how), "nsenter --target %d --mount mount -t proc proc %s",
			 t->pid, procdir);
	return hp_fail(-HP_EUNSUPPORTED,
		       "pid %d runs with root %s, %s: hotpatch loads patches through "
		       "/proc/self/fd; mount one (%s) and try again",
		       t->pid, where, why, how);
}
