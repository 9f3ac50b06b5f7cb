/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A pre-forking server in miniature, for the tests of many processes:
 *   forker THREADS [CHILDREN]
 * starts THREADS - 1 threads that sleep, then CHILDREN children that loop
 * on sleep(1) and call lib_step() of libworklib.so (libpulp's stress
 * shape).  Children die with their parent, and read nothing.  Commands
 * on stdin, one line each, answers on stdout:
 *   call compute X | call lib_step X   -> the result
 *   fork     -> "forked PID": one more child, forked now
 *   exec     -> runs itself again (same pid), which says "ready PID" again
 *   quit
 * It prints "ready PID" once its threads and children run.
 */
#include <signal.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

int lib_step(int x); /* in libworklib.so */

__attribute__((noinline, noclone)) int compute(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1000;
}

static void *napper(void *arg)
{
	struct timespec d = {0, 300 * 1000000L};

	(void)arg;
	for (;;)
		clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL);
	return NULL;
}

/* A child: no stdin, no stdout; it goes when the parent goes. */
static pid_t spawn(void)
{
	pid_t parent = getpid(), pid = fork();
	int null;

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	null = open("/dev/null", O_RDWR);
	dup2(null, 0);
	dup2(null, 1);
	for (volatile int sink;;) {
		sleep(1);
		sink = lib_step(1);
		(void)sink;
	}
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1, children = argc > 2 ? atoi(argv[2]) : 0;
	char line[128];
	pthread_t t;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
	for (int i = 1; i < threads; i++)
		pthread_create(&t, NULL, napper, NULL);
	for (int i = 0; i < children; i++)
		if (spawn() < 0)
			return 1;
	printf("ready %d\n", getpid());
	while (fgets(line, sizeof(line), stdin)) {
		int x;

		if (sscanf(line, "call compute %d", &x) == 1) {
			printf("%d\n", compute(x));
		} else if (sscanf(line, "call lib_step %d", &x) == 1) {
			printf("%d\n", lib_step(x));
		} else if (!strncmp(line, "fork", 4)) {
			printf("forked %d\n", spawn());
		} else if (!strncmp(line, "exec", 4)) {
			char *args[] = {argv[0], "1", NULL};

			fflush(stdout);
			execv("/proc/self/exe", args);
			printf("exec failed\n");
		} else if (!strncmp(line, "quit", 4)) {
			break;
		}
	}
	return 0;
}
