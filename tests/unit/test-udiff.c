/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unified diffs: parsing the shapes upstreams and Debian ship (a git
 * format-patch mail, quilt, diff -u), choosing -p, exact application with
 * offsets, and #line marks checked by compiling and running the output with
 * GCC.  argv[1] is the data directory, argv[2] the C compiler. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests.h"
#include "udiff.h"
#include "util.h"

static int parse(const char *text, struct hp_diff *d)
{
	memset(d, 0, sizeof(*d));
	return hp_diff_parse(text, strlen(text), "t.diff", d);
}

/* Applies the one file of `diff` to `old`; the new text, or NULL. */
static char *patched(const char *diff, const char *old, bool marks, struct hp_diff *d)
{
	char *out = NULL;
	size_t len;

	if (parse(diff, d) < 0 || d->nfiles != 1)
		return NULL;
	if (hp_diff_apply(&d->files[0], old, strlen(old), "src/x.c", marks, &out, &len) < 0)
		return NULL;
	if (strlen(out) != len) {
		free(out);
		return NULL;
	}
	return out;
}

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/hp-udiff-XXXXXX";

	return mkdtemp(tmpl) ? strdup(tmpl) : NULL;
}

static int write_file(const char *dir, const char *name, const char *s)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(s, f);
	return fclose(f);
}

static void rm_tree(char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(dir);
}

TEST(format_patch_mail)
{
	_cleanup_free_ char *text = NULL, *path = NULL;
	struct hp_diff d = {0};
	struct hp_file_diff *u;
	size_t len;

	ASSERT_TRUE(asprintf(&path, "%s/redis-cves-1113.patch", hp_test_argv[1]) > 0);
	ASSERT_EQ(hp_read_file(path, &text, &len), 0);
	ASSERT_EQ(hp_diff_parse(text, len, path, &d), 0);
	/* the description's "---" and "---------" lines start no file */
	ASSERT_EQ(d.nfiles, 6);
	ASSERT_STREQ(d.files[0].old_path, "a/deps/lua/src/lua_bit.c");
	ASSERT_STREQ(d.files[0].new_path, "b/deps/lua/src/lua_bit.c");
	ASSERT_EQ(d.files[0].nhunks, 1);
	ASSERT_EQ(d.files[0].hunks[0].old_start, 132);
	ASSERT_EQ(d.files[0].hunks[0].new_len, 7);
	ASSERT_EQ(d.files[0].hunks[0].nlines, 7);
	ASSERT_STREQ(d.files[0].hunks[0].lines[3], "+  if (n == INT32_MIN) n = INT32_MIN+1;");
	u = &d.files[2];
	ASSERT_STREQ(u->new_path, "b/src/util.c");
	ASSERT_TRUE(!u->creates && !u->deletes);
	ASSERT_EQ(u->nhunks, 3);
	ASSERT_EQ(u->hunks[0].old_start, 51);
	ASSERT_EQ(u->hunks[0].old_len, 8);
	ASSERT_EQ(u->hunks[0].new_len, 11);
	ASSERT_EQ(u->hunks[0].nlines, 12);
	ASSERT_STREQ(u->hunks[0].lines[0], " "); /* a blank context line */
	ASSERT_EQ(u->hunks[2].new_start, 189);
	/* the mail's "-- " signature after the last hunk is no part of it */
	ASSERT_STREQ(d.files[5].new_path, "b/tests/unit/scripting.tcl");
	ASSERT_EQ(d.files[5].hunks[0].nlines, 12);
	hp_diff_free(&d);
}

