/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer: the registry read back from a target's memory. */
#include <stdlib.h>
#include <string.h>

#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hp_registry reg;

	if (hp_registry_decode(data, size, &reg) == 0) {
		uint8_t *again;
		size_t len;

		/* what decodes must encode back to the same bytes */
		if (hp_registry_encode(&reg, &again, &len) == 0) {
			if (len != size || memcmp(again, data, size))
				abort();
			free(again);
		}
		hp_registry_free(&reg);
	}
	return 0;
}
