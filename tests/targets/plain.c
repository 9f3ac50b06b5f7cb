/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A target built as a distribution builds a program: plain -O2, no
 * -fpatchable-function-entry, so no function has a hot-patch prologue and
 * only --relocate can patch it.  The functions of plain_cases.S have exact
 * shapes; the ones here have the shapes GCC gives them.  Worker threads call
 * every function through a table (no direct caller in the object, so GCC's
 * -fipa-ra contract does not apply) and count every answer that is neither
 * the original (x + 1000; short_fn and libc_abs: x) nor a patched one
 * (x + k * 1000, k = 2..9).  Commands on stdin, one line each:
 *   call NAME X  -> NAME(X)
 *   stats        -> "calls N wrong W"
 *   held         -> how many threads SIGUSR1 holds in its handler
 *   release      -> lets them go
 *   sigstorm     -> SIGALRM and SIGUSR2 to every worker, each every
 *                   100 us, from then on; "storming"
 *   signals      -> how many storm signals were handled
 *   quit
 * It prints "ready PID" once its threads run.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))

extern int bias_global; /* 1000, in plain_cases.S */

int plain_anchor(int x);
int rip_tight(int x);
int tail_tight(int x);
int short_fn(int x);
int padded(int x);
int parked(int x);
int signalled(int x);
int parked_pad(int x);
int short_tight(int x);
int call_first(int x);
int loop_back(int x);

/* GCC: a load of bias_global (rip-relative) first */
NOINLINE int rip_first(int x)
{
	return x + bias_global;
}

NOINLINE int tail_helper(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1000;
}

NOINLINE int tail_helper2(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 999;
}

/* GCC: add $1, %edi; jmp tail_helper2 */
NOINLINE int tail_jump(int x)
{
	return tail_helper2(x + 1);
}

/* abs() of the stock libc, through its address (not GCC's builtin) */
static int (*volatile libc_abs_fn)(int) = abs;

static int libc_abs(int x)
{
	return libc_abs_fn(x);
}

static const struct {
	const char *name;
	int (*fn)(int);
	int orig; /* the original's answer is x + orig */
} table[] = {
	{"rip_first", rip_first, 1000},	  {"tail_jump", tail_jump, 1000},
	{"rip_tight", rip_tight, 1000},	  {"tail_tight", tail_tight, 1000},
	{"short_fn", short_fn, 0},	  {"padded", padded, 1000},
	{"parked", parked, 1000},	  {"signalled", signalled, 1000},
	{"parked_pad", parked_pad, 1000}, {"short_tight", short_tight, 0},
	{"call_first", call_first, 1000}, {"loop_back", loop_back, 1000},
	{"libc_abs", libc_abs, 0},
};
#define NFN (sizeof(table) / sizeof(table[0]))

/* Every call goes through a pointer GCC cannot see through: a direct call
 * would make the callee one whose callers rely on -fipa-ra's contract. */
static int callf(size_t i, int x)
{
	int (*volatile fn)(int) = table[i].fn;

	return fn(x);
}

static atomic_long calls, wrong, storm_signals;
static pthread_t *th;
static atomic_int *tids;
static timer_t *timers;
static int nthreads, ntimers;
static atomic_int stop, held, released;

static int is_wrong(int i, int x, int r)
{
	int d = r - x;

	if (d == table[i].orig)
		return 0;
	return d < 2000 || d > 9000 || d % 1000;
}

static void *worker(void *arg)
{
	int base = (int)(long)arg;

	atomic_store(&tids[base / 100000], (int)syscall(SYS_gettid));
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		long bad = 0;

		for (int k = 0; k < 100; k++)
			for (size_t i = 0; i < NFN; i++) {
				int x = base + k;

				bad += is_wrong((int)i, x, callf(i, x));
			}
		if (bad)
			atomic_fetch_add(&wrong, bad);
		atomic_fetch_add(&calls, 100 * (long)NFN);
	}
	return NULL;
}

/* SIGUSR1 holds the thread it interrupts until "release": its signal frame
 * keeps the interrupted pc */
static void hold_in_handler(int sig)
{
	struct timespec ms = {0, 1000000};

	(void)sig;
	atomic_fetch_add(&held, 1);
	while (!atomic_load(&released))
		nanosleep(&ms, NULL);
	atomic_fetch_sub(&held, 1);
}

/* the storm's handlers run on the interrupted thread, whatever it was
 * doing: this one also calls rip_tight from there */
static void on_storm(int sig)
{
	int x = sig * 10;

	if (sig == SIGUSR2 && is_wrong(2, x, callf(2, x)))
		atomic_fetch_add(&wrong, 1);
	atomic_fetch_add(&storm_signals, 1);
}

/* A storm the kernel makes (the machine is busy: a thread that sent the
 * signals would rarely run): per worker, two timers every 100 us, one
 * SIGALRM and one SIGUSR2, each to that very thread. */
static void start_storm(void)
{
	if (ntimers)
		return;
	for (int i = 0; i < nthreads; i++)
		for (int k = 0; k < 2; k++) {
			struct sigevent ev = {.sigev_notify = SIGEV_THREAD_ID,
					      .sigev_signo = k ? SIGUSR2 : SIGALRM};
			struct itimerspec every = {{0, 100 * 1000}, {0, 100 * 1000}};
			timer_t tm;

			ev._sigev_un._tid = atomic_load(&tids[i]);
			if (timer_create(CLOCK_MONOTONIC, &ev, &tm) ||
			    timer_settime(tm, 0, &every, NULL))
				abort();
		}
}

static void command(const char *line)
{
	char name[64];
	int x;

	if (sscanf(line, "call %63s %d", name, &x) == 2) {
		for (size_t i = 0; i < NFN; i++)
			if (!strcmp(table[i].name, name)) {
				printf("%d\n", callf(i, x));
				return;
			}
		printf("no such function %s\n", name);
	} else if (!strncmp(line, "stats", 5)) {
		printf("calls %ld wrong %ld\n", atomic_load(&calls), atomic_load(&wrong));
	} else if (!strncmp(line, "held", 4)) {
		printf("%d\n", atomic_load(&held));
	} else if (!strncmp(line, "release", 7)) {
		atomic_store(&released, 1);
		printf("released\n");
	} else if (!strncmp(line, "sigstorm", 8)) {
		start_storm();
		printf("storming\n");
	} else if (!strncmp(line, "signals", 7)) {
		printf("%ld\n", atomic_load(&storm_signals));
	} else {
		printf("unknown command\n");
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = hold_in_handler, .sa_flags = SA_RESTART};
	char line[256];

	nthreads = argc > 1 ? atoi(argv[1]) : 8;
	th = calloc((size_t)nthreads + 1, sizeof(*th));
	tids = calloc((size_t)nthreads + 1, sizeof(*tids));
	timers = calloc(2 * (size_t)nthreads + 1, sizeof(*timers));
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_storm;
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(long)(i * 100000));
	for (int i = 0; i < nthreads; i++)
		while (!atomic_load(&tids[i]))
			sched_yield();
	/* the main thread reads commands: the storm is for the workers */
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	sigaddset(&s, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	printf("ready %d\n", getpid());
	while (fgets(line, sizeof(line), stdin) && strncmp(line, "quit", 4))
		command(line);
	for (int i = 0; i < ntimers; i++)
		timer_delete(timers[i]);
	atomic_store(&stop, 1);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	printf("bye calls %ld wrong %ld\n", atomic_load(&calls), atomic_load(&wrong));
	return atomic_load(&wrong) ? 3 : 0;
}