/* The lua_bit.c hunk of the mail on a file shaped like the real one. */
TEST(format_patch_applies)
{
	_cleanup_free_ char *text = NULL, *path = NULL, *out = NULL;
	struct hp_buf old = {0};
	struct hp_diff d = {0};
	struct hp_hunk *h;
	size_t len;

	ASSERT_TRUE(asprintf(&path, "%s/redis-cves-1113.patch", hp_test_argv[1]) > 0);
	ASSERT_EQ(hp_read_file(path, &text, &len), 0);
	ASSERT_EQ(hp_diff_parse(text, len, path, &d), 0);
	h = &d.files[0].hunks[0];
	for (int i = 1; i < 132; i++)
		hp_buf_printf(&old, "/* %d */\n", i);
	for (size_t j = 0; j < h->nlines; j++)
		if (h->lines[j][0] != '+')
			hp_buf_printf(&old, "%s\n", h->lines[j] + 1);
	hp_buf_printf(&old, "}\n");
	ASSERT_EQ(hp_diff_apply(&d.files[0], old.s, old.len, "deps/lua/src/lua_bit.c", false, &out,
				&len),
		  0);
	ASSERT_CONTAINS(out, "  int i;\n  if (n == INT32_MIN) n = INT32_MIN+1;\n  if (n < 0)");
	ASSERT_EQ(h->applied_old, 132);
	ASSERT_EQ(h->out_first, 132);
	ASSERT_EQ(h->out_last, 138);
	ASSERT_EQ(len, old.len + strlen("  if (n == INT32_MIN) n = INT32_MIN+1;\n"));
	hp_buf_free(&old);
	hp_diff_free(&d);
}

static const char quilt[] = "Description: make b louder\n"
			    "Author: Someone <someone@example.org>\n"
			    "\n"
			    "Index: foo-1.0/src/main.c\n"
			    "===================================================================\n"
			    "--- foo-1.0.orig/src/main.c\t2024-01-01 00:00:00.000000000 +0000\n"
			    "+++ foo-1.0/src/main.c\t2024-01-02 00:00:00.000000000 +0000\n"
			    "@@ -1,3 +1,3 @@\n"
			    " a\n"
			    "-b\n"
			    "+B\n"
			    " c\n";

TEST(quilt_patch)
{
	struct hp_diff d;
	_cleanup_free_ char *out = patched(quilt, "a\nb\nc\nd\n", false, &d);

	ASSERT_STREQ(out, "a\nB\nc\nd\n");
	ASSERT_STREQ(d.files[0].old_path, "foo-1.0.orig/src/main.c");
	ASSERT_STREQ(d.files[0].new_path, "foo-1.0/src/main.c");
	hp_diff_free(&d);
}

TEST(strip_level)
{
	static const char git[] = "diff --git a/src/main.c b/src/main.c\n"
				  "--- a/src/main.c\n+++ b/src/main.c\n@@ -1 +1 @@\n-a\n+A\n"
				  "diff --git a/src/new.c b/src/new.c\nnew file mode 100644\n"
				  "--- /dev/null\n+++ b/src/new.c\n@@ -0,0 +1 @@\n+n\n";
	static const char noprefix[] = "--- src/main.c\n+++ src/main.c\n@@ -1 +1 @@\n-a\n+A\n";
	char *dir = tmpdir();
	char sub[PATH_MAX];
	struct hp_diff d;

	ASSERT_TRUE(dir);
	snprintf(sub, sizeof(sub), "%s/src", dir);
	ASSERT_EQ(mkdir(sub, 0755), 0);
	ASSERT_EQ(write_file(dir, "src/main.c", "a\n"), 0);
	ASSERT_EQ(parse(quilt, &d), 0);
	ASSERT_EQ(hp_diff_locate(&d, dir), 0);
	ASSERT_EQ(d.strip, 1);
	ASSERT_STREQ(d.files[0].path, "src/main.c");
	hp_diff_free(&d);
	/* the created file is not there, and -p0 finds no "b/src" for it */
	ASSERT_EQ(parse(git, &d), 0);
	ASSERT_EQ(hp_diff_locate(&d, dir), 0);
	ASSERT_EQ(d.strip, 1);
	ASSERT_TRUE(d.files[1].creates && !d.files[1].old_path);
	ASSERT_STREQ(d.files[1].path, "src/new.c");
	hp_diff_free(&d);
	ASSERT_EQ(parse(noprefix, &d), 0);
	ASSERT_EQ(hp_diff_locate(&d, dir), 0);
	ASSERT_EQ(d.strip, 0);
	hp_diff_free(&d);
	ASSERT_EQ(parse(quilt, &d), 0);
	ASSERT_EQ(hp_diff_locate(&d, "/nonexistent"), -ENOENT);
	ASSERT_CONTAINS(hp_err.msg, "missing: src/main.c");
	hp_diff_free(&d);
	rm_tree(dir);
}

