/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "trust.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "patchfile.h"
#include "util.h"

#define MAX_LINKS 40 /* as many as the kernel's own path walk follows */

/*
 * A walk of the patch's path from "/", one name at a time, each opened
 * relative to the directory fd before it with O_NOFOLLOW: every check is
 * made on an fd that was opened, so nothing can be swapped between the
 * check and the use, and every symlink is seen (the kernel would follow
 * it silently).
 */
struct walk {
	const char *given; /* as the user wrote it, for messages */
	uid_t me;
	int links;
	char todo[PATH_MAX]; /* the names still to walk */
	char here[PATH_MAX]; /* the directory the walk is in; "" is "/" */
};

static uid_t invoking_uid(void)
{
	const char *s = getenv("SUDO_UID");

	return s && *s ? (uid_t)strtoul(s, NULL, 10) : getuid();
}

static const char *shown(const char *p)
{
	return p[0] ? p : "/";
}

/* Whether anyone but root and the invoker could have changed what `node`
 * (directory, symlink or the patch) leads to. */
static int check_node(const struct walk *w, const char *node, const struct stat *st)
{
	bool dir = S_ISDIR(st->st_mode), link = S_ISLNK(st->st_mode);
	char what[PATH_MAX + 64];

	if (dir || link)
		snprintf(what, sizeof(what), "the %s %s on its path", dir ? "directory" : "symlink",
			 node);
	else
		snprintf(what, sizeof(what), "%s", strcmp(node, w->given) ? node : "it");
	if (st->st_uid != 0 && st->st_uid != w->me)
		return hp_fail(-EPERM,
			       "refusing the patch %s: %s is owned by uid %u, neither root nor "
			       "you; another user could have %s (--insecure overrides)",
			       w->given, what, (unsigned)st->st_uid,
			       link ? "pointed it anywhere" : "put anything in it");
	/* a symlink's mode is always 0777 and means nothing; a sticky
	 * directory (/tmp) lets nobody replace what others put in it */
	if (!link && (st->st_mode & (S_IWGRP | S_IWOTH)) && !(dir && (st->st_mode & S_ISVTX)))
		return hp_fail(-EPERM,
			       "refusing the patch %s: %s is writable by %s%s, so someone else "
			       "could have changed the patch (chmod go-w %s; --insecure overrides)",
			       w->given, what, (st->st_mode & S_IWOTH) ? "everyone" : "its group",
			       dir ? " and not sticky" : "", node);
	return 0;
}

/* fstat and, since /proc's links are not files but doors into other
 * processes (magic links), refuse anything on procfs. */
static int stat_fd(const struct walk *w, int fd, const char *node, struct stat *st)
{
	struct statfs sf;

	if (fstat(fd, st) < 0)
		return hp_fail(-errno, "cannot stat %s: %m", node);
	if (fstatfs(fd, &sf) < 0)
		return hp_fail(-errno, "cannot stat the file system of %s: %m", node);
	if (sf.f_type == PROC_SUPER_MAGIC)
		return hp_fail(-EPERM,
			       "refusing the patch %s: %s is on procfs, whose links lead into other "
			       "processes, not to a patch file (--insecure overrides)",
			       w->given, node);
	return 0;
}

static int open_failed(const struct walk *w, const char *node)
{
	int e = errno;

	return hp_fail(e == ENOENT ? -HP_EBADPATCH : -e, "cannot open patch %s: %s: %s", w->given,
		       node, strerror(e));
}

static int open_root(const struct walk *w, int *ret)
{
	struct stat st;
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return hp_fail(-errno, "cannot open /: %m");
	r = stat_fd(w, fd, "/", &st);
	if (r == 0)
		r = check_node(w, "/", &st);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret = fd;
	return 0;
}

/* Puts the target of the symlink open at `fd` in front of what is left
 * to walk (`rest`, which points into w->todo). */
static int follow(struct walk *w, int fd, const char *node, const char *rest)
{
	char target[PATH_MAX];
	size_t left = strlen(rest);
	ssize_t n;

	if (++w->links > MAX_LINKS)
		return hp_fail(-HP_EBADPATCH,
			       "cannot open patch %s: more than %d symbolic links on its path",
			       w->given, MAX_LINKS);
	/* "" reads the link open at fd itself: the one whose owner was checked */
	n = readlinkat(fd, "", target, sizeof(target));
	if (n < 0)
		return hp_fail(-errno, "cannot read the symlink %s: %m", node);
	if (n == 0)
		return hp_fail(-HP_EBADPATCH, "cannot open patch %s: the symlink %s is empty",
			       w->given, node);
	if ((size_t)n + left >= sizeof(w->todo))
		return hp_fail(-ENAMETOOLONG, "cannot open patch %s: its path is too long",
			       w->given);
	memmove(w->todo + n, rest, left + 1);
	memcpy(w->todo, target, (size_t)n);
	return 0;
}

/* The last name: opened for reading, without following a symlink put
 * there since it was looked at, and checked on the fd that is read. */
