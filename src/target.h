/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The target process: its threads, under ptrace, and their registers. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "proc.h" /* the /proc readers, which callers of target.h use too */

struct hp_thread {
	pid_t tid;
	bool seized;	   /* we are its tracer */
	bool stopped;	   /* in a ptrace stop we know of */
	bool gone;	   /* exited while we watched */
	bool group_stop;   /* its stop is a job-control stop */
	bool job_stopped;  /* was found in one (it goes back to it when let go) */
	bool step_pending; /* a single step whose trap was not seen yet */
	bool regs_valid;
	bool regs_dirty;   /* must be written back before it runs */
	bool running_hint; /* was running ('R') before the stop */
	bool seccomp_off;  /* PTRACE_O_SUSPEND_SECCOMP is set: until the detach */
	/* signals it took while we held it stopped; every one is handed back */
	int *held;
	size_t nheld, capheld;
	struct user_regs_struct regs;
};

struct hp_target {
	pid_t pid;
	uint64_t start_time; /* /proc/PID/stat field 22: tells PID reuse apart */
	char comm[64];
	char exe[4096];
	int mem_fd; /* /proc/PID/mem, for reads and writes */
	int pidfd;  /* names this process, never one that reused its PID */
	struct hp_thread *th;
	size_t n, cap;
	size_t nseized;
	unsigned rewound;  /* interrupted waits put back onto their syscall, all told */
	bool use_freezer;  /* flip through the cgroup freezer (--freezer) */
	bool freezer_auto; /* ... only where it wins (--freezer=auto) */
	uint64_t deadline; /* the command's: file reads for this target end by then */
	/* some of its mappings are files on a filesystem that may never answer
	 * (FUSE, NFS, ...): its memory is read and written within `deadline` */
	bool slow_fs;
	char slow_what[256];
	struct hp_dev {
		unsigned major, minor;
	} * slow_devs; /* the devices of such filesystems */
	size_t nslow_devs;
};

/* Every ptrace call goes through here; returns >= 0 or -errno. */
long hp_ptrace(int request, pid_t tid, void *addr, void *data);
const char *hp_ptrace_name(int request);

/* Checks the process exists and can be worked on; does not attach. */
int hp_target_open(struct hp_target *t, pid_t pid);
/* Detaches whatever is still attached and frees everything. */
void hp_target_close(struct hp_target *t);

/* Reads /proc/PID/task into t->th (keeps entries already known). */
int hp_target_scan_threads(struct hp_target *t, bool *ret_new);
struct hp_thread *hp_target_find(struct hp_target *t, pid_t tid);

/* Seizes one thread.  Only hp_target_seize_all follows clones: a lone
 * seized thread's children would otherwise stay traced and stopped. */
int hp_thread_seize(struct hp_target *t, struct hp_thread *th);
/* Seizes every thread, rescanning until no new thread appears. */
int hp_target_seize_all(struct hp_target *t);
/* Interrupts and waits for one seized thread. */
int hp_thread_stop(struct hp_target *t, struct hp_thread *th, uint64_t deadline);
/* Seizes and interrupts the threads `tids`, then waits for each. */
int hp_threads_stop(struct hp_target *t, pid_t *tids, size_t n, uint64_t deadline);
/* Interrupts every seized thread, then waits for each, catching clones. */
int hp_target_stop_all(struct hp_target *t, uint64_t deadline);
int hp_thread_getregs(struct hp_target *t, struct hp_thread *th);
int hp_thread_setregs(struct hp_target *t, struct hp_thread *th);
/* Executes one instruction of a stopped thread. */
int hp_thread_step(struct hp_target *t, struct hp_thread *th, uint64_t deadline);
/* Lets a stopped thread run on, still traced. */
int hp_thread_resume(struct hp_target *t, struct hp_thread *th);
/*
 * For a thread let run traced (hp_thread_resume): if it stopped on the way
 * (a signal, a new job-control stop), keeps its signal for later and lets
 * it run on.  Never blocks; 0 when it was not stopped or runs again, else
 * the resume's error.  Every other wait is inside target.c too.
 */
int hp_thread_keep_running(struct hp_target *t, struct hp_thread *th);
/* Writes back registers, hands back held signals, detaches (and resumes). */
int hp_thread_detach(struct hp_target *t, struct hp_thread *th);
int hp_target_detach_all(struct hp_target *t);

/* If a stop made a wait-type syscall return EINTR without a signal of the
 * target's own, rewinds the thread so it simply waits again on resume.
 * hp_thread_resume and hp_thread_detach do this for every thread they let
 * go, whichever path stopped it; t->rewound counts them. */
int hp_thread_undo_eintr(struct hp_target *t, struct hp_thread *th, bool *ret_rewound);

/* Keeps a signal the thread took in a stop, to hand it back later. */
void hp_thread_hold_signal(struct hp_thread *th, int sig);

/*
 * Moves `len` bytes between `buf` and the target's memory at `addr`
 * through /proc/PID/mem, within t->deadline when t->slow_fs; returns 0 or
 * a negative errno (a short transfer is -EFAULT) and records no error.
 * memory.c words the errors; hotpatch's own reads of registers' context
 * (hp_thread_undo_eintr) use it directly.
 */
int hp_target_transfer(struct hp_target *t, uint64_t addr, void *buf, size_t len, bool write);

/* Why a seize failed, in words (another tracer, permissions, ...). */
int hp_explain_seize_error(struct hp_target *t, pid_t tid, int err);
