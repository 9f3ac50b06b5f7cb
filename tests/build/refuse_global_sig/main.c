#include "driver.h"
#include "scale.h"

long use_scale(long x)
{
	return scale(x) + 1;
}

const struct case_fn case_fns[] = {
	{"use_scale", use_scale}, {0, 0},
};
