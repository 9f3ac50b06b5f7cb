/* The diff adds a constructor: in a patch it would run inside the target
 * during dlopen. */
#include "driver.h"

static long base = 40;

long with_base(long x)
{
	return x + base;
}

const struct case_fn case_fns[] = {
	{"with_base", with_base}, {0, 0},
};
