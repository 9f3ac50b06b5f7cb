/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replaces a static function and reaches a static variable of the target. */
#include <hotpatch.h>

static long *counter;

static int secret_fixed(int x)
{
	*counter += 1;
	return x * 4;
}
HOTPATCH_REPLACE(secret, secret_fixed);
HOTPATCH_SYMBOL(counter, counter);
