/* A static whose signature changes; every caller of it changes too, so
 * the patch brings its own copy and leaves the original alone. */
#include "driver.h"

NOINLINE static long sum(long a)
{
	__asm__ volatile("" ::: "memory");
	return a + 1;
}

long total(long x)
{
	return sum(x) * 2;
}

long total2(long x)
{
	return sum(x + 10);
}

const struct case_fn case_fns[] = {
	{"total", total}, {"total2", total2}, {0, 0},
};
