/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Names a function built without the hot-patch prologue. */
#include <hotpatch.h>

static int f(int x)
{
	return x;
}
HOTPATCH_REPLACE(unpatchable, f);
