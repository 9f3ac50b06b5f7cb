/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define HP_PTRACE_IMPL
#include "target.h"

#include <dirent.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "fileio.h"
#include "util.h"

static const struct {
	int req;
	const char *name;
} ptrace_names[] = {
	{PTRACE_SEIZE, "PTRACE_SEIZE"},
	{PTRACE_INTERRUPT, "PTRACE_INTERRUPT"},
	{PTRACE_CONT, "PTRACE_CONT"},
	{PTRACE_DETACH, "PTRACE_DETACH"},
	{PTRACE_GETREGS, "PTRACE_GETREGS"},
	{PTRACE_SETREGS, "PTRACE_SETREGS"},
	{PTRACE_SINGLESTEP, "PTRACE_SINGLESTEP"},
	{PTRACE_GETEVENTMSG, "PTRACE_GETEVENTMSG"},
	{PTRACE_GETSIGINFO, "PTRACE_GETSIGINFO"},
	{PTRACE_PEEKSIGINFO, "PTRACE_PEEKSIGINFO"},
	{PTRACE_GETSIGMASK, "PTRACE_GETSIGMASK"},
	{PTRACE_PEEKDATA, "PTRACE_PEEKDATA"},
	{PTRACE_PEEKUSER, "PTRACE_PEEKUSER"},
	{PTRACE_LISTEN, "PTRACE_LISTEN"},
	{PTRACE_SETOPTIONS, "PTRACE_SETOPTIONS"},
};

const char *hp_ptrace_name(int request)
{
	for (size_t i = 0; i < HP_ARRAY_SIZE(ptrace_names); i++)
		if (ptrace_names[i].req == request)
			return ptrace_names[i].name;
	return "PTRACE_?";
}

long hp_ptrace(int request, pid_t tid, void *addr, void *data)
{
	long r;

	errno = 0;
	r = ptrace((enum __ptrace_request)request, tid, addr, data);
	if (r == -1 && errno) {
		int e = errno;

		hp_fail(-e, "ptrace(%s) on thread %d: %s", hp_ptrace_name(request), tid,
			strerror(e));
		return -e;
	}
	return r;
}

int hp_target_open(struct hp_target *t, pid_t pid)
{
	char path[64], state = 0, buf[64];
	ssize_t n;
	int r;

	memset(t, 0, sizeof(*t));
	t->mem_fd = -1;
	t->pidfd = -1;
	t->pid = pid;
	if (pid <= 0)
		return hp_fail(-EINVAL, "invalid pid %d", pid);
	if (pid == getpid())
		return hp_fail(-EINVAL, "pid %d is hotpatch itself", pid);
	r = hp_proc_stat(pid, t->comm, sizeof(t->comm), &state, &t->start_time);
	if (r == -ENOENT)
		return hp_fail(-ESRCH, "no such process: %d", pid);
	if (r < 0)
		return hp_fail(r, "cannot read /proc/%d/stat: %s", pid, strerror(-r));
	if (hp_status_field(pid, 0, "Tgid", buf, sizeof(buf)) == 0 && atoi(buf) != pid)
		return hp_fail(-EINVAL, "%d is a thread of process %s, not a process: use --pid %s",
			       pid, buf, buf);
	if (state == 'Z' || state == 'X')
		return hp_fail(-ESRCH, "process %d (%s) has exited (zombie)", pid, t->comm);
	/* A pidfd names this process for good; it is the process we looked at
	 * if it started when that one did and is alive (a pidfd turns
	 * readable when its process exits). */
	t->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (t->pidfd >= 0) {
		struct pollfd pf = {.fd = t->pidfd, .events = POLLIN};
		uint64_t again = 0;

		if (hp_proc_stat(pid, NULL, 0, NULL, &again) < 0 || again != t->start_time ||
		    poll(&pf, 1, 0) != 0)
			return hp_fail(-ESRCH, "process %d exited while hotpatch looked at it",
				       pid);
	} else if (errno == ESRCH) {
		return hp_fail(-ESRCH, "no such process: %d", pid);
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, t->exe, sizeof(t->exe) - 1);
	if (n < 0) {
		r = -errno;
		if (r == -ENOENT)
			return hp_fail(-EINVAL, "process %d (%s) is a kernel thread", pid, t->comm);
		if (r == -EACCES || r == -EPERM)
			return hp_explain_seize_error(t, pid, r);
		return hp_fail(r, "cannot read /proc/%d/exe: %s", pid, strerror(-r));
	}
	t->exe[n] = 0;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	t->mem_fd = open(path, O_RDWR | O_CLOEXEC);
	if (t->mem_fd < 0) {
		r = -errno;
		if (r == -EACCES || r == -EPERM)
			return hp_explain_seize_error(t, pid, r);
		return hp_fail(r, "cannot open /proc/%d/mem: %s", pid, strerror(-r));
	}
	return 0;
}

