/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer: the holder line of a lock file, and a round trip of what parses. */
#include <stdlib.h>
#include <string.h>

#include "lock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hp_lock_holder h, back;
	char line[HP_LOCK_HOLDER_MAX + 1];
	int n;

	if (hp_lock_holder_parse((const char *)data, size, &h) < 0)
		return 0;
	n = hp_lock_holder_format(&h, line, sizeof(line));
	if (n < 0 || hp_lock_holder_parse(line, (size_t)n, &back) < 0 || h.pid != back.pid ||
	    h.uid != back.uid || h.since != back.since || strcmp(h.user, back.user) ||
	    strcmp(h.verb, back.verb) || (size_t)n != size || memcmp(line, data, size))
		abort();
	return 0;
}
