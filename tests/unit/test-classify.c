/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The classifier on real objects: classify-cases.so (one crafted function
 * per verdict), classify-ipa.so (GCC's -fipa-ra), and every function of
 * the libc.so.6 this machine has.  Arguments: the cases, the GCC IPA-RA
 * object, the same with -g, with -g -fno-ipa-ra, a non-PIE executable,
 * the objects of ipa_xleaf and its caller (ARG_X* below), and optionally
 * the IPA-RA object built by clang.
 */
#include <stdio.h>
#include <time.h>

#include "classify.h"
#include "cunits.h"
#include "symbols.h"
#include "tests.h"
#include "util.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

enum {
	ARG_XTU = 6,	 /* leaf and caller in two units, -O2 -g */
	ARG_XTU_NODWARF, /* the same without -g */
	ARG_XONE,	 /* in one unit, -O2 -g */
	ARG_XLTO,	 /* in two units, -O2 -g -flto */
	ARG_XNOIPARA,	 /* in one unit at -O2 -fno-ipa-ra, with classify-ipa.c at -O2 */
	ARG_XO1,	 /* in one unit at -O1, with classify-ipa.c at -O2 */
	ARG_CLANG,
};

static struct hp_elf cases;
static bool cases_open;

static struct hp_elf *open_cases(void)
{
	if (!cases_open) {
		if (hp_elf_open(hp_test_argv[1], false, 0, &cases) < 0) {
			fprintf(stderr, "cannot open %s: %s\n", hp_test_argv[1], hp_err.msg);
			exit(1);
		}
		cases_open = true;
	}
	return &cases;
}

/* The verdict on `name` of `e`; exits when the symbol is missing. */
static struct hp_patchability classify(struct hp_elf *e, const char *name)
{
	const struct hp_sym *s;
	struct hp_patchability p;

	if (!hp_elf_lookup(e, name, &s)) {
		fprintf(stderr, "%s: no symbol %s\n", e->path, name);
		exit(1);
	}
	memset(&p, 0xa5, sizeof(p));
	if (hp_classify(e, s, &p) < 0) {
		fprintf(stderr, "%s: %s: %s\n", e->path, name, hp_err.msg);
		exit(1);
	}
	if (p.method == HP_METHOD_REFUSED)
		printf("  %s: refused %s: %s\n", name, p.code, p.reason);
	else
		printf("  %s: method %d, %u bytes\n", name, p.method, p.rel.len);
	return p;
}

static void expect_refused(const char *name, const char *code, const char *words)
{
	struct hp_patchability p = classify(open_cases(), name);

	if (p.method != HP_METHOD_REFUSED)
		FAILX("%s: method %d, expected refused %s", name, p.method, code);
	if (strcmp(p.code, code))
		FAILX("%s: refused as %s (%s), expected %s", name, p.code, p.reason, code);
	if (!strstr(p.reason, name) || !strstr(p.reason, words))
		FAILX("%s: reason \"%s\" lacks the name or \"%s\"", name, p.reason, words);
}

TEST(prologue)
{
	struct hp_patchability p = classify(open_cases(), "c_prologue");

	ASSERT_EQ(p.method, HP_METHOD_PROLOGUE);
	ASSERT_EQ(p.window, p.entry);
	ASSERT_EQ(p.pad, p.entry - 5);
}

TEST(padding_before_push_rbp)
{
	struct hp_patchability p = classify(open_cases(), "c_padding");

	ASSERT_EQ(p.method, HP_METHOD_PADDING);
	ASSERT_EQ(p.pad, p.entry - 5);
	ASSERT_EQ(p.rel.addr, p.entry);
	ASSERT_EQ(p.rel.len, 4); /* push rbp; mov rbp, rsp */
	ASSERT_EQ(p.rel.ninsn, 2);
	ASSERT_TRUE(p.code == NULL);
}

TEST(relocate_riprel_no_filler_before)
{
	struct hp_patchability p = classify(open_cases(), "c_riprel");

	ASSERT_EQ(p.method, HP_METHOD_RELOCATE);
	ASSERT_EQ(p.pad, 0);
	ASSERT_EQ(p.rel.len, 6);  /* mov eax, [rip + x] */
	ASSERT_EQ(p.rel.nfix, 2); /* the operand and the jump back */
}

TEST(tail_jump)
{
	struct hp_patchability p = classify(open_cases(), "c_tail");

	ASSERT_TRUE(p.method == HP_METHOD_RELOCATE || p.method == HP_METHOD_PADDING);
	ASSERT_TRUE(p.rel.ends_function);
}

TEST(short_followed_by_filler)
{
	struct hp_patchability p = classify(open_cases(), "c_shortfill");

	ASSERT_EQ(p.method, HP_METHOD_RELOCATE);
	ASSERT_TRUE(p.rel.ends_function);
	ASSERT_TRUE(p.rel.len >= 5);
}

TEST(short_followed_by_function)
{
	expect_refused("c_short", "short", "shorter than the jump");
}

TEST(loop_back_edge_into_entry_plus_2)
{
	expect_refused("c_loop_into", "branch-into", "c_loop_into+2");
}

TEST(loop_back_edge_to_entry)
{
	struct hp_patchability p = classify(open_cases(), "c_loop_entry");

	ASSERT_TRUE(p.method == HP_METHOD_RELOCATE || p.method == HP_METHOD_PADDING);
}

TEST(call_in_first_bytes)
{
	expect_refused("c_call", "call", "call");
}

TEST(cold_fragment_jumps_inside)
{
	expect_refused("c_cold_target", "branch-into", "c_cold_target.cold");
}

TEST(jump_table_case_inside)
{
	expect_refused("c_jtable", "jump-table", "c_jtable+2");
}

TEST(label_inside)
{
	expect_refused("c_label", "symbol-inside", "symbol starts inside");
}

TEST(fde_inside)
{
	expect_refused("c_fde", "fde-inside", "FDE");
}

TEST(ifunc)
{
	expect_refused("c_ifunc", "ifunc", "resolver");
}

TEST(filler_covered_by_previous_function)
{
	struct hp_patchability p = classify(open_cases(), "c_covered");

	ASSERT_EQ(p.method, HP_METHOD_RELOCATE);
	ASSERT_EQ(p.pad, 0);
}

static struct hp_patchability classify_file(const char *path, const char *name)
{
	struct hp_elf e;
	struct hp_patchability p;

	if (hp_elf_open(path, false, 0, &e) < 0) {
		fprintf(stderr, "cannot open %s: %s\n", path, hp_err.msg);
		exit(1);
	}
	p = classify(&e, name);
	hp_elf_close(&e);
	return p;
}

TEST(ipa_ra_gcc_refused)
{
	for (int i = 2; i <= 3; i++) {
		struct hp_patchability p = classify_file(hp_test_argv[i], "ipa_leaf");

		ASSERT_EQ(p.method, HP_METHOD_REFUSED);
		ASSERT_STREQ(p.code, "ipa-ra");
		ASSERT_CONTAINS(p.reason, "ipa_caller+0x");
		ASSERT_CONTAINS(p.reason, "%r10");
		ASSERT_CONTAINS(p.reason, "-fipa-ra");
	}
	/* a caller's own callee-saved use is no hazard: ipa_caller has no
	 * direct callers */
	ASSERT_TRUE(classify_file(hp_test_argv[2], "ipa_caller").method != HP_METHOD_REFUSED);
}

TEST(ipa_ra_switched_off_accepted)
{
	struct hp_patchability p = classify_file(hp_test_argv[4], "ipa_leaf");

	ASSERT_TRUE(p.method == HP_METHOD_RELOCATE || p.method == HP_METHOD_PADDING);
}

TEST(ipa_ra_clang_accepted)
{
	struct hp_patchability p;

	if (!hp_test_argv[ARG_CLANG]) {
		printf("  skipped: no clang\n");
		return;
	}
	/* the same leaf and caller, but clang has no IPA-RA by default */
	p = classify_file(hp_test_argv[ARG_CLANG], "ipa_leaf");
	ASSERT_TRUE(p.method == HP_METHOD_RELOCATE || p.method == HP_METHOD_PADDING);
}

static void expect_ipa_ra(int arg, const char *name, const char *scope, const char *words)
{
	struct hp_patchability p = classify_file(hp_test_argv[arg], name);

	ASSERT_EQ(p.method, HP_METHOD_REFUSED);
	ASSERT_STREQ(p.code, "ipa-ra");
	ASSERT_CONTAINS(p.reason, scope);
	ASSERT_CONTAINS(p.reason, words);
}

static void expect_patchable(int arg, const char *name)
{
	struct hp_patchability p = classify_file(hp_test_argv[arg], name);

	ASSERT_TRUE(p.method == HP_METHOD_RELOCATE || p.method == HP_METHOD_PADDING);
}

TEST(ipa_ra_caller_in_another_unit_accepted)
{
	/* the same code is refused where no DWARF tells the units apart */
	expect_patchable(ARG_XTU, "ipa_xleaf");
	expect_ipa_ra(ARG_XTU_NODWARF, "ipa_xleaf", "callers in the same object (e.g. ipa_xcaller+",
		      "no DWARF");
}

TEST(ipa_ra_caller_in_the_same_unit_refused)
{
	expect_ipa_ra(ARG_XONE, "ipa_xleaf",
		      "callers in the same translation unit (e.g. ipa_xcaller+", "%r10");
	expect_ipa_ra(ARG_XLTO, "ipa_xleaf", "callers in the same object (e.g. ipa_xcaller+",
		      "an LTO build");
}

TEST(ipa_ra_unit_without_it_accepted)
{
	/* the unit of classify-ipa.c, at -O2, still has it */
	for (int arg = ARG_XNOIPARA; arg <= ARG_XO1; arg++) {
		expect_patchable(arg, "ipa_xleaf");
		expect_ipa_ra(arg, "ipa_leaf",
			      "callers in the same translation unit (e.g. ipa_caller+", "%r10");
	}
}

/* What producers say of -fipa-ra, as GCC 12 and others record them. */
TEST(ipa_ra_producers)
{
	static const struct {
		const char *producer;
		bool ipa_ra, lto;
	} cases[] = {
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -g -O2 -fPIC", true, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -g -O2 -fno-ipa-ra", false, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -O1 -g", false, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -O", false, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -Og", false, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -g", false, false}, /* -O0 */
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -O3 -O1", false, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -O1 -O2", true, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -Os", true, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -Ofast", true, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -O1 -fipa-ra", true, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -O2 -pg", false, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -O2 -fpatchable-function-entry=7,5",
		 false, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -O2 -fpatchable-function-entry=0",
		 true, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -O2 -flive-patching=inline-clone",
		 false, false},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -O2 -flto", true, true},
		{"GNU C17 12.2.0 -mtune=generic -march=x86-64 -O2 -flto=auto -fno-lto", true,
		 false},
		{"GNU GIMPLE 12.2.0 -mtune=generic -march=x86-64 -O0 -fltrans", true, true},
		{"GNU GIMPLE 12.2.0 -mtune=generic -march=x86-64 -fno-ipa-ra -fltrans", false,
		 true},
		{"GNU C17 12.2.0", true, false}, /* -gno-record-gcc-switches */
		{"GNU C++17 12.2.0 -mtune=generic -march=x86-64 -O2", true, false},
		{"GNU AS 2.40", false, false},
		{"Debian clang version 14.0.6", false, false},
		{"some other compiler 1.0", true, false},
		{NULL, true, false},
	};

	for (size_t i = 0; i < HP_ARRAY_SIZE(cases); i++) {
		bool lto = !cases[i].lto;

		if (hp_cunits_producer_ipa_ra(cases[i].producer, &lto) != cases[i].ipa_ra ||
		    lto != cases[i].lto)
			FAILX("\"%s\": expected ipa-ra %d lto %d", cases[i].producer ?: "(null)",
			      cases[i].ipa_ra, cases[i].lto);
	}
}

