/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* For test_relocate: parked_pad() of the plain target answers x + 2000 (it answered x + 1000). */
#include <hotpatch.h>

static int parked_pad_fixed(int x)
{
	return x + 2000;
}
HOTPATCH_REPLACE(parked_pad, parked_pad_fixed);
