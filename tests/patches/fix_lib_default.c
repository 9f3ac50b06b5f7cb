/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Names no object: with --lib libworklib.so it patches that library. */
#include <hotpatch.h>

static int lib_step_v2(int x)
{
	return x + 30;
}
HOTPATCH_REPLACE(lib_step, lib_step_v2);
