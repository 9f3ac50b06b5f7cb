/* A fix to a function that GCC splits into parse and parse.cold: the
 * unlikely error path lives in .text.unlikely. */
#include <stdio.h>

#include "driver.h"

static long errors;

__attribute__((cold, noinline)) static void complain(long x)
{
	fprintf(stderr, "parse: bad input %ld\n", x);
	errors++;
}

long parse(long x)
{
	if (__builtin_expect(x < 0, 0)) {
		complain(x);
		return -1;
	}
	return x * 10 + 1;
}

long errors_seen(long x)
{
	(void)x;
	return errors;
}

const struct case_fn case_fns[] = {
	{"parse", parse}, {"errors", errors_seen}, {0, 0},
};
