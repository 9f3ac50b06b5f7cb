/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Two builds of one translation unit, compiled here by gcc and by clang
 * as `hotpatch build` compiles them, compared function by function. */
#include "objdiff.h"
#include "tests.h"
#include "util.h"

#include <elf.h>
#include <stdarg.h>
#include <sys/wait.h>

static char dir[] = "/tmp/hp-objdiff-XXXXXX";

#define FLAGS "-O2 -fpatchable-function-entry=7,5 -ffunction-sections -fdata-sections -g"

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* more flags, as a project's own would be */
static const char *extra_flags = "";

/* dir/name.o from the source text, by cc */
static int compile(const char *cc, const char *name, const char *src, struct hp_obj *o)
{
	char c[256], cmd[1024];

	static bool made;

	if (!made && !mkdtemp(dir))
		return -1;
	made = true;
	snprintf(c, sizeof(c), "%s/%s-%s.c", dir, name, cc);
	if (write_file(c, src) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s -c %s %s %s -o %s/%s-%s.o", cc, FLAGS, extra_flags, c, dir,
		 name, cc);
	if (system(cmd) != 0)
		return -1;
	snprintf(c, sizeof(c), "%s/%s-%s.o", dir, name, cc);
	if (hp_obj_load(c, o) < 0) {
		fprintf(stderr, "%s: %s\n", c, hp_err.msg);
		return -1;
	}
	return 0;
}

static const char *const change_names[] = {"SAME", "CHANGED", "NEW", "REMOVED"};

struct pair {
	struct hp_obj a, b;
	struct hp_objdiff d;
};

static void show(const struct pair *p)
{
	for (size_t i = 0; i < p->d.n; i++) {
		const struct hp_objchange *e = &p->d.ent[i];
		const struct hp_osym *y =
			e->orig >= 0 ? &p->a.syms[e->orig] : &p->b.syms[e->patched];

		if (e->change != HP_SAME || getenv("HP_OBJDIFF_DEBUG"))
			fprintf(stderr, "  %-8s %-24s %-20s %s\n", change_names[e->change], y->key,
				y->name, e->why);
	}
}

/* HP_OBJDIFF_DEBUG=refs: every symbol of the original, with its references */
static void dump(const struct hp_obj *o)
{
	for (size_t i = 0; i < o->nsyms; i++) {
		const struct hp_osym *y = &o->syms[i];

		fprintf(stderr, "  [%zu] %s key=%s %s size=%" PRIu64 " parent=%d%s%s\n", i, y->name,
			y->key, y->section ? y->section : "UND", y->size, y->parent,
			y->in_ctors ? " ctor" : "", y->readonly ? " ro" : "");
		for (size_t k = 0; k < y->nrefs; k++)
			fprintf(stderr, "      +0x%" PRIx64 " type %u -> %s%+" PRId64 "%s\n",
				y->refs[k].offset, y->refs[k].type, y->refs[k].to,
				y->refs[k].addend, y->refs[k].call ? " call" : "");
	}
}

static int build_pair(const char *cc, const char *name, const char *orig, const char *patched,
		      struct pair *p)
{
	char n[128];

	memset(p, 0, sizeof(*p));
	snprintf(n, sizeof(n), "%s-orig", name);
	if (compile(cc, n, orig, &p->a) < 0)
		return -1;
	snprintf(n, sizeof(n), "%s-patched", name);
	if (compile(cc, n, patched, &p->b) < 0)
		return -1;
	if (hp_obj_diff(&p->a, &p->b, &p->d) < 0)
		return -1;
	fprintf(stderr, "%s %s:\n", cc, name);
	if (getenv("HP_OBJDIFF_DEBUG") && !strcmp(getenv("HP_OBJDIFF_DEBUG"), "refs"))
		dump(&p->a);
	show(p);
	return 0;
}

static void free_pair(struct pair *p)
{
	hp_objdiff_free(&p->d);
	hp_obj_free(&p->a);
	hp_obj_free(&p->b);
}

