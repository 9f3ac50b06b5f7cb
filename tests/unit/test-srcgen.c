/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The patch's source from a translation unit: parsed with libclang,
 * rewritten, compiled with gcc and clang, and its symbols read back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "srcgen.h"
#include "tests.h"
#include "util.h"

/* A unit as projects write them: prototypes, statics, a table, a
 * declaration of two names, static locals, a file-scope asm(), a macro
 * that writes a function and a #line directive. */
static const char unit_c[] =
	"#include <stddef.h>\n"
	"#include \"unit.h\"\n"
	"#include <count.h>\n"
	"\n"
	"#define GETTER(name, v) \\\n"
	"\tint name(void) { return v; }\n"
	"#define API extern __attribute__((noinline))\n"
	"#define HIDDEN static\n"
	"#define LOCAL static __attribute__((noinline))\n"
	"\n"
	"struct item { int id; const char *label; };\n"
	"\n"
	"static int helper(int x);\n"
	"static int counter = 5;\n"
	"static const int table[] = {1, 2, 3, COUNT};\n"
	"static int a = 1, b = 2;\n"
	"static int mixed1 = 1, mixed2;\n"
	"int total;\n"
	"static const struct item items[] = {{1, \"one\"}, {2, \"two\"}};\n"
	"\n"
	"static int early(int x)\n"
	"{\n"
	"\treturn x + table[x & 3];\n"
	"}\n"
	"\n"
	"static inline int twice(int x)\n"
	"{\n"
	"\treturn 2 * x;\n"
	"}\n"
	"\n"
	"#line 500 \"elsewhere.c\"\n"
	"int other(int x)\n"
	"{\n"
	"\treturn x - 1;\n"
	"}\n"
	"\n"
	"int run(int x)\n"
	"{\n"
	"\tstatic int calls = 0;\n"
	"\tstatic const char *names[] = {\"a\", \"b\"};\n"
	"\tstatic struct {\n"
	"\t\tint id;\n"
	"\t} cache[2];\n"
	"\n"
	"\tcalls++;\n"
	"\ttotal += x;\n"
	"\treturn helper(x) + early(x) + counter + a + b + calls + twice(x) + other(x) +\n"
	"\t       (int)sizeof(table) + (int)sizeof(names) + names[x & 1][0] + items[x & 1].id +\n"
	"\t       cache[x & 1].id +\n"
	"\t       table[x & 3];\n"
	"}\n"
	"\n"
	"static int helper(int x)\n"
	"{\n"
	"\tstatic int seen;\n"
	"\n"
	"\treturn x * 3 + seen++;\n"
	"}\n"
	"\n"
	"int changed(int x)\n"
	"{\n"
	"\treturn x > 0 ? helper(x) - 1 + changed(x - 1) : 0;\n"
	"}\n"
	"\n"
	"static inline int\n"
	"changed_static(int x)\n"
	"{\n"
	"\tstatic unsigned long hits __attribute__((unused)) = 1, other_hits;\n"
	"\n"
	"\thits++;\n"
	"\treturn early(x) * 2 + (int)hits + (int)other_hits;\n"
	"}\n"
	"\n"
	"__asm__(\".globl hp_marker\\n\"\n"
	"\t\"hp_marker: nop\");\n"
	"\n"
	"GETTER(from_macro, 7)\n"
	"\n"
	"API int api_fn(int x)\n"
	"{\n"
	"\treturn x + 1;\n"
	"}\n"
	"\n"
	"HIDDEN int hidden_fn(int x)\n"
	"{\n"
	"\treturn x + 2;\n"
	"}\n"
	"\n"
	"LOCAL int local_fn(int x)\n"
	"{\n"
	"\treturn x + 3;\n"
	"}\n"
	"\n"
	"int keep(void)\n"
	"{\n"
	"\treturn mixed1 + mixed2 + from_macro() + changed_static(1) + api_fn(2) + hidden_fn(3) +\n"
	"\t       local_fn(4);\n"
	"}\n";

static char dir[64];

static void write_text(const char *name, const char *text, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fwrite(text, 1, len, f) != len || fclose(f))
		abort();
}

