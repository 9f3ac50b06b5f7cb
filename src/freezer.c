/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "freezer.h"

#include <ctype.h>
#include <dirent.h>
#include <stdint.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "target.h"
#include "util.h"

#define FREEZER	       "/sys/fs/cgroup/freezer"
#define FREEZE_WAIT_NS 50000000ull   /* a freeze that takes longer: use ptrace */
#define FREEZE_MAX_NS  1000000000ull /* ... even while its threads wait for a CPU */
#define FREEZE_POLL_US 20

bool hp_freezer_usable(char *why, size_t whysz)
{
	struct stat st;

	if (stat(FREEZER "/cgroup.procs", &st) < 0) {
		snprintf(why, whysz, "no cgroup-v1 freezer hierarchy at %s", FREEZER);
		return false;
	}
	if (access(FREEZER, W_OK) < 0) {
		snprintf(why, whysz, "%s is not writable (root needed)", FREEZER);
		return false;
	}
	return true;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* The target's freezer cgroup now, relative to the hierarchy's root. */
static int current_cgroup(pid_t pid, char *out, size_t outsz)
{
	char path[64], *buf = NULL;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	r = hp_read_file(path, &buf, NULL);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (char *line = buf; line && *line;) {
		char *eol = strchr(line, '\n'), *f;

		if (eol)
			*eol = 0;
		f = strstr(line, ":freezer:");
		if (f) {
			snprintf(out, outsz, "%s", f + 9);
			r = 0;
			break;
		}
		line = eol ? eol + 1 : NULL;
	}
	free(buf);
	return r;
}

static int move_to(const char *cg, pid_t pid)
{
	char path[PATH_MAX + 64], s[32];

	snprintf(path, sizeof(path), "%s%s/cgroup.procs", FREEZER, cg);
	snprintf(s, sizeof(s), "%d", pid);
	return write_str(path, s);
}

/*
 * --freezer=auto: where the freezer beats ptrace.  Both must have every
 * thread that runs, or that sleeps where the freezer cannot park it
 * (read(2), poll, ...), scheduled to stop; the freezer parks threads asleep
 * in futexes (and nanosleeps) where they are, ptrace wakes every one.  A
 * thread in an epoll wait is woken by both: in the README's run the
 * freezer was 1.2-1.7x the floor from 100 epoll sleepers up (0.35-0.63x
 * for futex sleepers), so only parked waits count for it.  (Measured on
 * 6.18 by the context switches of a freeze: futex and nanosleep waits stay
 * parked; epoll, poll, select, read and waitpid wake.)  The
 * freezer pays a fixed cost (the cgroup, reading each thread's pc inside the
 * stop) that only enough parked threads repay: see README, Performance.
 */
#define AUTO_MIN_THREADS 32 /* fewer: ptrace is as fast or faster */
#define AUTO_MAX_WOKEN	 4  /* of every 16 threads, at most this many woken */

static bool parks_in_place(long nr)
{
	switch (nr) {
	case SYS_futex:
	case SYS_nanosleep:
	case SYS_clock_nanosleep:
		return true;
	default:
		return false;
	}
}

/* Opens /proc/PID/task/TID/syscall of every thread, before the freeze:
 * inside it, reading each costs one pread. */
static int open_pc_files(pid_t pid, int **ret, size_t *n)
{
	char path[64];
	DIR *d;
	int *fds = NULL;
	size_t cnt = 0, cap = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -errno;
	for (struct dirent *de; (de = readdir(d));) {
		char p[320];
		int fd;

		if (atoi(de->d_name) <= 0)
			continue;
		snprintf(p, sizeof(p), "/proc/%d/task/%s/syscall", pid, de->d_name);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* gone already */
		if (hp_grow((void **)&fds, &cap, cnt, sizeof(*fds)) < 0) {
			close(fd);
			break;
		}
		fds[cnt++] = fd;
	}
	closedir(d);
	*ret = fds;
	*n = cnt;
	return 0;
}

/* How many threads, and how many of them the freezer would have to wake
 * (running, or asleep elsewhere than a futex wait or a sleep). */
static int count_threads(pid_t pid, size_t *ret_n, size_t *ret_woken)
{
	char buf[64];
	size_t n = 0, woken = 0;
	int *fds = NULL;
	int r = open_pc_files(pid, &fds, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		ssize_t k = pread(fds[i], buf, sizeof(buf) - 1, 0);

		close(fds[i]);
		buf[k > 0 ? k : 0] = 0;
		/* "running", or "-1 sp pc" outside a syscall: it runs */
		if (k <= 0 || !isdigit((unsigned char)buf[0]) || !parks_in_place(atol(buf)))
			woken++;
	}
	free(fds);
	*ret_n = n;
	*ret_woken = woken;
	return 0;
}

bool hp_freezer_wins(pid_t pid, char *why, size_t whysz)
{
	char cause[128];
	size_t n = 0, woken = 0;

	if (!hp_freezer_usable(cause, sizeof(cause))) {
		snprintf(why, whysz, "auto: ptrace, %s", cause);
		return false;
	}
	if (count_threads(pid, &n, &woken) < 0) {
		snprintf(why, whysz, "auto: ptrace, the threads of pid %d cannot be read", pid);
		return false;
	}
	bool wins = n >= AUTO_MIN_THREADS && woken * 16 <= n * AUTO_MAX_WOKEN;

	snprintf(why, whysz, "auto: %s, %zu of %zu threads parked in futex waits or sleeps",
		 wins ? "freezer" : "ptrace", n - woken, n);
	return wins;
}

/* Thaws and puts the target back, and lets the key go; also what the
 * watchdog does if we die. */
static void undo(const struct hp_freeze *fz)
{
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s%s/freezer.state", FREEZER, fz->ours);
	write_str(path, "THAWED");
	move_to(fz->orig, fz->pid);
	snprintf(path, sizeof(path), "%s%s", FREEZER, fz->ours);
	rmdir(path);
	snprintf(path, sizeof(path), "%s%s-key/freezer.state", FREEZER, fz->ours);
	write_str(path, "THAWED");
	snprintf(path, sizeof(path), "%s%s-key", FREEZER, fz->ours);
	rmdir(path);
}

/*
 * The kernel turns its freezer on (a static key: kernel text patched, with
 * an interrupt to every CPU) when the first cgroup starts to freeze, and
 * off when the last one thaws, before it wakes a thread: ~80 us each way
 * on this machine, and the thaw's half inside the pause.  An empty cgroup
 * of ours, frozen before the flip and thawed after it, keeps the key on
 * for the flip.  Best effort: without it the flip is only slower.
 */
static void hold_key(const struct hp_freeze *fz)
{
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s%s-key", FREEZER, fz->ours);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return;
	snprintf(path, sizeof(path), "%s%s-key/freezer.state", FREEZER, fz->ours);
	write_str(path, "FROZEN");
}

/*
 * A child that outlives us: if hotpatch dies with the target frozen, the
 * pipe closes and the child thaws it and puts it back.  On success we send
 * 'd' first and it does nothing.
 */
static pid_t start_watchdog(const struct hp_freeze *fz, int *ret_fd)
{
	int p[2];
	pid_t child;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	child = fork();
	if (child < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (child == 0) {
		char c = 0;

		close(p[1]);
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		if (c != 'd')
			undo(fz);
		_exit(0);
	}
	close(p[0]);
	*ret_fd = p[1];
	return child;
}

/* The pc of a frozen thread, from its already open /proc/.../syscall. */
static int frozen_pc(int fd, uint64_t *pc)
{
	char buf[256], *last;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = 0;
	if (!strncmp(buf, "running", 7))
		return -EAGAIN;
	/* "nr args... sp pc" or "-1 sp pc": the pc is the last field */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	last = strrchr(buf, ' ');
	if (!last)
		return -EIO;
	*pc = strtoull(last + 1, NULL, 16);
	return 0;
}

/* Its own freezer cgroup, a watchdog that puts it back should we die, the
 * target moved in, and what reads the pcs and the state opened: all
 * before the pause. */
static int prepare(struct hp_freeze *fz, pid_t pid)
{
	char path[PATH_MAX + 64];
	int r;

	r = current_cgroup(pid, fz->orig, sizeof(fz->orig));
	if (r < 0)
		return hp_fail(r, "cannot read the freezer cgroup of pid %d", pid);
	snprintf(fz->ours, sizeof(fz->ours), "/hotpatch-%d-%d", pid, getpid());
	snprintf(path, sizeof(path), "%s%s", FREEZER, fz->ours);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return hp_fail(-errno, "cannot make freezer cgroup %s: %m", path);
	fz->wd = start_watchdog(fz, &fz->wd_fd);
	if (fz->wd < 0) {
		rmdir(path);
		return hp_fail(-errno, "cannot start the freezer watchdog: %m");
	}
	hold_key(fz);
	r = move_to(fz->ours, pid);
	if (r < 0)
		return hp_fail(r, "cannot move pid %d into %s: %s", pid, fz->ours, strerror(-r));
	r = open_pc_files(pid, &fz->pcfd, &fz->npc);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s%s/freezer.state", FREEZER, fz->ours);
	fz->state_fd = open(path, O_RDWR | O_CLOEXEC);
	return fz->state_fd < 0 ? -errno : 0;
}

/* Is a thread of pid runnable, waiting for a CPU?  Then the freeze is
 * making progress: that thread freezes itself as soon as it runs.  (A
 * frozen thread shows 'D', as one in an uninterruptible sleep does.) */
static bool any_runnable(pid_t pid)
{
	char path[64];
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return false;
	for (struct dirent *de; !found && (de = readdir(d));) {
		char state = 0;

		found = atoi(de->d_name) > 0 && hp_task_state(pid, atoi(de->d_name), &state) == 0 &&
			state == 'R';
	}
	closedir(d);
	return found;
}

/* Threads the freezer woke must run to freeze themselves: let them.  Every
 * FREEZE_WAIT_NS without the freeze complete, it goes on only while some
 * thread waits for a CPU (a loaded machine: ptrace would wait for the same
 * threads), up to FREEZE_MAX_NS; a thread in an unfreezable sleep makes it
 * ptrace.  We hold real-time priority, so we look in short naps that
 * leave the CPUs to those threads yet see the freeze complete at once (a
 * yield on a loaded machine could give our CPU away for a whole time
 * slice, inside the pause). */
static int wait_frozen(struct hp_freeze *fz, pid_t pid)
{
	uint64_t until = fz->t1 + FREEZE_WAIT_NS;
	char state[16];

	for (;;) {
		ssize_t n = pread(fz->state_fd, state, sizeof(state) - 1, 0);
		uint64_t now;

		if (n > 0 && !strncmp(state, "FROZEN", 6))
			return 0;
		now = hp_now_ns();
		if (now > until && now < fz->t1 + FREEZE_MAX_NS && any_runnable(pid))
			until = now + FREEZE_WAIT_NS;
		if (now > until) {
			hp_note("the freezer did not freeze pid %d within %llu ms (a thread in an "
				"uninterruptible sleep, or a machine too busy to run its threads): "
				"the flip used ptrace",
				pid, (unsigned long long)((now - fz->t1) / 1000000));
			return -EAGAIN;
		}
		hp_sleep_us(FREEZE_POLL_US);
	}
}

int hp_freezer_freeze(struct hp_freeze *fz, struct hp_target *t, struct hp_flip_stats *st)
{
	int r;

	*fz = (struct hp_freeze){.wd = -1, .wd_fd = -1, .state_fd = -1, .pid = t->pid};
	r = prepare(fz, t->pid);
	if (r < 0)
		return r;
	st->attempts++;
	fz->token = hp_sched_boost();
	fz->t1 = hp_now_ns();
	/* ---- the pause starts ---- */
	if (pwrite(fz->state_fd, "FROZEN", 6, 0) < 0)
		return -errno;
	fz->frozen = true;
	hp_fault_point("freezer:freezing");
	r = wait_frozen(fz, t->pid);
	if (r < 0)
		return r;
	/* frozen: from here on nothing else of the target runs, go fast */
	hp_fault_point("freezer:frozen");
	st->stop_ns += hp_now_ns() - fz->t1;
	st->threads = fz->npc;
	return 0;
}

int hp_freezer_pc(struct hp_freeze *fz, size_t i, uint64_t *ret)
{
	uint64_t pc = 0;
	int r = frozen_pc(fz->pcfd[i], &pc);

	if (r == -ENOENT || r == -ESRCH)
		return 1; /* exited before the freeze */
	if (r < 0)
		return -EAGAIN;
	*ret = pc;
	return 0;
}

int hp_freezer_thaw(struct hp_freeze *fz, struct hp_flip_stats *st, int r)
{
	if (fz->wd < 0)
		return r; /* nothing was made, or prepare() took it back */
	if (fz->frozen) {
		if (pwrite(fz->state_fd, "THAWED", 6, 0) < 0)
			undo(fz);
		st->pause_ns += hp_now_ns() - fz->t1;
	}
	if (fz->token)
		hp_sched_restore(fz->token);
	if (fz->state_fd >= 0)
		close(fz->state_fd);
	for (size_t i = 0; i < fz->npc; i++)
		close(fz->pcfd[i]);
	free(fz->pcfd);
	undo(fz);
	if (fz->wd_fd >= 0) {
		if (write(fz->wd_fd, "d", 1) < 0)
			r = r ? r : -errno;
		close(fz->wd_fd);
		waitpid(fz->wd, NULL, 0);
	}
	memset(fz, 0, sizeof(*fz));
	fz->wd = -1;
	return r;
}
