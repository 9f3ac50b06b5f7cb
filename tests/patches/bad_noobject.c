/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Names a library the target has not loaded. */
#include <hotpatch.h>

static int f(int x)
{
	return x;
}
HOTPATCH_REPLACE_IN("libnope.so.9", lib_step, f);