static const char two_hunks[] = "--- a/x.c\n+++ b/x.c\n"
				"@@ -2,3 +2,4 @@\n two\n three\n+three and a half\n four\n"
				"@@ -8,3 +9,3 @@ int f(void)\n eight\n-nine\n+NINE\n ten\n";

static const char *numbers[] = {"one",	 "two",	  "three", "four", "five",   "six",
				"seven", "eight", "nine",  "ten",  "eleven", "twelve"};

/* the numbers, after `extra` lines that the diff did not know about */
static char *number_text(int extra)
{
	struct hp_buf b = {0};

	hp_buf_add(&b, "", 0);
	for (int i = 0; i < extra; i++)
		hp_buf_printf(&b, "new %d\n", i);
	for (size_t i = 0; i < HP_ARRAY_SIZE(numbers); i++)
		hp_buf_printf(&b, "%s\n", numbers[i]);
	return b.s;
}

TEST(offsets)
{
	_cleanup_free_ char *old = number_text(3), *out = NULL;
	struct hp_diff d;

	out = patched(two_hunks, old, false, &d);
	ASSERT_TRUE(out);
	ASSERT_CONTAINS(out, "new 2\none\ntwo\nthree\nthree and a half\nfour\n");
	ASSERT_CONTAINS(out, "eight\nNINE\nten\neleven\n");
	ASSERT_EQ(d.files[0].hunks[0].applied_old, 5);
	ASSERT_EQ(d.files[0].hunks[1].applied_old, 11);
	ASSERT_EQ(d.files[0].hunks[0].out_first, 5);
	ASSERT_EQ(d.files[0].hunks[0].out_last, 8);
	ASSERT_EQ(d.files[0].hunks[1].out_first, 12);
	hp_diff_free(&d);
	/* with the marks: one at the top, one after each hunk */
	free(out);
	out = patched(two_hunks, old, true, &d);
	ASSERT_TRUE(out);
	ASSERT_TRUE(!strncmp(out, "#line 1 \"src/x.c\"\nnew 0\n", 24));
	ASSERT_CONTAINS(out, "three and a half\nfour\n#line 8 \"src/x.c\"\nfive\n");
	ASSERT_CONTAINS(out, "NINE\nten\n#line 14 \"src/x.c\"\neleven\n");
	ASSERT_EQ(d.files[0].hunks[0].out_first, 6);
	ASSERT_EQ(d.files[0].hunks[0].out_last, 9);
	ASSERT_EQ(d.files[0].hunks[1].out_first, 14);
	ASSERT_EQ(d.files[0].hunks[1].out_last, 16);
	hp_diff_free(&d);
}

