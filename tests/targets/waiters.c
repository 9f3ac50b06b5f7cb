/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A target whose N threads all wait in one kind of place, for the choice
 * --freezer=auto makes:  waiters N futex|epoll|read|spin
 * futex: a condition variable that is never signalled; epoll: epoll_wait on
 * a pipe that never turns readable; read: read(2) on it; spin: call
 * compute() without a break and count wrong answers.  The main thread
 * answers stdin: "call compute X", "stats" -> "calls N wrong W", "quit".
 * It prints "ready PID" first.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static atomic_long calls, wrong;
static int quiet_pipe[2], ep;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;

__attribute__((noinline, noclone)) int compute(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1000;
}

static void *waiter(void *arg)
{
	const char *how = arg;
	struct epoll_event ev;
	char c;

	if (!strcmp(how, "futex")) {
		pthread_mutex_lock(&lock);
		for (;;)
			pthread_cond_wait(&never, &lock);
	}
	if (!strcmp(how, "epoll"))
		for (;;)
			epoll_wait(ep, &ev, 1, -1);
	if (!strcmp(how, "read"))
		while (read(quiet_pipe[0], &c, 1) != 0)
			;
	for (int i = 0;; i = (i + 1) & 0xffff) {
		int r = compute(i);

		atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
		if (r != i + 1000 && r != i + 2000)
			atomic_fetch_add(&wrong, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0;
	char *how = argc > 2 ? argv[2] : "futex", line[128];
	struct epoll_event ev = {.events = EPOLLIN};
	pthread_attr_t small;
	pthread_t t;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (pipe(quiet_pipe) < 0 || (ep = epoll_create1(0)) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, quiet_pipe[0], &ev) < 0)
		return 1;
	pthread_attr_init(&small);
	pthread_attr_setstacksize(&small, 64 << 10);
	for (int i = 0; i < n; i++)
		if (pthread_create(&t, &small, waiter, how))
			return 1;
	printf("ready %d\n", getpid());
	while (fgets(line, sizeof(line), stdin)) {
		int x;

		if (!strncmp(line, "quit", 4))
			return 0;
		if (sscanf(line, "call compute %d", &x) == 1)
			printf("%d\n", compute(x));
		else if (!strncmp(line, "stats", 5))
			printf("calls %ld wrong %ld\n", atomic_load(&calls), atomic_load(&wrong));
	}
	return 0;
}