/*
 * A process found stopped by job control is left stopped: a thread let go
 * re-enters the stop by itself, a moment later.  The command returns once
 * they all have (as an operator who looks right after would expect), or
 * after a bound, should the process have been continued meanwhile.
 */
static void wait_restopped(struct hp_target *t)
{
	uint64_t until = hp_now_ns() + 100000000ull;

	for (size_t i = 0; i < t->n; i++) {
		char st = 0;

		while (t->th[i].job_stopped && !t->th[i].gone &&
		       hp_task_state(t->pid, t->th[i].tid, &st) == 0 && st != 'T' && st != 't' &&
		       hp_now_ns() < until)
			hp_sleep_us(50);
	}
}

void hp_target_close(struct hp_target *t)
{
	hp_target_detach_all(t);
	wait_restopped(t);
	if (t->mem_fd >= 0)
		close(t->mem_fd);
	t->mem_fd = -1;
	if (t->pidfd >= 0)
		close(t->pidfd);
	t->pidfd = -1;
	free(t->slow_devs);
	t->slow_devs = NULL;
	t->nslow_devs = 0;
	for (size_t i = 0; i < t->n; i++)
		free(t->th[i].held);
	free(t->th);
	t->th = NULL;
	t->n = t->cap = 0;
}

struct hp_thread *hp_target_find(struct hp_target *t, pid_t tid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->th[i].tid == tid)
			return &t->th[i];
	return NULL;
}

static struct hp_thread *add_thread(struct hp_target *t, pid_t tid)
{
	struct hp_thread *th;

	if (hp_grow((void **)&t->th, &t->cap, t->n, sizeof(*t->th)) < 0)
		return NULL;
	th = &t->th[t->n++];
	memset(th, 0, sizeof(*th));
	th->tid = tid;
	return th;
}

int hp_target_scan_threads(struct hp_target *t, bool *ret_new)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	bool fresh = false;

	snprintf(path, sizeof(path), "/proc/%d/task", t->pid);
	d = opendir(path);
	if (!d)
		return hp_fail(-errno == -ENOENT ? -ESRCH : -errno, "cannot list threads of %d: %m",
			       t->pid);
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);

		if (tid <= 0 || hp_target_find(t, tid))
			continue;
		if (!add_thread(t, tid)) {
			closedir(d);
			return hp_fail(-ENOMEM, "out of memory");
		}
		fresh = true;
	}
	closedir(d);
	if (ret_new)
		*ret_new = fresh;
	return 0;
}

