/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "lock.h"

#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

/*
 * The lock is flock() on a file named PID-STARTTIME in a directory only
 * its owner can enter: root's runs use /run/hotpatch, so no other user can
 * take (or fake) the lock of a process root works on.  The kernel drops a
 * flock when its holder dies, SIGKILL included.  The start time in the
 * name keeps a process that reuses the PID from waiting on a stale holder.
 */

static bool name_char(char c, bool user)
{
	if (c >= 'a' && c <= 'z')
		return true;
	return user && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			c == '-');
}

int hp_lock_holder_format(const struct hp_lock_holder *h, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "hotpatch pid=%d uid=%u user=%s verb=%s since=%llu\n", h->pid,
			 (unsigned)h->uid, h->user, h->verb, (unsigned long long)h->since);

	return n < 0 || (size_t)n >= outsz || n > HP_LOCK_HOLDER_MAX ? -ENAMETOOLONG : n;
}

/* "KEY=VALUE" then a space (or the end); returns the value's end. */
static const char *holder_field(const char *p, const char *end, const char *key)
{
	size_t k = strlen(key);
	const char *v;

	if ((size_t)(end - p) <= k || memcmp(p, key, k) || p[k] != '=')
		return NULL;
	v = p + k + 1;
	while (v < end && *v != ' ')
		v++;
	return v;
}

static int holder_number(const char *p, const char *end, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	/* one way to write each number: what parses, formats back the same */
	if (p == end || end - p > 20 || (*p == '0' && end - p > 1))
		return -EINVAL;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9' || v > (max - (uint64_t)(*p - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*ret = v;
	return 0;
}

static bool name_text(const char *p, const char *end, bool user)
{
	for (; p < end; p++)
		if (!name_char(*p, user))
			return false;
	return true;
}

static int holder_text(const char *p, const char *end, bool user, char *out, size_t outsz)
{
	if (p == end || (size_t)(end - p) >= outsz || !name_text(p, end, user))
		return -EINVAL;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = 0;
	return 0;
}

int hp_lock_holder_parse(const char *buf, size_t len, struct hp_lock_holder *ret)
{
	static const char *const keys[] = {"pid", "uid", "user", "verb", "since"};
	struct hp_lock_holder h = {0};
	const char *p, *end;
	uint64_t v;

	if (len < 10 || len > HP_LOCK_HOLDER_MAX || buf[len - 1] != '\n' ||
	    memcmp(buf, "hotpatch ", 9))
		return -EINVAL;
	p = buf + 9;
	end = buf + len - 1;
	for (size_t i = 0; i < HP_ARRAY_SIZE(keys); i++) {
		const char *vend = holder_field(p, end, keys[i]), *val;
		int r;

		if (!vend || (i + 1 < HP_ARRAY_SIZE(keys)) != (vend < end))
			return -EINVAL;
		val = p + strlen(keys[i]) + 1;
		switch (i) {
		case 0:
			r = holder_number(val, vend, INT_MAX, &v);
			h.pid = (pid_t)v;
			if (r == 0 && v == 0)
				r = -EINVAL;
			break;
		case 1:
			r = holder_number(val, vend, UINT32_MAX - 1, &v);
			h.uid = (uid_t)v;
			break;
		case 2:
			r = holder_text(val, vend, true, h.user, sizeof(h.user));
			break;
		case 3:
			r = holder_text(val, vend, false, h.verb, sizeof(h.verb));
			break;
		default:
			r = holder_number(val, vend, UINT64_MAX, &h.since);
			break;
		}
		if (r < 0)
			return r;
		p = vend + 1;
	}
	*ret = h;
	return 0;
}

/*
 * NAME under `parent`, made 0700 if missing, opened without following a
 * symlink and checked on the fd: a directory of `owner` that no one else
 * may enter.  One that is not, we refuse and leave alone.
 */
