/* disk/util.c: the same file name and the same static names as the other
 * util.c; GCC's STT_FILE symbol says only "util.c" for both. */
#include "driver.h"

static long hits = 500;

NOINLINE static long helper(long x)
{
	__asm__ volatile("" ::: "memory");
	return x * 10;
}

long disk_op(long x)
{
	hits++;
	return helper(x) + 1;
}

long disk_hits(long x)
{
	(void)x;
	return hits;
}
