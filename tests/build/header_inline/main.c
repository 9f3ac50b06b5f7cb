/* The units that include cap.h are what changes when it does; main.c
 * does not include it and is not rebuilt. */
#include "driver.h"

long capped_twice(long x);
long capped_plus(long x);

long plain(long x)
{
	return x + 1;
}

const struct case_fn case_fns[] = {
	{"capped_twice", capped_twice}, {"capped_plus", capped_plus}, {"plain", plain}, {0, 0},
};
