/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reaches the calling thread's thread-local variables of the target: two of
 * the executable (one static) and one of its library. */
#include <hotpatch.h>

static struct hotpatch_tls_index exe_idx, hidden_idx, lib_idx;

/* Changes the thread's own variable, so that the test can tell the real
 * instance from a copy, and answers with what it read. */
static long tls_probe_fixed(int x)
{
	long *v = hotpatch_tls_addr(&exe_idx), *h = hotpatch_tls_addr(&hidden_idx);

	(void)x;
	*v += 1;
	return *v + *h;
}

static long lib_tls_probe_fixed(int x)
{
	long *v = hotpatch_tls_addr(&lib_idx);

	(void)x;
	*v += 2;
	return *v;
}
HOTPATCH_REPLACE(tls_probe, tls_probe_fixed);
HOTPATCH_REPLACE_IN("libworklib.so", lib_tls_probe, lib_tls_probe_fixed);
HOTPATCH_TLS(tls_exe, exe_idx);
HOTPATCH_TLS(tls_hidden, hidden_idx);
HOTPATCH_TLS_IN("libworklib.so", lib_tls, lib_idx);
