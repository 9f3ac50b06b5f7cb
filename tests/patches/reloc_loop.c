/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* For test_relocate: loop_back() of the plain target answers x + 2000 (it answered x + 1000). */
#include <hotpatch.h>

static int loop_back_fixed(int x)
{
	return x + 2000;
}
HOTPATCH_REPLACE(loop_back, loop_back_fixed);
