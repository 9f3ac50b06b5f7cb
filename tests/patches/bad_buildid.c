/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pinned to a build-id no target has. */
#include <hotpatch.h>

static int f(int x)
{
	return x + 2000;
}
HOTPATCH_REPLACE(compute, f);
HOTPATCH_BUILD_ID("", "0123456789abcdef0123456789abcdef01234567");
