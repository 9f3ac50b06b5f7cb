/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer: a unified diff, and a file to apply it to (the input is split
 * at its first NUL byte).  Whatever applies must apply the same with the
 * #line marks and without: the marked text is the plain one with lines
 * added, each a #line directive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "udiff.h"
#include "util.h"

/* marked == plain with "#line" lines inserted */
static void check_marks(const char *marked, size_t mlen, const char *plain, size_t plen)
{
	const char *m = marked, *p = plain, *mend = marked + mlen, *pend = plain + plen;

	while (m < mend) {
		const char *nl = memchr(m, '\n', (size_t)(mend - m));
		size_t n = nl ? (size_t)(nl - m) + 1 : (size_t)(mend - m);

		if ((size_t)(pend - p) >= n && !memcmp(m, p, n)) {
			p += n;
		} else if (n < 6 || memcmp(m, "#line ", 6)) {
			abort();
		}
		m += n;
	}
	if (p != pend)
		abort();
}

static void check_hunks(const struct hp_file_diff *f)
{
	long prev = 0;

	for (size_t i = 0; i < f->nhunks; i++) {
		const struct hp_hunk *h = &f->hunks[i];

		if (h->out_first <= prev || h->out_last < h->out_first - 1 ||
		    h->out_last - h->out_first + 1 != h->new_len)
			abort();
		prev = h->out_last;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *sep = memchr(text, 0, size);
	size_t dlen = sep ? (size_t)(sep - text) : size;
	const char *old = sep ? sep + 1 : "";
	size_t oldlen = sep ? size - dlen - 1 : 0;
	struct hp_diff d = {0};

	if (hp_diff_parse(text, dlen, "fuzz.diff", &d) < 0)
		return 0;
	for (size_t i = 0; i < d.nfiles; i++) {
		char *plain = NULL, *marked = NULL;
		size_t plen, mlen;

		if (hp_diff_apply(&d.files[i], old, oldlen, "a\"b\\c.c", false, &plain, &plen) < 0)
			continue;
		if (hp_diff_apply(&d.files[i], old, oldlen, "a\"b\\c.c", true, &marked, &mlen) < 0)
			abort(); /* the marks cannot make a diff fail */
		if (plain[plen] || marked[mlen])
			abort();
		check_marks(marked, mlen, plain, plen);
		check_hunks(&d.files[i]);
		free(plain);
		free(marked);
	}
	hp_diff_free(&d);
	return 0;
}