int hp_explain_seize_error(struct hp_target *t, pid_t tid, int err)
{
	char tracer[32] = "", tcomm[64] = "", scope[16] = "";
	char *buf = NULL;

	if (err == -ESRCH)
		return hp_fail(-ESRCH, "no such process: %d", t->pid);
	if (hp_status_field(t->pid, tid == t->pid ? 0 : tid, "TracerPid", tracer, sizeof(tracer)) ==
		    0 &&
	    atoi(tracer) != 0 && atoi(tracer) != getpid()) {
		hp_proc_stat(atoi(tracer), tcomm, sizeof(tcomm), NULL, NULL);
		return hp_fail(-HP_ETRACER,
			       "cannot attach to thread %d of pid %d (%s): another tracer is "
			       "attached (TracerPid %s, %s); detach it (e.g. quit gdb or strace) "
			       "and try again",
			       tid, t->pid, t->comm, tracer, tcomm[0] ? tcomm : "?");
	}
	/* A non-dumpable process (PR_SET_DUMPABLE 0, or a setuid program)
	 * gives its /proc files to root: only CAP_SYS_PTRACE may trace it. */
	char uidline[128] = "", mempath[64];
	struct stat pst;
	snprintf(mempath, sizeof(mempath), "/proc/%d/mem", t->pid);
	if (geteuid() != 0 && stat(mempath, &pst) == 0 && pst.st_uid == 0 &&
	    hp_status_field(t->pid, 0, "Uid", uidline, sizeof(uidline)) == 0 && atoi(uidline) != 0)
		return hp_fail(err,
			       "cannot attach to pid %d (%s): it is not dumpable (prctl "
			       "PR_SET_DUMPABLE 0, or a setuid program), so only root "
			       "(CAP_SYS_PTRACE) may patch it",
			       t->pid, t->comm);
	if (hp_read_file("/proc/sys/kernel/yama/ptrace_scope", &buf, NULL) == 0) {
		snprintf(scope, sizeof(scope), "%d", atoi(buf));
		free(buf);
	}
	if (geteuid() != 0)
		return hp_fail(err,
			       "cannot attach to pid %d (%s): %s; run hotpatch as root, or as the "
			       "target's user with ptrace allowed%s%s%s",
			       t->pid, t->comm, strerror(-err),
			       scope[0] ? " (kernel.yama.ptrace_scope is " : "", scope,
			       scope[0] ? "; 0 lets a user trace their own processes)" : "");
	return hp_fail(err,
		       "cannot attach to pid %d (%s) even as root: %s; a security module "
		       "(yama ptrace_scope=3, SELinux, AppArmor) or a container boundary forbids it",
		       t->pid, t->comm, strerror(-err));
}

static int seize(struct hp_target *t, struct hp_thread *th, long options)
{
	char tracer[32];
	long r;

	if (th->seized)
		return 0;
	r = hp_ptrace(PTRACE_SEIZE, th->tid, NULL, (void *)options);
	if (r == -ESRCH) {
		th->gone = true;
		return 0;
	}
	if (r == -EPERM) {
		char state = 0;

		/* A thread cloned by a thread we follow is ours already. */
		if (hp_status_field(t->pid, th->tid, "TracerPid", tracer, sizeof(tracer)) == 0 &&
		    atoi(tracer) == getpid())
			r = 0;
		/* The kernel refuses to attach to a thread that is exiting. */
		if (r < 0 &&
		    (hp_task_state(t->pid, th->tid, &state) < 0 || state == 'Z' || state == 'X')) {
			th->gone = true;
			return 0;
		}
	}
	if (r < 0)
		return hp_explain_seize_error(t, th->tid, (int)r);
	th->seized = true;
	t->nseized++;
	return 0;
}

int hp_thread_seize(struct hp_target *t, struct hp_thread *th)
{
	return seize(t, th, 0);
}