TEST(mismatch_message)
{
	_cleanup_free_ char *old = number_text(0);
	char *p = strstr(old, "nine"), *out = NULL;
	struct hp_diff d;
	size_t len;

	p[0] = 'N';
	ASSERT_EQ(parse(two_hunks, &d), 0);
	ASSERT_EQ(hp_diff_apply(&d.files[0], old, strlen(old), "x.c", false, &out, &len), -EINVAL);
	ASSERT_TRUE(!out);
	ASSERT_STREQ(hp_err.msg, "x.c: hunk 2 (@@ -8,3 +9,3 @@) does not apply: line 9 reads "
				 "\"Nine\" where the diff expects \"nine\"");
	hp_diff_free(&d);
	/* a file too short for the hunk */
	ASSERT_EQ(parse(two_hunks, &d), 0);
	ASSERT_EQ(hp_diff_apply(&d.files[0], "two\nthree\nfour\n", 15, "x.c", false, &out, &len),
		  -EINVAL);
	ASSERT_CONTAINS(hp_err.msg, "hunk 2 (@@ -8,3 +9,3 @@) does not apply: the file ends");
	hp_diff_free(&d);
}

TEST(create_and_delete)
{
	static const char create[] = "--- /dev/null\n+++ b/new.c\n@@ -0,0 +1,2 @@\n+x\n+y\n";
	static const char del[] = "diff --git a/old.c b/old.c\ndeleted file mode 100644\n"
				  "index 1234567..0000000\n--- a/old.c\n+++ /dev/null\n"
				  "@@ -1,2 +0,0 @@\n-x\n-y\n";
	static const char empty[] = "diff --git a/e.c b/e.c\nnew file mode 100644\n"
				    "index 0000000..e69de29\n";
	struct hp_diff d;
	char *out;

	out = patched(create, "", true, &d);
	ASSERT_STREQ(out, "#line 1 \"src/x.c\"\nx\ny\n");
	ASSERT_TRUE(d.files[0].creates && !d.files[0].old_path);
	free(out);
	hp_diff_free(&d);
	out = patched(del, "x\ny\n", true, &d);
	ASSERT_STREQ(out, "");
	ASSERT_TRUE(d.files[0].deletes && !d.files[0].new_path);
	free(out);
	hp_diff_free(&d);
	ASSERT_EQ(parse(empty, &d), 0);
	ASSERT_EQ(d.nfiles, 1);
	ASSERT_TRUE(d.files[0].creates && d.files[0].nhunks == 0);
	ASSERT_STREQ(d.files[0].new_path, "b/e.c");
	hp_diff_free(&d);
}

TEST(no_newline_at_eof)
{
	static const char add_line[] = "--- a/x\n+++ b/x\n@@ -1,2 +1,3 @@\n a\n-b\n"
				       "\\ No newline at end of file\n+b\n+c\n"
				       "\\ No newline at end of file\n";
	static const char add_nl[] = "--- a/x\n+++ b/x\n@@ -2 +2 @@\n-b\n"
				     "\\ No newline at end of file\n+b\n";
	static const char ctx[] = "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n+A\n b\n"
				  "\\ No newline at end of file\n";
	struct hp_diff d;
	char *out;

	out = patched(add_line, "a\nb", false, &d);
	ASSERT_STREQ(out, "a\nb\nc");
	ASSERT_TRUE(d.files[0].hunks[0].new_noeol);
	free(out);
	hp_diff_free(&d);
	out = patched(add_nl, "a\nb", false, &d);
	ASSERT_STREQ(out, "a\nb\n");
	free(out);
	hp_diff_free(&d);
	out = patched(ctx, "a\nb", true, &d);
	ASSERT_STREQ(out, "#line 1 \"src/x.c\"\nA\nb");
	free(out);
	hp_diff_free(&d);
	/* a hunk above a last line with no newline, and a mark before it */
	out = patched("--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n a\n+a2\n", "a\nb", true, &d);
	ASSERT_STREQ(out, "#line 1 \"src/x.c\"\na\na2\n#line 2 \"src/x.c\"\nb");
	free(out);
	hp_diff_free(&d);
}

TEST(crlf)
{
	static const char diff[] = "--- a/x\r\n+++ b/x\r\n@@ -1,2 +1,3 @@\r\n a\r\n+new\r\n b\r\n";
	struct hp_diff d;
	char *out = patched(diff, "a\r\nb\r\nc\r\n", true, &d);

	ASSERT_STREQ(out, "#line 1 \"src/x.c\"\r\na\r\nnew\r\nb\r\n#line 3 \"src/x.c\"\r\nc\r\n");
	free(out);
	hp_diff_free(&d);
}

