/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replaces a function built with GCC's ms_hook_prologue. */
#include <hotpatch.h>

static int (*orig_ms)(int);

static int ms_fixed(int x)
{
	return orig_ms(x) + 100; /* x + 7 + 100 */
}
HOTPATCH_REPLACE(ms_func, ms_fixed);
HOTPATCH_ORIGINAL(ms_func, orig_ms);