static int open_lock_dir(int parent, const char *name, const char *shown, uid_t owner)
{
	bool made = mkdirat(parent, name, 0700) == 0;
	struct stat st;
	int fd, e;

	if (!made && errno != EEXIST)
		return hp_fail(-errno, "cannot create the lock directory %s: %m", shown);
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		e = -errno;
		if (e == -ELOOP || e == -ENOTDIR)
			return hp_fail(-EPERM,
				       "refusing the lock directory %s: it is not a directory (a "
				       "symlink?); remove it",
				       shown);
		return hp_fail(e, "cannot open the lock directory %s: %s", shown, strerror(-e));
	}
	if (fstat(fd, &st) < 0) {
		e = -errno;
		goto fail_errno;
	}
	if (st.st_uid != owner) {
		close(fd);
		return hp_fail(-EPERM,
			       "refusing the lock directory %s: it belongs to uid %u, not %u; its "
			       "owner could block or fake hotpatch's lock (remove it)",
			       shown, (unsigned)st.st_uid, (unsigned)owner);
	}
	/* a umask may have taken the owner's own bits from what we made */
	if (made && (st.st_mode & 0777) != 0700) {
		if (fchmod(fd, 0700) < 0) {
			e = -errno;
			goto fail_errno;
		}
		st.st_mode = S_IFDIR | 0700;
	}
	if (st.st_mode & 077) {
		close(fd);
		return hp_fail(-EPERM,
			       "refusing the lock directory %s: its mode %03o lets others block "
			       "hotpatch's lock; chmod 700 it",
			       shown, (unsigned)(st.st_mode & 0777));
	}
	return fd;

fail_errno:
	close(fd);
	return hp_fail(e, "cannot check the lock directory %s: %s", shown, strerror(-e));
}

/* As root /run/hotpatch; otherwise $XDG_RUNTIME_DIR/hotpatch when that is
 * the caller's, else /tmp/hotpatch-UID. */
