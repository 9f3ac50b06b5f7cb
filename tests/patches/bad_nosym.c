/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Names a function the target does not have. */
#include <hotpatch.h>

static int f(int x)
{
	return x;
}
HOTPATCH_REPLACE(compute_typo, f);
