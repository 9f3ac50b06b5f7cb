/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The target as a file: programs and libraries linked here by gcc from
 * objects built without -ffunction-sections, and each source rebuilt the
 * way `hotpatch build` rebuilds it, placed and verified against them. */
#include "objdiff.h"
#include "symbols.h"
#include "tests.h"
#include "tfile.h"
#include "util.h"

#include <elf.h>
#include <stdarg.h>
#include <unistd.h>

static char dir[] = "/tmp/hp-tfile-XXXXXX";
static bool made;

#define BASE   "-O2 -g -fpatchable-function-entry=7,5"
#define SPLIT  "-ffunction-sections -fdata-sections"
#define ERRMSG hp_err.msg

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	int n;
	va_list ap;

	if (!made && !mkdtemp(dir))
		return -1;
	made = true;
	n = snprintf(cmd, sizeof(cmd), "cd %s && ", dir);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

static int put(const char *name, const char *text)
{
	char p[512];
	FILE *f;

	if (!made && !mkdtemp(dir))
		return -1;
	made = true;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

__attribute__((destructor)) static void cleanup_dir(void)
{
	char cmd[600];

	if (made && !getenv("HP_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
}

static const char *at(const char *name)
{
	static char p[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static int load(const char *name, struct hp_obj *o)
{
	if (hp_obj_load(at(name), o) < 0) {
		fprintf(stderr, "%s: %s\n", name, ERRMSG);
		return -1;
	}
	return 0;
}

static int sym_index(const struct hp_obj *o, const char *name)
{
	for (size_t i = 0; i < o->nsyms; i++)
		if (o->syms[i].defined && !strcmp(o->syms[i].name, name))
			return (int)i;
	return -1;
}

/* Every defined function of o verifies against t's block `b`. */
static int verify_all(const struct hp_tfile *t, int b, const struct hp_obj *o, int *nfuncs)
{
	*nfuncs = 0;
	for (size_t i = 0; i < o->nsyms; i++) {
		if (!o->syms[i].defined || o->syms[i].type != HP_OSYM_FUNC ||
		    o->syms[i].parent >= 0)
			continue;
		if (hp_tfile_verify(t, b, o, i) < 0) {
			fprintf(stderr, "verify %s: %s\n", o->syms[i].name, ERRMSG);
			return -1;
		}
		(*nfuncs)++;
	}
	return 0;
}

/* Two util.c with a static helper and counter each; the first also has
 * only_one, the second only_two, so that their local sets differ. */
static const char util1[] = "static int counter;\n"
			    "static int only_one;\n"
			    "__attribute__((noinline)) static int helper(int x)\n"
			    "{ counter++; return x * 3 + only_one; }\n"
			    "int one(int x) { only_one = x; return helper(x) + helper(x + 1); }\n";
static const char util2[] =
	"static int counter;\n"
	"static long only_two[4];\n"
	"__attribute__((noinline)) static int helper(int x)\n"
	"{ counter += 2; return x + 1 + (int)only_two[x & 3]; }\n"
	"int two(int x) { only_two[x & 3] = x; return helper(x) - helper(x); }\n";
static const char mainc[] = "int one(int); int two(int);\n"
			    "int main(int argc, char **argv) { (void)argv; "
			    "return one(argc) + two(argc); }\n";

static int build_two(const char *cflags, const char *ldflags, const char *exe)
{
	if (sh("mkdir -p d1 d2") < 0 || put("d1/util.c", util1) < 0 ||
	    put("d2/util.c", util2) < 0 || put("main.c", mainc) < 0)
		return -1;
	return sh("gcc %s %s -c d1/util.c -o u1.o && gcc %s %s -c d2/util.c -o u2.o && "
		  "gcc %s %s -c main.c -o main.o && gcc %s u1.o u2.o main.o -o %s && "
		  "gcc %s %s " SPLIT " -c d1/util.c -o u1fs.o && "
		  "gcc %s %s " SPLIT " -c d2/util.c -o u2fs.o",
		  BASE, cflags, BASE, cflags, BASE, cflags, ldflags, exe, BASE, cflags, BASE,
		  cflags);
}

TEST(place_two_util_c)
{
	struct hp_tfile t;
	struct hp_obj o1, o2;
	int b1 = -1, b2 = -1, n;
	const struct hp_tsym *h1, *h2, *c1;

	ASSERT_EQ(build_two("", "-no-pie", "two"), 0);
	ASSERT_EQ(load("u1fs.o", &o1), 0);
	ASSERT_EQ(load("u2fs.o", &o2), 0);
	ASSERT_EQ(hp_tfile_open(at("two"), &t), 0);
	ASSERT_TRUE(t.has_symtab);
	ASSERT_TRUE(!t.pie);
	ASSERT_TRUE(strlen(t.build_id) >= 40);
	ASSERT_EQ(hp_tfile_place(&t, &o1, &b1), 0);
	ASSERT_EQ(hp_tfile_place(&t, &o2, &b2), 0);
	ASSERT_TRUE(b1 != b2);
	ASSERT_STREQ(hp_basename(t.blocks[b1].file), "util.c");
	ASSERT_STREQ(hp_basename(t.blocks[b2].file), "util.c");
	h1 = hp_tfile_sym(&t, b1, &o1, (size_t)sym_index(&o1, "helper"));
	h2 = hp_tfile_sym(&t, b2, &o2, (size_t)sym_index(&o2, "helper"));
	c1 = hp_tfile_sym(&t, b1, &o1, (size_t)sym_index(&o1, "counter"));
	ASSERT_TRUE(h1 && h2 && c1);
	ASSERT_TRUE(h1 != h2 && h1->addr != h2->addr);
	ASSERT_EQ(h1->block, b1);
	ASSERT_EQ(c1->type, STT_OBJECT);
	ASSERT_TRUE(h1->patchable && h2->patchable);
	/* the right block verifies, the other util.c's helper does not */
	ASSERT_EQ(verify_all(&t, b1, &o1, &n), 0);
	ASSERT_EQ(n, 2);
	ASSERT_EQ(verify_all(&t, b2, &o2, &n), 0);
	ASSERT_EQ(hp_tfile_verify(&t, b2, &o1, (size_t)sym_index(&o1, "helper")), -HP_ESOURCE);
	ASSERT_CONTAINS(ERRMSG, "does not reproduce helper in two");
	hp_obj_free(&o1);
	hp_obj_free(&o2);
	hp_tfile_close(&t);
}

TEST(fail_place_missing_local)
{
	struct hp_tfile t;
	struct hp_obj o;
	int b = -1;

	ASSERT_EQ(build_two("", "-no-pie", "two"), 0);
	ASSERT_EQ(put("d1/util.c", "static int counter, only_three;\n"
				   "int three(void) { return counter++ + only_three++; }\n"),
		  0);
	ASSERT_EQ(sh("gcc " BASE " " SPLIT " -c d1/util.c -o u3.o"), 0);
	ASSERT_EQ(load("u3.o", &o), 0);
	ASSERT_EQ(hp_tfile_open(at("two"), &t), 0);
	ASSERT_EQ(hp_tfile_place(&t, &o, &b), -HP_ESOURCE);
	ASSERT_CONTAINS(ERRMSG, "util.c");
	ASSERT_CONTAINS(ERRMSG, "only_three");
	hp_obj_free(&o);
	hp_tfile_close(&t);
}

TEST(fail_place_ambiguous)
{
	struct hp_tfile t;
	struct hp_obj o;
	int b = -1;

	/* two util.c with the same statics: nothing tells them apart */
	ASSERT_EQ(sh("mkdir -p e1 e2"), 0);
	ASSERT_EQ(put("e1/util.c", util1), 0);
	ASSERT_EQ(sh("sed 's/int one(/int uno(/' e1/util.c > e2/util.c && "
		     "echo 'int one(int), uno(int); int main(void) { return one(1) + uno(2); }' "
		     "> amain.c && gcc " BASE " -c e1/util.c -o e1.o && gcc " BASE
		     " -c e2/util.c -o e2.o && gcc e1.o e2.o amain.c -o amb && "
		     "gcc " BASE " " SPLIT " -c e1/util.c -o e1fs.o"),
		  0);
	ASSERT_EQ(load("e1fs.o", &o), 0);
	ASSERT_EQ(hp_tfile_open(at("amb"), &t), 0);
	ASSERT_EQ(hp_tfile_place(&t, &o, &b), -HP_ESOURCE);
	ASSERT_CONTAINS(ERRMSG, "2 files named util.c in amb");
	hp_obj_free(&o);
	hp_tfile_close(&t);
}

static const char work[] =
	"#include <string.h>\n"
	"int work(const char *s, int n)\n"
	"{ int h = 0; for (int i = 0; i < n; i++) { if (s[i] == '*') h = h * 31 + i; "
	"else h ^= (unsigned char)s[i] << (i & 7); } return h + (int)strlen(s); }\n"
	"int main(int argc, char **argv) { return work(argv[0], argc); }\n";

TEST(fail_verify_o1)
{
	struct hp_tfile t;
	struct hp_obj o;
	int b = -1, w;

	ASSERT_EQ(put("work.c", work), 0);
	ASSERT_EQ(sh("gcc " BASE " -c work.c -o work.o && gcc work.o -o work && "
		     "gcc -O1 -g -fpatchable-function-entry=7,5 " SPLIT " -c work.c -o work1.o"),
		  0);
	ASSERT_EQ(load("work1.o", &o), 0);
	ASSERT_EQ(hp_tfile_open(at("work"), &t), 0);
	ASSERT_EQ(hp_tfile_place(&t, &o, &b), 0);
	w = sym_index(&o, "work");
	ASSERT_TRUE(w >= 0);
	ASSERT_EQ(hp_tfile_verify(&t, b, &o, (size_t)w), -HP_ESOURCE);
	ASSERT_CONTAINS(ERRMSG, "rebuilding work.c does not reproduce work in work (first "
				"difference at +0x");
	ASSERT_CONTAINS(ERRMSG, "in the target");
	ASSERT_CONTAINS(ERRMSG, "wrong source version, compiler or flags");
	hp_obj_free(&o);
	hp_tfile_close(&t);
}

/* The same sources as a PIE and as a shared library */
TEST(verify_pie_and_shared)
{
	static const char *const kinds[][3] = {
		{"-fPIE", "-pie", "twopie"},
		{"-fPIC", "-shared", "libtwo.so"},
	};

	for (size_t k = 0; k < HP_ARRAY_SIZE(kinds); k++) {
		struct hp_tfile t;
		struct hp_obj o1, o2;
		int b1 = -1, b2 = -1, n1, n2;

		ASSERT_EQ(build_two(kinds[k][0], kinds[k][1], kinds[k][2]), 0);
		ASSERT_EQ(load("u1fs.o", &o1), 0);
		ASSERT_EQ(load("u2fs.o", &o2), 0);
		ASSERT_EQ(hp_tfile_open(at(kinds[k][2]), &t), 0);
		ASSERT_TRUE(t.pie);
		ASSERT_EQ(hp_tfile_place(&t, &o1, &b1), 0);
		ASSERT_EQ(hp_tfile_place(&t, &o2, &b2), 0);
		ASSERT_EQ(verify_all(&t, b1, &o1, &n1), 0);
		ASSERT_EQ(verify_all(&t, b2, &o2, &n2), 0);
		ASSERT_EQ(n1 + n2, 4);
		ASSERT_TRUE(hp_tfile_sym(&t, b1, &o1, (size_t)sym_index(&o1, "helper"))->patchable);
		hp_obj_free(&o1);
		hp_obj_free(&o2);
		hp_tfile_close(&t);
	}
}

/* Whether the linker rewrote the instruction bytes before any GOTPCRELX
 * field of o->syms[i] (a relaxation the mask has to cover). */
static int relaxed_count(const char *exe, const struct hp_tsym *s, const struct hp_osym *os)
{
	struct hp_elf e;
	uint8_t buf[4096];
	int n = 0;

	if (s->size > sizeof(buf) || hp_elf_open(exe, false, 0, &e) < 0)
		return -1;
	if (hp_elf_vaddr_read(&e, s->addr, buf, s->size) < 0)
		n = -1;
	for (size_t k = 0; n >= 0 && k < os->nrefs; k++) {
		uint64_t off = os->refs[k].offset;

		if ((os->refs[k].type == R_X86_64_GOTPCRELX ||
		     os->refs[k].type == R_X86_64_REX_GOTPCRELX) &&
		    off >= 2 && buf[off - 2] != os->bytes[off - 2])
			n++;
	}
	hp_elf_close(&e);
	return n;
}

TEST(verify_gotpcrelx_relaxed)
{
	static const char use[] = "extern int ext_var; int ext_fn(int);\n"
				  "int use(int x) { return ext_fn(x) + ext_var; }\n";
	static const char def[] =
		"int ext_var = 7;\n"
		"__attribute__((noinline)) int ext_fn(int x) { return x * 5; }\n"
		"int use(int);\n"
		"int main(int argc, char **argv) { (void)argv; return use(argc); }\n";
	ASSERT_EQ(put("use.c", use), 0);
	ASSERT_EQ(put("def.c", def), 0);
	ASSERT_EQ(sh("gcc " BASE " -fPIC -fno-plt -c use.c -o use.o && "
		     "gcc " BASE " -fPIE -c def.c -o def.o && "
		     "gcc " BASE " -fPIC -fno-plt " SPLIT " -c use.c -o usefs.o"),
		  0);
	/* a PIE relaxes the load to a lea, an executable at a fixed address
	 * to a mov of the address; both the call to addr32 call */
	for (int pie = 0; pie < 2; pie++) {
		struct hp_tfile t;
		struct hp_obj o;
		int b = -1, u, n;

		ASSERT_EQ(sh("gcc %s use.o def.o -o relax", pie ? "-pie" : "-no-pie"), 0);
		ASSERT_EQ(load("usefs.o", &o), 0);
		ASSERT_EQ(hp_tfile_open(at("relax"), &t), 0);
		ASSERT_EQ(t.pie, pie);
		ASSERT_EQ(hp_tfile_place(&t, &o, &b), 0);
		u = sym_index(&o, "use");
		ASSERT_TRUE(u >= 0);
		ASSERT_EQ(relaxed_count(at("relax"), hp_tfile_sym(&t, b, &o, (size_t)u),
					&o.syms[u]),
			  2);
		ASSERT_EQ(verify_all(&t, b, &o, &n), 0);
		ASSERT_EQ(n, 1);
		hp_obj_free(&o);
		hp_tfile_close(&t);
	}
}

/* A function split in two: the .cold part is verified with it */
TEST(verify_cold_fragment)
{
	static const char cold[] =
		"#include <stdio.h>\n#include <stdlib.h>\n"
		"__attribute__((cold, noinline)) void oops(const char *m) "
		"{ fprintf(stderr, \"%s\\n\", m); }\n"
		"int checked(int *p, int n) { int s = 0; for (int i = 0; i < n; i++) {"
		" if (__builtin_expect(p[i] < 0, 0)) { oops(\"negative\"); fprintf(stderr, "
		"\"at %d\\n\", i); abort(); } s += p[i]; } return s; }\n"
		"int main(int argc, char **argv) { int v[2] = {argc, 1}; (void)argv; "
		"return checked(v, 2); }\n";
	struct hp_tfile t;
	struct hp_obj o;
	int b = -1, n, c;

	ASSERT_EQ(put("cold.c", cold), 0);
	ASSERT_EQ(sh("gcc " BASE " -c cold.c -o cold.o && gcc cold.o -o cold && "
		     "gcc " BASE " " SPLIT " -c cold.c -o coldfs.o"),
		  0);
	ASSERT_EQ(load("coldfs.o", &o), 0);
	c = sym_index(&o, "checked.cold");
	ASSERT_TRUE(c >= 0);
	ASSERT_EQ(o.syms[c].parent, sym_index(&o, "checked"));
	ASSERT_EQ(hp_tfile_open(at("cold"), &t), 0);
	ASSERT_EQ(hp_tfile_place(&t, &o, &b), 0);
	ASSERT_TRUE(hp_tfile_sym(&t, b, &o, (size_t)c) != NULL);
	ASSERT_EQ(verify_all(&t, b, &o, &n), 0);
	hp_obj_free(&o);
	hp_tfile_close(&t);
}

static const char icf[] = "__attribute__((noinline)) int twin_a(int x) { return x * 7 + 3; }\n"
			  "__attribute__((noinline)) int twin_b(int x) { return x * 7 + 3; }\n"
			  "int main(int argc, char **argv) { (void)argv; "
			  "return twin_a(argc) + twin_b(argc); }\n";
static const char alias[] = "int twin_a(int x) { return x * 7 + 3; }\n"
			    "int twin_b(int) __attribute__((alias(\"twin_a\")));\n"
			    "int main(int argc, char **argv) { (void)argv; "
			    "return twin_a(argc) + twin_b(argc); }\n";

TEST(aliases_icf)
{
	bool gold = access("/usr/bin/ld.gold", X_OK) == 0;
	struct hp_tfile t;
	struct hp_obj o;
	const struct hp_tsym *s, *al[4];
	int b = -1;

	ASSERT_EQ(put("icf.c", gold ? icf : alias), 0);
	ASSERT_EQ(sh("gcc " BASE " " SPLIT " -c icf.c -o icf.o && gcc %s icf.o -o icf",
		     gold ? "-fuse-ld=gold -Wl,--icf=all" : ""),
		  0);
	ASSERT_EQ(load("icf.o", &o), 0);
	ASSERT_EQ(hp_tfile_open(at("icf"), &t), 0);
	ASSERT_EQ(hp_tfile_place(&t, &o, &b), 0);
	s = hp_tfile_sym(&t, b, &o, (size_t)sym_index(&o, "twin_a"));
	ASSERT_TRUE(s != NULL);
	ASSERT_EQ(hp_tfile_aliases(&t, s, al, HP_ARRAY_SIZE(al)), 1);
	ASSERT_STREQ(al[0]->name, "twin_b");
	s = hp_tfile_sym(&t, b, &o, (size_t)sym_index(&o, "main"));
	ASSERT_EQ(hp_tfile_aliases(&t, s, al, HP_ARRAY_SIZE(al)), 0);
	hp_obj_free(&o);
	hp_tfile_close(&t);
}

TEST(fail_no_symtab)
{
	struct hp_tfile t;

	ASSERT_EQ(put("work.c", work), 0);
	ASSERT_EQ(sh("gcc " BASE " work.c -o stripped && strip stripped"), 0);
	ASSERT_EQ(hp_tfile_open(at("stripped"), &t), -HP_EUNSUPPORTED);
	ASSERT_CONTAINS(ERRMSG, ".symtab");
	ASSERT_CONTAINS(ERRMSG, "unstripped");
}

/* A debug file has the symbols but not the code to compare with */
TEST(fail_verify_debug_file)
{
	struct hp_tfile t;
	struct hp_obj o;
	int b = -1;

	ASSERT_EQ(put("work.c", work), 0);
	ASSERT_EQ(sh("gcc " BASE " work.c -o wdbg && objcopy --only-keep-debug wdbg wdbg.debug && "
		     "gcc " BASE " " SPLIT " -c work.c -o wfs.o"),
		  0);
	ASSERT_EQ(load("wfs.o", &o), 0);
	ASSERT_EQ(hp_tfile_open(at("wdbg.debug"), &t), 0);
	ASSERT_EQ(hp_tfile_place(&t, &o, &b), 0);
	ASSERT_EQ(hp_tfile_verify(&t, b, &o, (size_t)sym_index(&o, "work")), -HP_EUSAGE);
	ASSERT_CONTAINS(ERRMSG, "separate debug file");
	hp_obj_free(&o);
	hp_tfile_close(&t);
}

TEST_MAIN()
