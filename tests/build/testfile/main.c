/* A fix whose diff also touches a test and the README, which are not
 * compiled into the target. */
#include "driver.h"

long check_len(long x)
{
	return x <= 16 ? x : -1;
}

const struct case_fn case_fns[] = {
	{"check_len", check_len}, {0, 0},
};
