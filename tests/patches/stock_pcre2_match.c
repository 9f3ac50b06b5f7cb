/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A live fix of Debian's stock libpcre2-8 (not rebuilt, no hot-patch
 * prologue: applied with --relocate): a subject that names "legacy" no
 * longer matches any pattern, so the server's regex rule stops taking
 * those requests; every other subject is matched by the original body,
 * reached through HOTPATCH_ORIGINAL (the relocated first instructions).
 * The types are PCRE2's, spelled out so that no -dev package is needed.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <hotpatch.h>

#define PCRE2_ERROR_NOMATCH (-1)

static int (*pcre2_match_original)(const void *code, const unsigned char *subject, size_t length,
				   size_t start, uint32_t options, void *match_data,
				   void *mcontext);

static int pcre2_match_fixed(const void *code, const unsigned char *subject, size_t length,
			     size_t start, uint32_t options, void *match_data, void *mcontext)
{
	static const char word[] = "legacy";
	/* (size_t)-1 is PCRE2_ZERO_TERMINATED */
	size_t n = length == (size_t)-1 && subject ? strlen((const char *)subject) : length;

	if (subject && memmem(subject, n, word, sizeof(word) - 1))
		return PCRE2_ERROR_NOMATCH;
	return pcre2_match_original(code, subject, length, start, options, match_data, mcontext);
}
HOTPATCH_REPLACE_IN("libpcre2-8.so.0", pcre2_match_8, pcre2_match_fixed);
HOTPATCH_ORIGINAL_IN("libpcre2-8.so.0", pcre2_match_8, pcre2_match_original);
