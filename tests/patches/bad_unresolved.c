/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dlopen must fail: the patch needs a symbol nobody defines. */
#include <hotpatch.h>

extern int no_such_function_anywhere(int);

static int compute_broken(int x)
{
	return no_such_function_anywhere(x);
}
HOTPATCH_REPLACE(compute, compute_broken);
