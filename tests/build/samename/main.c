#include "driver.h"

long net_op(long x);
long net_hits(long x);
long disk_op(long x);
long disk_hits(long x);

const struct case_fn case_fns[] = {
	{"net_op", net_op}, {"net_hits", net_hits},
	{"disk_op", disk_op}, {"disk_hits", disk_hits}, {0, 0},
};
