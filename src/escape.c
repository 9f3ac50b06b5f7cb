/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "escape.h"

#include "util.h"

int hp_utf8_next(const uint8_t *s, size_t len, uint32_t *ret)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	uint32_t cp;
	size_t n;

	if (c < 0x80) {
		*ret = c;
		return 1;
	}
	if (c < 0xc2 || c > 0xf4)
		return -1; /* a continuation byte, an overlong 2-byte lead, or past U+10FFFF */
	/* the second byte's range is what rules out overlongs, surrogates and
	 * code points past U+10FFFF (Unicode table 3-7) */
	if (c < 0xe0) {
		n = 2;
		cp = c & 0x1f;
	} else if (c < 0xf0) {
		n = 3;
		cp = c & 0x0f;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else {
		n = 4;
		cp = c & 0x07;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	}
	for (size_t i = 1; i < n; i++) {
		if (i >= len || s[i] < lo || s[i] > hi)
			return -(int)i;
		cp = cp << 6 | (s[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*ret = cp;
	return (int)n;
}

bool hp_unsafe_char(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || /* Arabic letter mark */
	       cp == 0x200e || cp == 0x200f ||				  /* LRM, RLM */
	       (cp >= 0x2028 && cp <= 0x202e) || /* line/paragraph separators, embeddings */
	       (cp >= 0x2066 && cp <= 0x2069);	 /* isolates */
}

void hp_escape_buf(struct hp_buf *b, const char *str, size_t len, unsigned flags)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t i = 0;

	while (i < len) {
		size_t run = i;
		uint32_t cp;
		int n;

		/* copy runs of plain text in one go */
		while (run < len && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '\\' &&
		       !(s[run] == '"' && (flags & HP_ESC_QUOTED)))
			run++;
		if (run > i) {
			hp_buf_add(b, str + i, run - i);
			i = run;
			continue;
		}
		n = hp_utf8_next(s + i, len - i, &cp);
		if (n < 0) {
			for (int k = 0; k < -n; k++)
				hp_buf_printf(b, "\\x%02x", s[i + (size_t)k]);
			i += (size_t)-n;
			continue;
		}
		if (cp == '\\' || cp == '"')
			hp_buf_printf(b, "\\%c", (char)cp);
		else if (cp == '\n')
			hp_buf_add(b, "\\n", 2);
		else if (cp == '\t')
			hp_buf_add(b, "\\t", 2);
		else if (cp == '\r')
			hp_buf_add(b, "\\r", 2);
		else if (cp == 0x1b)
			hp_buf_add(b, "\\e", 2);
		else if (cp < 0x80)
			hp_buf_printf(b, "\\x%02x", cp);
		else if (hp_unsafe_char(cp))
			hp_buf_printf(b, "\\u{%04x}", cp);
		else
			hp_buf_add(b, str + i, (size_t)n);
		i += (size_t)n;
	}
}
