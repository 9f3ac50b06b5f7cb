/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Errors, cleanup helpers and small utilities shared by every module. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/*
 * Exit codes: one per class of outcome.  The one table gives each its
 * number, its name (the JSON "exit_class") and its meaning as --help says
 * it; hotpatch(8) and the README list the same (tests/test_cli.py checks).
 */
#define HP_EXITS(X)                                                        \
	X(HP_EXIT_OK, 0, "ok", "ok")                                       \
	X(HP_EXIT_INTERNAL, 1, "internal", "internal")                     \
	X(HP_EXIT_USAGE, 2, "usage", "usage")                              \
	X(HP_EXIT_NOPROCESS, 3, "no-such-process", "no such process")      \
	X(HP_EXIT_PERMISSION, 4, "permission-denied", "permission denied") \
	X(HP_EXIT_BADPATCH, 5, "invalid-patch", "invalid patch")           \
	X(HP_EXIT_NOTPATCHABLE, 6, "not-patchable", "not patchable")       \
	X(HP_EXIT_BUSY, 7, "busy", "busy or timed out")                    \
	X(HP_EXIT_NOTHING, 8, "nothing-to-do", "nothing to do")            \
	X(HP_EXIT_PARTIAL, 9, "partial", "partial success over several processes")

enum hp_exit {
#define HP_X_EXIT(id, code, name, meaning) id = code,
	HP_EXITS(HP_X_EXIT)
#undef HP_X_EXIT
};

/*
 * Project error codes, beyond the errno range.  Functions return 0 or a
 * negative errno / negative HP_E* code; the one table keeps each code's
 * generic text and exit class together.
 */
#define HP_ERRORS(X)                                                                     \
	X(HP_EUSAGE, "usage error", HP_EXIT_USAGE)                                       \
	X(HP_EBADPATCH, "invalid patch", HP_EXIT_BADPATCH)                               \
	X(HP_ENOSYM, "symbol not found in the target", HP_EXIT_BADPATCH)                 \
	X(HP_EBUILDID, "build-id does not match", HP_EXIT_BADPATCH)                      \
	X(HP_EDLOPEN, "the target could not load the patch", HP_EXIT_BADPATCH)           \
	X(HP_ENOTPATCHABLE, "function is not patchable", HP_EXIT_NOTPATCHABLE)           \
	X(HP_EUNSUPPORTED, "target not supported", HP_EXIT_NOTPATCHABLE)                 \
	X(HP_EBUSY, "target busy", HP_EXIT_BUSY)                                         \
	X(HP_ETIMEOUT, "timed out", HP_EXIT_BUSY)                                        \
	X(HP_ETRACER, "another tracer is attached", HP_EXIT_PERMISSION)                  \
	X(HP_EALREADY, "already applied", HP_EXIT_NOTHING)                               \
	X(HP_ENOTAPPLIED, "not applied", HP_EXIT_NOTHING)                                \
	X(HP_ESTACKED, "another patch lies on top", HP_EXIT_BUSY)                        \
	X(HP_EMISMATCH, "target bytes do not match the record", HP_EXIT_BUSY)            \
	X(HP_EINTERFERED, "the target interfered with hotpatch", HP_EXIT_BUSY)           \
	X(HP_ECORRUPT, "hotpatch state in the target is damaged", HP_EXIT_INTERNAL)      \
	X(HP_EREFUSED, "the change cannot be live-patched safely", HP_EXIT_NOTPATCHABLE) \
	X(HP_ESOURCE, "the source tree does not rebuild the target", HP_EXIT_BADPATCH)   \
	X(HP_ENOCHANGE, "the diff changes no code of the target", HP_EXIT_NOTHING)

enum {
	HP_ERRNO_BASE = 1000,
#define HP_X_ENUM(name, text, exitcode) name,
	HP_ERRORS_FIRST_ = HP_ERRNO_BASE - 1,
	HP_ERRORS(HP_X_ENUM)
#undef HP_X_ENUM
		HP_ERRNO_END
};

/* The reason for the last failure, in words, for the CLI to print once. */
struct hp_error {
	int code; /* negative */
	char msg[4096];
};
extern struct hp_error hp_err;

