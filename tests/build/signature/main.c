/* A static whose signature changes; every caller of it changes too, so
 * the patch brings its own copy and leaves the original alone: a thread
 * parked deep in the old recursion (park) finishes it with the old ABI
 * after the patch (unpark), calling the original sum all the way down. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "driver.h"

static atomic_int parking, parked;
static long parked_result;
static pthread_t parker_thread;

static void wait_at_gate(void)
{
	struct timespec ms = {0, 1000000};

	atomic_store(&parked, 1);
	while (atomic_load(&parking))
		nanosleep(&ms, NULL);
}

NOINLINE static long sum(long a)
{
	long r;

	if (a <= 0)
		return 1;
	if (a == 3 && atomic_load(&parking))
		wait_at_gate();
	r = sum(a - 1);
	/* no accumulator loop: each level is a real call */
	__asm__ volatile("" : "+r"(r));
	return r + 1;
}

long total(long x)
{
	return sum(x) * 2;
}

long total2(long x)
{
	return sum(x + 10);
}

static void *parker(void *arg)
{
	(void)arg;
	parked_result = sum(6);
	return NULL;
}

long park(long x)
{
	struct timespec ms = {0, 1000000};

	(void)x;
	atomic_store(&parking, 1);
	pthread_create(&parker_thread, NULL, parker, NULL);
	while (!atomic_load(&parked))
		nanosleep(&ms, NULL);
	return 1;
}

long unpark(long x)
{
	(void)x;
	atomic_store(&parking, 0);
	pthread_join(parker_thread, NULL);
	atomic_store(&parked, 0);
	return parked_result;
}

const struct case_fn case_fns[] = {
	{"total", total}, {"total2", total2}, {"park", park}, {"unpark", unpark}, {0, 0},
};