/* The verdict on the symbol with this key, or -1 when it is not there. */
static int change_of(const struct pair *p, const char *key)
{
	for (size_t i = 0; i < p->d.n; i++) {
		const struct hp_objchange *e = &p->d.ent[i];
		const struct hp_osym *y =
			e->orig >= 0 ? &p->a.syms[e->orig] : &p->b.syms[e->patched];

		if (!strcmp(y->key, key))
			return (int)e->change;
	}
	return -1;
}

/* How many are not SAME and not listed ("name#" stands for any content key) */
static int others_changed(const struct pair *p, ...)
{
	int n = 0;

	for (size_t i = 0; i < p->d.n; i++) {
		const struct hp_objchange *e = &p->d.ent[i];
		const struct hp_osym *y =
			e->orig >= 0 ? &p->a.syms[e->orig] : &p->b.syms[e->patched];
		bool listed = false;
		va_list ap;

		if (e->change == HP_SAME)
			continue;
		va_start(ap, p);
		for (const char *k; (k = va_arg(ap, const char *));)
			listed |= k[strlen(k) - 1] == '#' ? !strncmp(k, y->key, strlen(k))
							  : !strcmp(k, y->key);
		va_end(ap);
		n += !listed;
	}
	return n;
}

/* Whether cc runs here: a missing clang is said once, not failed */
static bool have_cc(const char *cc)
{
	static int have[2] = {-1, -1};
	int i = strcmp(cc, "gcc") != 0;
	char cmd[128];

	if (have[i] < 0) {
		snprintf(cmd, sizeof(cmd), "%s --version >/dev/null 2>&1", cc);
		have[i] = system(cmd) == 0;
		if (!have[i])
			fprintf(stderr, "%s not found: its half of each test is skipped\n", cc);
	}
	return have[i];
}

/* One test, run with gcc and with clang */
#define BOTH(name)                             \
	static void name##_cc(const char *cc); \
	TEST(name)                             \
	{                                      \
		if (have_cc("gcc"))            \
			name##_cc("gcc");      \
		if (have_cc("clang"))          \
			name##_cc("clang");    \
	}                                      \
	static void name##_cc(const char *cc)

/* Every case's change behind its own macro: the original defines none of
 * them, the patched build one (a line each, so that line numbers agree). */
