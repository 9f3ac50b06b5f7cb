/* A fix to a static function that the compiler inlines into both its
 * callers: no out-of-line copy exists, the callers are what changes. */
#include "driver.h"

static long clamp(long x)
{
	return x > 100 ? 100 : x;
}

long limit(long x)
{
	return clamp(x) * 2;
}

long limit_plus(long x)
{
	return clamp(x + 1) + 7;
}

const struct case_fn case_fns[] = {
	{"limit", limit}, {"limit_plus", limit_plus}, {0, 0},
};
