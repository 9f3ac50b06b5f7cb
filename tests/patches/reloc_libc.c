/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * For test_relocate: abs() of the stock libc.so.6, which nobody rebuilt
 * (no hot-patch prologue), replaced by one that calls the original through
 * its relocated copy and adds 2000 to its answer.
 */
#include <hotpatch.h>

static int (*orig_abs)(int);

static int abs_fixed(int x)
{
	return orig_abs(x) + 2000;
}
HOTPATCH_REPLACE_IN("libc.so.6", abs, abs_fixed);
HOTPATCH_ORIGINAL_IN("libc.so.6", abs, orig_abs);