TEST(refusals_and_skips)
{
	static const char rename[] = "diff --git a/old.c b/new.c\nsimilarity index 100%\n"
				     "rename from old.c\nrename to new.c\n";
	static const char mode[] = "diff --git a/s.sh b/s.sh\nold mode 100644\nnew mode 100755\n"
				   "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n";
	static const char binary[] = "diff --git a/i.png b/i.png\nindex 1..2 100644\n"
				     "Binary files a/i.png and b/i.png differ\n"
				     "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n";
	static const char shortened[] = "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n"
					"diff --git a/y b/y\n";
	struct hp_diff d;

	ASSERT_EQ(parse(rename, &d), -EINVAL);
	ASSERT_CONTAINS(hp_err.msg, "renames");
	ASSERT_EQ(parse(mode, &d), 0);
	ASSERT_EQ(d.nfiles, 1); /* the mode change alone is no file change */
	ASSERT_STREQ(d.files[0].new_path, "b/x");
	hp_diff_free(&d);
	hp_notes_clear();
	ASSERT_EQ(parse(binary, &d), 0);
	ASSERT_EQ(d.nfiles, 1);
	ASSERT_EQ(hp_notes_count(), 1);
	ASSERT_CONTAINS(hp_note_at(0), "binary change to b/i.png");
	hp_diff_free(&d);
	ASSERT_EQ(parse(shortened, &d), -EINVAL);
	ASSERT_CONTAINS(hp_err.msg, "fewer lines than its header counts");
	ASSERT_EQ(parse("just some text\n--- \n", &d), -EINVAL);
	ASSERT_CONTAINS(hp_err.msg, "no file changes");
}

TEST(names)
{
	static const char quoted[] =
		"diff --git \"a/sp ace\\303\\244.c\" \"b/sp ace\\303\\244.c\"\n"
		"new file mode 100644\nindex 0000000..e69de29\n";
	static const char spaces[] =
		"diff --git a/my file.c b/my file.c\ndeleted file mode 100644\n";
	static const char epoch[] = "--- new.c.orig\t1970-01-01 00:00:00.000000000 +0000\n"
				    "+++ new.c\t2024-05-01 10:00:00.000000000 +0200\n"
				    "@@ -0,0 +1 @@\n+int x;\n";
	static const char renamed[] = "diff --git a/old.c b/new.c\nsimilarity index 90%\n"
				      "rename from old.c\nrename to new.c\nindex 1..2 100644\n"
				      "--- a/old.c\n+++ b/new.c\n@@ -1 +1 @@\n-a\n+b\n";
	char *dir = tmpdir();
	struct hp_diff d;

	ASSERT_TRUE(dir);
	ASSERT_EQ(parse(quoted, &d), 0);
	ASSERT_STREQ(d.files[0].new_path, "b/sp ace\xc3\xa4.c");
	ASSERT_TRUE(d.files[0].creates && !d.files[0].old_path);
	hp_diff_free(&d);
	ASSERT_EQ(parse(spaces, &d), 0);
	ASSERT_STREQ(d.files[0].old_path, "a/my file.c");
	ASSERT_TRUE(d.files[0].deletes && !d.files[0].new_path);
	hp_diff_free(&d);
	ASSERT_EQ(parse(epoch, &d), 0);
	ASSERT_TRUE(d.files[0].creates && !d.files[0].old_path);
	ASSERT_STREQ(d.files[0].new_path, "new.c");
	hp_diff_free(&d);
	/* a file renamed and changed is found under its old name */
	ASSERT_EQ(write_file(dir, "old.c", "a\n"), 0);
	ASSERT_EQ(parse(renamed, &d), 0);
	ASSERT_EQ(hp_diff_locate(&d, dir), 0);
	ASSERT_STREQ(d.files[0].path, "old.c");
	hp_diff_free(&d);
	rm_tree(dir);
}

