/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A replacement that calls the original body: x + 1000 + 5000. */
#include <hotpatch.h>

static int (*orig_compute)(int);

static int compute_wrapped(int x)
{
	return orig_compute(x) + 5000;
}
HOTPATCH_REPLACE(compute, compute_wrapped);
HOTPATCH_ORIGINAL(compute, orig_compute);
