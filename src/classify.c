/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The classifier works on the file only, with the code index (codeindex.h).
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
 *   no .comment is taken as GCC's.  (A linked clang object usually has
 *   GCC's start files, and their "GCC:", too: taken as GCC, which errs on
 *   the side of refusing.)  A function with direct callers in the
 *   object whose transitive clobber set (its own writes and those of the
 *   functions it calls or jumps to directly, 64 at most) misses a SysV
 *   caller-saved register is refused: those callers may keep it live.  An
 *   indirect call or jump, or one through the PLT, means the full set; a
 *   callee whose extent is unknown, or a 65th, means "cannot tell" and a
 *   refusal if the set is not full by then.
 *   Which callers count comes from the compile units of the DWARF (the
 *   object's or its debug file's, cunits.h): GCC applies IPA-RA only in
 *   callers of the callee's own translation unit, and only where that
 *   unit's producer has -fipa-ra on (not at -O0/-O1/-Og, nor with
 *   -fno-ipa-ra, -pg, -fpatchable-function-entry or -flive-patching), so
 *   callers in other units do not count.  A caller in no unit counts as
 *   one of the function's unit; without DWARF, in an LTO build, or for a
 *   function in no unit, every direct caller in the object counts.  An
 *   object whose GCC units all have IPA-RA off (and whose others are
 *   assembly or clang) is clear as a whole.
 */
#include "classify.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codeindex.h"
#include "cs.h"
#include "prologue.h"
#include "symbols.h"
#include "util.h"

