/* The compile commands define TERMS=9, the target was built with the
 * default 8: DW_AT_producer (which omits -D) cannot tell, only the bytes
 * of the rebuilt poly() can. */
#include "driver.h"

#ifndef TERMS
#define TERMS 8
#endif

long poly(long x)
{
	long r = 0;

	for (long i = 0; i < TERMS; i++)
		r = r * x + i;
	return r;
}

const struct case_fn case_fns[] = {
	{"poly", poly}, {0, 0},
};
