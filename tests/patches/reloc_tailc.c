/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* For test_relocate: tail_jump() of the plain target answers x + 2000 (it answered x + 1000). */
#include <hotpatch.h>

static int tail_jump_fixed(int x)
{
	return x + 2000;
}
HOTPATCH_REPLACE(tail_jump, tail_jump_fixed);
