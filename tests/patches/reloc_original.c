/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * For test_relocate: replacements that call the original through
 * HOTPATCH_ORIGINAL, that is through the relocated copy of its displaced
 * instructions: a rip-relative load (rip_tight), a jmp rel32 that ends the
 * function (tail_tight), a 2-byte instruction under found padding (padded),
 * a function shorter than the jump (short_fn, whose copy holds its ret) and
 * a GCC function (rip_first).  Each answers the original's answer + 5000.
 */
#include <hotpatch.h>

#define WRAP(fn)                            \
	static int (*orig_##fn)(int);       \
	static int fn##_wrapped(int x)      \
	{                                   \
		return orig_##fn(x) + 5000; \
	}                                   \
	HOTPATCH_REPLACE(fn, fn##_wrapped); \
	HOTPATCH_ORIGINAL(fn, orig_##fn)

WRAP(rip_tight);
WRAP(tail_tight);
WRAP(padded);
WRAP(short_fn);
WRAP(rip_first);