static int lock_dir(char *shown, size_t shownsz)
{
	uid_t me = geteuid();
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int base, fd;

	if (me == 0) {
		snprintf(shown, shownsz, "/run/hotpatch");
		base = open("/run", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (base < 0)
			return hp_fail(-errno, "cannot open /run for the lock directory: %m");
		fd = open_lock_dir(base, "hotpatch", shown, 0);
		close(base);
		return fd;
	}
	if (xdg && xdg[0] == '/') {
		base = open(xdg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (base >= 0 && fstat(base, &st) == 0 && st.st_uid == me &&
		    !(st.st_mode & (S_IWGRP | S_IWOTH))) {
			snprintf(shown, shownsz, "%s/hotpatch", xdg);
			fd = open_lock_dir(base, "hotpatch", shown, me);
			close(base);
			return fd;
		}
		if (base >= 0)
			close(base);
	}
	char name[32];

	snprintf(name, sizeof(name), "hotpatch-%u", (unsigned)me);
	snprintf(shown, shownsz, "/tmp/%s", name);
	base = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (base < 0)
		return hp_fail(-errno, "cannot open /tmp for the lock directory: %m");
	fd = open_lock_dir(base, name, shown, me);
	close(base);
	return fd;
}

static int open_lock_file(int dir, const char *name, const char *shown)
{
	int fd = openat(dir, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	struct stat st;

	if (fd < 0)
		return hp_fail(-errno, "cannot open the lock file %s/%s: %m", shown, name);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		close(fd);
		return hp_fail(-EPERM, "refusing the lock file %s/%s: not a regular file of ours",
			       shown, name);
	}
	return fd;
}

/* Does `name` still refer to the file we locked?  The holder before us
 * unlinks it while still holding it, so the file we got may be gone. */
static bool still_named(int dir, const char *name, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && fstatat(dir, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * Best effort: the lock holds without it, and a short write leaves a line
 * without its newline, which a waiter reads as "does not say".
 */
static void write_holder(int fd, const char *verb)
{
	struct hp_lock_holder h = {.pid = getpid(), .uid = getuid()};
	struct passwd *pw = getpwuid(h.uid);
	char line[HP_LOCK_HOLDER_MAX + 1];
	struct stat st;
	ssize_t w;
	int n;

	if (pw && pw->pw_name[0] && strlen(pw->pw_name) < sizeof(h.user) &&
	    name_text(pw->pw_name, pw->pw_name + strlen(pw->pw_name), true))
		snprintf(h.user, sizeof(h.user), "%s", pw->pw_name);
	else
		snprintf(h.user, sizeof(h.user), "%u", (unsigned)h.uid);
	snprintf(h.verb, sizeof(h.verb), "%s", verb);
	h.since = hp_wall_ns() / 1000000000ull;
	n = hp_lock_holder_format(&h, line, sizeof(line));
	/* A truncation is done only for a file a killed run left: on ext4 a
	 * truncated file is flushed to disk when it is closed (auto_da_alloc),
	 * which cost every command milliseconds. */
	if (n > 0 && (fstat(fd, &st) < 0 || st.st_size == 0 || ftruncate(fd, 0) == 0)) {
		w = pwrite(fd, line, (size_t)n, 0);
		(void)w;
	}
}

static int busy(int fd, pid_t pid, const char *path)
{
	char buf[HP_LOCK_HOLDER_MAX + 1], when[32];
	struct hp_lock_holder h;
	struct tm tm, today;
	time_t t, now = time(NULL);
	ssize_t n = pread(fd, buf, sizeof(buf), 0);

	if (n <= 0 || hp_lock_holder_parse(buf, (size_t)n, &h) < 0)
		return hp_fail(-HP_EBUSY,
			       "another hotpatch (its lock file %s does not say which) is working on "
			       "pid %d; it did not finish in time (raise --timeout to wait longer)",
			       path, pid);
	t = (time_t)HP_MIN(h.since, (uint64_t)INT64_MAX);
	if (!localtime_r(&t, &tm) || !localtime_r(&now, &today) ||
	    !strftime(when, sizeof(when),
		      tm.tm_yday == today.tm_yday && tm.tm_year == today.tm_year
			      ? "%H:%M:%S"
			      : "%Y-%m-%d %H:%M:%S",
		      &tm))
		snprintf(when, sizeof(when), "%llu", (unsigned long long)h.since);
	return hp_fail(-HP_EBUSY,
		       "another hotpatch (pid %d, user %s, %s, since %s) is working on pid %d; it "
		       "did not finish in time (raise --timeout to wait longer)",
		       h.pid, h.user, h.verb, when, pid);
}

int hp_lock_take(struct hp_lock *ret, pid_t pid, uint64_t start_time, const char *verb,
		 uint64_t deadline)
{
	struct hp_lock l = HP_LOCK_INIT;
	char dir[PATH_MAX + 16], path[PATH_MAX + 64];
	unsigned delay = 1000;
	int r;

	snprintf(l.name, sizeof(l.name), "%d-%llu", pid, (unsigned long long)start_time);
	l.dir = lock_dir(dir, sizeof(dir));
	if (l.dir < 0)
		return l.dir;
	snprintf(path, sizeof(path), "%s/%s", dir, l.name);
	for (;;) {
		if (l.fd < 0) {
			l.fd = open_lock_file(l.dir, l.name, dir);
			if (l.fd < 0) {
				r = l.fd;
				goto fail;
			}
		}
		if (flock(l.fd, LOCK_EX | LOCK_NB) == 0) {
			if (still_named(l.dir, l.name, l.fd))
				break;
			close(l.fd); /* released and unlinked as we took it: anew */
			l.fd = -1;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			r = hp_fail(-errno, "cannot lock %s: %m", path);
			goto fail;
		}
		if (hp_now_ns() >= deadline) {
			r = busy(l.fd, pid, path);
			goto fail;
		}
		hp_sleep_us(delay);
		if (delay < 50000)
			delay *= 2;
	}
	write_holder(l.fd, verb);
	*ret = l;
	return 0;

fail:
	if (l.fd >= 0)
		close(l.fd);
	close(l.dir);
	return r;
}

void hp_lock_release(struct hp_lock *l)
{
	if (l->fd >= 0) {
		/* unlinked while still held: a waiter that gets this file
		 * next finds the name gone and opens a fresh one */
		(void)unlinkat(l->dir, l->name, 0);
		close(l->fd);
	}
	if (l->dir >= 0)
		close(l->dir);
	*l = HP_LOCK_INIT;
}
