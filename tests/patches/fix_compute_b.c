/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A second patch of compute(), for stacking tests. */
#include <hotpatch.h>

static int compute_b(int x)
{
	return x + 3000;
}
HOTPATCH_REPLACE(compute, compute_b);
