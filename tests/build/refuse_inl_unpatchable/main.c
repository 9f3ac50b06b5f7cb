/* A static function inlined into a caller that has no patchable entry
 * (patchable_function_entry(0, 0)): the caller cannot be replaced. */
#include "driver.h"

static long bound(long x)
{
	return x > 9 ? 9 : x;
}

__attribute__((patchable_function_entry(0, 0))) long fixed_entry(long x)
{
	return bound(x) + 1;
}

long other(long x)
{
	return x - 1;
}

const struct case_fn case_fns[] = {
	{"fixed_entry", fixed_entry}, {"other", other}, {0, 0},
};
