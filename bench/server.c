/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmark server: one thread per loopback connection answers 16-byte
 * requests with 16-byte replies, calling the patchable bs_work() for each.
 * Prints "ready PORT".
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) long bs_work(long x)
{
	__asm__ volatile("");
	return x * 2 + 1;
}

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	char buf[16];

	for (;;) {
		ssize_t n = 0;

		while (n < 16) {
			ssize_t r = read(fd, buf + n, 16 - (size_t)n);
			if (r <= 0)
				goto out;
			n += r;
		}
		long v;
		memcpy(&v, buf, sizeof(v));
		v = bs_work(v);
		memcpy(buf, &v, sizeof(v));
		if (write(fd, buf, 16) != 16)
			break;
	}
out:
	close(fd);
	return NULL;
}

int main(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	setvbuf(stdout, NULL, _IOLBF, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 128) ||
	    getsockname(s, (struct sockaddr *)&a, &len))
		return 1;
	printf("ready %d\n", ntohs(a.sin_port));
	for (;;) {
		int c = accept(s, NULL, NULL);
		pthread_t t;

		if (c < 0)
			continue;
		setsockopt(c, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
		pthread_create(&t, NULL, serve, (void *)(long)c);
		pthread_detach(t);
	}
}
