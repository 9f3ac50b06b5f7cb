/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A target that attacks the hotpatch working on it, run by the tests as an
 * unprivileged user.  It has a patchable compute() like the worker, answers
 * the same "call compute X" and "quit", and on "arm MODE [ARG]" starts one
 * attack thread; "count" prints how many times the attack fired.
 *
 *   swap-early FILE   when a memfd named /memfd:hotpatch:... appears, empty,
 *                     dup2() an O_RDONLY fd of FILE onto its number
 *   swap-opath FILE   the same with an O_PATH fd (FILE unreadable to us)
 *   swap-memfd NAME   the same with a memfd of our own, made beforehand under
 *                     hotpatch's name for it (NAME: "hotpatch:fix.so"), kept
 *                     mapped writable so that we can change it later
 *   swap-late FILE    once hotpatch has filled its memfd, put FILE (another
 *                     shared object) under its number before dlopen runs
 *   truncate LIB      dlopen LIB (a copy of ours), then truncate it and write
 *                     it back, over and over, while hotpatch reads it
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))

static atomic_long fired;
static char mode[32], arg[4096];

NOINLINE int compute(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1000;
}

/* Is fd a memfd hotpatch made for a patch, and is it filled yet? */
static int patch_memfd(int fd, char *name, size_t namesz, off_t *size)
{
	char path[64], link[256];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = 0;
	if (strncmp(link, "/memfd:hotpatch:", 16) || fstat(fd, &st) < 0)
		return 0;
	snprintf(name, namesz, "%.*s", (int)(strlen(link) - 7 - 10), link + 7);
	*size = st.st_size;
	return 1;
}

static void *swapper(void *unused)
{
	int late = !strcmp(mode, "swap-late"), ours = -1;
	int flags = !strcmp(mode, "swap-opath") ? O_PATH : O_RDONLY;
	ino_t done[64] = {0};

	(void)unused;
	if (strcmp(mode, "swap-memfd")) {
		ours = open(arg, flags | O_CLOEXEC);
		if (ours < 0) {
			perror(arg);
			exit(2);
		}
	} else {
		/* ready before hotpatch comes: the swap is one dup2 */
		ours = memfd_create(arg, MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (ours < 0 ||
		    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ours, 0) == MAP_FAILED) {
			perror("memfd");
			exit(2);
		}
	}
	for (;;) {
		for (int fd = 3; fd < 16; fd++) {
			char name[256];
			off_t size;
			struct stat st;

			if (fd == ours || !patch_memfd(fd, name, sizeof(name), &size) ||
			    fstat(fd, &st) < 0 || done[fd] == st.st_ino)
				continue;
			if (late ? size == 0 : size != 0)
				continue;
			done[fd] = st.st_ino;
			if (dup2(ours, fd) == fd) {
				struct stat now;

				if (fstat(fd, &now) == 0)
					done[fd] = now.st_ino;
				atomic_fetch_add(&fired, 1);
			}
		}
	}
	return NULL;
}

static void *truncater(void *unused)
{
	static char copy[16 << 20];
	ssize_t len;
	int fd;

	(void)unused;
	fd = open(arg, O_RDWR | O_CLOEXEC);
	len = fd < 0 ? -1 : read(fd, copy, sizeof(copy));
	if (len <= 0 || !dlopen(arg, RTLD_NOW)) {
		fprintf(stderr, "truncate: cannot use %s\n", arg);
		exit(2);
	}
	for (;;) {
		if (ftruncate(fd, 0) == 0 && pwrite(fd, copy, (size_t)len, 0) == len)
			atomic_fetch_add(&fired, 1);
	}
	return NULL;
}

int main(void)
{
	char line[4200];
	pthread_t t;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", getpid());
	while (fgets(line, sizeof(line), stdin)) {
		int x;

		if (sscanf(line, "call compute %d", &x) == 1) {
			printf("%d\n", compute(x));
		} else if (sscanf(line, "arm %31s %4095s", mode, arg) >= 1) {
			pthread_create(&t, NULL, strcmp(mode, "truncate") ? swapper : truncater,
				       NULL);
			printf("armed\n");
		} else if (!strncmp(line, "count", 5)) {
			printf("%ld\n", atomic_load(&fired));
		} else if (!strncmp(line, "quit", 4)) {
			break;
		}
	}
	return 0;
}