TEST(mark_after_comment)
{
	static const char diff[] = "--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,4 @@\n int a;\n+int b;\n"
				   " /* one\n  * two\n";
	struct hp_diff d;
	char *out = patched(diff, "int a;\n/* one\n * two\n * three */ int c;\nint d;\n", true, &d);

	ASSERT_STREQ(out,
		     "#line 1 \"src/x.c\"\nint a;\nint b;\n/* one\n * two\n * three */ int c;\n"
		     "#line 5 \"src/x.c\"\nint d;\n");
	free(out);
	hp_diff_free(&d);
	/* nor in a string, a // comment or a macro continued over lines */
	out = patched("--- a/x.c\n+++ b/x.c\n@@ -1 +1,2 @@\n #define M(x) \\\n+\tx + \\\n",
		      "#define M(x) \\\n\t\"a\\\n\tb // \" // c \\\n\td\nint e;\n", true, &d);
	ASSERT_STREQ(out, "#line 1 \"src/x.c\"\n#define M(x) \\\n\tx + \\\n\t\"a\\\n\tb // \" // c "
			  "\\\n\td\n#line 5 \"src/x.c\"\nint e;\n");
	free(out);
	hp_diff_free(&d);
}

TEST(mark_after_parentheses)
{
	static const char diff[] = "--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,3 @@\n int x = F(1,\n"
				   "+\t\t0 +\n \t\t2);\n";
	struct hp_diff d;
	char *out = patched(diff, "int x = F(1,\n\t\t2);\n#define LP (\nint y;\n", true, &d);

	/* not inside a macro's arguments; a "(" in a directive opens nothing */
	ASSERT_STREQ(out, "#line 1 \"src/x.c\"\nint x = F(1,\n\t\t0 +\n\t\t2);\n"
			  "#line 3 \"src/x.c\"\n#define LP (\nint y;\n");
	free(out);
	hp_diff_free(&d);
	out = patched("--- a/x.c\n+++ b/x.c\n@@ -1 +1,2 @@\n int x = F(1,\n+\t0 +\n",
		      "int x = F(1,\n\t2);\nint y;\n", true, &d);
	ASSERT_STREQ(out, "#line 1 \"src/x.c\"\nint x = F(1,\n\t0 +\n\t2);\n"
			  "#line 3 \"src/x.c\"\nint y;\n");
	free(out);
	hp_diff_free(&d);
}

TEST(mark_not_before_a_body)
{
	/* the hunk ends at a function's header: the mark waits for the line
	 * after the body's brace, so the header and its body stay together */
	static const char diff[] = "--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,3 @@\n int a;\n+int b;\n"
				   " int f(void)\n";
	struct hp_diff d;
	char *out = patched(diff, "int a;\nint f(void)\n{\n\treturn 1;\n}\n", true, &d);

	ASSERT_STREQ(out, "#line 1 \"src/x.c\"\nint a;\nint b;\nint f(void)\n{\n"
			  "#line 4 \"src/x.c\"\n\treturn 1;\n}\n");
	free(out);
	hp_diff_free(&d);
}

/* Compiles `src` as `spelling` would not be: from another path, and runs
 * it; its output, or NULL. */
static char *compile_and_run(const char *dir, const char *src)
{
	char cmd[3 * PATH_MAX];
	struct hp_buf b = {0};
	char line[512];
	FILE *p;

	if (write_file(dir, "patched.c", src) < 0)
		return NULL;
	snprintf(cmd, sizeof(cmd), "%s -Wall -o %s/prog %s/patched.c && %s/prog", hp_test_argv[2],
		 dir, dir, dir);
	p = popen(cmd, "r");
	if (!p)
		return NULL;
	hp_buf_add(&b, "", 0);
	while (fgets(line, sizeof(line), p))
		hp_buf_add(&b, line, strlen(line));
	if (pclose(p) != 0) {
		hp_buf_free(&b);
		return NULL;
	}
	return b.s;
}

