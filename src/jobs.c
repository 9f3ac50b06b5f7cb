/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hotpatch's state is per process (hp_err, the Capstone handle, the I/O
 * helper, the notes), so parallel work is done by forked workers rather
 * than threads: each takes one target at a time, all-or-nothing as
 * always, captures what the CLI prints for it and sends that back over a
 * pipe; the parent prints the reports in the order of the selection.
 */
#include "jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "util.h"

#define MAX_JOBS 256

/* One message of a worker: a start (lens 0, code 0, start set) or a result. */
struct msg {
	uint32_t index;
	uint32_t start;
	int32_t code;
	uint32_t outlen, errlen, noteslen;
};

struct slot {
	bool have;
	int code;
	char *out, *err;
	size_t outlen, errlen;
};

struct worker {
	pid_t pid;
	int fd;
	long current; /* the item it started and has not reported, or -1 */
};

unsigned hp_jobs_default(void)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0)
		n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* What fd `tmp` gathered since it was emptied, as a string; emptied again. */
static char *drain(int tmp, size_t *ret_len)
{
	off_t end = lseek(tmp, 0, SEEK_CUR);
	char *s = malloc(end > 0 ? (size_t)end + 1 : 1);

	*ret_len = 0;
	if (!s)
		return NULL;
	if (end > 0 && pread(tmp, s, (size_t)end, 0) == end)
		*ret_len = (size_t)end;
	s[*ret_len] = 0;
	if (ftruncate(tmp, 0) == 0)
		lseek(tmp, 0, SEEK_SET);
	return s;
}

/* Item i, with stdout and stderr sent to memfds for its while. */
struct capture {
	int tmp[2], saved[2];
};

static int capture_open(struct capture *cap)
{
	for (int k = 0; k < 2; k++) {
		cap->tmp[k] = memfd_create(k ? "hotpatch-err" : "hotpatch-out", MFD_CLOEXEC);
		cap->saved[k] = dup(1 + k);
		if (cap->tmp[k] < 0 || cap->saved[k] < 0)
			return hp_fail(-errno, "cannot capture a worker's output: %m");
	}
	return 0;
}

static void capture_close(struct capture *cap)
{
	for (int k = 0; k < 2; k++) {
		if (cap->tmp[k] >= 0)
			close(cap->tmp[k]);
		if (cap->saved[k] >= 0)
			close(cap->saved[k]);
	}
}

static void run_captured(struct capture *cap, size_t i, hp_job_run_fn run, void *ctx,
			 struct slot *ret)
{
	fflush(stdout);
	fflush(stderr);
	dup2(cap->tmp[0], 1);
	dup2(cap->tmp[1], 2);
	ret->code = run(i, ctx);
	fflush(stdout);
	fflush(stderr);
	dup2(cap->saved[0], 1);
	dup2(cap->saved[1], 2);
	ret->out = drain(cap->tmp[0], &ret->outlen);
	ret->err = drain(cap->tmp[1], &ret->errlen);
	ret->have = true;
}

/* The notes a worker added since it last sent, each NUL-terminated. */
static char *new_notes(size_t *sent, uint32_t *ret_len)
{
	struct hp_buf b = {0};

	for (; *sent < hp_notes_count(); (*sent)++)
		hp_buf_add(&b, hp_note_at(*sent), strlen(hp_note_at(*sent)) + 1);
	*ret_len = b.oom ? 0 : (uint32_t)b.len;
	return b.oom ? (hp_buf_free(&b), NULL) : b.s;
}

static int send_result(int fd, size_t i, const struct slot *s, size_t *sent_notes)
{
	uint32_t nlen = 0;
	_cleanup_free_ char *notes = new_notes(sent_notes, &nlen);
	struct msg m = {.index = (uint32_t)i,
			.code = s->code,
			.outlen = (uint32_t)s->outlen,
			.errlen = (uint32_t)s->errlen,
			.noteslen = notes ? nlen : 0};

	if (hp_write_all(fd, &m, sizeof(m)) < 0 || hp_write_all(fd, s->out, s->outlen) < 0 ||
	    hp_write_all(fd, s->err, s->errlen) < 0 || hp_write_all(fd, notes, m.noteslen) < 0)
		return -EPIPE;
	return 0;
}

