/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json.h"

#include <inttypes.h>
#include <string.h>

#include "escape.h"

/*
 * Every document must parse with a strict parser, whatever bytes a target
 * put in its names: control characters, DEL, C1 and bidi controls are
 * written as \uXXXX (so a terminal showing the document shows them as
 * text), and a byte sequence that is not UTF-8 becomes one U+FFFD.
 */
static void put_string(FILE *f, const char *str)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t len = strlen(str);

	fputc('"', f);
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int n = hp_utf8_next(s + i, len - i, &cp);

		if (n < 0) {
			fputs("\\ufffd", f);
			i += (size_t)-n;
			continue;
		}
		if (cp == '"')
			fputs("\\\"", f);
		else if (cp == '\\')
			fputs("\\\\", f);
		else if (cp == '\n')
			fputs("\\n", f);
		else if (cp == '\t')
			fputs("\\t", f);
		else if (cp == '\r')
			fputs("\\r", f);
		else if (hp_unsafe_char(cp))
			fprintf(f, "\\u%04x", (unsigned)cp);
		else
			fwrite(s + i, 1, (size_t)n, f);
		i += (size_t)n;
	}
	fputc('"', f);
}

static void key(struct hp_json *j, const char *k)
{
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = true;
	if (k) {
		put_string(j->f, k);
		fputc(':', j->f);
	}
}

void hp_json_begin(struct hp_json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->need_comma[0] = false;
	fputc('{', f);
	j->depth = 1;
	j->need_comma[1] = false;
}

void hp_json_end(struct hp_json *j)
{
	fputs("}\n", j->f);
	fflush(j->f);
}

static void open_(struct hp_json *j, const char *k, char c)
{
	key(j, k);
	fputc(c, j->f);
	if (j->depth < 31)
		j->depth++;
	j->need_comma[j->depth] = false;
}

void hp_json_obj(struct hp_json *j, const char *k)
{
	open_(j, k, '{');
}

void hp_json_obj_end(struct hp_json *j)
{
	fputc('}', j->f);
	j->depth--;
}

void hp_json_arr(struct hp_json *j, const char *k)
{
	open_(j, k, '[');
}

void hp_json_arr_end(struct hp_json *j)
{
	fputc(']', j->f);
	j->depth--;
}

void hp_json_str(struct hp_json *j, const char *k, const char *v)
{
	key(j, k);
	if (v)
		put_string(j->f, v);
	else
		fputs("null", j->f);
}

void hp_json_int(struct hp_json *j, const char *k, int64_t v)
{
	key(j, k);
	fprintf(j->f, "%" PRId64, v);
}

void hp_json_bool(struct hp_json *j, const char *k, bool v)
{
	key(j, k);
	fputs(v ? "true" : "false", j->f);
}

void hp_json_null(struct hp_json *j, const char *k)
{
	key(j, k);
	fputs("null", j->f);
}

void hp_json_hex(struct hp_json *j, const char *k, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	hp_json_str(j, k, buf);
}

void hp_json_raw(struct hp_json *j, const char *text, size_t len)
{
	key(j, NULL);
	fwrite(text, 1, len, j->f);
}