int hp_target_seize_all(struct hp_target *t)
{
	bool fresh = true;
	int r;

	/* A thread that clones before we seized it makes a child we have not
	 * seen; once every thread is seized, TRACECLONE catches the rest. */
	for (int round = 0; fresh; round++) {
		if (round > 1000)
			return hp_fail(-HP_EBUSY,
				       "threads of %d keep appearing faster than they can be attached",
				       t->pid);
		r = hp_target_scan_threads(t, &fresh);
		if (r < 0)
			return r;
		for (size_t i = 0; i < t->n; i++) {
			if (t->th[i].seized || t->th[i].gone)
				continue;
			r = seize(t, &t->th[i], PTRACE_O_TRACECLONE);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

void hp_thread_hold_signal(struct hp_thread *th, int sig)
{
	if (hp_grow((void **)&th->held, &th->capheld, th->nheld, sizeof(*th->held)) == 0) {
		th->held[th->nheld++] = sig;
		return;
	}
	/* out of memory: hand it back now rather than lose it */
	syscall(SYS_tkill, th->tid, sig);
}

/*
 * The trap of a single step hotpatch asked for but did not see end (the
 * step took longer than its wait, or another stop came first): it is
 * hotpatch's, and must never be handed to the target, where SIGTRAP's
 * default action kills it.  A trap the target raised itself (int3, its own
 * trap flag without our step, a kill) is its own and goes back.
 */
static bool late_step_trap(struct hp_thread *th)
{
	siginfo_t si;

	return th->step_pending && hp_ptrace(PTRACE_GETSIGINFO, th->tid, NULL, &si) == 0 &&
	       si.si_code == TRAP_TRACE;
}

/*
 * Nothing interrupts a blocking waitpid() at a deadline short of a signal,
 * and a library must not own a process-wide timer or handler.  A tracee's
 * stop sends its tracer SIGCHLD: with it blocked in this thread only, for
 * a batch of waits, sigtimedwait() sleeps until one comes or the time is
 * up, and a polling waitpid() then looks.  A SIGCHLD missed (a caller
 * ignoring SIGCHLD gets none; another thread may take it) costs at most a
 * 1 ms nap.  One taken is raised again before the caller's mask returns,
 * for its own use.
 */
struct waits {
	sigset_t chld, old;
	bool took;
};

static void waits_begin(struct waits *ws)
{
	sigemptyset(&ws->chld);
	sigaddset(&ws->chld, SIGCHLD);
	ws->took = false;
	pthread_sigmask(SIG_BLOCK, &ws->chld, &ws->old);
}

static void waits_end(struct waits *ws)
{
	if (ws->took)
		raise(SIGCHLD);
	pthread_sigmask(SIG_SETMASK, &ws->old, NULL);
}

/* The next wait status of `th`, by the deadline: 1 and `status`, 0 when
 * the thread is no longer ours to wait for (it is gone), or -HP_ETIMEOUT. */
static int wait_status(struct hp_target *t, struct hp_thread *th, uint64_t deadline,
		       struct waits *ws, int *status)
{
	for (;;) {
		pid_t w = waitpid(th->tid, status, __WALL | WNOHANG);
		uint64_t now = hp_now_ns(), nap;

		if (w > 0 || (w < 0 && errno == ECHILD))
			return w > 0;
		if (w < 0 && errno != EINTR)
			return hp_fail(-errno, "waitpid(%d): %m", th->tid);
		if (now >= deadline)
			return hp_fail(-HP_ETIMEOUT,
				       "thread %d of pid %d did not stop in time "
				       "(uninterruptible sleep?)",
				       th->tid, t->pid);
		nap = HP_MIN(deadline - now, 1000000ull);
		struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)nap};
		if (sigtimedwait(&ws->chld, NULL, &ts) == SIGCHLD)
			ws->took = true;
	}
}

/*
 * Waits until `th` is in a stop and says which.  Clone events add the new
 * thread (already attached by the kernel); signals are held for later.
 */
static int wait_stop(struct hp_target *t, struct hp_thread *th, uint64_t deadline, bool stepping,
		     struct waits *ws)
{
	for (;;) {
		int status = 0;
		int w = wait_status(t, th, deadline, ws, &status);

		if (w < 0)
			return w;
		if (w == 0) {
			th->gone = true;
			return 0;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			th->gone = true;
			th->stopped = false;
			return 0;
		}
		if (!WIFSTOPPED(status))
			continue;
		th->stopped = true;
		th->regs_valid = false;
		int sig = WSTOPSIG(status), event = status >> 16;

		if (event == PTRACE_EVENT_STOP) {
			th->group_stop = is_stop_signal(sig);
			th->job_stopped |= th->group_stop;
			return 0;
		}
		if (event == PTRACE_EVENT_CLONE) {
			unsigned long child = 0;

			if (hp_ptrace(PTRACE_GETEVENTMSG, th->tid, NULL, &child) == 0 &&
			    child > 0 && !hp_target_find(t, (pid_t)child)) {
				struct hp_thread *c;
				size_t idx = (size_t)(th - t->th);

				c = add_thread(t, (pid_t)child);
				th = &t->th[idx]; /* add_thread may move the array */
				if (!c)
					return hp_fail(-ENOMEM, "out of memory");
				c->seized = true;
				t->nseized++;
			}
			return 0;
		}
		if (event == 0) {
			/* A signal-delivery-stop: the trap of a single step, or a
			 * signal of the target's own that we hand back later. */
			if (sig == SIGTRAP && (stepping || late_step_trap(th))) {
				th->step_pending = false;
				return 0;
			}
			hp_thread_hold_signal(th, sig);
			return 0;
		}
		return 0; /* other events are stops too */
	}
}

int hp_thread_stop(struct hp_target *t, struct hp_thread *th, uint64_t deadline)
{
	struct waits ws;
	size_t idx = (size_t)(th - t->th);
	long r;
	int rr;

	if (th->stopped || th->gone)
		return 0;
	r = hp_ptrace(PTRACE_INTERRUPT, th->tid, NULL, NULL);
	if (r == -ESRCH) {
		th->gone = true;
		return 0;
	}
	if (r < 0)
		return (int)r;
	waits_begin(&ws);
	rr = wait_stop(t, &t->th[idx], deadline, false, &ws);
	waits_end(&ws);
	return rr;
}

int hp_threads_stop(struct hp_target *t, pid_t *tids, size_t n, uint64_t deadline)
{
	struct waits ws;
	int r = 0;

	/* every interrupt first: the threads come to their stops together,
	 * however long each waits for a CPU on a busy host */
	for (size_t i = 0; i < n; i++) {
		struct hp_thread *th = hp_target_find(t, tids[i]);

		if (!th || th->gone || th->stopped)
			continue;
		r = hp_thread_seize(t, th);
		if (r < 0)
			return r;
		th = hp_target_find(t, tids[i]);
		if (!th->gone && hp_ptrace(PTRACE_INTERRUPT, th->tid, NULL, NULL) == -ESRCH)
			th->gone = true;
	}
	waits_begin(&ws);
	for (size_t i = 0; i < n && r == 0; i++) {
		struct hp_thread *th = hp_target_find(t, tids[i]);

		if (th && th->seized && !th->stopped && !th->gone)
			r = wait_stop(t, th, deadline, false, &ws);
	}
	waits_end(&ws);
	return r;
}

int hp_target_stop_all(struct hp_target *t, uint64_t deadline)
{
	struct waits ws;
	int r = 0;

	/* Interrupt threads that were running last, so they keep running while
	 * the sleeping ones are being stopped. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < t->n; i++) {
			struct hp_thread *th = &t->th[i];

			if (!th->seized || th->stopped || th->gone ||
			    th->running_hint != (pass == 1))
				continue;
			if (hp_ptrace(PTRACE_INTERRUPT, th->tid, NULL, NULL) == -ESRCH)
				th->gone = true;
		}
	waits_begin(&ws);
	for (size_t i = 0; i < t->n; i++) { /* t->n grows as clones are caught */
		if (!t->th[i].seized || t->th[i].stopped || t->th[i].gone)
			continue;
		r = wait_stop(t, &t->th[i], deadline, false, &ws);
		if (r < 0)
			break;
	}
	waits_end(&ws);
	return r;
}

