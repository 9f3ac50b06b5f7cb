/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Binds a thread-local variable: its relocations are TLS ones, which no
 * one address can fill. */
#include <hotpatch.h>

extern __thread long tls_exe __attribute__((weak));

static int compute_fixed(int x)
{
	return x + 2000 + (int)tls_exe;
}
HOTPATCH_REPLACE(compute, compute_fixed);
HOTPATCH_BIND(tls_exe, tls_exe);
