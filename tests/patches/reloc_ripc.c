/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* For test_relocate: rip_first() of the plain target answers x + 2000 (it answered x + 1000). */
#include <hotpatch.h>

static int rip_first_fixed(int x)
{
	return x + 2000;
}
HOTPATCH_REPLACE(rip_first, rip_first_fixed);
