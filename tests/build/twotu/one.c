/* One of two translation units with statics of the same names. */
#include "driver.h"

static long hits;

NOINLINE static long helper(long x)
{
	__asm__ volatile("" ::: "memory");
	return x * 2;
}

long one(long x)
{
	hits++;
	return helper(x) + 1;
}

long one_hits(long x)
{
	(void)x;
	return hits;
}
