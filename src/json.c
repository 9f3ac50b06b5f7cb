/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json.h"

#include <inttypes.h>

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
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