static const char src[] =
	"#include <stdio.h>\n"
	"#include <stdlib.h>\n"
	"extern int ext(int);\n"
	"void early(void)\n"
	"{\n"
	"#ifdef P_STR\n"
	"	puts(\"an extra string, before all the others\");\n"
	"#endif\n"
	"	puts(\"early\");\n"
	"}\n"
	"#ifdef P_GLOBAL\n"
	"int g_value = 4;\n"
	"#else\n"
	"int g_value = 3;\n"
	"#endif\n"
	"char flag;\n"
	"static char sflag;\n"
	"void set_sflag(char c) { sflag = c; }\n"
	"static int helper(int x)\n"
	"{\n"
	"#ifdef P_INLINE\n"
	"	return x * 9 + g_value;\n"
	"#else\n"
	"	return x * 7 + g_value;\n"
	"#endif\n"
	"}\n"
	"int use_helper(int x) { return helper(x) + 1; }\n"
	"extern int ext2(int);\n"
	"#ifdef P_CALL\n"
	"int caller(int x) { return ext2(x) + 1; }\n"
	"#else\n"
	"int caller(int x) { return ext(x) + 1; }\n"
	"#endif\n"
	"const char *greet(int x) { return x ? \"hello\" : \"bye\"; }\n"
	"int other(int x)\n"
	"{\n"
	"	printf(\"other %d\\n\", x);\n"
	"#ifdef P_FUNC\n"
	"	return x + 3;\n"
	"#else\n"
	"	return x + 2;\n"
	"#endif\n"
	"}\n"
	"int sw_jump(int x)\n"
	"{\n"
	"	switch (x) {\n"
	"	case 0: return ext(x);\n"
	"	case 1: return ext(x + 1) * 3;\n"
	"	case 2: return ext(x - 2) - 2;\n"
	"	case 3: return ext(5) ^ x;\n"
	"	case 4: return x * x + ext(x);\n"
	"	case 5: return use_helper(x);\n"
	"	case 6: return ext(x) + ext(1);\n"
	"#ifdef P_SWITCH\n"
	"	case 7: return ext(x * 9) - 4;\n"
	"#endif\n"
	"	default: return -1;\n"
	"	}\n"
	"}\n"
	"int sw_jump2(int x)\n"
	"{\n"
	"	switch (x) {\n"
	"	case 10: return ext(x) - 1;\n"
	"	case 11: return ext(x + 3) * 5;\n"
	"	case 12: return ext(7) | x;\n"
	"	case 13: return x * 3 + ext(x);\n"
	"	case 14: return ext(x) - ext(2);\n"
	"	default: return 0;\n"
	"	}\n"
	"}\n"
	"const char *const msgs[] = {\"alpha\", \"beta\"};\n"
	"int sw_table(int x)\n"
	"{\n"
	"	switch (x) {\n"
	"	case 0: return 11; case 1: return 23; case 2: return 37; case 3: return 41;\n"
	"#ifdef P_TABLE\n"
	"	case 7: return 99;\n"
	"#endif\n"
	"	case 4: return 59; case 5: return 61; case 6: return 73; default: return -1;\n"
	"	}\n"
	"}\n"
	"#ifdef P_STATIC\n"
	"int before(void) { static int other_counter; return other_counter += 2; }\n"
	"#endif\n"
	"int count(void) { static int counter; return ++counter; }\n"
	"int count2(void) { static int counter; return counter += 3; }\n"
	"int twice(int x) { if (x) { static int n; return ++n; } else { static int n; return n -= 2; } }\n"
	"#ifdef P_FUNCNAME\n"
	"const char *fname0(void) { return __func__; }\n"
	"#endif\n"
	"const char *fname(void) { return __func__; }\n"
	"const char *pname(void) { return __PRETTY_FUNCTION__; }\n"
	"#ifdef P_CLONE\n"
	"static __attribute__((noinline)) int scaled0(int x, int k) { return x * k - (x >> k); }\n"
	"int callscaled0(int x) { return scaled0(x, 3) + 1; }\n"
	"#endif\n"
	"static __attribute__((noinline)) int scaled(int x, int k) { return x * k + (x >> k); }\n"
	"int callscaled(int x) { return scaled(x, 5) + 1; }\n"
	"int is5(void) { return flag == 5; }\n"
	"int sis5(void) { return sflag == 5; }\n"
	"double scale(double x) { return x * 3.25; }\n"
	"extern void oops(const char *, int) __attribute__((cold));\n"
	"int checked(int x)\n"
	"{\n"
	"	int r = ext(x);\n"
	"	if (r < 0) {\n"
	"#ifdef P_COLD\n"
	"		oops(\"checked: negative value\", x);\n"
	"#else\n"
	"		oops(\"checked: negative\", x);\n"
	"#endif\n"
	"		r = ext(-r);\n"
	"	}\n"
	"	return r * 2 + ext(r);\n"
	"}\n"
	"__attribute__((constructor)) static void init_me(void) { g_value = ext(0); }\n"
	"__attribute__((destructor)) void fini_me(void) { ext(1); }\n"
	"#ifdef P_TLS\n"
	"__thread int tv = 2;\n"
	"#else\n"
	"__thread int tv = 1;\n"
	"#endif\n"
	"static __thread int stv;\n"
	"int get_tv(void) { return tv + stv++; }\n"
	"int (*const handlers[])(int) = {other, use_helper};\n"
	"int call_handler(int i, int x) { return handlers[i](x); }\n"
	"#ifdef P_NEW\n"
	"int brand_new(int x) { return x * 11; }\n"
	"#endif\n";

/* The original and the build with `macro` defined */
static int build_case(const char *cc, const char *macro, struct pair *p)
{
	char a[sizeof(src) + 64], b[sizeof(src) + 64];

	snprintf(a, sizeof(a), "#define P_NONE 1\n%s", src);
	snprintf(b, sizeof(b), "#define %s 1\n%s", macro, src);
	return build_pair(cc, macro, a, b, p);
}

BOTH(unchanged_all_same)
{
	struct pair p;

	ASSERT_EQ(build_case(cc, "P_NONE", &p), 0);
	ASSERT_TRUE(p.d.n > 10);
	ASSERT_EQ(others_changed(&p, NULL), 0);
	ASSERT_EQ(change_of(&p, "sw_jump"), HP_SAME);
	free_pair(&p);
}

