/* The changed function has a static local: the patch must keep using the
 * target's n (GCC names it n.0 or so), whose value it had before. */
#include "driver.h"

long next_id(long x)
{
	static long n;

	n += 1;
	return n * 100 + x;
}

const struct case_fn case_fns[] = {
	{"next_id", next_id}, {0, 0},
};
