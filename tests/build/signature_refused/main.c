/* A static whose parameter widens from int to long (as in nginx's
 * CVE-2024-7347).  other() calls it and is not changed by the diff: its
 * code is the same bytes in both builds (x is in %rdi either way), but the
 * target's copy was compiled for an int parameter, whose upper half the
 * new sum() would read: the patch must be refused, naming sum. */
#include "driver.h"

NOINLINE static long sum(int n)
{
	__asm__ volatile("" ::: "memory");
	return (long)n + 1;
}

long total(long x)
{
	return sum(x) + 100;
}

long other(long x)
{
	return sum(x) * 2;
}

const struct case_fn case_fns[] = {
	{"total", total}, {"other", other}, {0, 0},
};