static const char *setup(void)
{
	static char path[128];

	if (!dir[0]) {
		strcpy(dir, "/tmp/hp-test-srcgen.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		write_text("unit.h", "struct opaque;\n", 15);
		snprintf(path, sizeof(path), "%s/inc", dir);
		if (mkdir(path, 0700) < 0)
			abort();
		write_text("inc/count.h", "#define COUNT 4\n", 16);
		write_text("unit.c", unit_c, strlen(unit_c));
	}
	snprintf(path, sizeof(path), "%s/unit.c", dir);
	return path;
}

/* The compile command's arguments as a build would give them: what clang
 * does not know must be dropped, -I kept. */
static int parse(const char *path, struct hp_src *s)
{
	/* relative paths are the compile's: -working-directory says where */
	char *args[] = {"-O2",
			"-g",
			"-Wall",
			"-Werror",
			"-fno-ipa-ra",
			"-fcf-protection=none",
			"-Wno-maybe-uninitialized",
			"-std=gnu11",
			"-working-directory",
			dir,
			"-I",
			"inc",
			"-DEXTRA=1",
			"-MD",
			"-MF",
			"unit.d"};

	return hp_src_parse(path, args, HP_ARRAY_SIZE(args), s);
}

static long line_of(const char *text, const char *needle)
{
	const char *p = strstr(text, needle);
	long line = 1;

	for (const char *q = text; p && q < p; q++)
		line += *q == '\n';
	return p ? line : -1;
}

static const struct hp_src_ent *ent(const struct hp_src *s, const char *name, bool def)
{
	for (size_t i = 0; i < s->nents; i++)
		if (s->ents[i].name && !strcmp(s->ents[i].name, name) &&
		    s->ents[i].definition == def)
			return &s->ents[i];
	return NULL;
}

TEST(parse_lists_declarations_with_physical_lines)
{
	const char *path = setup();
	struct hp_src s = {0};
	const struct hp_src_ent *e;
	size_t nasm = 0;

	if (parse(path, &s) < 0)
		FAILX("%s", hp_err.msg);
	e = ent(&s, "helper", false);
	ASSERT_TRUE(e && e->kind == HP_SRC_FUNC && e->is_static && !e->is_inline);
	ASSERT_EQ(e->first, line_of(unit_c, "static int helper(int x);"));
	e = ent(&s, "helper", true);
	ASSERT_TRUE(e && e->is_static);
	/* after "#line 500": the lines of the file, not the presumed ones */
	e = ent(&s, "other", true);
	ASSERT_TRUE(e && !e->is_static);
	ASSERT_EQ(e->first, line_of(unit_c, "int other(int x)"));
	ASSERT_EQ(e->last, e->first + 3);
	ASSERT_STREQ(e->type, "int (int)");
	e = ent(&s, "twice", true);
	ASSERT_TRUE(e && e->is_inline && e->is_static);
	e = ent(&s, "table", true);
	ASSERT_TRUE(e && e->kind == HP_SRC_VAR && e->is_const && e->is_static);
	e = ent(&s, "total", true); /* tentative */
	ASSERT_TRUE(e && !e->is_static && !e->is_const);
	e = ent(&s, "b", true);
	ASSERT_TRUE(e && e->first == line_of(unit_c, "static int a = 1, b = 2;"));
	e = ent(&s, "from_macro", true);
	ASSERT_TRUE(e && e->in_macro);
	ASSERT_TRUE(!ent(&s, "run", true)->in_macro);
	/* begun by a macro: one that says `extern` is no trouble, nor one
	 * that is `static` alone; one that hides it among more is */
	ASSERT_TRUE(!ent(&s, "api_fn", true)->in_macro);
	ASSERT_TRUE(!ent(&s, "hidden_fn", true)->in_macro);
	ASSERT_TRUE(ent(&s, "local_fn", true)->in_macro);
	for (size_t i = 0; i < s.nents; i++)
		nasm += s.ents[i].kind == HP_SRC_ASM;
	ASSERT_EQ(nasm, 1);
	ASSERT_EQ(s.nlocals, 6);
	ASSERT_STREQ(s.locals[0].function, "run");
	ASSERT_STREQ(s.locals[0].name, "calls");
	ASSERT_EQ(s.locals[0].line, line_of(unit_c, "static int calls"));
	ASSERT_TRUE(s.locals[1].is_const == false); /* const char *: the pointer is not */
	ASSERT_STREQ(s.locals[3].function, "helper");
	ASSERT_STREQ(s.locals[3].name, "seen");
	hp_src_free(&s);
}

TEST(parse_fails_with_the_first_error)
{
	struct hp_src s = {0};
	char path[128];
	const char *bad = "int ok(void) { return 0; }\nint broken(void) { return missing; }\n";

	setup();
	write_text("bad.c", bad, strlen(bad));
	snprintf(path, sizeof(path), "%s/bad.c", dir);
	ASSERT_TRUE(parse(path, &s) < 0);
	ASSERT_CONTAINS(hp_err.msg, "bad.c:2: ");
	ASSERT_CONTAINS(hp_err.msg, "missing");
}

/* nm -P of `obj`: "name type value size" lines. */
static char *nm(const char *obj)
{
	char cmd[256], *out = NULL;
	size_t len = 0;
	FILE *p, *m;

	snprintf(cmd, sizeof(cmd), "nm -P '%s'", obj);
	p = popen(cmd, "r");
	m = open_memstream(&out, &len);
	for (int c; p && (c = fgetc(p)) != EOF;)
		fputc(c, m);
	if (p)
		pclose(p);
	fclose(m);
	return out;
}

/* The type letter nm gives `name` ('U', 'T', 't', ...), or 0. */
static char sym(const char *nmout, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = nmout; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "")
		if (!strncmp(l, name, n) && l[n] == ' ')
			return l[n + 1];
	return 0;
}

