/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The code index.  What it records, once per object: every direct branch, call, loop and xbegin target,
 * every rip-relative operand's target, the entries of PIC jump tables
 * (lea T(%rip) of a non-executable address, int32 entries while T + entry
 * stays inside the function holding the lea) and of absolute ones (jmp
 * [disp32 + reg*8]), and the data relocations that point into code.  The
 * unwind entries come from .eh_frame, parsed here: one pass into a sorted
 * table answers "does an FDE cover or start in [a, b)" by binary search,
 * where libdw's dwarf_cfi_addrframe answers one address at a time.  The
 * sweep is Capstone without details (the opcode gives a direct branch's
 * field, the operand text a rip-relative target), restarting at every
 * symbol: libc.so.6's 1.5 MiB of text take about 0.2 s.  The compile units
 * of its DWARF (cunits.h) say which translation unit holds a caller.
 */
#include "codeindex.h"

#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "symbols.h"
#include "util.h"

static int add_ref(struct hp_codeindex *ix, uint64_t target, uint64_t source, int kind)
{
	if (hp_grow((void **)&ix->refs, &ix->cap, ix->nrefs, sizeof(*ix->refs)) < 0)
		return hp_fail(-ENOMEM, "out of memory");
	ix->refs[ix->nrefs++] = (struct hp_ref){target, source, (uint8_t)kind};
	return 0;
}

bool hp_ix_in_exec(const struct hp_codeindex *ix, uint64_t a)
{
	for (size_t i = 0; i < ix->nexec; i++)
		if (a >= ix->exec[i].lo && a < ix->exec[i].hi)
			return true;
	return false;
}

bool hp_ix_in_plt(const struct hp_codeindex *ix, uint64_t a)
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
	*kind = b[i] == 0xe8 ? HP_REF_CALL : HP_REF_JMP;
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

static size_t fde_before(const struct hp_codeindex *ix, uint64_t x);

/* The extent of the function holding `a`: its symbol, else its FDE. */
bool hp_ix_extent(struct hp_elf *e, struct hp_codeindex *ix, uint64_t a, uint64_t *lo, uint64_t *hi)
{
	const struct hp_sym *s = hp_elf_func_at(e, a);

	if (s && s->size) {
		*lo = s->value;
		*hi = s->value + s->size;
		return true;
	}
	/* no symbol (a stripped object's static function): the last FDE
	 * that starts at or before `a`, if it reaches past it */
	size_t i = fde_before(ix, a + 1);
	if (i && a < ix->fdes[i - 1].end) {
		*lo = ix->fdes[i - 1].start;
		*hi = ix->fdes[i - 1].end;
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

	if (!hp_ix_extent(e, ix, src, &lo, &hi))
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
		if (add_ref(ix, dest, src, HP_REF_TABLE) < 0)
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
		if (add_ref(ix, t, in->address, HP_REF_RIP) < 0)
			return -ENOMEM;
		if (in->id == X86_INS_LEA && !hp_ix_in_exec(ix, t))
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
}

/* A section of the file, or else of its debug file. */
static const uint8_t *section_any(struct hp_elf *e, const char *name, GElf_Shdr *sh)
{
	const uint8_t *d = hp_elf_section(e, name, sh);

	if (!d && e->debug)
		d = hp_elf_section(e->debug, name, sh);
	if (d && (sh->sh_flags & SHF_COMPRESSED))
		return NULL;
	return d;
}

/*
 * The producer.  .comment without "GCC:" (clang alone) has no IPA-RA; no
 * .comment is taken as GCC.  Then the compile units (cunits.h): an object
 * whose GCC units all say IPA-RA is off (-fno-ipa-ra, -O1, ...) and whose
 * other units are assembly or clang is clear as a whole.
 */
static int producer(struct hp_elf *e, struct hp_codeindex *ix)
{
	GElf_Shdr sh;
	const uint8_t *c = section_any(e, ".comment", &sh);
	int r;

	ix->ipa_ra = true;
	if (c) {
		ix->ipa_ra = false;
		for (size_t i = 0; i + 4 <= sh.sh_size; i++)
			if (!memcmp(c + i, "GCC:", 4))
				ix->ipa_ra = true;
	}
	if (!ix->ipa_ra)
		return 0;
	r = hp_cunits_load(e, &ix->cus);
	if (r < 0)
		return r;
	if (ix->cus.dwarf && ix->cus.ngcc && !ix->cus.non)
		ix->ipa_ra = false;
	return 0;
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

/* A non-PIE object's pointers to code carry no relocation: every aligned
 * 8-byte value in its data that falls inside an executable section. */
static int absolute_pointers(struct hp_elf *e, struct hp_codeindex *ix)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while (e->ehdr.e_type == ET_EXEC && (scn = elf_nextscn(e->elf, scn))) {
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_ALLOC) || (sh.sh_flags & SHF_EXECINSTR))
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf || d->d_size != sh.sh_size)
			continue;
		for (uint64_t o = (8 - sh.sh_addr % 8) % 8; o + 8 <= sh.sh_size; o += 8) {
			uint64_t v;

			memcpy(&v, (const uint8_t *)d->d_buf + o, 8);
			if (hp_ix_in_exec(ix, v) && add_ref(ix, v, sh.sh_addr + o, HP_REF_DATA) < 0)
				return -ENOMEM;
		}
	}
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
		if (hp_ix_in_exec(ix, t) && add_ref(ix, t, rl[i].offset, HP_REF_DATA) < 0)
			return -ENOMEM;
	}
	return absolute_pointers(e, ix);
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
		ix->fdes[ix->nfdes++] = (struct hp_fde){start, start + range};
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
	const struct hp_ref *x = a, *y = b;

	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	return x->source < y->source ? -1 : x->source > y->source;
}

void hp_ix_free(struct hp_codeindex *ix)
{
	if (!ix)
		return;
	free(ix->refs);
	free(ix->fdes);
	free(ix->maxend);
	free(ix->symstart);
	hp_cunits_free(&ix->cus);
	free(ix);
}

static void codeindex_free_any(void *ix)
{
	hp_ix_free(ix);
}

int hp_ix_get(struct hp_elf *e, struct hp_codeindex **ret)
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
		r = producer(e, ix);
	if (r == 0)
		r = parse_eh_frame(e, ix);
	if (r == 0)
		r = sweep_all(e, ix);
	if (r == 0)
		r = data_refs(e, ix);
	if (r < 0) {
		hp_ix_free(ix);
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
const struct hp_ref *hp_ix_ref_into(const struct hp_codeindex *ix, uint64_t lo, uint64_t hi,
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
		    (ix->refs[a].kind != HP_REF_CALL && ix->refs[a].kind != HP_REF_JMP))
			return &ix->refs[a];
	return NULL;
}

bool hp_ix_sym_in(const struct hp_codeindex *ix, uint64_t lo, uint64_t hi)
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

bool hp_ix_fde_starts_in(const struct hp_codeindex *ix, uint64_t lo, uint64_t hi)
{
	size_t a = fde_before(ix, lo);

	return a < ix->nfdes && ix->fdes[a].start < hi;
}

bool hp_ix_fde_covers(const struct hp_codeindex *ix, uint64_t lo, uint64_t hi)
{
	size_t a = fde_before(ix, hi);

	return a && ix->maxend[a - 1] > lo;
}

const struct hp_fde *hp_ix_fde_at(const struct hp_codeindex *ix, uint64_t start)
{
	size_t a = fde_before(ix, start);

	return a < ix->nfdes && ix->fdes[a].start == start ? &ix->fdes[a] : NULL;
}