/* A worker: the next item until none is left; never returns. */
static void worker_main(int fd, atomic_size_t *next, size_t to, hp_job_run_fn run, void *ctx)
{
	struct capture cap = {{-1, -1}, {-1, -1}};
	size_t sent_notes = hp_notes_count();

	/* the parent's I/O helper answers the parent only */
	hp_io_forget();
	if (capture_open(&cap) < 0)
		_exit(1);
	for (;;) {
		size_t i = atomic_fetch_add(next, 1);
		struct msg start = {.index = (uint32_t)i, .start = 1};
		struct slot s = {0};

		if (i >= to)
			break;
		if (hp_write_all(fd, &start, sizeof(start)) < 0)
			_exit(1);
		hp_error_clear();
		run_captured(&cap, i, run, ctx, &s);
		if (send_result(fd, i, &s, &sent_notes) < 0)
			_exit(1);
		free(s.out);
		free(s.err);
	}
	capture_close(&cap);
	_exit(0);
}

/* The parent's side of one command. */
struct pool {
	struct worker w[MAX_JOBS];
	unsigned nw;
	struct slot *slots; /* by item - from */
	size_t from, to, next_out, ndone;
	bool progress;
	hp_job_done_fn done;
	void *ctx;
};

static void progress_line(const struct pool *p)
{
	if (p->progress)
		fprintf(stderr, "\r\033[K[%zu/%zu] done", p->ndone, p->to - p->from);
}

/* Hands every result that is next in order to done(). */
static void flush_ready(struct pool *p)
{
	bool any = false;

	while (p->next_out < p->to && p->slots[p->next_out - p->from].have) {
		struct slot *s = &p->slots[p->next_out - p->from];
		struct hp_job_result res = {s->code, s->out ? s->out : "", s->err ? s->err : "",
					    s->outlen, s->errlen};

		if (p->progress && !any)
			fprintf(stderr, "\r\033[K");
		any = true;
		p->done(p->next_out, &res, p->ctx);
		fflush(stdout);
		free(s->out);
		free(s->err);
		s->out = s->err = NULL;
		p->next_out++;
	}
	if (any)
		progress_line(p);
}

static void take_notes(const char *notes, size_t len)
{
	for (size_t k = 0; k < len; k += strlen(notes + k) + 1)
		hp_note("%s", notes + k);
}

/* One message from worker w; -EPIPE once it is gone. */
static int receive(struct pool *p, struct worker *w)
{
	struct msg m;
	struct slot s = {.have = true};
	_cleanup_free_ char *notes = NULL;

	if (read_all(w->fd, &m, sizeof(m)) < 0)
		return -EPIPE;
	if (m.index < p->from || m.index >= p->to)
		return -EPIPE;
	if (m.start) {
		w->current = m.index;
		return 0;
	}
	s.code = m.code;
	s.out = malloc((size_t)m.outlen + 1);
	s.err = malloc((size_t)m.errlen + 1);
	notes = malloc((size_t)m.noteslen + 1);
	if (!s.out || !s.err || !notes || read_all(w->fd, s.out, m.outlen) < 0 ||
	    read_all(w->fd, s.err, m.errlen) < 0 || read_all(w->fd, notes, m.noteslen) < 0) {
		free(s.out);
		free(s.err);
		return -EPIPE;
	}
	s.out[m.outlen] = s.err[m.errlen] = notes[m.noteslen] = 0;
	s.outlen = m.outlen;
	s.errlen = m.errlen;
	take_notes(notes, m.noteslen);
	p->slots[m.index - p->from] = s;
	w->current = -1;
	p->ndone++;
	return 0;
}