static const struct hp_gen_rule rules[] = {
	{"helper", HP_GEN_BIND, "__hp_t_0", NULL},
	{"counter", HP_GEN_BIND, "__hp_t_1", NULL},
	{"table", HP_GEN_BIND, "__hp_t_2", NULL},
	{"a", HP_GEN_BIND, "__hp_t_3", NULL},
	{"b", HP_GEN_BIND, "__hp_t_4", NULL},
	{"early", HP_GEN_BIND, "__hp_t_5", NULL},
	{"items", HP_GEN_BIND, "__hp_t_8", NULL},
	{"total", HP_GEN_BIND, NULL, NULL},
	{"other", HP_GEN_BIND, NULL, NULL},
	{"changed", HP_GEN_REDIRECT, NULL, "changed__hp_new"},
	{"changed_static", HP_GEN_REDIRECT, "__hp_t_6", "changed_static__hp_new"},
	{"keep", HP_GEN_KEEP, NULL, NULL},
	{"api_fn", HP_GEN_BIND, NULL, NULL},	       /* a macro begins it: an `extern` */
	{"hidden_fn", HP_GEN_BIND, "__hp_t_13", NULL}, /* a macro that is `static` */
	{"not_in_this_file", HP_GEN_BIND, "__hp_t_99", NULL},
};
static const struct hp_gen_local_rule lrules[] = {
	{"run", "calls", "__hp_t_7"},
	{"run", "names", NULL},
	{"run", "cache", "__hp_t_12"},		 /* a struct in its type */
	{"helper", "seen", "__hp_t_9"},		 /* its function is bound: gone with the body */
	{"changed_static", "hits", "__hp_t_10"}, /* in a redirected function */
	{"changed_static", "other_hits", "__hp_t_11"},
};

/* What the caller appends: the records name the redirected bodies. */
static const char records[] =
	"\nvoid *hp_refs[] = {(void *)changed__hp_new, (void *)changed_static__hp_new};\n";