TEST(non_pie_absolute_table_and_pointer)
{
	struct hp_patchability p = classify_file(hp_test_argv[5], "n_jtable");

	ASSERT_EQ(p.method, HP_METHOD_REFUSED);
	ASSERT_STREQ(p.code, "jump-table");
	ASSERT_CONTAINS(p.reason, "n_jtable+2");
	p = classify_file(hp_test_argv[5], "n_pointed");
	ASSERT_EQ(p.method, HP_METHOD_REFUSED);
	ASSERT_STREQ(p.code, "branch-into");
	ASSERT_CONTAINS(p.reason, "a pointer in data");
	ASSERT_EQ(classify_file(hp_test_argv[5], "n_plain").method, HP_METHOD_RELOCATE);
}

/* Every function of `path`: no failure, the counts by verdict. */
static void classify_all(const char *path, size_t *ret_pad, size_t *ret_rel)
{
	static const char *const methods[] = {"refused", "prologue", "padding", "relocate"};
	struct hp_sym *const *fns;
	struct hp_elf e;
	size_t n, count[4] = {0}, ntags = 0;
	struct {
		const char *code;
		size_t n;
	} tags[32];
	uint64_t t0, t1;
	clock_t c0;

	if (hp_elf_open(path, false, 0, &e) < 0)
		FAILX("cannot open %s: %s", path, hp_err.msg);
	n = hp_elf_funcs(&e, &fns);
	t0 = hp_now_ns();
	c0 = clock();
	for (size_t i = 0; i < n; i++) {
		struct hp_patchability p;

		if (hp_classify(&e, fns[i], &p) < 0)
			FAILX("%s: %s: %s", path, fns[i]->name, hp_err.msg);
		if (i == 0)
			t1 = hp_now_ns();
		count[p.method]++;
		if (p.method != HP_METHOD_REFUSED)
			continue;
		size_t k = 0;
		while (k < ntags && strcmp(tags[k].code, p.code))
			k++;
		if (k == ntags && ntags < HP_ARRAY_SIZE(tags))
			tags[ntags++].code = p.code, tags[k].n = 0;
		if (k < ntags)
			tags[k].n++;
	}
	printf("  %s: %zu functions in %.3f s, %.3f s of CPU (the code index %.3f s of it)\n", path,
	       n, (double)(hp_now_ns() - t0) / 1e9, (double)(clock() - c0) / CLOCKS_PER_SEC,
	       n ? (double)(t1 - t0) / 1e9 : 0.0);
	for (int m = 0; m < 4; m++)
		printf("    %-9s %zu\n", methods[m], count[m]);
	for (size_t k = 0; k < ntags; k++)
		printf("      %-14s %zu\n", tags[k].code, tags[k].n);
	hp_elf_close(&e);
	*ret_pad = count[HP_METHOD_PADDING];
	*ret_rel = count[HP_METHOD_RELOCATE];
}

TEST(every_function_of_the_cases)
{
	size_t pad, rel;

	classify_all(hp_test_argv[1], &pad, &rel);
	ASSERT_TRUE(pad > 0);
	ASSERT_TRUE(rel > 0);
}

TEST(every_function_of_libc)
{
	size_t pad, rel;

	classify_all(LIBC, &pad, &rel);
	ASSERT_TRUE(pad > 0);
	ASSERT_TRUE(rel > 0);
}

TEST_MAIN()