/* Worker w ended: the item it had started is lost, and says so. */
static void worker_gone(struct pool *p, struct worker *w)
{
	int status;

	close(w->fd);
	w->fd = -1;
	waitpid(w->pid, &status, 0);
	if (w->current >= 0) {
		struct slot *s = &p->slots[w->current - (long)p->from];
		char msg[160];

		snprintf(msg, sizeof(msg),
			 "hotpatch: the worker working on this process died (%s %d): its state "
			 "is what hotpatch status shows\n",
			 WIFSIGNALED(status) ? "signal" : "exit",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		*s = (struct slot){.have = true, .code = -EPIPE, .err = hp_strdup(msg)};
		s->errlen = s->err ? strlen(s->err) : 0;
		p->ndone++;
	}
}

static void collect(struct pool *p)
{
	unsigned alive = p->nw;

	while (alive) {
		struct pollfd pfd[MAX_JOBS];
		unsigned idx[MAX_JOBS], n = 0;

		for (unsigned k = 0; k < p->nw; k++)
			if (p->w[k].fd >= 0) {
				pfd[n] = (struct pollfd){p->w[k].fd, POLLIN, 0};
				idx[n++] = k;
			}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (unsigned k = 0; k < n; k++) {
			if (!pfd[k].revents)
				continue;
			if (receive(p, &p->w[idx[k]]) < 0) {
				worker_gone(p, &p->w[idx[k]]);
				alive--;
			}
		}
		flush_ready(p);
	}
}

static int spawn(struct pool *p, unsigned jobs, atomic_size_t *next, hp_job_run_fn run, void *ctx)
{
	for (unsigned k = 0; k < jobs; k++) {
		int fds[2];
		pid_t pid;

		if (pipe2(fds, O_CLOEXEC) < 0)
			return hp_fail(-errno, "cannot start a worker: %m");
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		if (pid < 0) {
			close(fds[0]);
			close(fds[1]);
			return hp_fail(-errno, "cannot start a worker: %m");
		}
		if (pid == 0) {
			close(fds[0]);
			for (unsigned q = 0; q < p->nw; q++)
				close(p->w[q].fd);
			worker_main(fds[1], next, p->to, run, ctx);
		}
		close(fds[1]);
		p->w[p->nw++] = (struct worker){pid, fds[0], -1};
	}
	return 0;
}

int hp_jobs_run(size_t from, size_t to, unsigned jobs, bool progress, hp_job_run_fn run,
		hp_job_done_fn done, void *ctx)
{
	struct pool p = {.from = from,
			 .to = to,
			 .next_out = from,
			 .progress = progress,
			 .done = done,
			 .ctx = ctx};
	struct capture cap = {{-1, -1}, {-1, -1}};
	atomic_size_t *next;
	int r = 0;

	if (from >= to)
		return 0;
	p.slots = calloc(to - from, sizeof(*p.slots));
	next = mmap(NULL, sizeof(*next), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!p.slots || next == MAP_FAILED) {
		free(p.slots);
		return hp_fail(-ENOMEM, "out of memory");
	}
	progress_line(&p);
	/* the first here: what it reads, the workers need not read again */
	r = capture_open(&cap);
	if (r == 0) {
		hp_error_clear();
		run_captured(&cap, from, run, ctx, &p.slots[0]);
		p.ndone++;
		flush_ready(&p);
		atomic_store(next, from + 1);
		jobs = HP_MIN(HP_MIN(jobs, MAX_JOBS), to - from - 1);
		r = spawn(&p, jobs, next, run, ctx);
		collect(&p);
		/* what no worker took (none started, or all died) is done here */
		for (size_t i; (i = atomic_fetch_add(next, 1)) < to; p.ndone++) {
			hp_error_clear();
			run_captured(&cap, i, run, ctx, &p.slots[i - from]);
		}
		flush_ready(&p);
	}
	capture_close(&cap);
	if (p.progress)
		fprintf(stderr, "\r\033[K");
	for (size_t i = 0; i < to - from; i++) {
		free(p.slots[i].out);
		free(p.slots[i].err);
	}
	free(p.slots);
	munmap(next, sizeof(*next));
	return r;
}
