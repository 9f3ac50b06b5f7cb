/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The classifier works on the file only.  What it proves, once per object
 * (the code index): every direct branch, call, loop and xbegin target,
 * every rip-relative operand's target, the entries of PIC jump tables
 * (lea T(%rip) of a non-executable address, int32 entries while T + entry
 * stays inside the function holding the lea) and of absolute ones (jmp
 * [disp32 + reg*8]), and the data relocations that point into code.  The
 * unwind entries come from .eh_frame, parsed here: one pass into a sorted
 * table answers "does an FDE cover or start in [a, b)" by binary search,
 * where libdw's dwarf_cfi_addrframe answers one address at a time.
 *
 * What is accepted, and why:
 * - found padding: the 5 bytes before the entry decode as nop/int3 ending
 *   exactly at the entry, lie past the previous function's end, and
 *   nothing (symbol, FDE, reference) starts in or points at them;
 * - a target exactly at the window (or the entry) is fine: it behaves as a
 *   call of the replacement; a target in bytes 1..len-1 of the displaced
 *   instructions is refused, as is any call among them (a return address
 *   or an unwinder would see the trampoline);
 * - IPA-RA: an object whose .comment (or its debug file's) does not say
 *   GCC is not affected (clang has no IPA-RA by default); an object with
 *   no .comment is taken as GCC's.  A function with direct callers in the
 *   object whose transitive clobber set (its own writes and those of the
 *   functions it calls or jumps to directly, 64 at most) misses a SysV
 *   caller-saved register is refused: those callers may keep it live.  An
 *   indirect call or jump, or one through the PLT, means the full set.
 *   The DWARF refinement (callers in another translation unit, or a
 *   producer with -fno-ipa-ra) is not done: such functions are refused.
 */
#include "classify.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "prologue.h"
#include "symbols.h"
#include "util.h"

enum ref_kind {
	REF_CALL,
	REF_JMP, /* jmp, jcc, loop, jrcxz, xbegin */
	REF_RIP, /* a rip-relative operand */
	REF_TABLE,
	REF_DATA,
};

struct ref {
	uint64_t target, source;
	uint8_t kind;
};

struct fde {
	uint64_t start, end;
};

struct hp_codeindex {
	struct ref *refs;
	size_t nrefs, cap;
	struct fde *fdes;
	uint64_t *maxend; /* the largest end among fdes[0..i] */
	size_t nfdes, fcap;
	uint64_t *symstart; /* every symbol's start, sorted */
	size_t nsyms;
	struct {
		uint64_t lo, hi;
	} exec[32], plt[4]; /* executable sections; PLT stubs */
	size_t nexec, nplt;
	bool gcc;
};

static int add_ref(struct hp_codeindex *ix, uint64_t target, uint64_t source, int kind)
{
	if (hp_grow((void **)&ix->refs, &ix->cap, ix->nrefs, sizeof(*ix->refs)) < 0)
		return hp_fail(-ENOMEM, "out of memory");
	ix->refs[ix->nrefs++] = (struct ref){target, source, (uint8_t)kind};
	return 0;
}

static bool in_exec(const struct hp_codeindex *ix, uint64_t a)
{
	for (size_t i = 0; i < ix->nexec; i++)
		if (a >= ix->exec[i].lo && a < ix->exec[i].hi)
			return true;
	return false;
}

static bool in_plt(const struct hp_codeindex *ix, uint64_t a)
{
	for (size_t i = 0; i < ix->nplt; i++)
		if (a >= ix->plt[i].lo && a < ix->plt[i].hi)
			return true;
	return false;
}

/* The relative field of a direct branch: its length (1, 2 or 4) from the
 * opcode after the prefixes, or 0 when it is not one. */
static int direct_rel(const uint8_t *b, size_t size, int *kind)
{
	size_t i = 0;

	while (i < size && (b[i] == 0x66 || b[i] == 0x67 || b[i] == 0xf2 || b[i] == 0xf3 ||
			    b[i] == 0x2e || b[i] == 0x3e || (b[i] & 0xf0) == 0x40))
		i++;
	if (i >= size)
		return 0;
	*kind = b[i] == 0xe8 ? REF_CALL : REF_JMP;
	if (b[i] == 0xe8 || b[i] == 0xe9 || b[i] == 0xeb || (b[i] >= 0x70 && b[i] <= 0x7f) ||
	    (b[i] >= 0xe0 && b[i] <= 0xe3))
		return (int)(size - i - 1);
	if (b[i] == 0x0f && i + 1 < size && b[i + 1] >= 0x80 && b[i + 1] <= 0x8f)
		return (int)(size - i - 2);
	if (b[i] == 0xc7 && i + 1 < size && b[i + 1] == 0xf8)
		return (int)(size - i - 2);
	return 0;
}

static uint64_t rel_target(const cs_insn *in, int n)
{
	int64_t rel;

	if (n == 1)
		rel = (int8_t)in->bytes[in->size - 1];
	else if (n == 2)
		rel = (int16_t)(in->bytes[in->size - 2] | in->bytes[in->size - 1] << 8);
	else {
		int32_t r32;

		memcpy(&r32, in->bytes + in->size - 4, 4);
		rel = r32;
	}
	return in->address + in->size + (uint64_t)rel;
}

/* "[rip + 0x12]" in the operands: the address it names. */
static bool rip_target(const cs_insn *in, uint64_t *ret)
{
	const char *p = strstr(in->op_str, "[rip");
	char *end;
	uint64_t d;

	if (!p)
		return false;
	p += 4;
	if (*p == ']') {
		*ret = in->address + in->size;
		return true;
	}
	if (p[0] != ' ' || (p[1] != '+' && p[1] != '-'))
		return false;
	d = strtoull(p + 3, &end, 0);
	*ret = in->address + in->size + (p[1] == '+' ? d : -d);
	return true;
}

/* The extent of the function holding `a`: its symbol, else its FDE. */
static bool func_extent(struct hp_elf *e, struct hp_codeindex *ix, uint64_t a, uint64_t *lo,
			uint64_t *hi)
{
	const struct hp_sym *s = hp_elf_func_at(e, a);

	if (s && s->size) {
		*lo = s->value;
		*hi = s->value + s->size;
		return true;
	}
	for (size_t i = 0; i < ix->nfdes; i++) /* rare: no symbol */
		if (a >= ix->fdes[i].start && a < ix->fdes[i].end) {
			*lo = ix->fdes[i].start;
			*hi = ix->fdes[i].end;
			return true;
		}
	return false;
}

/* A jump table at `t`: entries while they land inside the function that
 * holds the instruction at `src`. */
static int jump_table(struct hp_elf *e, struct hp_codeindex *ix, uint64_t t, uint64_t src,
		      bool absolute)
{
	uint64_t lo, hi;

	if (!func_extent(e, ix, src, &lo, &hi))
		return 0;
	for (unsigned i = 0; i < 4096; i++) {
		uint64_t dest;

		if (absolute) {
			if (hp_elf_vaddr_read(e, t + 8 * i, &dest, 8) < 0)
				break;
		} else {
			int32_t v;

			if (hp_elf_vaddr_read(e, t + 4 * i, &v, 4) < 0)
				break;
			dest = t + (uint64_t)(int64_t)v;
		}
		if (dest < lo || dest >= hi)
			break;
		if (add_ref(ix, dest, src, REF_TABLE) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int index_insn(struct hp_elf *e, struct hp_codeindex *ix, const cs_insn *in)
{
	int kind = 0, n;
	uint64_t t;

	if (in->id == 0)
		return 0;
	n = direct_rel(in->bytes, in->size, &kind);
	if (n == 1 || n == 2 || n == 4)
		return add_ref(ix, rel_target(in, n), in->address, kind);
	if (rip_target(in, &t)) {
		if (add_ref(ix, t, in->address, REF_RIP) < 0)
			return -ENOMEM;
		if (in->id == X86_INS_LEA && !in_exec(ix, t))
			return jump_table(e, ix, t, in->address, false);
		return 0;
	}
	/* non-PIE: jmp qword ptr [rax*8 + 0x4a0000], no base register */
	if (in->id == X86_INS_JMP && e->ehdr.e_type == ET_EXEC &&
	    !strncmp(in->op_str, "qword ptr [", 11)) {
		const char *p = strstr(in->op_str, "*8 + 0x");

		if (p && !memchr(in->op_str, '+', (size_t)(p - in->op_str)))
			return jump_table(e, ix, strtoull(p + 5, NULL, 0), in->address, true);
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One section swept, restarting at every function start so that data in
 * the text cannot desynchronise the decoding past the next function. */
static int sweep(struct hp_elf *e, struct hp_codeindex *ix, const struct hp_cs *cs,
		 const uint8_t *data, uint64_t lo, uint64_t hi, cs_insn *in)
{
	size_t k = 0;
	uint64_t addr = lo;

	while (k < ix->nsyms && ix->symstart[k] <= lo)
		k++;
	while (addr < hi) {
		uint64_t stop = k < ix->nsyms && ix->symstart[k] < hi ? ix->symstart[k] : hi;
		const uint8_t *p = data + (addr - lo);
		size_t size = stop - addr;

		while (size && cs->disasm_iter(cs->fast, &p, &size, &addr, in))
			if (index_insn(e, ix, in) < 0)
				return -ENOMEM;
		addr = stop;
		k++;
	}
	return 0;
}

static int sweep_all(struct hp_elf *e, struct hp_codeindex *ix)
{
	const struct hp_cs *cs;
	Elf_Scn *scn = NULL;
	size_t shstrndx = 0;
	cs_insn *in;
	int r;

	r = hp_cs_get(&cs);
	if (r < 0)
		return r;
	in = cs->malloc_insn(cs->fast);
	if (!in)
		return hp_fail(-ENOMEM, "out of memory");
	elf_getshdrstrndx(e->elf, &shstrndx);
	while ((scn = elf_nextscn(e->elf, scn)) && r == 0) {
		GElf_Shdr sh;
		Elf_Data *d;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_EXECINSTR))
			continue;
		name = elf_strptr(e->elf, shstrndx, sh.sh_name);
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf || d->d_size != sh.sh_size)
			continue;
		if (name && !strncmp(name, ".plt", 4))
			continue; /* stubs: their targets are other objects' */
		r = sweep(e, ix, cs, d->d_buf, sh.sh_addr, sh.sh_addr + sh.sh_size, in);
	}
	cs->free(in, 1);
	return r;
}

static void sections(struct hp_elf *e, struct hp_codeindex *ix)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx = 0;
	const uint8_t *c;
	GElf_Shdr sh;

	elf_getshdrstrndx(e->elf, &shstrndx);
	while ((scn = elf_nextscn(e->elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_EXECINSTR))
			continue;
		name = elf_strptr(e->elf, shstrndx, sh.sh_name);
		if (ix->nexec < HP_ARRAY_SIZE(ix->exec)) {
			ix->exec[ix->nexec].lo = sh.sh_addr;
			ix->exec[ix->nexec++].hi = sh.sh_addr + sh.sh_size;
		}
		if (name && !strncmp(name, ".plt", 4) && ix->nplt < HP_ARRAY_SIZE(ix->plt)) {
			ix->plt[ix->nplt].lo = sh.sh_addr;
			ix->plt[ix->nplt++].hi = sh.sh_addr + sh.sh_size;
		}
	}
	/* the producer: this file's .comment, or its debug file's */
	ix->gcc = true;
	c = hp_elf_section(e, ".comment", &sh);
	if (!c && e->debug)
		c = hp_elf_section(e->debug, ".comment", &sh);
	if (c) {
		ix->gcc = false;
		for (size_t i = 0; i + 4 <= sh.sh_size; i++)
			if (!memcmp(c + i, "GCC:", 4))
				ix->gcc = true;
	}
}

static int symbol_starts(struct hp_elf *e, struct hp_codeindex *ix)
{
	int r = hp_elf_load_symbols(e);

	if (r < 0)
		return r;
	ix->symstart = calloc(e->nsyms + 1, sizeof(*ix->symstart));
	if (!ix->symstart)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < e->nsyms; i++)
		if (e->syms[i].type != STT_TLS && e->syms[i].shndx != SHN_ABS)
			ix->symstart[ix->nsyms++] = e->syms[i].value;
	qsort(ix->symstart, ix->nsyms, sizeof(*ix->symstart), cmp_u64);
	return 0;
}

static int data_refs(struct hp_elf *e, struct hp_codeindex *ix)
{
	const struct hp_elf_rel *rl;
	size_t n = hp_elf_relocs(e, &rl);

	for (size_t i = 0; i < n; i++) {
		uint64_t t;

		if (rl[i].type == R_X86_64_RELATIVE || rl[i].type == R_X86_64_IRELATIVE)
			t = (uint64_t)rl[i].addend;
		else if (rl[i].type == R_X86_64_64 && rl[i].sym < e->ndynsyms &&
			 e->dynsyms[rl[i].sym].st_shndx != SHN_UNDEF)
			t = e->dynsyms[rl[i].sym].st_value + (uint64_t)rl[i].addend;
		else
			continue;
		if (in_exec(ix, t) && add_ref(ix, t, rl[i].offset, REF_DATA) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* A DWARF-encoded pointer of .eh_frame at p (vaddr `at`); false if unknown. */
static bool eh_ptr(const uint8_t *p, const uint8_t *end, uint8_t enc, uint64_t at, uint64_t *ret,
		   size_t *len)
{
	int64_t v;

	switch (enc & 0x0f) {
	case 0x00:
	case 0x04:
	case 0x0c:
		if (end - p < 8)
			return false;
		memcpy(&v, p, 8);
		*len = 8;
		break;
	case 0x03:
	case 0x0b:
		if (end - p < 4)
			return false;
		{
			int32_t s;
			uint32_t u;

			memcpy(&s, p, 4);
			memcpy(&u, p, 4);
			v = (enc & 0x0f) == 0x0b ? s : (int64_t)u;
		}
		*len = 4;
		break;
	default:
		return false;
	}
	*ret = (uint64_t)v + ((enc & 0x70) == 0x10 ? at : 0);
	return true;
}

static uint64_t uleb(const uint8_t **p, const uint8_t *end)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (*p < end) {
		uint8_t b = *(*p)++;

		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
	}
	return v;
}

/* The FDE pointer encoding of the CIE at `c` (its length field). */
static uint8_t cie_encoding(const uint8_t *c, const uint8_t *end)
{
	uint32_t len;
	const uint8_t *p = c + 8, *aug;
	uint8_t version;

	memcpy(&len, c, 4);
	if (len == 0xffffffff || c + 4 + len > end || len < 8)
		return 0xff;
	end = c + 4 + len;
	version = *p++;
	aug = p;
	p += strnlen((const char *)p, (size_t)(end - p)) + 1;
	if (aug[0] != 'z')
		return 0x00;
	uleb(&p, end); /* code alignment */
	uleb(&p, end); /* data alignment (sleb, skipped alike) */
	if (version == 1)
		p++;
	else
		uleb(&p, end);
	uleb(&p, end); /* augmentation length */
	for (const uint8_t *a = aug + 1; *a && p < end; a++) {
		if (*a == 'R')
			return *p;
		if (*a == 'L')
			p++;
		else if (*a == 'P') {
			uint64_t x;
			size_t l = 0;

			if (!eh_ptr(p + 1, end, p[0], 0, &x, &l))
				return 0xff;
			p += 1 + l;
		} else if (*a != 'S' && *a != 'B')
			return 0xff;
	}
	return 0x00;
}

static int parse_eh_frame(struct hp_elf *e, struct hp_codeindex *ix)
{
	GElf_Shdr sh;
	const uint8_t *d = hp_elf_section(e, ".eh_frame", &sh), *end, *p;

	if (!d)
		return 0;
	end = d + sh.sh_size;
	for (p = d; end - p >= 8;) {
		uint32_t len, id;
		const uint8_t *rec = p;
		uint64_t start, range;
		size_t l1, l2;
		uint8_t enc;

		memcpy(&len, p, 4);
		if (len == 0 || len == 0xffffffff || (size_t)(end - p) - 4 < len)
			break;
		p += 4 + len;
		memcpy(&id, rec + 4, 4);
		if (id == 0 || len < 8 || (size_t)(rec + 4 - d) < id)
			continue; /* a CIE */
		enc = cie_encoding(rec + 4 - id, end);
		if (enc == 0xff ||
		    !eh_ptr(rec + 8, p, enc, sh.sh_addr + (uint64_t)(rec + 8 - d), &start, &l1) ||
		    !eh_ptr(rec + 8 + l1, p, enc & 0x0f, 0, &range, &l2) || !range)
			continue;
		if (hp_grow((void **)&ix->fdes, &ix->fcap, ix->nfdes, sizeof(*ix->fdes)) < 0)
			return hp_fail(-ENOMEM, "out of memory");
		ix->fdes[ix->nfdes++] = (struct fde){start, start + range};
	}
	qsort(ix->fdes, ix->nfdes, sizeof(*ix->fdes), cmp_u64); /* by start */
	ix->maxend = calloc(ix->nfdes + 1, sizeof(*ix->maxend));
	if (!ix->maxend)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < ix->nfdes; i++)
		ix->maxend[i] = HP_MAX(ix->fdes[i].end, i ? ix->maxend[i - 1] : 0);
	return 0;
}

static int cmp_ref(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;

	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	return x->source < y->source ? -1 : x->source > y->source;
}

void hp_codeindex_free(struct hp_codeindex *ix)
{
	if (!ix)
		return;
	free(ix->refs);
	free(ix->fdes);
	free(ix->maxend);
	free(ix->symstart);
	free(ix);
}

static void codeindex_free_any(void *ix)
{
	hp_codeindex_free(ix);
}

static int codeindex_get(struct hp_elf *e, struct hp_codeindex **ret)
{
	struct hp_codeindex *ix;
	int r;

	if (e->codeix) {
		*ret = e->codeix;
		return 0;
	}
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return hp_fail(-ENOMEM, "out of memory");
	sections(e, ix);
	r = symbol_starts(e, ix);
	if (r == 0)
		r = parse_eh_frame(e, ix);
	if (r == 0)
		r = sweep_all(e, ix);
	if (r == 0)
		r = data_refs(e, ix);
	if (r < 0) {
		hp_codeindex_free(ix);
		return r;
	}
	qsort(ix->refs, ix->nrefs, sizeof(*ix->refs), cmp_ref);
	e->codeix = ix;
	e->codeix_free = codeindex_free_any;
	*ret = ix;
	return 0;
}

/* The first reference into [lo, hi), but for direct branches from inside
 * [xlo, xhi): the displaced bytes, whose copy the relocator re-targets
 * (a jump table's or a pointer's "source" names no code that moves). */
static const struct ref *ref_into(const struct hp_codeindex *ix, uint64_t lo, uint64_t hi,
				  uint64_t xlo, uint64_t xhi)
{
	size_t a = 0, b = ix->nrefs;

	while (a < b) {
		size_t m = (a + b) / 2;

		if (ix->refs[m].target < lo)
			a = m + 1;
		else
			b = m;
	}
	for (; a < ix->nrefs && ix->refs[a].target < hi; a++)
		if (ix->refs[a].source < xlo || ix->refs[a].source >= xhi ||
		    (ix->refs[a].kind != REF_CALL && ix->refs[a].kind != REF_JMP))
			return &ix->refs[a];
	return NULL;
}

static bool sym_in(const struct hp_codeindex *ix, uint64_t lo, uint64_t hi)
{
	size_t a = 0, b = ix->nsyms;

	while (a < b) {
		size_t m = (a + b) / 2;

		if (ix->symstart[m] < lo)
			a = m + 1;
		else
			b = m;
	}
	return a < ix->nsyms && ix->symstart[a] < hi;
}

/* The number of FDEs with start < x. */
static size_t fde_before(const struct hp_codeindex *ix, uint64_t x)
{
	size_t a = 0, b = ix->nfdes;

	while (a < b) {
		size_t m = (a + b) / 2;

		if (ix->fdes[m].start < x)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

static bool fde_starts_in(const struct hp_codeindex *ix, uint64_t lo, uint64_t hi)
{
	size_t a = fde_before(ix, lo);

	return a < ix->nfdes && ix->fdes[a].start < hi;
}

static bool fde_covers(const struct hp_codeindex *ix, uint64_t lo, uint64_t hi)
{
	size_t a = fde_before(ix, hi);

	return a && ix->maxend[a - 1] > lo;
}

static const struct fde *fde_at(const struct hp_codeindex *ix, uint64_t start)
{
	size_t a = fde_before(ix, start);

	return a < ix->nfdes && ix->fdes[a].start == start ? &ix->fdes[a] : NULL;
}

static const char *kind_name(int kind)
{
	static const char *const names[] = {"a call", "a jump", "a rip-relative operand",
					    "a jump table", "a pointer in data"};

	return names[kind];
}

/* "name+0x12" for an address, or the address alone. */
static void where(struct hp_elf *e, uint64_t a, char *out, size_t n)
{
	const struct hp_sym *s = hp_elf_func_at(e, a);

	if (s)
		snprintf(out, n, "%s+0x%" PRIx64 " (0x%" PRIx64 ")", s->name, a - s->value, a);
	else
		snprintf(out, n, "0x%" PRIx64, a);
}

static void refuse(struct hp_patchability *p, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refuse(struct hp_patchability *p, const char *code, const char *fmt, ...)
{
	va_list ap;

	p->method = HP_METHOD_REFUSED;
	p->code = code;
	va_start(ap, fmt);
	vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
	va_end(ap);
}

/* What one classification works with. */
struct ctx {
	struct hp_elf *e;
	struct hp_codeindex *ix;
	const struct hp_sym *fn;
	uint64_t lo, hi; /* the function's extent */
	uint8_t buf[HP_PRO_BEFORE + 64];
	uint64_t buf_addr;
	size_t len;
	struct hp_patchability *p;
};

/* The bytes of the ctx's buffer from `a` on, and how many. */
static const uint8_t *at(const struct ctx *c, uint64_t a, size_t *n)
{
	if (a < c->buf_addr || a >= c->buf_addr + c->len) {
		*n = 0;
		return c->buf;
	}
	*n = c->len - (size_t)(a - c->buf_addr);
	return c->buf + (a - c->buf_addr);
}

/* The displaced instructions, before the relocator sees them: a call, or
 * the function's end before `min` bytes. */
static bool precheck(struct ctx *c, size_t min, bool *short_fn)
{
	const struct hp_cs *cs;
	cs_insn *in = NULL;
	size_t n, avail, used = 0;
	const uint8_t *b = at(c, c->p->window, &avail);
	bool ok = true;

	*short_fn = false;
	if (hp_cs_get(&cs) < 0) {
		hp_error_clear();
		return true;
	}
	n = cs->disasm(cs->handle, b, avail, c->p->window, HP_RELOC_MAXINSN, &in);
	for (size_t i = 0; i < n && used < min && ok; i++) {
		if (in[i].id == X86_INS_CALL) {
			char w[160];

			where(c->e, in[i].address, w, sizeof(w));
			refuse(c->p, "call",
			       "%s: the first bytes hold a call (%s %s at %s): its return address "
			       "would point into the displaced bytes; patch the callers instead",
			       c->fn->name, in[i].mnemonic, in[i].op_str, w);
			ok = false;
		}
		used += in[i].size;
		if (in[i].id == X86_INS_RET || in[i].id == X86_INS_JMP) {
			*short_fn = used < min;
			/* what follows the function's end is not its call */
			if (*short_fn && in[i].address + in[i].size >= c->hi)
				break;
		}
	}
	if (in)
		cs->free(in, n);
	return ok;
}

/* The displaced region (window, window + len) and the filler past the
 * function's end: nothing may start in, point into or cover them. */
static bool region_ok(struct ctx *c, const struct hp_reloc *rel)
{
	uint64_t w = c->p->window, end = w + rel->len;
	const struct ref *r;
	char src[160];

	if (sym_in(c->ix, w + 1, end) ||
	    (end > c->hi && sym_in(c->ix, HP_MAX(c->hi, w + 1), end))) {
		refuse(c->p, "symbol-inside",
		       "%s: a symbol starts inside the %u bytes a jump at 0x%" PRIx64
		       " would displace (another entry point or a label)",
		       c->fn->name, rel->len, w);
		return false;
	}
	if (fde_starts_in(c->ix, w + 1, end) || (end > c->hi && fde_covers(c->ix, c->hi, end))) {
		refuse(c->p, "fde-inside",
		       "%s: an unwind entry (.eh_frame FDE) starts inside the %u bytes a jump at "
		       "0x%" PRIx64 " would displace",
		       c->fn->name, rel->len, w);
		return false;
	}
	r = ref_into(c->ix, w + 1, end, w, end);
	if (r) {
		where(c->e, r->source, src, sizeof(src));
		refuse(c->p, r->kind == REF_TABLE ? "jump-table" : "branch-into",
		       "%s: %s at %s targets %s+%" PRIu64
		       ", inside the %u bytes a jump would displace: a thread that takes it "
		       "would run the middle of the jump",
		       c->fn->name, kind_name(r->kind), src, c->fn->name, r->target - c->p->entry,
		       rel->len);
		return false;
	}
	return true;
}

static void reloc_refused(struct ctx *c, bool short_fn)
{
	if (short_fn)
		refuse(c->p, "short",
		       "%s is shorter than the jump and no proven filler follows it: %s",
		       c->fn->name, hp_err.msg);
	else
		refuse(c->p, "unrelocatable", "%s: %s", c->fn->name, hp_err.msg);
	hp_error_clear();
}

/* One tier: relocate the instructions covering `min` bytes at the window. */
static bool try_tier(struct ctx *c, size_t min)
{
	size_t avail;
	const uint8_t *b = at(c, c->p->window, &avail);
	struct hp_reloc rel;
	bool short_fn;

	if (!precheck(c, min, &short_fn))
		return false;
	if (c->hi < c->p->window + min && !short_fn)
		short_fn = true;
	if (hp_reloc_build(b, avail, c->p->window, min, c->hi, &rel) < 0) {
		reloc_refused(c, short_fn);
		return false;
	}
	if (!region_ok(c, &rel))
		return false;
	c->p->rel = rel;
	return true;
}

/* nop and int3 only, from `s` to exactly the entry. */
static bool filler_from(const struct ctx *c, uint64_t s)
{
	const struct hp_cs *cs;
	cs_insn *in = NULL;
	size_t n, avail, covered = 0;
	const uint8_t *b = at(c, s, &avail);
	bool ok = true;

	if (avail < c->p->entry - s || hp_cs_get(&cs) < 0)
		return false;
	n = cs->disasm(cs->fast, b, (size_t)(c->p->entry - s), s, 0, &in);
	for (size_t i = 0; i < n; i++) {
		if (in[i].id != X86_INS_NOP && in[i].id != X86_INS_INT3)
			ok = false;
		covered += in[i].size;
	}
	if (in)
		cs->free(in, n);
	return ok && n && covered == c->p->entry - s;
}

/* The 5 bytes before the entry are filler nothing executes or names. */
static bool padding_proven(struct ctx *c)
{
	uint64_t pad = c->p->entry - HP_PAD_LEN;
	bool filler = false;

	for (uint64_t a = pad; a < c->p->entry; a++) {
		const struct hp_sym *s = hp_elf_func_at(c->e, a);

		if (s && s->value != c->p->entry)
			return false;
	}
	if (sym_in(c->ix, pad, c->p->entry) || fde_covers(c->ix, pad, c->p->entry) ||
	    ref_into(c->ix, pad, c->p->entry, 0, 0))
		return false;
	for (uint64_t s = c->p->entry - 15; s <= pad && !filler; s++)
		filler = filler_from(c, s);
	return filler;
}

/* SysV caller-saved registers: rax rcx rdx rsi rdi r8-r11, then xmm0-15. */
#define NGPR	    9
#define ABI_CLOBBER ((1u << (NGPR + 16)) - 1)
#define MAX_CALLEES 64

static const char *const reg_names[NGPR] = {"rax", "rcx", "rdx", "rsi", "rdi",
					    "r8",  "r9",  "r10", "r11"};

static uint32_t reg_bit(unsigned r)
{
	static const uint16_t gpr[][4] = {
		{X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL},
		{X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL},
		{X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL},
		{X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL},
		{X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL},
		{X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B},
		{X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B},
		{X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B},
		{X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B},
	};

	for (int i = 0; i < NGPR; i++)
		for (int k = 0; k < 4; k++)
			if (gpr[i][k] == r)
				return 1u << i;
	if (r == X86_REG_AH || r == X86_REG_CH || r == X86_REG_DH)
		return r == X86_REG_AH ? 1u : r == X86_REG_CH ? 2u : 4u;
	if (r >= X86_REG_XMM0 && r <= X86_REG_XMM15)
		return 1u << (NGPR + r - X86_REG_XMM0);
	if (r >= X86_REG_YMM0 && r <= X86_REG_YMM15)
		return 1u << (NGPR + r - X86_REG_YMM0);
	if (r >= X86_REG_ZMM0 && r <= X86_REG_ZMM15)
		return 1u << (NGPR + r - X86_REG_ZMM0);
	return 0;
}

static uint32_t insn_writes(const cs_insn *in)
{
	const cs_detail *d = in->detail;
	uint32_t m = 0;

	if (in->id == X86_INS_VZEROUPPER || in->id == X86_INS_VZEROALL)
		return ABI_CLOBBER & ~((1u << NGPR) - 1);
	if (in->id == X86_INS_SYSCALL)
		m |= 1u | 2u | 1u << 8; /* rax, rcx, r11 */
	for (int i = 0; i < d->regs_write_count; i++)
		m |= reg_bit(d->regs_write[i]);
	for (int i = 0; i < d->x86.op_count; i++)
		if (d->x86.operands[i].type == X86_OP_REG &&
		    (d->x86.operands[i].access & CS_AC_WRITE))
			m |= reg_bit(d->x86.operands[i].reg);
	return m;
}

static bool is_branch(const cs_insn *in)
{
	for (int i = 0; i < in->detail->groups_count; i++)
		if (in->detail->groups[i] == CS_GRP_JUMP || in->detail->groups[i] == CS_GRP_CALL)
			return true;
	return false;
}

struct clobber {
	uint64_t todo[MAX_CALLEES];
	size_t n, done;
	uint32_t mask;
	bool unknown; /* a callee without an extent, or too many */
};

static void add_callee(struct clobber *k, uint64_t a)
{
	for (size_t i = 0; i < k->n; i++)
		if (k->todo[i] == a)
			return;
	if (k->n == MAX_CALLEES) {
		k->unknown = true;
		return;
	}
	k->todo[k->n++] = a;
}

/* The writes of the function at `a`, its direct callees queued. */
static void clobber_one(struct ctx *c, struct clobber *k, uint64_t a)
{
	const struct hp_cs *cs;
	uint64_t lo, hi;
	uint8_t *code;
	cs_insn *in = NULL;
	size_t n;

	if (!func_extent(c->e, c->ix, a, &lo, &hi) || hi - lo > (1u << 20) || hp_cs_get(&cs) < 0 ||
	    !(code = malloc(hi - lo))) {
		hp_error_clear();
		k->unknown = true;
		return;
	}
	if (hp_elf_vaddr_read(c->e, lo, code, hi - lo) == 0)
		n = cs->disasm(cs->handle, code, hi - lo, lo, 0, &in);
	else
		n = 0, k->unknown = true;
	for (size_t i = 0; i < n; i++) {
		const cs_x86 *x = &in[i].detail->x86;
		bool branch = is_branch(&in[i]);

		k->mask |= insn_writes(&in[i]);
		if (!branch)
			continue;
		if (x->op_count != 1 || x->operands[0].type != X86_OP_IMM) {
			k->mask = ABI_CLOBBER; /* indirect: the callee may be anything */
			continue;
		}
		uint64_t t = (uint64_t)x->operands[0].imm;
		if (t >= lo && t < hi)
			continue;
		if (in_plt(c->ix, t) || !in_exec(c->ix, t))
			k->mask = ABI_CLOBBER;
		else
			add_callee(k, t);
	}
	if (in)
		cs->free(in, n);
	free(code);
}

/* GCC's -fipa-ra: callers in the object that rely on fewer clobbers. */
static bool ipa_ra_ok(struct ctx *c)
{
	struct clobber k = {.n = 1, .todo = {c->p->entry}};
	const struct ref *r = NULL;
	char src[160], regs[256];
	size_t o = 0;

	if (!c->ix->gcc)
		return true;
	for (const struct ref *q = ref_into(c->ix, c->p->entry, c->p->entry + 1, c->lo, c->hi);
	     q && q < c->ix->refs + c->ix->nrefs && q->target == c->p->entry; q++)
		if ((q->kind == REF_CALL || q->kind == REF_JMP) &&
		    (q->source < c->lo || q->source >= c->hi)) {
			r = q;
			break;
		}
	if (!r)
		return true;
	for (k.done = 0; k.done < k.n && k.mask != ABI_CLOBBER; k.done++)
		clobber_one(c, &k, k.todo[k.done]);
	if (k.mask == ABI_CLOBBER)
		return true;
	regs[0] = 0;
	for (int i = 0; i < NGPR + 16 && o + 12 < sizeof(regs); i++)
		if (!(k.mask & (1u << i))) {
			if (i < NGPR)
				o += (size_t)snprintf(regs + o, sizeof(regs) - o, "%s%%%s",
						      o ? ", " : "", reg_names[i]);
			else
				o += (size_t)snprintf(regs + o, sizeof(regs) - o, "%s%%xmm%d",
						      o ? ", " : "", i - NGPR);
		}
	where(c->e, r->source, src, sizeof(src));
	refuse(c->p, "ipa-ra",
	       "callers in the same object (e.g. %s) may keep %s live across calls to %s: "
	       "GCC's -fipa-ra; a replacement may clobber them%s. Patch the callers too, or "
	       "rebuild with -fno-ipa-ra or -fpatchable-function-entry",
	       src, regs, c->fn->name, k.unknown ? " (some callees could not be followed)" : "");
	return false;
}

/* The file's bytes around the entry, as many as it has. */
static int read_around(struct ctx *c)
{
	uint64_t a = c->p->entry - HP_PRO_BEFORE;

	for (size_t len = sizeof(c->buf); len >= HP_PRO_BEFORE + 8; len -= 8)
		if (hp_elf_vaddr_read(c->e, a, c->buf, len) == 0) {
			c->buf_addr = a;
			c->len = len;
			return 0;
		}
	/* at the start of a segment: nothing before the entry */
	for (size_t len = 64; len >= 8; len -= 8)
		if (hp_elf_vaddr_read(c->e, c->p->entry, c->buf, len) == 0) {
			c->buf_addr = c->p->entry;
			c->len = len;
			return 0;
		}
	return hp_fail(-EFAULT, "%s: the file has no bytes at 0x%" PRIx64, c->e->path, c->p->entry);
}

/* The function's extent, the window, and refusals known before any tier. */
static bool setup(struct ctx *c)
{
	const struct fde *f = fde_at(c->ix, c->fn->value);
	size_t n;

	if (c->fn->type == STT_GNU_IFUNC) {
		refuse(c->p, "ifunc",
		       "%s is an IFUNC: its symbol is the resolver, not the function; patch "
		       "the implementation the resolver picks (e.g. %s_avx2) by its name",
		       c->fn->name, c->fn->name);
		return false;
	}
	c->lo = c->fn->value;
	c->hi = c->fn->value + c->fn->size;
	if (!c->fn->size && f)
		c->hi = f->end;
	if (c->hi == c->lo) {
		refuse(c->p, "no-size",
		       "%s has no size in the symbol table and no unwind entry: its extent is "
		       "unknown, so no branch into its first bytes can be ruled out",
		       c->fn->name);
		return false;
	}
	const uint8_t *b = at(c, c->p->entry, &n);
	if (n >= 4 && !memcmp(b, "\xf3\x0f\x1e\xfa", 4)) {
		c->p->endbr = true;
		c->p->window = c->p->entry + 4;
	}
	b = at(c, c->p->window, &n);
	if (n && b[0] == 0xcc) {
		refuse(c->p, "breakpoint",
		       "%s starts with int3 (0xcc) in the file: a breakpoint or a trap, not code "
		       "to relocate",
		       c->fn->name);
		return false;
	}
	return true;
}

int hp_classify(struct hp_elf *e, const struct hp_sym *fn, struct hp_patchability *ret)
{
	struct hp_patchability p = {.entry = fn->value, .window = fn->value};
	struct ctx c = {.e = e, .fn = fn, .p = &p};
	struct hp_prologue pro;
	int r;

	r = codeindex_get(e, &c.ix);
	if (r == 0)
		r = read_around(&c);
	if (r < 0)
		return r;
	if (c.buf_addr + HP_PRO_BEFORE == p.entry && c.len >= HP_PRO_BEFORE + HP_PRO_AFTER &&
	    hp_prologue_analyze(c.buf, c.len, c.buf_addr, p.entry, &pro) == 0) {
		p.method = HP_METHOD_PROLOGUE;
		p.window = pro.window;
		p.pad = pro.pad;
		p.endbr = pro.endbr;
		*ret = p;
		return 0;
	}
	hp_error_clear();
	if (setup(&c)) {
		p.pad = p.entry - HP_PAD_LEN;
		if (c.buf_addr < p.entry && padding_proven(&c) && try_tier(&c, HP_WIN_LEN))
			p.method = HP_METHOD_PADDING;
		else if ((p.pad = 0, try_tier(&c, 5)))
			p.method = HP_METHOD_RELOCATE;
		if (p.method != HP_METHOD_REFUSED) {
			p.code = NULL;
			p.reason[0] = 0;
			if (!ipa_ra_ok(&c))
				p.rel = (struct hp_reloc){0};
		}
	}
	*ret = p;
	return 0;
}
