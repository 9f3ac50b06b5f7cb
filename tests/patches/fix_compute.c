/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <hotpatch.h>

static int compute_fixed(int x)
{
	return x + 2000;
}
HOTPATCH_REPLACE(compute, compute_fixed);
