/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer: prologue recognition on bytes read from a target. */
#include <string.h>

#include "prologue.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[HP_PRO_BEFORE + HP_PRO_AFTER];
	struct hp_prologue p;

	memset(buf, 0xc3, sizeof(buf));
	memcpy(buf, data, size < sizeof(buf) ? size : sizeof(buf));
	if (hp_prologue_analyze(buf, sizeof(buf), 0x1000, 0x1000 + HP_PRO_BEFORE, &p) == 0) {
		/* what is accepted has a sane shape */
		if (p.window_len < 2 || p.body != p.window + p.window_len || p.pad + 5 != p.entry)
			__builtin_trap();
	}
	return 0;
}
