#include "driver.h"

long one(long x);
long one_hits(long x);
long two(long x);
long two_hits(long x);

const struct case_fn case_fns[] = {
	{"one", one}, {"one_hits", one_hits}, {"two", two}, {"two_hits", two_hits}, {0, 0},
};