void hp_codeindex_free(struct hp_codeindex *ix)
{
	hp_ix_free(ix);
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

#define REBUILD "; rebuild it with -fpatchable-function-entry=7,5 to patch it"

/* The displaced region (window, window + len) and the filler past the
 * function's end: nothing may start in, point into or cover them. */
static bool region_ok(struct ctx *c, const struct hp_reloc *rel)
{
	uint64_t w = c->p->window, end = w + rel->len;
	const struct hp_ref *r;
	char src[160];

	if (hp_ix_sym_in(c->ix, w + 1, end) ||
	    (end > c->hi && hp_ix_sym_in(c->ix, HP_MAX(c->hi, w + 1), end))) {
		refuse(c->p, "symbol-inside",
		       "%s: a symbol starts inside the %u bytes a jump at 0x%" PRIx64
		       " would displace (another entry point or a label)" REBUILD,
		       c->fn->name, rel->len, w);
		return false;
	}
	if (hp_ix_fde_starts_in(c->ix, w + 1, end) ||
	    (end > c->hi && hp_ix_fde_covers(c->ix, c->hi, end))) {
		refuse(c->p, "fde-inside",
		       "%s: an unwind entry (.eh_frame FDE) starts inside the %u bytes a jump at "
		       "0x%" PRIx64 " would displace" REBUILD,
		       c->fn->name, rel->len, w);
		return false;
	}
	r = hp_ix_ref_into(c->ix, w + 1, end, w, end);
	if (r) {
		where(c->e, r->source, src, sizeof(src));
		refuse(c->p, r->kind == HP_REF_TABLE ? "jump-table" : "branch-into",
		       "%s: %s at %s targets %s+%" PRIu64
		       ", inside the %u bytes a jump would displace: a thread that takes it "
		       "would run the middle of the jump" REBUILD,
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
	if (hp_ix_sym_in(c->ix, pad, c->p->entry) || hp_ix_fde_covers(c->ix, pad, c->p->entry) ||
	    hp_ix_ref_into(c->ix, pad, c->p->entry, 0, 0))
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

	if (!hp_ix_extent(c->e, c->ix, a, &lo, &hi) || hi - lo > (1u << 20) || hp_cs_get(&cs) < 0 ||
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
		if (hp_ix_in_plt(c->ix, t) || !hp_ix_in_exec(c->ix, t))
			k->mask = ABI_CLOBBER;
		else
			add_callee(k, t);
	}
	if (in)
		cs->free(in, n);
	free(code);
}

/* Whether the compile units tell where IPA-RA reaches: DWARF, and no LTO. */
static bool units_known(const struct hp_codeindex *ix)
{
	return ix->cus.dwarf && !ix->cus.lto;
}

/*
 * The first direct caller from outside the function that may rely on
 * what IPA-RA knew of it: GCC uses that only in callers of the same
 * translation unit, and only where that unit has -fipa-ra on.  A caller
 * whose unit is unknown is taken as one of the function's; a function
 * whose unit is unknown, or an LTO build, takes every caller.
 */
static const struct hp_ref *ipa_ra_caller(struct ctx *c)
{
	const struct hp_codeindex *ix = c->ix;
	uint32_t cu = units_known(ix) ? hp_cunits_at(&ix->cus, c->p->entry) : HP_CU_UNKNOWN;

	for (const struct hp_ref *q =
		     hp_ix_ref_into(ix, c->p->entry, c->p->entry + 1, c->lo, c->hi);
	     q && q < ix->refs + ix->nrefs && q->target == c->p->entry; q++) {
		uint32_t from;

		if ((q->kind != HP_REF_CALL && q->kind != HP_REF_JMP) ||
		    (q->source >= c->lo && q->source < c->hi))
			continue;
		if (cu == HP_CU_UNKNOWN)
			return q;
		from = hp_cunits_at(&ix->cus, q->source);
		if ((from == cu || from == HP_CU_UNKNOWN) && ix->cus.ipa_ra[cu])
			return q;
	}
	return NULL;
}

/* "%r10, %r11, %xmm3-%xmm15": the caller-saved registers missing from
 * `mask`, the numbered ones as runs. */
static void missing_regs(uint32_t mask, char *regs, size_t size)
{
	size_t o = 0;

	regs[0] = 0;
	for (int i = 0; i < NGPR + 16 && o + 16 < size; i++) {
		int j = i;

		if (mask & (1u << i))
			continue;
		if (i < NGPR) {
			o += (size_t)snprintf(regs + o, size - o, "%s%%%s", o ? ", " : "",
					      reg_names[i]);
			continue;
		}
		while (j + 1 < NGPR + 16 && !(mask & (1u << (j + 1))))
			j++;
		o += (size_t)snprintf(regs + o, size - o, "%s%%xmm%d", o ? ", " : "", i - NGPR);
		if (j > i)
			o += (size_t)snprintf(regs + o, size - o, "%s%%xmm%d",
					      j > i + 1 ? "-" : ", ", j - NGPR);
		i = j;
	}
}

/* Why callers anywhere in the object count, if they do. */
static const char *scope_why(const struct ctx *c)
{
	if (!c->ix->cus.dwarf)
		return " (no DWARF, in the object or a debug file, tells its translation units apart)";
	if (c->ix->cus.lto)
		return " (an LTO build, where it reaches across translation units)";
	if (hp_cunits_at(&c->ix->cus, c->p->entry) == HP_CU_UNKNOWN)
		return " (the function lies in none of the DWARF's compile units)";
	return "";
}

/* GCC's -fipa-ra: callers that rely on fewer clobbers. */
static bool ipa_ra_ok(struct ctx *c)
{
	struct clobber k = {.n = 1, .todo = {c->p->entry}};
	const struct hp_ref *r;
	char src[160], regs[200];
	const char *why;

	if (!c->ix->ipa_ra || !(r = ipa_ra_caller(c)))
		return true;
	for (k.done = 0; k.done < k.n && k.mask != ABI_CLOBBER; k.done++)
		clobber_one(c, &k, k.todo[k.done]);
	if (k.mask == ABI_CLOBBER)
		return true;
	missing_regs(k.mask, regs, sizeof(regs));
	where(c->e, r->source, src, sizeof(src));
	why = scope_why(c);
	refuse(c->p, "ipa-ra",
	       "callers in the same %s (e.g. %s) may keep %s live across calls to %s: GCC's "
	       "-fipa-ra%s; a replacement may clobber them%s. Patch the callers too, or rebuild "
	       "with -fno-ipa-ra or -fpatchable-function-entry",
	       *why ? "object" : "translation unit", src, regs, c->fn->name, why,
	       k.unknown ? " (some callees could not be followed)" : "");
	return false;
}

/* The file's bytes around the entry, as many as it has (a segment may
 * begin just before it or end just after it). */
static int read_around(struct ctx *c)
{
	uint64_t e = c->p->entry;

	for (uint64_t from = e - HP_PRO_BEFORE; from <= e; from += HP_PRO_BEFORE)
		for (size_t len = sizeof(c->buf) - (size_t)(from - (e - HP_PRO_BEFORE));
		     len > (size_t)(e - from); len--)
			if (hp_elf_vaddr_read(c->e, from, c->buf, len) == 0) {
				c->buf_addr = from;
				c->len = len;
				return 0;
			}
	return hp_fail(-EFAULT, "%s: the file has no bytes at 0x%" PRIx64, c->e->path, e);
}

/* The function's extent, the window, and refusals known before any tier. */
static bool setup(struct ctx *c)
{
	const struct hp_fde *f = hp_ix_fde_at(c->ix, c->fn->value);
	size_t n;

	if (c->fn->type == STT_GNU_IFUNC) {
		refuse(c->p, "ifunc",
		       "%s is an IFUNC: its symbol is the resolver, not the function; patch "
		       "the implementation the resolver picks, by its own name (glibc's are "
		       "__%s_avx2, __%s_sse2 and the like)",
		       c->fn->name, c->fn->name, c->fn->name);
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

	r = hp_ix_get(e, &c.ix);
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
