/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer: the classic-BPF interpreter on arbitrary seccomp programs. */
#include <linux/filter.h>
#include <string.h>

#include "seccomp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sock_filter prog[256];
	size_t n = size / sizeof(struct sock_filter);
	struct hp_sc_call c = {.nr = 319, .args = {1, 2, 3, 4, 5, 6}, .name = "fuzz"};

	if (n > 256)
		n = 256;
	memcpy(prog, data, n * sizeof(struct sock_filter));
	(void)hp_seccomp_run(prog, n, &c, 0x7f0000001000ull);
	return 0;
}
