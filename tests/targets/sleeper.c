/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A target whose every thread sleeps, and that measures each of its sleeps:
 *   sleeper 0 sleep          one thread that loops on sleep, as the simplest
 *                            program there is (300 ms, through usleep)
 *   sleeper N rel|abs        N more threads, each looping in clock_nanosleep
 *                            (relative, or TIMER_ABSTIME), and the main one too
 * A sleep that ends early, or more than LATE_MS after its deadline (as a
 * sleep restarted from the beginning would), counts as trouble.  Between
 * sleeps the main thread answers stdin: "call compute X", "stats" ->
 * "sleeps N early E late L", "quit".  It prints "ready PID" first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NAP_MS	300
#define LATE_MS 150

static atomic_long sleeps, early, late;
static int absolute;

__attribute__((noinline, noclone)) int compute(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1000;
}

static long ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void judge(long start, long end, long want)
{
	atomic_fetch_add(&sleeps, 1);
	if (end - start < want)
		atomic_fetch_add(&early, 1);
	else if (end - start > want + LATE_MS * 1000000L)
		atomic_fetch_add(&late, 1);
}

/* One sleep the way the mode says, measured on CLOCK_MONOTONIC. */
static void nap(int use_sleep)
{
	long want = NAP_MS * 1000000L, t0 = ns(CLOCK_MONOTONIC);
	struct timespec d = {0, want};

	if (use_sleep) {
		/* sleep() takes seconds; usleep is the same clock_nanosleep */
		if (usleep(NAP_MS * 1000) < 0)
			atomic_fetch_add(&early, 1);
	} else if (absolute) {
		struct timespec until;
		long u = t0 + want;

		until.tv_sec = u / 1000000000L;
		until.tv_nsec = u % 1000000000L;
		if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL))
			atomic_fetch_add(&early, 1);
	} else if (clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL)) {
		atomic_fetch_add(&early, 1);
	}
	judge(t0, ns(CLOCK_MONOTONIC), want);
}

static void *napper(void *arg)
{
	(void)arg;
	for (;;)
		nap(0);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0, use_sleep = argc > 2 && !strcmp(argv[2], "sleep");
	char line[128];
	pthread_t t;

	absolute = argc > 2 && !strcmp(argv[2], "abs");
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < n; i++)
		pthread_create(&t, NULL, napper, NULL);
	printf("ready %d\n", getpid());
	for (;;) {
		struct pollfd p = {0, POLLIN, 0};

		nap(use_sleep);
		while (poll(&p, 1, 0) == 1) {
			int x;

			if (!fgets(line, sizeof(line), stdin) || !strncmp(line, "quit", 4))
				return 0;
			if (sscanf(line, "call compute %d", &x) == 1)
				printf("%d\n", compute(x));
			else if (!strncmp(line, "stats", 5))
				printf("sleeps %ld early %ld late %ld\n", atomic_load(&sleeps),
				       atomic_load(&early), atomic_load(&late));
		}
	}
}