/* Record the reason for a failure and return `code` (negative). */
int hp_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Put context in front of, or after, the recorded reason; returns `code`. */
int hp_fail_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hp_fail_suffix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Cleanup after a failure runs between these (they nest): the first
 * failure's reason is the one reported, and whatever fails (or is cleared)
 * during the cleanup leaves it as it is.  Nothing is copied.
 */
void hp_unwind_begin(void);
void hp_unwind_end(void);
void hp_error_clear(void);
const char *hp_strerror(int code);
int hp_exit_code(int code);
/* The name of an exit code ("not-patchable"), as --json gives it. */
const char *hp_exit_name(int exit_code);

/* Notes: things the user should know that are not failures. */
void hp_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
size_t hp_notes_count(void);
const char *hp_note_at(size_t i);
void hp_notes_clear(void);

/*
 * Test builds (-Dfault_injection=true) kill hotpatch with SIGKILL at a named
 * step when HOTPATCH_FAULT names it, or at the Nth step reached when it is a
 * number: the tests prove the target survives a tool killed anywhere.
 * HOTPATCH_PAUSE_AT=step holds it there (it says "paused at STEP" on
 * stderr) until a byte arrives on stdin, a minute at most.
 */
#ifdef HP_FAULT_INJECTION
void hp_fault_point(const char *step);
/* With HOTPATCH_FAULT_TRACE, says when a step that is no fault point was
 * reached: where the time of a command goes. */
void hp_trace(const char *what);
#else
static inline void hp_fault_point(const char *step)
{
	(void)step;
}
static inline void hp_trace(const char *what)
{
	(void)what;
}
#endif

/* Cleanup helpers in the style of systemd's _cleanup_. */
static inline void hp_freep(void *p)
{
	free(*(void **)p);
}
static inline void hp_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_free_	__attribute__((cleanup(hp_freep)))
#define _cleanup_close_ __attribute__((cleanup(hp_closep)))

#define HP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define HP_MIN(a, b)	 ((a) < (b) ? (a) : (b))
#define HP_MAX(a, b)	 ((a) > (b) ? (a) : (b))

/* Monotonic and wall clocks in nanoseconds. */
uint64_t hp_now_ns(void);
uint64_t hp_wall_ns(void);
void hp_sleep_us(unsigned us);

/* Run ahead of the target's threads for the few microseconds of a flip, so
 * that the threads resumed first cannot delay resuming the rest; returns a
 * token for hp_sched_restore. */
int hp_sched_boost(void);
/* Ahead of ordinary threads for a whole command, but not real-time:
 * nice -20 (when it may); hp_sched_restore undoes it. */
int hp_sched_raise(void);
void hp_sched_restore(int token);

/* All of buf written to fd (short writes and EINTR retried); 0 or -errno. */
int hp_write_all(int fd, const void *buf, size_t len);
/* Read a whole (small) file, NUL-terminated; *len excludes the NUL. */
int hp_read_file(const char *path, char **ret, size_t *len);
/* Append `len` bytes in hex with spaces ("90 90 e9 ..") to out. */
void hp_hex(char *out, size_t outsz, const uint8_t *buf, size_t len);
/* Growable array: ensure room for one more element. */
int hp_grow(void **arr, size_t *cap, size_t n, size_t elem);
char *hp_strdup(const char *s);
const char *hp_basename(const char *path);
/* `file` joined to `dir` (unless absolute) with "." and ".." resolved as
 * text, not through the file system: "/a/./b/../c" -> "/a/c" (malloc'd). */
char *hp_path_normalise(const char *dir, const char *file);
/* The absolute path the kernel has for an open file (/proc/self/fd/N), so
 * that the name shown is the file that was opened, not a second lookup;
 * malloc'd, or NULL without /proc. */
char *hp_fd_path(int fd);

/* Dynamic string for messages; s stays NUL-terminated once anything was added. */
struct hp_buf {
	char *s;
	size_t len, cap;
	bool oom; /* something could not be added */
};
void hp_buf_printf(struct hp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hp_buf_add(struct hp_buf *b, const char *s, size_t n);
void hp_buf_free(struct hp_buf *b);

/* Every ptrace call goes through hp_ptrace() (target.c). */
#ifndef HP_PTRACE_IMPL
#pragma GCC poison ptrace
#endif
