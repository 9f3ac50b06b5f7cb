/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "util.h"

#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct hp_error hp_err;

static const struct {
	const char *text;
	int exit_code;
} hp_error_table[] = {
#define HP_X_TABLE(name, text, exitcode) {text, exitcode},
	HP_ERRORS(HP_X_TABLE)
#undef HP_X_TABLE
};
static_assert(HP_ARRAY_SIZE(hp_error_table) == HP_ERRNO_END - HP_ERRNO_BASE,
	      "every project error code needs exactly one table entry");

const char *hp_strerror(int code)
{
	if (code < 0)
		code = -code;
	if (code >= HP_ERRNO_BASE && code < HP_ERRNO_END)
		return hp_error_table[code - HP_ERRNO_BASE].text;
	return strerror(code);
}

const char *hp_exit_name(int exit_code)
{
	switch (exit_code) {
#define HP_X_EXIT(id, code, name, meaning) \
	case code:                         \
		return name;
		HP_EXITS(HP_X_EXIT)
#undef HP_X_EXIT
	}
	return "internal";
}

int hp_exit_code(int code)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		return HP_EXIT_OK;
	if (code >= HP_ERRNO_BASE && code < HP_ERRNO_END)
		return hp_error_table[code - HP_ERRNO_BASE].exit_code;
	switch (code) {
	case ESRCH:
		return HP_EXIT_NOPROCESS;
	case EPERM:
	case EACCES:
		return HP_EXIT_PERMISSION;
	case ETIMEDOUT:
	case EBUSY:
	case EAGAIN:
		return HP_EXIT_BUSY;
	case EINVAL:
		return HP_EXIT_USAGE;
	default:
		return HP_EXIT_INTERNAL;
	}
}

#ifdef HP_FAULT_INJECTION
/* Test builds: HOTPATCH_ERR_AUDIT names a file that hears of every reason
 * a cleanup's failure would have given, and did not. */
static void audit_dropped(const char *dropped)
{
	const char *path = getenv("HOTPATCH_ERR_AUDIT");
	FILE *f;

	if (!path || !(f = fopen(path, "ae")))
		return;
	fprintf(f, "pid %d kept: %s\n  dropped: %s\n", (int)getpid(), hp_err.msg, dropped);
	fclose(f);
}
#else
static void audit_dropped(const char *dropped)
{
	(void)dropped;
}
#endif

/* While cleanup runs after a failure, the reason recorded for that
 * failure stays: whatever fails during the cleanup explains less. */
static unsigned unwinding;
static bool keeping;

void hp_unwind_begin(void)
{
	if (unwinding++ == 0)
		keeping = hp_err.code != 0;
}

void hp_unwind_end(void)
{
	if (unwinding && --unwinding == 0)
		keeping = false;
}

static int record(int code, const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
	char buf[sizeof(hp_err.msg)];
	size_t n;

	if (code > 0)
		code = -code;
	if (keeping) {
		vsnprintf(buf, sizeof(buf), fmt, ap);
		audit_dropped(buf);
		return code;
	}
	if (!prefix && !suffix) {
		vsnprintf(hp_err.msg, sizeof(hp_err.msg), fmt, ap);
		hp_err.code = code;
		return code;
	}
	/* amend the reason recorded for this same failure */
	if (hp_err.code != code || !hp_err.msg[0])
		snprintf(hp_err.msg, sizeof(hp_err.msg), "%s", hp_strerror(code));
	if (prefix) {
		n = (size_t)vsnprintf(buf, sizeof(buf), fmt, ap);
		n = HP_MIN(n, sizeof(buf) - 1); /* once: HP_MIN evaluates twice */
		/* the reason is cut at the end if it must be */
		snprintf(buf + n, sizeof(buf) - n, "%s", hp_err.msg);
	} else {
		n = HP_MIN(strlen(hp_err.msg), sizeof(buf) - 1);
		memcpy(buf, hp_err.msg, n);
		vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	}
	memcpy(hp_err.msg, buf, sizeof(buf));
	hp_err.code = code;
	return code;
}

int hp_fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = record(code, NULL, fmt, ap, NULL);
	va_end(ap);
	return code;
}

int hp_fail_prefix(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = record(code, "", fmt, ap, NULL);
	va_end(ap);
	return code;
}

int hp_fail_suffix(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = record(code, NULL, fmt, ap, "");
	va_end(ap);
	return code;
}

void hp_error_clear(void)
{
	if (keeping)
		return;
	hp_err.code = 0;
	hp_err.msg[0] = 0;
}

static char **notes;
static size_t notes_n, notes_cap;

void hp_note(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < notes_n; i++)
		if (!strcmp(notes[i], buf))
			return;
	if (hp_grow((void **)&notes, &notes_cap, notes_n, sizeof(*notes)) < 0)
		return;
	notes[notes_n] = hp_strdup(buf);
	if (notes[notes_n])
		notes_n++;
}

size_t hp_notes_count(void)
{
	return notes_n;
}

const char *hp_note_at(size_t i)
{
	return i < notes_n ? notes[i] : NULL;
}

void hp_notes_clear(void)
{
	for (size_t i = 0; i < notes_n; i++)
		free(notes[i]);
	free(notes);
	notes = NULL;
	notes_n = notes_cap = 0;
}

uint64_t hp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t hp_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void hp_sleep_us(unsigned us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int hp_sched_boost(void)
{
	struct sched_param sp = {.sched_priority = 1};
	int old_nice;

	/* tokens: 0 nothing to undo, 1 real-time, 100 + n old nice value n */
	if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) == 0)
		return 1;
	errno = 0;
	old_nice = getpriority(PRIO_PROCESS, 0);
	if (errno == 0 && setpriority(PRIO_PROCESS, 0, -20) == 0)
		return 100 + old_nice;
	return 0;
}

