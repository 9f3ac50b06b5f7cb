/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer: /proc/PID/maps lines, and gap finding on what parses. */
#include <stdlib.h>
#include <string.h>

#include "modules.h"
#include "trampoline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct hp_maps m;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	if (hp_maps_parse(text, &m) == 0) {
		uint64_t lo = m.n ? m.m[0].start : 0x400000, hi = m.n ? m.m[0].end : 0x401000;

		(void)hp_maps_find(&m, lo + 1);
		(void)hp_maps_find_gap(&m, lo, hi, 8192, HP_REL32_REACH);
		hp_maps_free(&m);
	}
	free(text);
	return 0;
}
