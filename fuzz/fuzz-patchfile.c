/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer: a patch file's ELF and its "hotpatch" records. */
#include <stdlib.h>
#include <string.h>

#include "patchfile.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hp_patchfile pf;
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	hp_patchfile_parse(copy, size, "fuzz.so", &pf); /* takes the copy */
	for (size_t i = 0; i < pf.nrec; i++)
		if (pf.rec[i].symbol)
			(void)strlen(pf.rec[i].symbol);
	hp_patchfile_free(&pf);
	hp_notes_clear();
	return 0;
}