int hp_thread_getregs(struct hp_target *t, struct hp_thread *th)
{
	long r;

	(void)t;
	if (th->regs_valid)
		return 0;
	r = hp_ptrace(PTRACE_GETREGS, th->tid, NULL, &th->regs);
	if (r < 0)
		return (int)r;
	th->regs_valid = true;
	return 0;
}

int hp_thread_setregs(struct hp_target *t, struct hp_thread *th)
{
	long r;

	(void)t;
	r = hp_ptrace(PTRACE_SETREGS, th->tid, NULL, &th->regs);
	if (r < 0)
		return (int)r;
	th->regs_dirty = false;
	return 0;
}

int hp_thread_step(struct hp_target *t, struct hp_thread *th, uint64_t deadline)
{
	struct waits ws;
	size_t idx = (size_t)(th - t->th);
	long r;
	int rr;

	if (th->regs_dirty) {
		rr = hp_thread_setregs(t, th);
		if (rr < 0)
			return rr;
	}
	r = hp_ptrace(PTRACE_SINGLESTEP, th->tid, NULL, NULL);
	if (r < 0)
		return (int)r;
	th->step_pending = true;
	th->stopped = false;
	th->regs_valid = false;
	waits_begin(&ws);
	rr = wait_stop(t, &t->th[idx], deadline, true, &ws);
	waits_end(&ws);
	return rr;
}

