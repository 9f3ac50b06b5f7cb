/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* For test_relocate: call_first() of the plain target answers x + 2000 (it answered x + 1000). */
#include <hotpatch.h>

static int call_first_fixed(int x)
{
	return x + 2000;
}
HOTPATCH_REPLACE(call_first, call_first_fixed);
