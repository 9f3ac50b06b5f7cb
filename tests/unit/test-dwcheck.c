/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* DWARF of two builds of one unit, compiled here by gcc and by clang:
 * type layouts compared, signatures spelled. */
#include "dwcheck.h"
#include "tests.h"
#include "util.h"

#include <stdarg.h>
#include <unistd.h>

static char dir[] = "/tmp/hp-dwcheck-XXXXXX";
static bool made;

__attribute__((destructor)) static void cleanup_dir(void)
{
	char cmd[600];

	if (made && !getenv("HP_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
}

/* dir/name-cc.o from the source text, opened */
static int build(const char *cc, const char *name, const char *src, struct hp_dwunit **u)
{
	char c[512], cmd[1400];
	FILE *f;

	if (!made && !mkdtemp(dir))
		return -1;
	made = true;
	snprintf(c, sizeof(c), "%s/%s-%s.c", dir, name, cc);
	f = fopen(c, "w");
	if (!f)
		return -1;
	fputs(src, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "%s -O2 -g -fpatchable-function-entry=7,5 -ffunction-sections -fdata-sections "
		 "-c %s -o %s/%s-%s.o",
		 cc, c, dir, name, cc);
	if (system(cmd) != 0)
		return -1;
	snprintf(c, sizeof(c), "%s/%s-%s.o", dir, name, cc);
	if (hp_dw_open(c, u) < 0) {
		fprintf(stderr, "%s: %s\n", c, hp_err.msg);
		return -1;
	}
	return 0;
}

static const char *const compilers[] = {"gcc", "clang"};

/* The messages of a layout diff of two sources, joined by newlines. */
static char *diff_of(const char *cc, const char *a, const char *b)
{
	struct hp_dwunit *ua = NULL, *ub = NULL;
	char **m = NULL;
	size_t n = 0;
	struct hp_buf out = {0};

	if (build(cc, "a", a, &ua) < 0 || build(cc, "b", b, &ub) < 0 ||
	    hp_dw_layout_diff(ua, ub, &m, &n) < 0) {
		hp_dw_close(ua);
		hp_dw_close(ub);
		return NULL;
	}
	hp_buf_add(&out, "", 0);
	for (size_t i = 0; i < n; i++)
		hp_buf_printf(&out, "%s\n", m[i]);
	hp_dw_free_msgs(m, n);
	hp_dw_close(ua);
	hp_dw_close(ub);
	return out.s ? out.s : hp_strdup("");
}

#define USE "int use(struct client *c, struct point *p, enum mode m) { return c->a + p->x + m; }\n"

static const char before[] = "struct client { int a; char name[16]; long b; };\n"
			     "struct point { int x; int y; };\n"
			     "enum mode { SLOW, FAST, OFF };\n"
			     "typedef struct { short lo, hi; } range_t;\n"
			     "typedef unsigned long counter_t;\n"
			     "range_t r; counter_t cnt;\n" USE;

static void check_diff(const char *cc, const char *after, const char *want)
{
	_cleanup_free_ char *d = diff_of(cc, before, after);

	if (!d)
		FAILX("%s: no diff", cc);
	if (!*want && *d)
		FAILX("%s: expected no messages, got \"%s\"", cc, d);
	if (*want && !strstr(d, want))
		FAILX("%s: \"%s\" does not contain \"%s\"", cc, d, want);
}

TEST(layout_identical)
{
	for (size_t k = 0; k < HP_ARRAY_SIZE(compilers); k++)
		check_diff(compilers[k], before, "");
}

TEST(layout_struct_grows)
{
	static const char after[] = "struct client { int a; char name[24]; long b; };\n"
				    "struct point { int x; int y; };\n"
				    "enum mode { SLOW, FAST, OFF };\n"
				    "typedef struct { short lo, hi; } range_t;\n"
				    "typedef unsigned long counter_t;\n"
				    "range_t r; counter_t cnt;\n" USE;

	for (size_t k = 0; k < HP_ARRAY_SIZE(compilers); k++)
		check_diff(compilers[k], after, "struct client grows from 32 to 40 bytes\n");
}

TEST(layout_member_moves)
{
	static const char after[] = "struct client { int a; char name[16]; long b; };\n"
				    "struct point { int x; int pad; int y; };\n"
				    "enum mode { SLOW, FAST, OFF };\n"
				    "typedef struct { short lo, hi; } range_t;\n"
				    "typedef unsigned long counter_t;\n"
				    "range_t r; counter_t cnt;\n" USE;
	static const char same_size[] = "struct client { int a; char name[16]; long b; };\n"
					"struct point { int y; int x; };\n"
					"enum mode { SLOW, FAST, OFF };\n"
					"typedef struct { short lo, hi; } range_t;\n"
					"typedef unsigned long counter_t;\n"
					"range_t r; counter_t cnt;\n" USE;

	for (size_t k = 0; k < HP_ARRAY_SIZE(compilers); k++) {
		check_diff(compilers[k], after, "struct point grows from 8 to 12 bytes");
		check_diff(compilers[k], same_size, "struct point: member x becomes y");
	}
}

TEST(layout_enum_value)
{
	static const char after[] = "struct client { int a; char name[16]; long b; };\n"
				    "struct point { int x; int y; };\n"
				    "enum mode { SLOW, TURBO, FAST, OFF };\n"
				    "typedef struct { short lo, hi; } range_t;\n"
				    "typedef unsigned long counter_t;\n"
				    "range_t r; counter_t cnt;\n" USE;

	for (size_t k = 0; k < HP_ARRAY_SIZE(compilers); k++)
		check_diff(compilers[k], after, "enum mode: FAST changes from 1 to 2\n");
}

TEST(layout_typedef_anonymous)
{
	static const char after[] = "struct client { int a; char name[16]; long b; };\n"
				    "struct point { int x; int y; };\n"
				    "enum mode { SLOW, FAST, OFF };\n"
				    "typedef struct { short lo; int hi; } range_t;\n"
				    "typedef unsigned int counter_t;\n"
				    "range_t r; counter_t cnt;\n" USE;
	_cleanup_free_ char *d = diff_of("gcc", before, after);

	ASSERT_CONTAINS(d, "range_t grows from 4 to 8 bytes\n");
	ASSERT_CONTAINS(d, "counter_t changes from long unsigned int to unsigned int\n");
}

TEST(layout_member_offset_same_size)
{
	static const char a[] = "struct s { char c; int i; };\nstruct s v;\n";
	static const char b[] =
		"struct s { char c; int i __attribute__((packed)); char e[3]; };\nstruct s v;\n";
	_cleanup_free_ char *d = diff_of("gcc", a, b);

	/* the same 8 bytes, i one byte after c */
	ASSERT_CONTAINS(d, "struct s: member i moves from offset 4 to 1\n");
}

TEST(layout_bit_field)
{
	static const char a[] = "struct fl { unsigned a : 3, b : 5; int c; };\nstruct fl v;\n";
	static const char b[] = "struct fl { unsigned a : 3, b : 6; int c; };\nstruct fl v;\n";
	static const char c[] = "struct fl { unsigned a : 4, b : 5; int c; };\nstruct fl v;\n";

	for (size_t k = 0; k < HP_ARRAY_SIZE(compilers); k++) {
		_cleanup_free_ char *d1 = diff_of(compilers[k], a, b);
		_cleanup_free_ char *d2 = diff_of(compilers[k], a, c);

		ASSERT_CONTAINS(d1, "struct fl: member b changes from 5 to 6 bits\n");
		ASSERT_CONTAINS(d2, "struct fl: member a changes from 3 to 4 bits\n");
	}
}

/* Inlined into one caller and also called through a pointer: the
 * out-of-line copy refers to the abstract one for its parameters */
TEST(signature_abstract_origin)
{
	static const char src[] = "static int sq(int x, const int *m) { return x * x + *m; }\n"
				  "int (*fp)(int, const int *) = sq;\n"
				  "int call(int y) { int m = 3; return sq(y, &m); }\n";

	for (size_t k = 0; k < HP_ARRAY_SIZE(compilers); k++) {
		struct hp_dwunit *u = NULL;
		_cleanup_free_ char *s = NULL;

		if (build(compilers[k], "ao", src, &u) < 0)
			FAILX("%s: build", compilers[k]);
		ASSERT_EQ(hp_dw_signature(u, "sq", &s), 0);
		ASSERT_STREQ(s, "int (int, const int *)");
		hp_dw_close(u);
	}
}

static const char sig1[] =
	"#include <stdbool.h>\n"
	"struct client { int fd; };\n"
	"typedef struct { int x; } pt_t;\n"
	"__attribute__((noinline)) static int impl(const char *p, int n) "
	"{ return p[n] == '*'; }\n"
	"int match(const char *p, int n) { return impl(p, n) + impl(p, n + 1); }\n"
	"void freeclient(struct client *c) { c->fd = -1; }\n"
	"bool ready(void) { return true; }\n"
	"char *const *table(unsigned long n, pt_t *q, int (*cb)(void *, int), ...) "
	"{ (void)n; (void)q; (void)cb; return 0; }\n"
	"static inline int inl(int x) { return x + 1; }\n"
	"int calls(int x) { return inl(x); }\n";
static const char sig2[] =
	"__attribute__((noinline)) static int impl(const char *p, int n, int nesting) "
	"{ return nesting > 1000 ? 0 : p[n] == '*'; }\n"
	"int match(const char *p, int n) { return impl(p, n, 0) + impl(p, n + 1, 1); }\n";

TEST(signatures)
{
	for (size_t k = 0; k < HP_ARRAY_SIZE(compilers); k++) {
		struct hp_dwunit *a = NULL, *b = NULL;
		_cleanup_free_ char *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL, *s5 = NULL,
				    *s6 = NULL, *s7 = NULL;
		const char *cc = compilers[k];

		if (build(cc, "s1", sig1, &a) < 0 || build(cc, "s2", sig2, &b) < 0)
			FAILX("%s: build", cc);
		ASSERT_EQ(hp_dw_signature(a, "impl", &s1), 0);
		ASSERT_STREQ(s1, "int (const char *, int)");
		ASSERT_EQ(hp_dw_signature(b, "impl", &s2), 0);
		ASSERT_STREQ(s2, "int (const char *, int, int)");
		ASSERT_EQ(hp_dw_signature(a, "freeclient", &s3), 0);
		ASSERT_STREQ(s3, "void (struct client *)");
		ASSERT_EQ(hp_dw_signature(a, "ready", &s4), 0);
		ASSERT_STREQ(s4, "_Bool (void)");
		ASSERT_EQ(hp_dw_signature(a, "table", &s5), 0);
		/* base types are named as each compiler names them */
		ASSERT_STREQ(s5,
			     k ? "char *const *(unsigned long, pt_t *, int (*)(void *, int), ...)"
			       : "char *const *(long unsigned int, pt_t *, int (*)(void *, int), "
				 "...)");
		ASSERT_EQ(hp_dw_signature(a, "match", &s6), 0);
		ASSERT_STREQ(s6, "int (const char *, int)");
		/* inlined everywhere: no out-of-line body */
		ASSERT_EQ(hp_dw_signature(a, "inl", &s7), 0);
		ASSERT_TRUE(s7 == NULL);
		ASSERT_EQ(hp_dw_signature(a, "nosuch", &s7), 0);
		ASSERT_TRUE(s7 == NULL);
		hp_dw_close(a);
		hp_dw_close(b);
	}
}

TEST(fail_no_dwarf)
{
	struct hp_dwunit *u = NULL;
	char c[600];

	ASSERT_TRUE(made || mkdtemp(dir));
	made = true;
	snprintf(c, sizeof(c), "cd %s && echo 'int f(void){return 1;}' > n.c && gcc -c n.c", dir);
	ASSERT_EQ(system(c), 0);
	snprintf(c, sizeof(c), "%s/n.o", dir);
	ASSERT_TRUE(hp_dw_open(c, &u) < 0);
	ASSERT_CONTAINS(hp_err.msg, "-g");
}

TEST_MAIN()
