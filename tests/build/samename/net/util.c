/* net/util.c: the same file name and the same static names as the other
 * util.c; GCC's STT_FILE symbol says only "util.c" for both. */
#include "driver.h"

static long hits = 0;

NOINLINE static long helper(long x)
{
	__asm__ volatile("" ::: "memory");
	return x * 2;
}

long net_op(long x)
{
	hits++;
	return helper(x) + 1;
}

long net_hits(long x)
{
	(void)x;
	return hits;
}
