/* A never-returning event loop changes: the thread inside it keeps the
 * old code for ever (warned, built). */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "driver.h"

static atomic_long ticks;

__attribute__((noreturn)) static void *event_loop(void *arg)
{
	struct timespec ms = {0, 1000000};

	(void)arg;
	for (;;) {
		atomic_fetch_add(&ticks, 1);
		nanosleep(&ms, NULL);
	}
}

void case_init(void)
{
	struct timespec ms = {0, 1000000};
	pthread_t t;

	pthread_create(&t, NULL, event_loop, NULL);
	while (!atomic_load(&ticks)) /* "ready" once the loop runs */
		nanosleep(&ms, NULL);
}

long ticks_seen(long x)
{
	(void)x;
	return atomic_load(&ticks) > 0;
}

long handle(long x)
{
	return x * 2;
}

const struct case_fn case_fns[] = {
	{"ticks", ticks_seen}, {"handle", handle}, {0, 0},
};
