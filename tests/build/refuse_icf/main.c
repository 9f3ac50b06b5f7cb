/* Two functions with identical code, which the linker folds into one body
 * (gold --icf=all): patching one would change both. */
#include "driver.h"

NOINLINE long tax(long x)
{
	__asm__ volatile("" ::: "memory");
	return x * 7 + 3;
}

NOINLINE long fee(long x)
{
	__asm__ volatile("" ::: "memory");
	return x * 7 + 3;
}

const struct case_fn case_fns[] = {
	{"tax", tax}, {"fee", fee}, {0, 0},
};
