/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Escaping for terminals and log lines, and JSON strings, on byte buffers:
 * every class of unsafe byte, and printable text left alone. */
#include "escape.h"
#include "json.h"
#include "tests.h"
#include "util.h"

/* s[0..len) escaped, in a static buffer */
static const char *esc(const char *s, size_t len, unsigned flags)
{
	static struct hp_buf b;

	hp_buf_free(&b);
	hp_buf_add(&b, "", 0);
	hp_escape_buf(&b, s, len, flags);
	return b.s;
}

#define ESC(lit, want) ASSERT_STREQ(esc(lit, sizeof(lit) - 1, 0), want)

TEST(printable_text_unchanged)
{
	ESC("compute", "compute");
	ESC("/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6");
	ESC("a b=c \"q\" ~", "a b=c \"q\" ~");
	ESC("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", /* é, 日本, an emoji */
	    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
	ESC("\xc2\xa0", "\xc2\xa0");		     /* no-break space: printable */
	ESC("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last one */
	ESC("", "");
}

TEST(c0_controls_and_del)
{
	ESC("x\n\x1b[2J\x1b[31m", "x\\n\\e[2J\\e[31m");
	ESC("\t\r", "\\t\\r");
	ESC("\x01\x07\x08\x0b\x0c\x1f", "\\x01\\x07\\x08\\x0b\\x0c\\x1f");
	ESC("a\0b", "a\\x00b");
	ESC("\x7f", "\\x7f");
}

TEST(backslash_and_quote)
{
	/* a backslash is doubled, so a name cannot pose as an escape */
	ESC("\\e[2J", "\\\\e[2J");
	ASSERT_STREQ(esc("say \"hi\"", 8, HP_ESC_QUOTED), "say \\\"hi\\\"");
	ASSERT_STREQ(esc("a\\\"", 3, HP_ESC_QUOTED), "a\\\\\\\"");
}

TEST(c1_controls)
{
	ESC("\xc2\x80", "\\u{0080}");
	ESC("\xc2\x85", "\\u{0085}"); /* NEL: a line break to some terminals */
	ESC("\xc2\x9b"
	    "2J",
	    "\\u{009b}2J"); /* CSI */
	ESC("\xc2\x9f", "\\u{009f}");
}

TEST(bidi_and_separators)
{
	ESC("\xe2\x80\x8e\xe2\x80\x8f", "\\u{200e}\\u{200f}"); /* LRM RLM */
	ESC("\xe2\x80\xaa\xe2\x80\xae", "\\u{202a}\\u{202e}"); /* LRE .. RLO */
	ESC("\xe2\x81\xa6\xe2\x81\xa9", "\\u{2066}\\u{2069}"); /* LRI .. PDI */
	ESC("\xe2\x80\xa8\xe2\x80\xa9", "\\u{2028}\\u{2029}"); /* line, paragraph separator */
	ESC("\xd8\x9c", "\\u{061c}");			       /* Arabic letter mark */
	ESC("\xe2\x80\x8d",
	    "\xe2\x80\x8d"); /* zero-width joiner: emoji use it, it reorders nothing */
}

TEST(invalid_utf8)
{
	ESC("\x80", "\\x80");				 /* continuation without a lead */
	ESC("\xc0\xaf", "\\xc0\\xaf");			 /* overlong '/' */
	ESC("\xc1\xbf", "\\xc1\\xbf");			 /* overlong */
	ESC("\xe0\x80\xaf", "\\xe0\\x80\\xaf");		 /* overlong, 3 bytes */
	ESC("\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf"); /* overlong, 4 bytes */
	ESC("\xed\xa0\x80", "\\xed\\xa0\\x80");		 /* surrogate U+D800 */
	ESC("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* U+110000 */
	ESC("\xf5\xff\xfe", "\\xf5\\xff\\xfe");
	ESC("\xe2\x82", "\\xe2\\x82"); /* truncated at the end */
	ESC("\xe2\x82"
	    "A",
	    "\\xe2\\x82A");
	ESC("\xf0\x9f\x98"
	    "\n",
	    "\\xf0\\x9f\\x98\\n");
	ESC("\xc3", "\\xc3");
}

TEST(utf8_maximal_subparts)
{
	uint32_t cp = 0;

	ASSERT_EQ(hp_utf8_next((const uint8_t *)"\xf0\x9f\x98\x80", 4, &cp), 4);
	ASSERT_EQ(cp, 0x1f600);
	ASSERT_EQ(hp_utf8_next((const uint8_t *)"\xe2\x80\xae", 3, &cp), 3);
	ASSERT_EQ(cp, 0x202e);
	ASSERT_EQ(hp_utf8_next((const uint8_t *)"\xc2\x85", 2, &cp), 2);
	ASSERT_EQ(cp, 0x85);
	/* one U+FFFD per maximal subpart, as Python, ICU and browsers do */
	ASSERT_EQ(hp_utf8_next((const uint8_t *)"\xe2\x82"
						"A",
			       3, &cp),
		  -2);
	ASSERT_EQ(hp_utf8_next((const uint8_t *)"\xf0\x9f\x98", 3, &cp), -3);
	ASSERT_EQ(hp_utf8_next((const uint8_t *)"\xed\xa0\x80", 3, &cp), -1);
	ASSERT_EQ(hp_utf8_next((const uint8_t *)"\xe0\x80\x80", 3, &cp), -1);
	ASSERT_EQ(hp_utf8_next((const uint8_t *)"\xf4\x90\x80\x80", 4, &cp), -1);
	ASSERT_EQ(hp_utf8_next((const uint8_t *)"\xc0\x80", 2, &cp), -1);
	ASSERT_EQ(hp_utf8_next((const uint8_t *)"\xbf", 1, &cp), -1);
	ASSERT_EQ(hp_utf8_next((const uint8_t *)"\xe2\x80\xae", 2, &cp), -2); /* cut short */
}

/* the document hp_json_str writes for one string value */
static const char *json(const char *v)
{
	static char *doc;
	size_t len;
	FILE *f;
	struct hp_json j;

	free(doc);
	doc = NULL;
	f = open_memstream(&doc, &len);
	if (!f)
		return NULL;
	hp_json_begin(&j, f);
	hp_json_str(&j, "v", v);
	hp_json_end(&j);
	fclose(f);
	return doc;
}

#define JSON(lit, want) ASSERT_STREQ(json(lit), "{\"v\":\"" want "\"}\n")

TEST(json_controls)
{
	JSON("plain", "plain");
	JSON("\"\\", "\\\"\\\\");
	JSON("\n\t\r", "\\n\\t\\r");
	JSON("x\x1b[2J\x01", "x\\u001b[2J\\u0001");
	JSON("\x7f", "\\u007f");
	JSON("\xc2\x85\xc2\x9b", "\\u0085\\u009b");
	JSON("\xe2\x80\xae\xe2\x81\xa6\xe2\x80\xa8", "\\u202e\\u2066\\u2028");
	JSON("caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

TEST(json_invalid_utf8_replaced)
{
	JSON("\xff", "\\ufffd");
	JSON("a\x80z", "a\\ufffdz");
	JSON("\xc0\xaf", "\\ufffd\\ufffd"); /* overlong: two bad bytes */
	JSON("\xe2\x82"
	     "A",
	     "\\ufffdA");			       /* truncated: one subpart */
	JSON("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"); /* surrogate */
	JSON("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd");
	JSON("\xf0\x9f\x98", "\\ufffd");
}

TEST_MAIN()
