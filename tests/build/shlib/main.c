/* The program: its functions are the library's. */
#include "driver.h"

long compute(long x);
long ncalls(long x);

const struct case_fn case_fns[] = {
	{"compute", compute}, {"ncalls", ncalls}, {0, 0},
};
