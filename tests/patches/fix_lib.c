/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replaces a function of a shared library the target loads. */
#include <hotpatch.h>

static int lib_step_fixed(int x)
{
	return x + 20;
}
HOTPATCH_REPLACE_IN("libworklib.so", lib_step, lib_step_fixed);