int hp_sched_raise(void)
{
	int old_nice;

	if (getenv("HOTPATCH_SELF") && !strcmp(getenv("HOTPATCH_SELF"), "fifo"))
		return hp_sched_boost();
	if (getenv("HOTPATCH_SELF") && !strcmp(getenv("HOTPATCH_SELF"), "none"))
		return 0;
	errno = 0;
	old_nice = getpriority(PRIO_PROCESS, 0);
	if (errno == 0 && old_nice > -20 && setpriority(PRIO_PROCESS, 0, -20) == 0)
		return 100 + old_nice;
	return 0;
}

void hp_sched_restore(int token)
{
	struct sched_param sp = {.sched_priority = 0};

	if (token == 1)
		sched_setscheduler(0, SCHED_OTHER, &sp);
	else if (token >= 80)
		setpriority(PRIO_PROCESS, 0, token - 100);
}

int hp_read_file(const char *path, char **ret, size_t *len)
{
	_cleanup_close_ int fd = -1;
	char *buf = NULL;
	size_t n = 0, cap = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r;

		if (cap - n < 4096) {
			char *nb;

			cap = cap ? cap * 2 : 16384;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			free(buf);
			return (int)r;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			return -ENOMEM;
	}
	buf[n] = 0;
	*ret = buf;
	if (len)
		*len = n;
	return 0;
}

void hp_hex(char *out, size_t outsz, const uint8_t *buf, size_t len)
{
	size_t o = 0;

	if (!outsz)
		return;
	out[0] = 0;
	for (size_t i = 0; i < len && o + 4 < outsz; i++)
		o += (size_t)snprintf(out + o, outsz - o, "%s%02x", i ? " " : "", buf[i]);
}

int hp_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	void *p;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
	*arr = p;
	*cap = ncap;
	return 0;
}

char *hp_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

const char *hp_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

char *hp_fd_path(int fd)
{
	char link[64], buf[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, sizeof(buf));
	if (n <= 0 || (size_t)n >= sizeof(buf) || buf[0] != '/')
		return NULL;
	buf[n] = 0;
	return hp_strdup(buf);
}

/* Room for n more bytes and the NUL; false (and oom) when there is none. */
static bool buf_reserve(struct hp_buf *b, size_t n)
{
	size_t ncap = HP_MAX(b->cap * 2, b->len + n + 256);
	char *ns = realloc(b->s, ncap);

	if (!ns) {
		b->oom = true;
		return false;
	}
	b->s = ns;
	b->cap = ncap;
	return true;
}

void hp_buf_printf(struct hp_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		if (!buf_reserve(b, (size_t)n))
			return;
		if (b->len == 0)
			b->s[0] = 0;
	}
}

void hp_buf_add(struct hp_buf *b, const char *s, size_t n)
{
	if (b->cap - b->len <= n && !buf_reserve(b, n))
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

void hp_buf_free(struct hp_buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

#ifdef HP_FAULT_INJECTION
/* the time of the first step or mark, for finding where time goes */
static uint64_t trace_t0(void)
{
	static uint64_t t0;

	if (!t0)
		t0 = hp_now_ns();
	return t0;
}

void hp_trace(const char *what)
{
	uint64_t t0 = trace_t0();

	if (getenv("HOTPATCH_FAULT_TRACE"))
		fprintf(stderr, "hotpatch: mark %s (+%.3f ms)\n", what,
			(double)(hp_now_ns() - t0) / 1e6);
}
/* Waits for a byte (or the end) on stdin, a minute at most: a test holds
 * hotpatch here to run something else while it is provably mid-step. */
static void pause_at(const char *step)
{
	struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
	char c;

	fprintf(stderr, "hotpatch: paused at %s\n", step);
	fflush(stderr);
	if (poll(&p, 1, 60000) == 1 && read(STDIN_FILENO, &c, 1) < 0)
		fprintf(stderr, "hotpatch: pause at %s: %m\n", step);
}

void hp_fault_point(const char *step)
{
	static int reached;
	const char *want = getenv("HOTPATCH_FAULT"), *pause = getenv("HOTPATCH_PAUSE_AT");
	char *end;
	long n;

	reached++;
	trace_t0();
	if (getenv("HOTPATCH_FAULT_TRACE"))
		fprintf(stderr, "hotpatch: fault point %d: %s (+%.3f ms)\n", reached, step,
			(double)(hp_now_ns() - trace_t0()) / 1e6);
	if (pause && !strcmp(pause, step))
		pause_at(step);
	if (!want || !*want)
		return;
	n = strtol(want, &end, 10);
	if ((!*end && n == reached) || !strcmp(want, step))
		kill(getpid(), SIGKILL);
}
#endif

/* "a/./b/../c" -> "a/c", without touching the file system: the file of a
 * command may be gone or be a link, and the diff names it as the tree does. */
char *hp_path_normalise(const char *dir, const char *file)
{
	char *joined, *out, *p;
	size_t n = 0;

	if (file[0] == '/' || !dir)
		joined = strdup(file);
	else if (asprintf(&joined, "%s/%s", dir, file) < 0)
		joined = NULL;
	if (!joined)
		return NULL;
	out = malloc(strlen(joined) + 2);
	if (!out)
		goto done;
	for (char *save = NULL, *part = strtok_r(joined, "/", &save); part;
	     part = strtok_r(NULL, "/", &save)) {
		if (!strcmp(part, "."))
			continue;
		if (!strcmp(part, "..")) {
			while (n > 0 && out[--n] != '/')
				;
			continue;
		}
		out[n++] = '/';
		p = part;
		while (*p)
			out[n++] = *p++;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = 0;
done:
	free(joined);
	return out;
}

int hp_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