static void check_object(const char *cc, const char *cflags)
{
	char cmd[512], obj[128];
	char *n;

	snprintf(obj, sizeof(obj), "%s/fix-%s.o", dir, cc);
	snprintf(cmd, sizeof(cmd), "%s %s -O2 -fPIC -I '%s/inc' -c '%s/fix.c' -o '%s'", cc, cflags,
		 dir, dir, obj);
	if (!strcmp(cc, "clang") && system("command -v clang >/dev/null") != 0) {
		printf("clang not found: its compile skipped\n");
		return;
	}
	ASSERT_EQ(system(cmd), 0);
	n = nm(obj);
	ASSERT_TRUE(n != NULL);
	/* bound statics: undefined, under their labels; their names are gone */
	for (const char *l = "0123458"; *l; l++) {
		char label[16];

		snprintf(label, sizeof(label), "__hp_t_%c", *l);
		if (sym(n, label) != 'U')
			FAILX("%s: %s is not undefined in:\n%s", cc, label, n);
	}
	ASSERT_EQ(sym(n, "helper"), 0);
	ASSERT_EQ(sym(n, "counter"), 0);
	/* bound globals: undefined under their own names */
	ASSERT_EQ(sym(n, "total"), 'U');
	ASSERT_EQ(sym(n, "other"), 'U');
	ASSERT_EQ(sym(n, "api_fn"), 'U');
	ASSERT_EQ(sym(n, "__hp_t_13"), 'U');
	ASSERT_EQ(sym(n, "hidden_fn"), 0);
	/* redirected: the new body local, the name the target's */
	ASSERT_EQ(sym(n, "changed__hp_new"), 't');
	ASSERT_EQ(sym(n, "changed"), 'U');
	ASSERT_EQ(sym(n, "changed_static__hp_new"), 't');
	ASSERT_EQ(sym(n, "__hp_t_6"), 'U');
	/* kept */
	ASSERT_EQ(sym(n, "run"), 'T');
	ASSERT_EQ(sym(n, "keep"), 'T');
	ASSERT_EQ(sym(n, "from_macro"), 'T');
	/* the static local bound; the asm's symbol not assembled again */
	ASSERT_EQ(sym(n, "__hp_t_7"), 'U');
	ASSERT_EQ(sym(n, "__hp_t_9"), 0);
	ASSERT_EQ(sym(n, "__hp_t_10"), 'U');
	ASSERT_EQ(sym(n, "__hp_t_11"), 'U');
	ASSERT_EQ(sym(n, "__hp_t_12"), 'U');
	ASSERT_EQ(sym(n, "hp_marker"), 0);
	ASSERT_EQ(sym(n, "__hp_t_99"), 0);
	free(n);
}

TEST(generate_binds_redirects_and_compiles)
{
	const char *path = setup();
	struct hp_src s = {0};
	char *text = NULL, *all = NULL;
	size_t len = 0;
	long shift;

	ASSERT_EQ(parse(path, &s), 0);
	ASSERT_EQ(hp_src_generate(&s, rules, HP_ARRAY_SIZE(rules), lrules, HP_ARRAY_SIZE(lrules),
				  "/* generated by a test */", &text, &len),
		  0);
	hp_src_free(&s);
	ASSERT_EQ(strlen(text), len);
	if (getenv("HP_TEST_VERBOSE"))
		fputs(text, stdout);
	ASSERT_CONTAINS(text,
			"/* generated by a test */\n#pragma redefine_extname helper __hp_t_0\n");
	ASSERT_CONTAINS(text, "extern int a, b;");
	ASSERT_CONTAINS(text, "extern const int table[4];");
	ASSERT_CONTAINS(text, "extern int calls __asm__(\"__hp_t_7\");");
	ASSERT_CONTAINS(text, "static const char *names[] = {\"a\", \"b\"};");
	ASSERT_CONTAINS(text, "int changed(int x); static int changed__hp_new(int x)\n{");
	ASSERT_CONTAINS(text, "int changed_static(int x); static inline int\n"
			      "changed_static__hp_new(int x)");
	ASSERT_CONTAINS(text, "/* hotpatch build: a file-scope asm() dropped");
	/* the lines after a rewrite keep their numbers, the banner's and the
	 * pragmas' aside */
	shift = line_of(text, "extern int counter;") - line_of(unit_c, "static int counter");
	ASSERT_EQ(line_of(text, "int keep(void)") - shift, line_of(unit_c, "int keep(void)"));
	ASSERT_EQ(line_of(text, "GETTER(from_macro") - shift, line_of(unit_c, "GETTER(from_macro"));
	if (asprintf(&all, "%s%s", text, records) < 0)
		abort();
	write_text("fix.c", all, strlen(all));
	free(all);
	free(text);
	check_object("gcc", "");
	check_object("clang", "-Wno-unused-function");
}

static int generate_one(const struct hp_gen_rule *r, size_t nr)
{
	struct hp_src s = {0};
	char *text = NULL;
	size_t len = 0;
	int ret = parse(setup(), &s);

	if (ret == 0)
		ret = hp_src_generate(&s, r, nr, NULL, 0, NULL, &text, &len);
	hp_src_free(&s);
	free(text);
	return ret;
}