int hp_thread_keep_running(struct hp_target *t, struct hp_thread *th)
{
	int status;
	pid_t w = waitpid(th->tid, &status, WNOHANG | __WALL);

	if (w != th->tid || !WIFSTOPPED(status))
		return 0;
	th->stopped = true;
	th->regs_valid = false;
	if ((status >> 16) == 0 && WSTOPSIG(status) != SIGTRAP)
		hp_thread_hold_signal(th, WSTOPSIG(status));
	return hp_thread_resume(t, th);
}

/* Signals beyond the one ptrace injects go back by tgkill.  A full
 * real-time queue says EAGAIN: the target drains it as it runs, so wait a
 * little rather than lose the signal. */
static void requeue_held(struct hp_target *t, struct hp_thread *th)
{
	for (size_t i = 1; i < th->nheld; i++)
		for (int tries = 0; tries < 20000; tries++) {
			if (syscall(SYS_tgkill, t->pid, th->tid, th->held[i]) == 0 ||
			    errno != EAGAIN)
				break;
			hp_sleep_us(100);
		}
	th->nheld = 0;
}

/* Every stop hotpatch makes must be invisible: a wait our interrupt cut
 * short goes back onto its syscall, whichever path stopped the thread. */
static int before_letting_go(struct hp_target *t, struct hp_thread *th)
{
	bool rewound = false;
	int r = hp_thread_undo_eintr(t, th, &rewound);

	t->rewound += rewound;
	return r == -ESRCH ? 0 : r;
}

int hp_thread_resume(struct hp_target *t, struct hp_thread *th)
{
	long r;
	int sig = th->nheld ? th->held[0] : 0;

	if (!th->stopped || th->gone)
		return 0;
	r = before_letting_go(t, th);
	if (r < 0)
		return (int)r;
	if (th->regs_dirty) {
		int rr = hp_thread_setregs(t, th);
		if (rr < 0)
			return rr;
	}
	r = hp_ptrace(PTRACE_CONT, th->tid, NULL, (void *)(long)sig);
	if (r < 0 && r != -ESRCH)
		return (int)r;
	requeue_held(t, th);
	th->stopped = false;
	th->regs_valid = false;
	return 0;
}

int hp_thread_detach(struct hp_target *t, struct hp_thread *th)
{
	int sig, r = 0;

	if (!th->seized || th->gone) {
		th->seized = false;
		return 0;
	}
	if (!th->stopped) {
		/* PTRACE_DETACH needs a stopped tracee. */
		r = hp_thread_stop(t, th, hp_now_ns() + 5000000000ull);
		if (r < 0 || th->gone) {
			th->seized = false;
			return r;
		}
	}
	r = before_letting_go(t, th);
	if (r < 0)
		return r;
	if (th->regs_dirty) {
		r = hp_thread_setregs(t, th);
		if (r < 0)
			return r;
	}
	sig = th->nheld ? th->held[0] : 0;
	if (hp_ptrace(PTRACE_DETACH, th->tid, NULL, (void *)(long)sig) < 0 && !th->gone) {
		r = hp_err.code;
	}
	requeue_held(t, th);
	th->seized = false;
	th->stopped = false;
	th->regs_valid = false;
	th->seccomp_off = false; /* the detach ends it */
	if (t->nseized)
		t->nseized--;
	return r == -ESRCH ? 0 : r;
}

