/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Asks for a thread-local index of a variable that is not thread-local. */
#include <hotpatch.h>

static struct hotpatch_tls_index idx;

static long tls_probe_fixed(int x)
{
	return *(long *)hotpatch_tls_addr(&idx) + x;
}
HOTPATCH_REPLACE(tls_probe, tls_probe_fixed);
HOTPATCH_TLS(counter, idx);
