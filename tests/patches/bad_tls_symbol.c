/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Asks for one address of a thread-local variable, which has none. */
#include <hotpatch.h>

static long *tls;

static long tls_probe_fixed(int x)
{
	return *tls + x;
}
HOTPATCH_REPLACE(tls_probe, tls_probe_fixed);
HOTPATCH_SYMBOL(tls_exe, tls);
