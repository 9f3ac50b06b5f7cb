/* The diff was made against another version of this file. */
#include "driver.h"

long twice(long x)
{
	return x + x; /* rewritten upstream */
}

const struct case_fn case_fns[] = {
	{"twice", twice}, {0, 0},
};
