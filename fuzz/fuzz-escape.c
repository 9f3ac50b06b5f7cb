/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer: names from a target, escaped for a terminal and for JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "json.h"
#include "util.h"

/* valid UTF-8 with no character a terminal would act on */
static void check_safe(const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int n = hp_utf8_next((const uint8_t *)s + i, len - i, &cp);

		if (n < 0 || (hp_unsafe_char(cp) && cp != '\n'))
			abort();
		i += (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hp_buf b = {0};
	char *str = strndup((const char *)data, size), *doc = NULL;
	size_t doclen = 0;
	struct hp_json j;
	FILE *f;

	if (!str)
		return 0;
	hp_buf_add(&b, "", 0);
	hp_escape_buf(&b, (const char *)data, size, HP_ESC_QUOTED);
	if (!b.oom) {
		check_safe(b.s, b.len);
		if (memchr(b.s, '\n', b.len))
			abort(); /* one line, always */
	}
	hp_buf_free(&b);
	f = open_memstream(&doc, &doclen);
	if (f) {
		hp_json_begin(&j, f);
		hp_json_str(&j, "v", str);
		hp_json_end(&j);
		fclose(f);
		/* the document's only raw newline is the one that ends it */
		if (doclen < 1 || memchr(doc, '\n', doclen - 1))
			abort();
		check_safe(doc, doclen);
		free(doc);
	}
	free(str);
	return 0;
}