TEST(fail_declared_by_a_macro)
{
	struct hp_gen_rule r = {"from_macro", HP_GEN_BIND, NULL, NULL};
	char where[160];

	ASSERT_EQ(generate_one(&r, 1), -HP_EREFUSED);
	snprintf(where, sizeof(where),
		 "from_macro is declared by a macro expansion at %s/unit.c:%ld", dir,
		 line_of(unit_c, "GETTER(from_macro"));
	ASSERT_CONTAINS(hp_err.msg, where);
	/* kept, it is no trouble */
	r.action = HP_GEN_KEEP;
	ASSERT_EQ(generate_one(&r, 1), 0);
	/* the `static` to drop is the macro's */
	r = (struct hp_gen_rule){"local_fn", HP_GEN_BIND, "__hp_t_1", NULL};
	ASSERT_EQ(generate_one(&r, 1), -HP_EREFUSED);
	ASSERT_CONTAINS(hp_err.msg, "local_fn is declared by a macro expansion at ");
}

TEST(fail_one_declaration_of_two_rules)
{
	struct hp_gen_rule r[] = {{"mixed1", HP_GEN_BIND, "__hp_t_1", NULL},
				  {"mixed2", HP_GEN_BIND, "__hp_t_2", NULL}};

	ASSERT_EQ(generate_one(r, 1), -HP_EREFUSED);
	ASSERT_CONTAINS(hp_err.msg, "mixed1 and mixed2 are declared together");
	ASSERT_EQ(generate_one(r, 2), 0);
}

/* A file of its own, parsed and generated with these rules. */
static int generate_text(const char *text, const struct hp_gen_rule *r, size_t nr,
			 const struct hp_gen_local_rule *l, size_t nl)
{
	struct hp_src s = {0};
	char path[128], *out = NULL;
	size_t len = 0;
	int ret;

	setup();
	write_text("other.c", text, strlen(text));
	snprintf(path, sizeof(path), "%s/other.c", dir);
	ret = parse(path, &s);
	if (ret == 0)
		ret = hp_src_generate(&s, r, nr, l, nl, NULL, &out, &len);
	hp_src_free(&s);
	free(out);
	return ret;
}

TEST(no_rules_no_change)
{
	const char *text = "static int n = 1;\nint get(void)\n{\n\treturn n;\n}\n";
	struct hp_src s = {0};
	char path[128], *out = NULL;
	size_t len = 0;

	setup();
	write_text("same.c", text, strlen(text));
	snprintf(path, sizeof(path), "%s/same.c", dir);
	ASSERT_EQ(parse(path, &s), 0);
	ASSERT_EQ(hp_src_generate(&s, NULL, 0, NULL, 0, "/* b */", &out, &len), 0);
	hp_src_free(&s);
	ASSERT_TRUE(!strncmp(out, "/* b */\n", 8));
	ASSERT_STREQ(out + 8, text);
	free(out);
}

TEST(fail_two_static_locals_of_one_name)
{
	struct hp_gen_local_rule l = {"f", "n", "__hp_t_1"};

	ASSERT_EQ(generate_text("int f(int x)\n{\n\tif (x) {\n\t\tstatic int n;\n\t\treturn "
				"n++;\n\t}\n\t{\n\t\tstatic int n;\n\t\treturn n--;\n\t}\n}\n",
				NULL, 0, &l, 1),
		  -HP_EREFUSED);
	ASSERT_CONTAINS(hp_err.msg, "f has several static locals named n");
}

TEST(fail_old_style_definition)
{
	struct hp_gen_rule r = {"kr", HP_GEN_BIND, "__hp_t_1", NULL};

	ASSERT_EQ(generate_text("static int kr(a) int a;\n{\n\treturn a;\n}\n", &r, 1, NULL, 0),
		  -HP_EREFUSED);
	ASSERT_CONTAINS(hp_err.msg, "kr has an old-style (K&R) definition at ");
}

TEST(fail_own_asm_label)
{
	struct hp_gen_rule r = {"x", HP_GEN_BIND, "__hp_t_1", NULL};

	ASSERT_EQ(generate_text("static int x __asm__(\"y\") = 1;\nint get(void)\n{\n\treturn "
				"x;\n}\n",
				&r, 1, NULL, 0),
		  -HP_EREFUSED);
	ASSERT_CONTAINS(hp_err.msg, "x has an asm label of its own at ");
}

TEST(cleanup)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (dir[0] && !getenv("HP_TEST_KEEP"))
		ASSERT_EQ(system(cmd), 0);
}

TEST_MAIN()
