/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An event loop with events flowing, as on any real server: one thread
 * waits in epoll_wait(ep, ..., -1) (or epoll_pwait) on a pipe that another
 * thread writes to every 2 ms.  An EINTR it sees is counted: no signal is
 * ever sent to it, so any EINTR comes from a stop.
 *   eventloop main wait|pwait     the main thread is the waiter (stdin is in
 *                                 its epoll set too)
 *   eventloop worker wait|pwait   a worker thread is; main reads stdin
 * stdin: "call compute X", "stats" -> "events N eintr E", "quit".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static atomic_long events, eintr;
static int pipefd[2], use_pwait;

__attribute__((noinline, noclone)) int compute(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1000;
}

static void *writer(void *arg)
{
	struct timespec two = {0, 2 * 1000 * 1000};

	(void)arg;
	for (;;) {
		if (write(pipefd[1], "x", 1) < 0)
			abort();
		nanosleep(&two, NULL);
	}
	return NULL;
}

static int command(void)
{
	char line[128];
	int x;

	if (!fgets(line, sizeof(line), stdin) || !strncmp(line, "quit", 4))
		return -1;
	if (sscanf(line, "call compute %d", &x) == 1)
		printf("%d\n", compute(x));
	else if (!strncmp(line, "stats", 5))
		printf("events %ld eintr %ld\n", atomic_load(&events), atomic_load(&eintr));
	return 0;
}

/* Waits for events for good; with `with_stdin`, commands are events too. */
static void *loop(void *with_stdin)
{
	struct epoll_event ev = {.events = EPOLLIN}, out[8];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	sigset_t none;

	sigemptyset(&none);
	ev.data.fd = pipefd[0];
	epoll_ctl(ep, EPOLL_CTL_ADD, pipefd[0], &ev);
	if (with_stdin) {
		ev.data.fd = 0;
		epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
	}
	for (;;) {
		int n = use_pwait ? epoll_pwait(ep, out, 8, -1, &none) : epoll_wait(ep, out, 8, -1);

		if (n < 0) {
			if (errno != EINTR)
				abort();
			atomic_fetch_add(&eintr, 1);
			continue;
		}
		for (int i = 0; i < n; i++) {
			char buf[64];

			if (out[i].data.fd == 0) {
				if (command() < 0)
					exit(0);
			} else if (read(pipefd[0], buf, sizeof(buf)) > 0) {
				atomic_fetch_add(&events, 1);
			}
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int main_waits = argc > 1 && !strcmp(argv[1], "main");
	pthread_t t;

	use_pwait = argc > 2 && !strcmp(argv[2], "pwait");
	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stdin, NULL, _IONBF, 0); /* epoll sees each command line */
	if (pipe(pipefd) < 0)
		return 1;
	pthread_create(&t, NULL, writer, NULL);
	printf("ready %d\n", getpid());
	if (main_waits)
		loop((void *)1);
	pthread_create(&t, NULL, loop, NULL);
	while (command() == 0)
		;
	return 0;
}
