/* A fix that calls a static function and reads and writes a static
 * variable of the target: the patch must see the target's own copies. */
#include "driver.h"

static long counter; /* the running process's state */

NOINLINE static long scale(long x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3;
}

NOINLINE long add(long x)
{
	counter += x;
	return counter;
}

NOINLINE long get(long x)
{
	(void)x;
	return counter;
}

NOINLINE long compute(long x)
{
	return scale(x) + 1;
}

const struct case_fn case_fns[] = {
	{"add", add}, {"get", get}, {"compute", compute}, {0, 0},
};
