/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Compile units.  Only each unit's top DIE is read (its DW_AT_producer and
 * its address ranges, DW_AT_low_pc/high_pc or DW_AT_ranges, through
 * dwarf_ranges); the ranges go into one sorted table answered by binary
 * search, and libdw is closed again.  The DWARF is the object's own, else
 * its debug file's (by build-id, as symbols.c finds it for .symtab).
 *
 * What a producer says of -fipa-ra (GCC 12's toplev.cc and opts.cc): on
 * at -O2, -O3, -Os, -Oz and -Ofast; off at -O0, -O1 and -Og, and with
 * -fno-ipa-ra, -p/-pg, -fpatchable-function-entry=N (N > 0) or
 * -flive-patching, whatever the level; an explicit -fipa-ra wins over the
 * level.  A producer that records switches but no -O is GCC's default,
 * -O0.  A producer without switches (-gno-record-gcc-switches), none at
 * all, or an unknown compiler's is taken as on; GNU AS and clang (no IPRA
 * by default) as off.  "GNU GIMPLE" (the link-time unit) and -flto mark an
 * LTO build, in which callers and callees of many sources share a unit;
 * for its switches only the explicit ones count, as the functions keep
 * the levels they were compiled with.  Not seen: optimize attributes and
 * pragmas, which can change the level of single functions.
 */
#include "cunits.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdlib.h>
#include <string.h>

#include "symbols.h"
#include "util.h"

struct opts {
	int level, explicit_ra; /* -1: not given */
	bool off, patch, lto, switches;
};

/* One switch of a producer string, `n` bytes at `t`. */
static void producer_switch(struct opts *o, const char *t, size_t n)
{
#define IS(s)  (n == sizeof(s) - 1 && !memcmp(t, s, n))
#define HAS(s) (n >= sizeof(s) - 1 && !memcmp(t, s, sizeof(s) - 1))
	o->switches = true;
	if (IS("-O"))
		o->level = 1;
	else if (n >= 3 && t[1] == 'O' && t[2] >= '0' && t[2] <= '9')
		o->level = atoi(t + 2);
	else if (IS("-Os") || IS("-Oz") || IS("-Ofast"))
		o->level = 2;
	else if (IS("-Og"))
		o->level = 1;
	else if (IS("-fipa-ra"))
		o->explicit_ra = 1;
	else if (IS("-fno-ipa-ra"))
		o->explicit_ra = 0;
	else if (IS("-p") || IS("-pg") || IS("-flive-patching") || HAS("-flive-patching="))
		o->off = true;
	else if (HAS("-fpatchable-function-entry="))
		o->patch = atoi(t + sizeof("-fpatchable-function-entry=") - 1) > 0;
	else if (IS("-flto") || HAS("-flto="))
		o->lto = true;
	else if (IS("-fno-lto"))
		o->lto = false;
#undef IS
#undef HAS
}

bool hp_cunits_producer_ipa_ra(const char *p, bool *lto)
{
	struct opts o = {.level = -1, .explicit_ra = -1};
	bool gimple;

	*lto = false;
	if (!p)
		return true;
	if (!strncmp(p, "GNU AS", 6) || strstr(p, "clang"))
		return false;
	if (strncmp(p, "GNU ", 4))
		return true;
	gimple = !strncmp(p, "GNU GIMPLE", 10);
	for (const char *t = strstr(p, " -"); t; t = strstr(t, " -")) {
		t++;
		producer_switch(&o, t, strcspn(t, " "));
	}
	*lto = gimple || o.lto;
	if (o.off || o.patch || o.explicit_ra == 0)
		return false;
	if (o.explicit_ra == 1 || gimple || !o.switches)
		return true;
	return o.level >= 2;
}

/* Executable sections: a range elsewhere is a discarded function's. */
struct execs {
	uint64_t lo[32], hi[32];
	size_t n;
};

/* Whether `elf` has LTO sections; its executable sections into `x`, and
 * whether it has .debug_info (not NOBITS) into `info`. */
static bool scan_sections(Elf *elf, struct execs *x, bool *info)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx = 0;
	bool lto = false;
	GElf_Shdr sh;

	elf_getshdrstrndx(elf, &shstrndx);
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (name &&
		    (!strncmp(name, ".gnu.lto_", 9) || !strncmp(name, ".gnu.debuglto_", 14)))
			lto = true;
		if (name && !strcmp(name, ".debug_info") && sh.sh_type != SHT_NOBITS)
			*info = true;
		if (x && (sh.sh_flags & SHF_EXECINSTR) && x->n < HP_ARRAY_SIZE(x->lo)) {
			x->lo[x->n] = sh.sh_addr;
			x->hi[x->n++] = sh.sh_addr + sh.sh_size;
		}
	}
	return lto;
}

static bool in_execs(const struct execs *x, uint64_t a)
{
	for (size_t i = 0; i < x->n; i++)
		if (a >= x->lo[i] && a < x->hi[i])
			return true;
	return false;
}

static bool is_gcc(const char *p)
{
	return p && !strncmp(p, "GNU ", 4) && strncmp(p, "GNU AS", 6);
}

