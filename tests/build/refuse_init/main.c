/* A global's initial value changes: the running process already has its
 * value, the new initializer would never run. */
#include "driver.h"

long limit = 10;

long under_limit(long x)
{
	return x < limit;
}

const struct case_fn case_fns[] = {
	{"under_limit", under_limit}, {0, 0},
};
