/* The other unit: helper and hits here are not one.c's. */
#include "driver.h"

static long hits = 1000;

NOINLINE static long helper(long x)
{
	__asm__ volatile("" ::: "memory");
	return x * 10;
}

long two(long x)
{
	hits++;
	return helper(x);
}

long two_hits(long x)
{
	(void)x;
	return hits;
}