/* Only `key` (and those listed after it) differ, and `key` is CHANGED */
#define ONLY(p, key, ...)                                                          \
	do {                                                                       \
		ASSERT_EQ(change_of(p, key), HP_CHANGED);                          \
		ASSERT_EQ(others_changed(p, key, ##__VA_ARGS__, (char *)NULL), 0); \
	} while (0)

BOTH(one_function_changed)
{
	struct pair p;

	ASSERT_EQ(build_case(cc, "P_FUNC", &p), 0);
	ONLY(&p, "other");
	free_pair(&p);
}

BOTH(string_added_shifts_no_other)
{
	struct pair p;

	ASSERT_EQ(build_case(cc, "P_STR", &p), 0);
	ONLY(&p, "early");
	free_pair(&p);
}

BOTH(jump_table_case_added)
{
	struct pair p;

	ASSERT_EQ(build_case(cc, "P_SWITCH", &p), 0);
	ONLY(&p, "sw_jump", "sw_jump.cold");
	free_pair(&p);
}

BOTH(inlined_callee_changes_caller)
{
	struct pair p;

	ASSERT_EQ(build_case(cc, "P_INLINE", &p), 0);
	/* helper itself is gone, inlined everywhere; sw_jump may inline
	 * use_helper too */
	ONLY(&p, "use_helper", "helper", "sw_jump");
	free_pair(&p);
}

BOTH(new_function)
{
	struct pair p;

	ASSERT_EQ(build_case(cc, "P_NEW", &p), 0);
	ASSERT_EQ(change_of(&p, "brand_new"), HP_NEW);
	ASSERT_EQ(others_changed(&p, "brand_new", NULL), 0);
	free_pair(&p);
}

BOTH(static_local_keyed_by_function)
{
	struct pair p;
	const char *key = strcmp(cc, "gcc") ? "count.counter" : "count/counter";
	int a, b;

	ASSERT_EQ(build_case(cc, "P_STATIC", &p), 0);
	a = hp_obj_find(&p.a, key);
	b = hp_obj_find(&p.b, key);
	ASSERT_TRUE(a >= 0 && b >= 0);
	ASSERT_EQ(change_of(&p, key), HP_SAME);
	ASSERT_TRUE(hp_obj_find(&p.a, strcmp(cc, "gcc") ? "count2.counter" : "count2/counter") >=
		    0);
	ASSERT_EQ(change_of(&p, "before"), HP_NEW);
	ASSERT_EQ(change_of(&p, "count"), HP_SAME);
	ASSERT_EQ(others_changed(&p, "before",
				 strcmp(cc, "gcc") ? "before.other_counter"
						   : "before/other_counter",
				 NULL),
		  0);
	free_pair(&p);
}

BOTH(global_initial_value)
{
	struct pair p;

	ASSERT_EQ(build_case(cc, "P_GLOBAL", &p), 0);
	ONLY(&p, "g_value");
	free_pair(&p);
}

BOTH(cold_part_changes_function)
{
	struct pair p;
	int cold;

	ASSERT_EQ(build_case(cc, "P_COLD", &p), 0);
	ONLY(&p, "checked", "checked.cold");
	cold = hp_obj_find(&p.a, "checked.cold");
	if (!strcmp(cc, "gcc")) {
		ASSERT_TRUE(cold >= 0);
		ASSERT_EQ(p.a.syms[cold].parent, hp_obj_find(&p.a, "checked"));
	}
	free_pair(&p);
}

BOTH(why_names_the_new_callee)
{
	struct pair p;

	ASSERT_EQ(build_case(cc, "P_CALL", &p), 0);
	ONLY(&p, "caller");
	for (size_t i = 0; i < p.d.n; i++)
		if (p.d.ent[i].change == HP_CHANGED)
			ASSERT_CONTAINS(p.d.ent[i].why, "now goes to ext2");
	free_pair(&p);
}

/* gcc's CSWTCH and clang's switch.table: known by their content */
BOTH(switch_table_changed)
{
	struct pair p;

	ASSERT_EQ(build_case(cc, "P_TABLE", &p), 0);
	ASSERT_EQ(change_of(&p, "sw_table"), HP_CHANGED);
	ASSERT_EQ(others_changed(&p, "sw_table", "CSWTCH#", NULL), 0);
	free_pair(&p);
}

/* The reference to `var` in function fn, or NULL */
static const struct hp_oref *ref_to_var(const struct hp_obj *o, const char *fn, const char *var)
{
	int i = hp_obj_find(o, fn);

	for (size_t k = 0; i >= 0 && k < o->syms[i].nrefs; k++)
		if (o->syms[i].refs[k].to && !strcmp(o->syms[i].refs[k].to, var))
			return &o->syms[i].refs[k];
	return NULL;
}

BOTH(tls_and_function_tables)
{
	struct pair p;
	const struct hp_oref *r;
	int i;

	ASSERT_EQ(build_case(cc, "P_TLS", &p), 0);
	ONLY(&p, "tv");
	i = hp_obj_find(&p.a, "tv");
	ASSERT_EQ(p.a.syms[i].type, HP_OSYM_TLS);
	ASSERT_TRUE((r = ref_to_var(&p.a, "get_tv", "tv")) && r->addend == 0);
	ASSERT_TRUE((r = ref_to_var(&p.a, "get_tv", "stv")) && r->addend == 0);
	ASSERT_EQ(p.a.syms[hp_obj_find(&p.a, "stv")].type, HP_OSYM_TLS);
	/* a function's address in data: no call */
	ASSERT_TRUE((r = ref_to_var(&p.a, "handlers", "other")) && !r->call && r->addend == 0);
	ASSERT_TRUE((r = ref_to_var(&p.a, "handlers", "use_helper")) && r->offset == 8);
	free_pair(&p);
}

/* gcc numbers __func__ across the file: an earlier one shifts it */
BOTH(function_name_by_content)
{
	struct pair p;

	ASSERT_EQ(build_case(cc, "P_FUNCNAME", &p), 0);
	ASSERT_EQ(change_of(&p, "fname0"), HP_NEW);
	ASSERT_EQ(change_of(&p, "fname"), HP_SAME);
	ASSERT_EQ(change_of(&p, "pname"), HP_SAME);
	ASSERT_EQ(others_changed(&p, "fname0", "__func__#", NULL), 0);
	free_pair(&p);
}

BOTH(clones_paired_without_numbers)
{
	struct pair p;
	const char *key = strcmp(cc, "gcc") ? "scaled" : "scaled.constprop";

	ASSERT_EQ(build_case(cc, "P_CLONE", &p), 0);
	ASSERT_TRUE(hp_obj_find(&p.a, key) >= 0);
	ASSERT_EQ(change_of(&p, key), HP_SAME);
	ASSERT_EQ(change_of(&p, "callscaled"), HP_SAME);
	ASSERT_EQ(change_of(&p, "callscaled0"), HP_NEW);
	free_pair(&p);
}

/* `cmpb $5, flag(%rip)`: the field lies 5 bytes before the instruction's end */
static void check_cmpb(const struct hp_obj *o, const char *fn, const char *var)
{
	int i = hp_obj_find(o, fn);
	bool found = false;

	ASSERT_TRUE(i >= 0);
	for (size_t k = 0; k < o->syms[i].nrefs; k++) {
		const struct hp_oref *r = &o->syms[i].refs[k];

		if (r->to && !strcmp(r->to, var)) {
			ASSERT_EQ(r->addend, 0);
			ASSERT_EQ(r->sym, hp_obj_find(o, var));
			ASSERT_TRUE(!r->call);
			found = true;
		}
	}
	ASSERT_TRUE(found);
}

BOTH(pc_relative_addend_of_cmpb)
{
	struct pair p;

	ASSERT_EQ(build_case(cc, "P_NONE", &p), 0);
	check_cmpb(&p.a, "is5", "flag");
	check_cmpb(&p.a, "sis5", "sflag");
	free_pair(&p);
}

BOTH(calls_and_constructors)
{
	struct pair p;
	int i, k;

	ASSERT_EQ(build_case(cc, "P_NONE", &p), 0);
	i = hp_obj_find(&p.a, "init_me");
	ASSERT_TRUE(i >= 0);
	ASSERT_TRUE(p.a.syms[i].in_ctors);
	ASSERT_TRUE(!p.a.syms[i].in_dtors);
	ASSERT_TRUE(!p.a.syms[hp_obj_find(&p.a, "other")].in_ctors);
	i = hp_obj_find(&p.a, "fini_me");
	ASSERT_TRUE(i >= 0 && p.a.syms[i].in_dtors && !p.a.syms[i].in_ctors);
	i = hp_obj_find(&p.a, "other");
	for (k = 0; k < (int)p.a.syms[i].nrefs; k++)
		if (!strcmp(p.a.syms[i].refs[k].to, "printf"))
			break;
	ASSERT_TRUE(k < (int)p.a.syms[i].nrefs);
	ASSERT_TRUE(p.a.syms[i].refs[k].call);
	ASSERT_EQ(p.a.syms[i].refs[k].addend, 0);
	ASSERT_STREQ(p.a.file, strstr(p.a.file, "P_NONE") ? p.a.file : "");
	free_pair(&p);
}

/* Position-independent code (GOT loads, relative jump tables), code that
 * is not (absolute jump tables), other optimisation levels, hardening */
BOTH(other_flags)
{
	static const char *const flags[] = {
		"-O0",
		"-fPIC",
		"-fno-pie",
		"-O3",
		"-Os",
		"-O1",
		"-fcf-protection -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fno-omit-frame-pointer",
	};
	/* each change, and what it may change (its own function, a part) */
	static const struct {
		const char *macro, *may[3];
	} cases[] = {
		{"P_NONE", {NULL}},
		{"P_FUNC", {"other", NULL}},
		{"P_STR", {"early", NULL}},
		{"P_SWITCH", {"sw_jump", "sw_jump.cold", NULL}},
		{"P_COLD", {"checked", "checked.cold", NULL}},
		{"P_STATIC", {"before", "before/other_counter", "before.other_counter"}},
	};

	for (size_t f = 0; f < HP_ARRAY_SIZE(flags); f++)
		for (size_t m = 0; m < HP_ARRAY_SIZE(cases); m++) {
			struct pair p;
			int n;

			extra_flags = flags[f];
			n = build_case(cc, cases[m].macro, &p);
			extra_flags = "";
			ASSERT_EQ(n, 0);
			fprintf(stderr, "  (%s %s)\n", flags[f], cases[m].macro);
			n = others_changed(&p, cases[m].may[0] ? cases[m].may[0] : "-",
					   cases[m].may[1] ? cases[m].may[1] : "-",
					   cases[m].may[2] ? cases[m].may[2] : "-", NULL);
			free_pair(&p);
			ASSERT_EQ(n, 0);
		}
}

/* GCC's LTO objects hold bytecode besides (or instead of) code, clang's are
 * no ELF at all */
BOTH(lto_bytecode_noticed)
{
	struct pair p;
	int r;

	extra_flags = "-flto";
	r = build_case(cc, "P_NONE", &p);
	extra_flags = "";
	if (!strcmp(cc, "clang")) {
		ASSERT_EQ(r, -1);
		ASSERT_CONTAINS(hp_err.msg, "LLVM bitcode");
		free_pair(&p);
		return;
	}
	ASSERT_EQ(r, 0);
	ASSERT_TRUE(p.a.lto && p.b.lto);
	free_pair(&p);
}

/* -fno-plt: calls through the GOT are calls, a GOT load is not */
BOTH(no_plt_calls)
{
	struct pair p;
	const struct hp_oref *r;

	extra_flags = "-fno-plt";
	ASSERT_EQ(build_case(cc, "P_NONE", &p), 0);
	extra_flags = "";
	ASSERT_TRUE((r = ref_to_var(&p.a, "other", "printf")) && r->call && r->addend == 0);
	ASSERT_TRUE(r->type == R_X86_64_GOTPCRELX || r->type == R_X86_64_GOTPCREL);
	free_pair(&p);
}

static void cleanup_dir(void)
{
	char cmd[128];

	if (!getenv("HP_OBJDIFF_KEEP") && dir[sizeof(dir) - 2] != 'X') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
}

__attribute__((destructor)) static void at_end(void)
{
	cleanup_dir();
}

TEST_MAIN()
