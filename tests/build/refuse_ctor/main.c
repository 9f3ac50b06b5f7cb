/* A constructor changes: it ran once at start-up and never runs again. */
#include "driver.h"

static long base;

__attribute__((constructor)) static void set_base(void)
{
	base = 40;
}

long with_base(long x)
{
	return x + base;
}

const struct case_fn case_fns[] = {
	{"with_base", with_base}, {0, 0},
};