/* A program that prints __LINE__ below a hunk that adds three lines and
 * ends inside a comment: GCC reports the old lines, and __FILE__ the
 * spelling, quotes and backslashes included. */
TEST(gcc_sees_old_lines)
{
	static const char old[] = "#include <stdio.h>\n"
				  "/* line 2 */\n"
				  "static int f(int x)\n"
				  "{\n"
				  "\treturn x + 1;\n"
				  "}\n"
				  "/* a comment\n"
				  " * spanning\n"
				  " * lines */\n"
				  "int main(void)\n"
				  "{\n"
				  "\tprintf(\"%d\\n\", __LINE__);\n"
				  "\tprintf(\"%d %s\\n\", __LINE__, __FILE__);\n"
				  "\treturn f(0) - 1;\n"
				  "}\n";
	static const char diff[] =
		"--- a/t.c\n+++ b/t.c\n@@ -3,6 +3,9 @@\n static int f(int x)\n {\n"
		"+\tif (x < 0)\n+\t\treturn 0;\n+\t/* more */\n \treturn x + 1;\n"
		" }\n /* a comment\n  * spanning\n";
	_cleanup_free_ char *out = NULL, *run = NULL, *plain = NULL;
	char *dir = tmpdir();
	struct hp_diff d;
	size_t len;

	ASSERT_TRUE(dir);
	ASSERT_EQ(parse(diff, &d), 0);
	ASSERT_EQ(hp_diff_apply(&d.files[0], old, strlen(old), "src/we\"ird\\t.c", true, &out,
				&len),
		  0);
	ASSERT_CONTAINS(out, " * lines */\n#line 10 \"src/we\\\"ird\\\\t.c\"\nint main(void)\n");
	run = compile_and_run(dir, out);
	ASSERT_STREQ(run, "12\n13 src/we\"ird\\t.c\n");
	/* without the marks the lines drift, which is what the marks are for */
	free(out);
	ASSERT_EQ(hp_diff_apply(&d.files[0], old, strlen(old), "t.c", false, &out, &len), 0);
	plain = compile_and_run(dir, out);
	ASSERT_TRUE(plain && !strncmp(plain, "15\n16 ", 6));
	hp_diff_free(&d);
	rm_tree(dir);
}

/* A hunk inside a group the preprocessor skips: the mark after it is
 * ignored, so the one after #else and #endif must put the lines right. */
TEST(gcc_skipped_group)
{
	static const char old[] = "#include <stdio.h>\n"
				  "#ifdef NOT_DEFINED\n"
				  "int unused1;\n"
				  "int unused2;\n"
				  "#else\n"
				  "int used = __LINE__;\n"
				  "#endif\n"
				  "int main(void)\n"
				  "{\n"
				  "\tprintf(\"%d %d\\n\", used, __LINE__);\n"
				  "\treturn 0;\n"
				  "}\n";
	static const char diff[] = "--- a/t.c\n+++ b/t.c\n@@ -3,2 +3,3 @@\n int unused1;\n"
				   "+int unused3;\n int unused2;\n";
	_cleanup_free_ char *out = NULL, *run = NULL;
	char *dir = tmpdir();
	struct hp_diff d;
	size_t len;

	ASSERT_TRUE(dir);
	ASSERT_EQ(parse(diff, &d), 0);
	ASSERT_EQ(hp_diff_apply(&d.files[0], old, strlen(old), "t.c", true, &out, &len), 0);
	run = compile_and_run(dir, out);
	ASSERT_STREQ(run, "6 10\n");
	hp_diff_free(&d);
	rm_tree(dir);
}

TEST_MAIN()
