#include "driver.h"

long add3(long x);

const struct case_fn case_fns[] = {
	{"add3", add3}, {0, 0},
};
