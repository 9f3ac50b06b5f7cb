/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Binds a reference that is not weak: the dynamic loader would refuse the
 * patch (undefined symbol), so hotpatch refuses it before loading it. */
#include <hotpatch.h>

extern long total;

static int compute_fixed(int x)
{
	return x + 2000 + (int)total;
}
HOTPATCH_REPLACE(compute, compute_fixed);
HOTPATCH_BIND(total, total);
