/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fileio.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util.h"

enum op { OP_STAT = 1, OP_READ_FILE, OP_PREAD, OP_PWRITE, OP_LOOKUP_IN, OP_READ_PROC };

/* A request, then `pathlen` bytes of path, then for OP_PWRITE `len` bytes
 * of data; OP_PREAD and OP_PWRITE carry their fd as SCM_RIGHTS.  For
 * OP_LOOKUP_IN and OP_READ_PROC the path is "ROOT\0PATH". */
struct req {
	uint32_t op, pathlen;
	uint64_t off, len, max;
};

/* The answer, then `msglen` bytes of message, then `len` bytes of data. */
struct resp {
	int32_t err;
	uint32_t msglen;
	uint64_t len;
	struct stat st;
};

static pid_t helper_pid;
static int helper_sock = -1;
static unsigned stuck;

/* --------------------------------------------------- the work, either side */

static int fail_msg(char *msg, size_t msgsz, const char *path, int err, const char *what)
{
	snprintf(msg, msgsz, "cannot read %.300s: %.150s", path, what);
	return err;
}

/* Opens only a regular file: a device or FIFO is never opened (that can
 * block or have side effects).  The fd, or a negative errno. */
static int open_regular(const char *path, struct stat *st, char *msg, size_t msgsz)
{
	struct stat before;
	int fd;

	if (stat(path, &before) < 0)
		return fail_msg(msg, msgsz, path, -errno, strerror(errno));
	if (!S_ISREG(before.st_mode))
		return fail_msg(msg, msgsz, path, -EINVAL, "not a regular file");
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return fail_msg(msg, msgsz, path, -errno, strerror(errno));
	if (fstat(fd, st) < 0) {
		int e = -errno;

		close(fd);
		return fail_msg(msg, msgsz, path, e, strerror(-e));
	}
	if (!S_ISREG(st->st_mode) || st->st_ino != before.st_ino || st->st_dev != before.st_dev) {
		close(fd);
		return fail_msg(msg, msgsz, path, -ESTALE, "it was replaced while being opened");
	}
	return fd;
}

int hp_file_open_regular(const char *path, struct stat *ret_st)
{
	char msg[512];
	int fd = open_regular(path, ret_st, msg, sizeof(msg));

	return fd < 0 ? hp_fail(fd, "%s", msg) : fd;
}

