/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmark target: spinner NTHREADS [read|futex|epoll|nap|spin|mix].  One
 * thread spins reading the clock and keeps the longest gap between two
 * readings: that is the pause it felt.  NTHREADS others sleep in read(2), in
 * a condition variable or in epoll_wait(2), or call bf_1 every 50 ms (nap)
 * or without a break (spin); mix: half spin, half wait on the condition.
 * bf_0 .. bf_999 are patchable functions the spinner keeps calling.  Commands on stdin:
 *   reset -> "ok" (forget the longest gap)   gap -> the longest gap in ns
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

/* clang-format off */
#define F(n) __attribute__((noinline)) int bf_##n(int x) { __asm__ volatile(""); return x + n; }
#define F10(n) F(n##0) F(n##1) F(n##2) F(n##3) F(n##4) F(n##5) F(n##6) F(n##7) F(n##8) F(n##9)
#define F100(n) F10(n##0) F10(n##1) F10(n##2) F10(n##3) F10(n##4) \
	F10(n##5) F10(n##6) F10(n##7) F10(n##8) F10(n##9)
F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9)
F10(1) F10(2) F10(3) F10(4) F10(5) F10(6) F10(7) F10(8) F10(9)
F100(1) F100(2) F100(3) F100(4) F100(5) F100(6) F100(7) F100(8) F100(9)
int bf_0(int x); /* ends the list for clang-format */
/* clang-format on */

static atomic_ulong max_gap;
static atomic_int reset_req;
static int sleeper_pipe[2], sleeper_epoll;

static unsigned long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long)ts.tv_sec * 1000000000ul + (unsigned long)ts.tv_nsec;
}

static void *spinner(void *arg)
{
	unsigned long last = now_ns(), m = 0;
	volatile int sink = 0;

	(void)arg;
	for (;;) {
		unsigned long t = now_ns();

		sink += bf_0((int)t);
		if (atomic_exchange_explicit(&reset_req, 0, memory_order_relaxed)) {
			m = 0;
			atomic_store(&max_gap, 0);
		} else if (t - last > m) {
			m = t - last;
			atomic_store(&max_gap, m);
		}
		last = t;
	}
	return NULL;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;

enum kind { READ, FUTEX, EPOLL, NAP, SPIN, MIX };

/* sleeps in read(2) on a pipe, or in a condition variable as thread pools
 * do; or works as a busy server's threads do: calls bf_1 every 50 ms, or
 * without a break */
static void *sleeper(void *arg)
{
	enum kind k = (enum kind)(long)arg;
	struct timespec nap = {0, 50 * 1000 * 1000};
	struct epoll_event ev;
	volatile int sink = 0;
	char c;

	switch (k) {
	case EPOLL: /* the pipe's read end: never readable */
		for (;;)
			epoll_wait(sleeper_epoll, &ev, 1, -1);
	case FUTEX:
		pthread_mutex_lock(&lock);
		for (;;)
			pthread_cond_wait(&never, &lock);
	case NAP:
		for (;;) {
			sink += bf_1(sink);
			nanosleep(&nap, NULL);
		}
	case SPIN:
		for (;;)
			sink += bf_1(sink);
	case READ:
	case MIX:
		break;
	}
	while (read(sleeper_pipe[0], &c, 1) != 0)
		;
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0;
	const char *how = argc > 2 ? argv[2] : "read";
	enum kind k = !strcmp(how, "futex")   ? FUTEX
		      : !strcmp(how, "nap")   ? NAP
		      : !strcmp(how, "spin")  ? SPIN
		      : !strcmp(how, "epoll") ? EPOLL
		      : !strcmp(how, "mix")   ? MIX
					      : READ;
	struct epoll_event ev = {.events = EPOLLIN};
	pthread_attr_t small;
	pthread_t t;
	char line[64];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (pipe(sleeper_pipe) < 0)
		return 1;
	sleeper_epoll = epoll_create1(0);
	if (sleeper_epoll < 0 || epoll_ctl(sleeper_epoll, EPOLL_CTL_ADD, sleeper_pipe[0], &ev) < 0)
		return 1;
	pthread_attr_init(&small);
	pthread_attr_setstacksize(&small, 64 << 10);
	for (int i = 0; i < n; i++)
		if (pthread_create(&t, &small, sleeper,
				   (void *)(long)(k != MIX ? k
						  : i % 2  ? FUTEX
							   : SPIN)))
			return 1;
	pthread_create(&t, NULL, spinner, NULL);
	printf("ready %d\n", getpid());
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "reset", 5)) {
			atomic_store(&reset_req, 1);
			while (atomic_load(&reset_req))
				usleep(100);
			printf("ok\n");
		} else if (!strncmp(line, "gap", 3)) {
			printf("%lu\n", atomic_load(&max_gap));
		} else if (!strncmp(line, "quit", 4)) {
			return 0;
		}
	}
	return 0;
}
