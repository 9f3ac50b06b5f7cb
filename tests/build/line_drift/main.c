/* A hunk adds lines above checked(), whose assert() holds __LINE__: only
 * first() changed; checked() must not be reported. */
#include <assert.h>

#include "driver.h"

long first(long x)
{
	return x + 1;
}

long checked(long x)
{
	assert(x != 12345);
	return x * 2;
}

const struct case_fn case_fns[] = {
	{"first", first}, {"checked", checked}, {0, 0},
};
