/* A static function that GCC clones for its constant argument
 * (weigh.constprop.0): the fix changes the clone, whose callers stay. */
#include "driver.h"

__attribute__((noinline)) static long weigh(long x, long k)
{
	long r = 0;

	for (long i = 0; i < k; i++)
		r += x * i + (r >> 3);
	return r;
}

long heavy(long x)
{
	return weigh(x, 3);
}

long heavier(long x)
{
	return weigh(x + 1, 3) * 2;
}

const struct case_fn case_fns[] = {
	{"heavy", heavy}, {"heavier", heavier}, {0, 0},
};
