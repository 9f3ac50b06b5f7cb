/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* For test_relocate: short_tight() of the plain target answers x + 2000 (it answered x). */
#include <hotpatch.h>

static int short_tight_fixed(int x)
{
	return x + 2000;
}
HOTPATCH_REPLACE(short_tight, short_tight_fixed);
