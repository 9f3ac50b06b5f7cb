/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hotpatch's demo: a small order server.  Four worker threads price orders
 * non-stop; twice a second the main thread prints one order.  It has a bug:
 * total_price() forgets the 20% VAT.  Build it patchable with
 *
 *     cc -O2 -g -fpatchable-function-entry=7,5 -pthread shop.c -o shop
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static atomic_long served;

__attribute__((noinline)) double total_price(int items, double unit)
{
	return items * unit; /* BUG: no VAT */
}

static void *worker(void *arg)
{
	volatile double sink = 0;

	(void)arg;
	for (;;) {
		for (int i = 1; i <= 1000; i++)
			sink += total_price(i % 7 + 1, 4.5);
		atomic_fetch_add(&served, 1000);
	}
	return NULL;
}

int main(void)
{
	pthread_t th[4];

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	printf("shop ready, pid %d\n", getpid());
	for (unsigned n = 1;; n++) {
		struct timespec half = {0, 500000000};
		char when[16];
		time_t now = time(NULL);

		strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
		printf("[%s] order #%u: 3 x 19.99 = %.2f EUR   (%ld orders priced so far)\n", when,
		       n, total_price(3, 19.99), atomic_load(&served));
		nanosleep(&half, NULL);
	}
}
