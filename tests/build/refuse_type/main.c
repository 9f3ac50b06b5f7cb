/* A static's type changes (int to unsigned int would be the same bits;
 * int to float is not): the target's value has the old type. */
#include "driver.h"

static int level = 3;

/* level changes at run time, so it is a real variable of the target */
long set_level(long x)
{
	level = (int)x;
	return x;
}

long level_times(long x)
{
	return (long)(level * x);
}

const struct case_fn case_fns[] = {
	{"level_times", level_times}, {"set_level", set_level}, {0, 0},
};