/* The producer of a unit.  A string in a supplementary file (dwz) is read
 * only from a debug file of root's: libdw would open whatever path the
 * object's .gnu_debugaltlink names (a FIFO would block). */
static const char *unit_producer(Dwarf_Die *cudie, bool trusted)
{
	Dwarf_Attribute attr;
	unsigned form;

	if (!dwarf_attr(cudie, DW_AT_producer, &attr))
		return NULL;
	form = dwarf_whatform(&attr);
	if (!trusted && (form == DW_FORM_GNU_strp_alt || form == DW_FORM_strp_sup))
		return NULL;
	return dwarf_formstring(&attr);
}

static int add_unit(struct hp_cunits *u, Dwarf_Die *cudie, const struct execs *x, bool trusted)
{
	const char *prod = unit_producer(cudie, trusted);
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off = 0;
	bool lto;

	if (hp_grow((void **)&u->ipa_ra, &u->cucap, u->ncus, sizeof(*u->ipa_ra)) < 0)
		return hp_fail(-ENOMEM, "out of memory");
	u->ipa_ra[u->ncus] = hp_cunits_producer_ipa_ra(prod, &lto);
	u->lto |= lto;
	u->ngcc += is_gcc(prod);
	u->non += u->ipa_ra[u->ncus];
	while ((off = dwarf_ranges(cudie, off, &base, &lo, &hi)) > 0) {
		if (hi <= lo || !in_execs(x, lo))
			continue;
		if (hp_grow((void **)&u->ranges, &u->cap, u->nranges, sizeof(*u->ranges)) < 0)
			return hp_fail(-ENOMEM, "out of memory");
		u->ranges[u->nranges++] = (struct hp_cu_range){lo, hi, (uint32_t)u->ncus};
	}
	u->ncus++;
	return 0;
}

/* The units' top DIEs; no split unit is looked for (no subdie asked). */
static int read_units(struct hp_cunits *u, Dwarf *dw, const struct execs *x, bool trusted)
{
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie;
	Dwarf_Half version;
	uint8_t type;
	int r = 0;

	while (r == 0 && dwarf_get_units(dw, cu, &cu, &version, &type, &cudie, NULL) == 0)
		if (type == DW_UT_compile || type == DW_UT_skeleton)
			r = add_unit(u, &cudie, x, trusted);
	return r;
}

static int cmp_range(const void *a, const void *b)
{
	const struct hp_cu_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorted; where two units' ranges overlap, neither unit is known there. */
static void sort_ranges(struct hp_cunits *u)
{
	size_t widest = 0;

	qsort(u->ranges, u->nranges, sizeof(*u->ranges), cmp_range);
	for (size_t i = 1; i < u->nranges; i++) {
		if (u->ranges[i].lo < u->ranges[widest].hi &&
		    u->ranges[i].cu != u->ranges[widest].cu) {
			u->ranges[i].cu = HP_CU_UNKNOWN;
			u->ranges[widest].cu = HP_CU_UNKNOWN;
		}
		if (u->ranges[i].hi > u->ranges[widest].hi)
			widest = i;
	}
}

/* An Elf of its own for libdw, so that the sections it decompresses go
 * with it at elf_end: the debug file's descriptor again, or the object's
 * bytes read into memory; else the hp_elf's own. */
static Elf *dwarf_elf(struct hp_elf *src, bool *own)
{
	Elf *elf = NULL;

	if (src->debug_mapped && src->fd >= 0)
		elf = elf_begin(src->fd, ELF_C_READ_MMAP, NULL);
	else if (src->owned && src->image)
		elf = elf_memory((char *)src->image, src->size);
	*own = elf != NULL;
	return elf ? elf : src->elf;
}

int hp_cunits_load(struct hp_elf *e, struct hp_cunits *u)
{
	struct hp_elf *src = e;
	struct execs x = {.n = 0};
	bool info = false, dinfo = false, own;
	Elf *elf;
	Dwarf *dw;
	int r;

	memset(u, 0, sizeof(*u));
	u->lto = scan_sections(e->elf, &x, &info);
	if (!info)
		src = hp_elf_debug_file(e);
	if (src && src != e)
		u->lto |= scan_sections(src->elf, NULL, &dinfo);
	if (!src)
		return 0;
	elf = dwarf_elf(src, &own);
	dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	r = dw ? read_units(u, dw, &x, src->debug_mapped) : 0;
	if (dw)
		dwarf_end(dw);
	if (own)
		elf_end(elf);
	if (r < 0) {
		hp_cunits_free(u);
		return r;
	}
	u->dwarf = u->ncus > 0;
	sort_ranges(u);
	return 0;
}

void hp_cunits_free(struct hp_cunits *u)
{
	free(u->ranges);
	free(u->ipa_ra);
	memset(u, 0, sizeof(*u));
}

uint32_t hp_cunits_at(const struct hp_cunits *u, uint64_t a)
{
	size_t lo = 0, hi = u->nranges;

	while (lo < hi) {
		size_t m = (lo + hi) / 2;

		if (u->ranges[m].lo <= a)
			lo = m + 1;
		else
			hi = m;
	}
	if (lo && a < u->ranges[lo - 1].hi)
		return u->ranges[lo - 1].cu;
	return HP_CU_UNKNOWN;
}