int hp_target_detach_all(struct hp_target *t)
{
	int r = 0;

	/* Resume the threads that were running first: they are the ones whose
	 * work the pause delays. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < t->n; i++) {
			struct hp_thread *th = &t->th[i];

			if (!th->seized || th->running_hint != (pass == 0))
				continue;
			int rr = hp_thread_detach(t, th);
			if (rr < 0 && !r)
				r = rr;
		}
	return r;
}

/*
 * Touching a page of a file-backed mapping may have to read the file.  When
 * some of the target's files live on a filesystem that may never answer
 * (FUSE, NFS, ...), every access runs on a helper thread within the
 * command's deadline; otherwise directly.
 */
int hp_target_transfer(struct hp_target *t, uint64_t addr, void *buf, size_t len, bool write)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n;

		if (t->slow_fs)
			n = hp_io_transfer(t->mem_fd, (char *)buf + done, len - done,
					   (off_t)(addr + done), write, t->deadline);
		else if (write)
			n = pwrite(t->mem_fd, (char *)buf + done, len - done, (off_t)(addr + done));
		else
			n = pread(t->mem_fd, (char *)buf + done, len - done, (off_t)(addr + done));
		if (n < 0 && !t->slow_fs)
			n = -errno;
		if (n == -EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? (int)n : -EFAULT;
		done += (size_t)n;
	}
	return 0;
}

/* Syscalls that return EINTR after any stop, ptrace's included (signal(7)). */
static bool returns_eintr_on_stop(long nr)
{
	switch (nr) {
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
	case SYS_semop:
	case SYS_semtimedop:
	case SYS_rt_sigtimedwait:
	case SYS_io_getevents:
#ifdef SYS_io_pgetevents
	case SYS_io_pgetevents:
#endif
		return true;
	default:
		return false;
	}
}

/* Is a signal of the target's own pending and unblocked for this thread?
 * The status file's bitmasks answer in one read, however long the queue. */
static bool has_deliverable_signal(struct hp_target *t, struct hp_thread *th)
{
	char thread_pnd[32], shared_pnd[32], blocked[32], *buf = NULL;
	bool known;

	known = hp_proc_status(t->pid, th->tid, &buf) == 0 &&
		hp_status_value(buf, "SigPnd", thread_pnd, sizeof(thread_pnd)) == 0 &&
		hp_status_value(buf, "ShdPnd", shared_pnd, sizeof(shared_pnd)) == 0 &&
		hp_status_value(buf, "SigBlk", blocked, sizeof(blocked)) == 0;
	free(buf);
	if (!known)
		return true; /* cannot tell: do not rewind */
	return ((strtoull(thread_pnd, NULL, 16) | strtoull(shared_pnd, NULL, 16)) &
		~strtoull(blocked, NULL, 16)) != 0;
}

int hp_thread_undo_eintr(struct hp_target *t, struct hp_thread *th, bool *ret_rewound)
{
	uint8_t insn[2];
	int r;

	*ret_rewound = false;
	if (!th->stopped || th->group_stop || th->nheld)
		return 0;
	r = hp_thread_getregs(t, th);
	if (r < 0)
		return r;
	if ((long)th->regs.orig_rax < 0 || (long)th->regs.rax != -EINTR ||
	    !returns_eintr_on_stop((long)th->regs.orig_rax))
		return 0;
	if (hp_target_transfer(t, th->regs.rip - 2, insn, 2, false) < 0 || insn[0] != 0x0f ||
	    insn[1] != 0x05)
		return 0;
	if (has_deliverable_signal(t, th))
		return 0; /* the program's own signal: EINTR is what it expects */
	th->regs.rax = th->regs.orig_rax;
	th->regs.rip -= 2;
	th->regs_dirty = true;
	*ret_rewound = true;
	return 0;
}
