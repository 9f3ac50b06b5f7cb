/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A patch that calls a function the target exports (linked -rdynamic). */
#include <hotpatch.h>

extern int use_secret(int x);

static int compute_via_export(int x)
{
	return use_secret(0) + x + 4000; /* counter is 0: x + 4000 */
}
HOTPATCH_REPLACE(compute, compute_via_export);
