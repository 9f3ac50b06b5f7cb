/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replaces twofiles_b.c's static bump(), not twofiles_a.c's of the same
 * name, and calls its original body: the qualified names of REPLACE and
 * ORIGINAL records. */
#include <hotpatch.h>

static int (*orig_bump)(int);

static int bump_fixed(int x)
{
	return orig_bump(x) + 1000000;
}
HOTPATCH_REPLACE_NAMED("", "bump;file=twofiles_b.c", bump_fixed);
HOTPATCH_ORIGINAL_NAMED("", "bump;file=twofiles_b.c", orig_bump);