static int open_patch(const struct walk *w, int dir, const char *name, const char *node)
{
	struct stat st;
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), r;

	if (fd < 0 && errno == ELOOP)
		return hp_fail(-EPERM,
			       "refusing the patch %s: %s became a symlink while it was being "
			       "opened (--insecure overrides)",
			       w->given, node);
	if (fd < 0)
		return open_failed(w, node);
	r = stat_fd(w, fd, node, &st);
	if (r == 0 && !S_ISREG(st.st_mode))
		r = hp_fail(-HP_EBADPATCH, "patch %s is not a regular file", w->given);
	if (r == 0)
		r = check_node(w, node, &st);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* The next name on the path still to walk, and the node it makes: 1 for
 * a "." (nothing to open). */
static int next_name(struct walk *w, size_t *pos, char name[NAME_MAX + 1], char node[PATH_MAX],
		     const char **rest)
{
	const char *s = w->todo + *pos;
	size_t len;

	s += strspn(s, "/");
	if (!*s)
		return hp_fail(-HP_EBADPATCH,
			       "patch %s is not a regular file (it names the directory %s)",
			       w->given, shown(w->here));
	len = strcspn(s, "/");
	if (len > NAME_MAX)
		return hp_fail(-ENAMETOOLONG,
			       "cannot open patch %s: a name on its path is too long", w->given);
	memcpy(name, s, len);
	name[len] = 0;
	*rest = s + len;
	*pos = (size_t)(*rest - w->todo);
	if (!strcmp(name, "."))
		return 1;
	if (!strcmp(name, "..")) {
		/* the parent the kernel has, checked like the rest: after a
		 * symlink it is not the one named before */
		char *slash = strrchr(w->here, '/');

		snprintf(node, PATH_MAX, "%.*s", slash ? (int)(slash - w->here) : 0, w->here);
	} else if ((size_t)snprintf(node, PATH_MAX, "%s/%s", w->here, name) >= PATH_MAX) {
		return hp_fail(-ENAMETOOLONG, "cannot open patch %s: its path is too long",
			       w->given);
	}
	return 0;
}

/* The last name: the patch itself, opened for reading; its fd. */
static int open_leaf(struct walk *w, int dir, const char *name, const char *node, const char *rest,
		     const struct stat *st, char **ret_real)
{
	int fd;

	if (*rest) /* "fix.so/..." or "fix.so/": as the kernel, not a directory */
		return hp_fail(-HP_EBADPATCH, "cannot open patch %s: %s is not a directory",
			       w->given, node);
	if (!S_ISREG(st->st_mode))
		return hp_fail(-HP_EBADPATCH, "patch %s is not a regular file", w->given);
	fd = open_patch(w, dir, name, node);
	if (fd < 0)
		return fd;
	*ret_real = hp_fd_path(fd);
	if (!*ret_real)
		*ret_real = hp_strdup(node);
	if (!*ret_real) {
		close(fd);
		return hp_fail(-ENOMEM, "out of memory");
	}
	return fd;
}

static int walk(struct walk *w, char **ret_real)
{
	_cleanup_close_ int dir = -1;
	size_t pos = 0;
	int r;

	r = open_root(w, &dir);
	if (r < 0)
		return r;
	w->here[0] = 0;
	for (;;) {
		char name[NAME_MAX + 1], node[PATH_MAX];
		const char *rest = "";
		_cleanup_close_ int fd = -1;
		struct stat st;

		r = next_name(w, &pos, name, node, &rest);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return open_failed(w, shown(node));
		r = stat_fd(w, fd, shown(node), &st);
		if (r < 0)
			return r;
		if (S_ISLNK(st.st_mode)) {
			r = check_node(w, node, &st);
			if (r == 0)
				r = follow(w, fd, node, rest);
			if (r < 0)
				return r;
			pos = 0;
			if (w->todo[0] == '/') {
				close(dir);
				dir = -1;
				r = open_root(w, &dir);
				if (r < 0)
					return r;
				w->here[0] = 0;
			}
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			r = check_node(w, shown(node), &st);
			if (r < 0)
				return r;
			close(dir);
			dir = fd;
			fd = -1;
			memcpy(w->here, node, sizeof(node));
			continue;
		}
		return open_leaf(w, dir, name, node, rest, &st, ret_real);
	}
}

int hp_trust_open(const char *path, bool insecure, char **ret_real)
{
	_cleanup_free_ struct walk *w = NULL;
	char cwd[PATH_MAX];

	if (insecure || geteuid() != 0)
		return hp_patchfile_open(path, ret_real); /* the kernel's checks are the limit */
	w = calloc(1, sizeof(*w));
	if (!w)
		return hp_fail(-ENOMEM, "out of memory");
	w->given = path;
	w->me = invoking_uid();
	/* a relative path walks from "/" through the cwd's own directories */
	if (path[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return hp_fail(-errno,
			       "cannot open patch %s: cannot find the current directory: %m", path);
	if ((size_t)snprintf(w->todo, sizeof(w->todo), "%s/%s", path[0] == '/' ? "" : cwd, path) >=
	    sizeof(w->todo))
		return hp_fail(-ENAMETOOLONG, "cannot open patch %s: its path is too long", path);
	return walk(w, ret_real);
}

int hp_trust_pin(const char *path, const struct hp_patchfile *pf, const char *pin)
{
	if (pin && strcasecmp(pin, pf->sha256_hex))
		return hp_fail(-HP_EBADPATCH,
			       "%s has SHA-256 %s, not the %s that --sha256 pins: not applying it",
			       path, pf->sha256_hex, pin);
	return 0;
}