/* Reads all of a regular file. */
static int read_whole(const char *path, size_t max, struct hp_file *f, char *msg, size_t msgsz)
{
	int fd, r = 0;

	memset(f, 0, sizeof(*f));
	fd = open_regular(path, &f->st, msg, msgsz);
	if (fd < 0)
		return fd;
	if ((uint64_t)f->st.st_size > max)
		r = fail_msg(msg, msgsz, path, -EFBIG, "too large");
	if (r == 0) {
		f->len = (size_t)f->st.st_size;
		f->data = malloc(f->len ? f->len : 1);
		if (!f->data)
			r = fail_msg(msg, msgsz, path, -ENOMEM, "out of memory");
	}
	for (size_t done = 0; r == 0 && done < f->len;) {
		ssize_t n = pread(fd, f->data + done, f->len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = fail_msg(msg, msgsz, path, -errno, strerror(errno));
		else if (n == 0)
			r = fail_msg(msg, msgsz, path, -ESTALE,
				     "it was truncated while being read");
		else
			done += (size_t)n;
	}
	/* one byte more than its size means it grew while we read */
	if (r == 0) {
		uint8_t extra;

		if (pread(fd, &extra, 1, (off_t)f->len) > 0)
			r = fail_msg(msg, msgsz, path, -ESTALE, "it grew while being read");
	}
	close(fd);
	if (r < 0)
		hp_file_free(f);
	return r;
}

/*
 * Looks `path` up as a process whose root directory is `root` would, and
 * says which file it names (following links) and that file's path as this
 * process sees it.  RESOLVE_IN_ROOT keeps absolute links and ".." inside
 * that root; RESOLVE_NO_MAGICLINKS refuses /proc/.../root and fd links,
 * which would lead out of it; O_PATH opens nothing (a FIFO, a device) and
 * reads nothing.
 */
static int lookup_in(const char *root, const char *path, struct stat *st, char *canon,
		     size_t canonsz, char *msg, size_t msgsz)
{
	struct open_how how = {.flags = O_PATH | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	char link[64];
	int rfd, fd, r = 0;
	ssize_t n;

	rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return fail_msg(msg, msgsz, root, -errno, strerror(errno));
	fd = (int)syscall(SYS_openat2, rfd, path, &how, sizeof(how));
	if (fd < 0)
		r = -errno;
	close(rfd);
	if (r < 0) {
		snprintf(msg, msgsz, "cannot look up %.250s in %.60s: %.100s", path, root,
			 strerror(-r));
		return r;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (fstat(fd, st) < 0)
		r = fail_msg(msg, msgsz, path, -errno, strerror(errno));
	n = r == 0 ? readlink(link, canon, canonsz - 1) : -1;
	canon[n > 0 ? n : 0] = 0;
	close(fd);
	return r;
}

/*
 * A procfs file as a process whose root is `root` finds it: openat2 with
 * RESOLVE_IN_ROOT keeps absolute links and ".." inside that root, as the
 * kernel does for a chrooted process, and no magic link is followed.  What
 * is found must be procfs itself (a file someone wrote to look like one is
 * not), and is read to its end: a procfs file's size says nothing.
 */
static int read_proc(const char *root, const char *path, size_t max, struct hp_file *f, char *msg,
		     size_t msgsz)
{
	struct open_how how = {.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	struct statfs sfs;
	int rfd, fd, r = 0;

	memset(f, 0, sizeof(*f));
	rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return fail_msg(msg, msgsz, root, -errno, strerror(errno));
	fd = (int)syscall(SYS_openat2, rfd, path, &how, sizeof(how));
	if (fd < 0) {
		r = -errno;
		close(rfd);
		snprintf(msg, msgsz, "cannot read %.150s in %.150s: %.150s", path, root,
			 strerror(-r));
		return r;
	}
	close(rfd);
	if (fstatfs(fd, &sfs) < 0)
		r = fail_msg(msg, msgsz, path, -errno, strerror(errno));
	else if (sfs.f_type != PROC_SUPER_MAGIC)
		r = fail_msg(msg, msgsz, path, -EMEDIUMTYPE, "not on a procfs");
	else if (fstat(fd, &f->st) < 0)
		r = fail_msg(msg, msgsz, path, -errno, strerror(errno));
	if (r == 0) {
		f->data = malloc(max ? max : 1);
		if (!f->data)
			r = fail_msg(msg, msgsz, path, -ENOMEM, "out of memory");
	}
	while (r == 0 && f->len < max) {
		ssize_t n = read(fd, f->data + f->len, max - f->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = fail_msg(msg, msgsz, path, -errno, strerror(errno));
		else if (n == 0)
			break;
		else
			f->len += (size_t)n;
	}
	close(fd);
	if (r < 0)
		hp_file_free(f);
	return r;
}

/* ------------------------------------------------------- the helper side */

static int full(int fd, void *buf, size_t len, bool out)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = out ? send(fd, (char *)buf + done, len - done, MSG_NOSIGNAL)
				: recv(fd, (char *)buf + done, len - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static void serve_one(int sock, const struct req *rq, const char *path, int fd)
{
	struct resp rs = {0};
	struct hp_file f = {0};
	char msg[512] = "";
	uint8_t *data = NULL;
	ssize_t n;

	switch (rq->op) {
	case OP_STAT:
		if (stat(path, &rs.st) < 0)
			rs.err = fail_msg(msg, sizeof(msg), path, -errno, strerror(errno));
		break;
	case OP_LOOKUP_IN:
		data = malloc(4096);
		if (!data)
			_exit(1);
		if (strlen(path) >= rq->pathlen)
			_exit(1); /* not "ROOT\0PATH": not from hotpatch */
		rs.err = lookup_in(path, path + strlen(path) + 1, &rs.st, (char *)data, 4096, msg,
				   sizeof(msg));
		rs.len = rs.err ? 0 : strlen((char *)data) + 1;
		break;
	case OP_READ_PROC:
		if (strlen(path) >= rq->pathlen)
			_exit(1); /* not "ROOT\0PATH": not from hotpatch */
		rs.err = read_proc(path, path + strlen(path) + 1, rq->max, &f, msg, sizeof(msg));
		rs.st = f.st;
		rs.len = f.len;
		data = f.data;
		break;
	case OP_READ_FILE:
		rs.err = read_whole(path, rq->max, &f, msg, sizeof(msg));
		rs.st = f.st;
		rs.len = f.len;
		data = f.data;
		break;
	case OP_PREAD:
		data = malloc(rq->len ? rq->len : 1);
		n = data ? pread(fd, data, rq->len, (off_t)rq->off) : -1;
		rs.err = n < 0 ? -errno : 0;
		rs.len = n > 0 ? (uint64_t)n : 0;
		break;
	case OP_PWRITE:
		data = malloc(rq->len ? rq->len : 1);
		if (!data || full(sock, data, rq->len, false) < 0)
			_exit(1);
		n = pwrite(fd, data, rq->len, (off_t)rq->off);
		rs.err = n < 0 ? -errno : 0;
		rs.len = 0;
		rs.st.st_size = n > 0 ? n : 0; /* bytes written */
		break;
	}
	rs.msglen = (uint32_t)strlen(msg);
	if (full(sock, &rs, sizeof(rs), true) < 0 || full(sock, msg, rs.msglen, true) < 0 ||
	    full(sock, data, rs.len, true) < 0)
		_exit(1);
	free(data);
}

static void serve(int sock)
{
	for (;;) {
		char cbuf[CMSG_SPACE(sizeof(int))], path[4096];
		struct req rq;
		struct iovec iov = {&rq, sizeof(rq)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		struct cmsghdr *c;
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
		int fd = -1;

		if (n != (ssize_t)sizeof(rq) || rq.pathlen >= sizeof(path))
			_exit(0); /* hotpatch went away */
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
				memcpy(&fd, CMSG_DATA(c), sizeof(fd));
		if (full(sock, path, rq.pathlen, false) < 0)
			_exit(0);
		path[rq.pathlen] = 0;
		serve_one(sock, &rq, path, fd);
		if (fd >= 0)
			close(fd);
	}
}

/* ------------------------------------------------------- hotpatch's side */

static int helper_start(void)
{
	pid_t parent = getpid();
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	helper_pid = fork();
	if (helper_pid < 0) {
		int e = -errno;

		close(sv[0]);
		close(sv[1]);
		helper_pid = 0;
		return e;
	}
	if (helper_pid == 0) {
		/* It holds nothing of hotpatch's but its socket: a helper left
		 * blocked must not keep the operator's terminal or pipe open. */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || null < 0 || dup2(sv[1], 3) < 0)
			_exit(0);
		for (int fd = 0; fd < 3; fd++)
			dup2(null, fd);
		syscall(SYS_close_range, 4, ~0u, 0);
		signal(SIGALRM, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		serve(3);
		_exit(0);
	}
	close(sv[1]);
	helper_sock = sv[0];
	return 0;
}

/* A helper that did not answer in time stays blocked in its filesystem:
 * it is killed (it dies once the filesystem lets go) and forgotten. */
static void helper_abandon(void)
{
	if (helper_pid > 0)
		kill(helper_pid, SIGKILL);
	if (helper_sock >= 0)
		close(helper_sock);
	helper_pid = 0;
	helper_sock = -1;
	stuck++;
}

/* Sends or receives all of buf before `deadline`; -HP_ETIMEOUT if not. */
static int xfer(void *buf, size_t len, bool out, uint64_t deadline)
{
	for (size_t done = 0; done < len;) {
		struct pollfd p = {helper_sock, out ? POLLOUT : POLLIN, 0};
		uint64_t now = hp_now_ns();
		int ms = !deadline ? -1
			 : now >= deadline
				 ? 0
				 : (int)HP_MIN((deadline - now + 999999) / 1000000, 1u << 30);
		ssize_t n;

		if (poll(&p, 1, ms) == 0)
			return -HP_ETIMEOUT;
		n = out ? send(helper_sock, (char *)buf + done, len - done,
			       MSG_NOSIGNAL | MSG_DONTWAIT)
			: recv(helper_sock, (char *)buf + done, len - done, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

/*
 * One request to the helper.  On success the answer is in *rs and its data
 * in *data (malloc'd); the message, if any, in msg.  A helper that misses
 * the deadline or breaks is abandoned.
 */
static int ask(const struct req *rq, const char *path, int fd, const void *wdata, uint64_t deadline,
	       struct resp *rs, uint8_t **data, char *msg, size_t msgsz)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {(void *)rq, sizeof(*rq)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	uint8_t *d = NULL;
	int r;

	*data = NULL;
	if (!helper_pid && (r = helper_start()) < 0)
		return r;
	if (fd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	}
	/* the request header is small: the socket takes it at once */
	if (sendmsg(helper_sock, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(*rq)) {
		r = -EPIPE;
		goto broken;
	}
	r = xfer((void *)path, rq->pathlen, true, deadline);
	if (r == 0 && rq->op == OP_PWRITE)
		r = xfer((void *)wdata, rq->len, true, deadline);
	if (r == 0)
		r = xfer(rs, sizeof(*rs), false, deadline);
	if (r == 0 && rs->msglen >= msgsz)
		r = -EPROTO;
	if (r == 0)
		r = xfer(msg, rs->msglen, false, deadline);
	if (r == 0) {
		msg[rs->msglen] = 0;
		d = malloc(rs->len ? rs->len : 1);
		r = d ? xfer(d, rs->len, false, deadline) : -ENOMEM;
	}
	if (r < 0) {
		free(d);
		goto broken;
	}
	*data = d;
	return 0;
broken:
	helper_abandon();
	return r;
}

static int stalled(const char *what, const char *path)
{
	return hp_fail(-HP_ETIMEOUT,
		       "%s %s did not finish in time: its filesystem does not answer (a stalled "
		       "network or FUSE mount?)",
		       what, path);
}

/* ask(), with the words for a helper that stalled or broke. */
static int ask_about(const struct req *rq, const char *send, const char *path, const char *doing,
		     uint64_t deadline, struct resp *rs, uint8_t **data, char *msg, size_t msgsz)
{
	int r = ask(rq, send, -1, NULL, deadline, rs, data, msg, msgsz);

	if (r == -HP_ETIMEOUT)
		return stalled(doing, path);
	if (r < 0)
		return hp_fail(r, "%s %s through hotpatch's helper failed: %s", doing, path,
			       strerror(-r));
	return 0;
}

int hp_file_read(const char *path, size_t max, bool slow, uint64_t deadline, struct hp_file *ret)
{
	struct req rq = {.op = OP_READ_FILE, .pathlen = (uint32_t)strlen(path), .max = max};
	struct resp rs;
	uint8_t *data;
	char msg[512] = "";
	int r;

	if (!slow) {
		r = read_whole(path, max, ret, msg, sizeof(msg));
		return r < 0 ? hp_fail(r, "%s", msg) : 0;
	}
	r = ask_about(&rq, path, path, "reading", deadline, &rs, &data, msg, sizeof(msg));
	if (r < 0)
		return r;
	if (rs.err) {
		free(data);
		return hp_fail(rs.err, "%s", msg);
	}
	*ret = (struct hp_file){.data = data, .len = rs.len, .st = rs.st};
	return 0;
}

int hp_file_stat(const char *path, uint64_t deadline, struct stat *ret)
{
	struct req rq = {.op = OP_STAT, .pathlen = (uint32_t)strlen(path)};
	struct resp rs;
	uint8_t *data;
	char msg[512] = "";
	int r = ask_about(&rq, path, path, "looking up", deadline, &rs, &data, msg, sizeof(msg));

	if (r < 0)
		return r;
	free(data);
	if (rs.err)
		return hp_fail(rs.err, "%s", msg);
	*ret = rs.st;
	return 0;
}

int hp_file_lookup_in(const char *root, const char *path, uint64_t deadline, struct stat *ret,
		      char **ret_canon, int *ret_err)
{
	size_t rl = strlen(root), pl = strlen(path);
	struct req rq = {.op = OP_LOOKUP_IN, .pathlen = (uint32_t)(rl + 1 + pl)};
	_cleanup_free_ char *both = NULL;
	struct resp rs;
	uint8_t *data;
	char msg[512] = "";
	int r;

	*ret_canon = NULL;
	*ret_err = 0;
	if (rl + 1 + pl >= 4096) {
		*ret_err = -ENAMETOOLONG;
		return 0;
	}
	both = malloc(rl + 1 + pl + 1);
	if (!both)
		return hp_fail(-ENOMEM, "out of memory");
	memcpy(both, root, rl + 1);
	memcpy(both + rl + 1, path, pl + 1);
	r = ask_about(&rq, both, path, "looking up", deadline, &rs, &data, msg, sizeof(msg));
	if (r < 0)
		return r;
	if (rs.err) {
		free(data);
		*ret_err = rs.err;
		return 0;
	}
	if (!rs.len || data[rs.len - 1]) {
		free(data);
		return hp_fail(-EPROTO, "internal: hotpatch's helper sent no path for %s", path);
	}
	*ret = rs.st;
	*ret_canon = (char *)data;
	return 0;
}

int hp_file_read_proc(const char *root, const char *path, size_t max, uint64_t deadline,
		      struct hp_file *ret)
{
	char both[4096], msg[512] = "";
	size_t rootlen = strlen(root), pathlen = strlen(path);
	struct req rq = {.op = OP_READ_PROC, .max = max};
	struct resp rs;
	uint8_t *data;
	int r;

	if (rootlen + pathlen + 2 > sizeof(both))
		return hp_fail(-ENAMETOOLONG, "%s in %s: path too long", path, root);
	memcpy(both, root, rootlen + 1);
	memcpy(both + rootlen + 1, path, pathlen + 1);
	rq.pathlen = (uint32_t)(rootlen + 1 + pathlen);
	r = ask_about(&rq, both, root, "looking up /proc in", deadline, &rs, &data, msg,
		      sizeof(msg));
	if (r < 0)
		return r;
	if (rs.err) {
		free(data);
		return hp_fail(rs.err, "%s", msg);
	}
	*ret = (struct hp_file){.data = data, .len = rs.len, .st = rs.st};
	return 0;
}

ssize_t hp_io_transfer(int fd, void *buf, size_t len, off_t off, bool write, uint64_t deadline)
{
	struct req rq = {.op = write ? OP_PWRITE : OP_PREAD, .off = (uint64_t)off, .len = len};
	struct resp rs;
	uint8_t *data;
	char msg[512];
	int r = ask(&rq, "", fd, buf, deadline, &rs, &data, msg, sizeof(msg));

	if (r < 0)
		return r;
	if (!write && !rs.err)
		memcpy(buf, data, HP_MIN(rs.len, (uint64_t)len));
	free(data);
	if (rs.err)
		return rs.err;
	return write ? (ssize_t)rs.st.st_size : (ssize_t)rs.len;
}

void hp_io_prestart(void)
{
	if (!helper_pid)
		helper_start();
}

void hp_io_forget(void)
{
	if (helper_sock >= 0)
		close(helper_sock);
	helper_pid = 0;
	helper_sock = -1;
}

void hp_file_free(struct hp_file *f)
{
	free(f->data);
	memset(f, 0, sizeof(*f));
}

unsigned hp_io_stuck(void)
{
	return stuck;
}
