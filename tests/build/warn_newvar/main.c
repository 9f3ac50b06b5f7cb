/* The fix adds a global variable: it starts at its initializer in the
 * patch and is lost on rollback (warned, built). */
#include "driver.h"

long request(long x)
{
	return x + 1;
}

const struct case_fn case_fns[] = {
	{"request", request}, {0, 0},
};
