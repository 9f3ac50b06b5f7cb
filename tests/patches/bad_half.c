/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Two functions, the second not patchable: nothing may be applied. */
#include <hotpatch.h>

static int c2(int x)
{
	return x + 2000;
}
static int u2(int x)
{
	return x;
}
HOTPATCH_REPLACE(compute, c2);
HOTPATCH_REPLACE(unpatchable, u2);
