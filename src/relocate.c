/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "relocate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cs.h"
#include "prologue.h"
#include "util.h"

/* What the copy does with one displaced instruction. */
enum step_kind {
	STEP_COPY, /* the bytes as they are */
	STEP_RIP,  /* the bytes, with the disp32 of a rip-relative operand re-based */
	STEP_JMP,  /* jmp rel8/rel32, re-encoded as jmp rel32 */
	STEP_JCC,  /* jcc rel8/rel32, re-encoded as jcc rel32 */
	STEP_LOOP, /* loop*, jrcxz, jecxz: rel8 only, kept inside the copy */
};

struct step {
	enum step_kind kind;
	uint8_t size;	/* in the original */
	uint8_t field;	/* RIP: the disp32's offset; LOOP: the rel8's */
	uint8_t prefix; /* JMP, JCC: prefix bytes kept in front of the opcode */
	uint8_t cc;	/* JCC: the condition, 0..15 */
	bool ends;	/* execution does not fall through it */
	uint64_t target;
};

struct build {
	const uint8_t *code;
	size_t len;
	uint64_t addr, fn_end;
	size_t min;
	const cs_insn *insn;
	size_t ninsn;
	struct step step[HP_RELOC_MAXINSN];
	struct hp_reloc r;
};

/* A refusal naming the instruction at `off`, disassembled. */
static int __attribute__((format(printf, 3, 4)))
refuse(const struct build *b, size_t off, const char *fmt, ...)
{
	char why[256], dis[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (off < b->len)
		hp_disasm(b->code + off, b->len - off, b->addr + off, 1, dis, sizeof(dis));
	else
		snprintf(dis, sizeof(dis), "(no bytes given)");
	return hp_fail(-HP_ENOTPATCHABLE, "cannot relocate %s at offset %zu: %s", dis, off, why);
}

static bool in_group(const cs_insn *in, uint8_t group)
{
	for (uint8_t i = 0; i < in->detail->groups_count; i++)
		if (in->detail->groups[i] == group)
			return true;
	return false;
}

/* The decoded instruction that starts at `off`, or NULL. */
static const cs_insn *insn_at(const struct build *b, size_t off)
{
	for (size_t i = 0; i < b->ninsn; i++) {
		if (b->insn[i].address == b->addr + off)
			return &b->insn[i];
		if (b->insn[i].address > b->addr + off)
			break;
	}
	return NULL;
}

static bool is_filler(const cs_insn *in)
{
	return in->id == X86_INS_NOP || in->id == X86_INS_INT3;
}

static bool ends_execution(const cs_insn *in)
{
	return in_group(in, CS_GRP_RET) || in_group(in, CS_GRP_IRET) || in->id == X86_INS_JMP ||
	       in->id == X86_INS_LJMP || in->id == X86_INS_UD2 || in->id == X86_INS_UD2B;
}

static int64_t rel_field(const cs_insn *in, uint8_t off, uint8_t size)
{
	int32_t v32;

	if (size == 1)
		return (int8_t)in->bytes[off];
	memcpy(&v32, in->bytes + off, 4);
	return v32;
}

/* Where a rip-relative operand's disp32 is.  Capstone 4 leaves
 * disp_offset 0 for some SSE encodings (movdqa xmm0, [rip + x]); in every
 * encoding the disp32 is followed by the immediate alone, if any: check
 * that those bytes are the displacement.  0 when they are not. */
static uint8_t disp_field(const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;
	int32_t want = (int32_t)x->disp, v;
	int o = (int)in->size - 4 - (int)x->encoding.imm_size;

	if (x->encoding.disp_size == 4 && x->encoding.disp_offset &&
	    x->encoding.disp_offset + 4 <= in->size)
		return x->encoding.disp_offset;
	if (o < 2)
		return 0;
	memcpy(&v, in->bytes + o, 4);
	return v == want ? (uint8_t)o : 0;
}

/* A rip-relative memory operand: the disp32 to re-base.  Returns 1 when
 * there is one, 0 when there is none. */
static int classify_rip(const struct build *b, size_t off, const cs_insn *in, struct step *s)
{
	const cs_x86 *x = &in->detail->x86;

	for (uint8_t i = 0; i < x->op_count; i++) {
		if (x->operands[i].type != X86_OP_MEM)
			continue;
		if (x->operands[i].mem.base == X86_REG_EIP)
			return refuse(b, off, "a rip-relative operand with a 32-bit address size");
		if (x->operands[i].mem.base != X86_REG_RIP)
			continue;
		s->field = disp_field(in);
		if (!s->field)
			return refuse(b, off, "a rip-relative operand without a disp32");
		s->kind = STEP_RIP;
		s->target = in->address + in->size + (uint64_t)rel_field(in, s->field, 4);
		return 1;
	}
	return 0;
}

/* jmp and jcc, rel8 or rel32: the prefixes kept must mean the same in
 * front of the rel32 form (bnd, branch hints, REX). */
static int classify_branch(const struct build *b, size_t off, const cs_insn *in, struct step *s)
{
	const cs_x86 *x = &in->detail->x86;
	uint8_t op = x->opcode[0], oplen = 1;

	if (op == 0xeb || op == 0xe9) {
		s->kind = STEP_JMP;
		s->ends = true;
	} else if (op >= 0x70 && op <= 0x7f) {
		s->kind = STEP_JCC;
		s->cc = op - 0x70;
	} else if (op == 0x0f && x->opcode[1] >= 0x80 && x->opcode[1] <= 0x8f) {
		s->kind = STEP_JCC;
		s->cc = x->opcode[1] - 0x80;
		oplen = 2;
	} else {
		return refuse(b, off, "a relative branch the relocator does not know");
	}
	if (x->encoding.imm_size != 1 && x->encoding.imm_size != 4)
		return refuse(b, off, "a relative branch with an operand-size prefix");
	if (x->encoding.imm_offset < oplen ||
	    x->encoding.imm_offset + x->encoding.imm_size != in->size)
		return refuse(b, off, "a relative branch of an unexpected shape");
	s->prefix = x->encoding.imm_offset - oplen;
	for (uint8_t i = 0; i < s->prefix; i++) {
		uint8_t p = in->bytes[i];

		if (p != 0xf2 && p != 0x2e && p != 0x3e && (p & 0xf0) != 0x40)
			return refuse(b, off, "a branch prefix (%02x) the relocator does not keep",
				      p);
	}
	s->target = in->address + in->size +
		    (uint64_t)rel_field(in, x->encoding.imm_offset, x->encoding.imm_size);
	return 0;
}

static int classify(const struct build *b, size_t off, const cs_insn *in, struct step *s)
{
	const cs_x86 *x = &in->detail->x86;
	int rc;

	*s = (struct step){.kind = STEP_COPY, .size = in->size, .ends = ends_execution(in)};
	if (in->id == X86_INS_INT3)
		return refuse(b, off, "int3: a debugger's breakpoint?");
	if (in_group(in, CS_GRP_CALL))
		return refuse(b, off,
			      "a call in the displaced bytes: its return address would point into "
			      "them");
	if (in->id == X86_INS_XBEGIN)
		return refuse(b, off, "xbegin: its abort address is relative and has no safe copy");
	if (in->id == X86_INS_LOOP || in->id == X86_INS_LOOPE || in->id == X86_INS_LOOPNE ||
	    in->id == X86_INS_JRCXZ || in->id == X86_INS_JECXZ || in->id == X86_INS_JCXZ) {
		if (x->encoding.imm_size != 1 || x->encoding.imm_offset + 1 != in->size)
			return refuse(b, off, "a loop or jrcxz of an unexpected shape");
		s->kind = STEP_LOOP;
		s->field = x->encoding.imm_offset;
		s->target = in->address + in->size + (uint64_t)rel_field(in, s->field, 1);
		return 0;
	}
	if (in_group(in, CS_GRP_BRANCH_RELATIVE))
		return classify_branch(b, off, in, s);
	rc = classify_rip(b, off, in, s);
	return rc < 0 ? rc : 0;
}

/* Past the function's last instruction: whole filler instructions up to
 * addr + min, consumed but not copied. */
static int consume_filler(struct build *b, size_t off)
{
	while (off < b->min) {
		const cs_insn *in = insn_at(b, off);

		if (!in || !is_filler(in))
			return refuse(b, off,
				      "the function is %llu bytes long and no filler follows it",
				      (unsigned long long)(b->fn_end - b->addr));
		off += in->size;
		if (off > HP_RELOC_MAXSRC)
			return refuse(b, off - in->size, "the filler runs past %d bytes",
				      HP_RELOC_MAXSRC);
	}
	b->r.len = (uint8_t)off;
	return 0;
}

/* Pass one: which instructions are displaced, and where the copy ends. */
static int choose(struct build *b)
{
	struct hp_reloc *r = &b->r;
	size_t off = 0;
	int rc;

	while (off < b->min) {
		const cs_insn *in = insn_at(b, off);
		struct step *s = &b->step[r->ninsn];

		if (!in)
			return refuse(b, off, "not an instruction");
		if (r->ninsn == HP_RELOC_MAXINSN)
			return refuse(b, off, "more than %d instructions to displace",
				      HP_RELOC_MAXINSN);
		if (b->fn_end > b->addr && b->addr + off >= b->fn_end)
			return refuse(b, off,
				      "the function is %llu bytes long and its last instruction "
				      "falls through past its end",
				      (unsigned long long)(b->fn_end - b->addr));
		rc = classify(b, off, in, s);
		if (rc < 0)
			return rc;
		if (off + in->size > HP_RELOC_MAXSRC)
			return refuse(b, off, "the displaced bytes would exceed %d",
				      HP_RELOC_MAXSRC);
		r->src_off[r->ninsn++] = (uint8_t)off;
		off += in->size;
		r->src_off[r->ninsn] = (uint8_t)off;
		r->len = (uint8_t)off;
		if (!s->ends || off >= b->min)
			continue;
		if (b->fn_end <= b->addr)
			return refuse(b, off - in->size,
				      "it ends the function, whose size is not known");
		if (b->addr + off >= b->fn_end) {
			r->ends_function = true;
			return consume_filler(b, off);
		}
	}
	/* a last instruction that ends execution before fn_end keeps its jump
	 * back (never taken, but the end boundary stays mapped) */
	if (r->ninsn && b->step[r->ninsn - 1].ends && b->addr + off >= b->fn_end &&
	    b->fn_end > b->addr)
		r->ends_function = true;
	return 0;
}

static void add_fix(struct hp_reloc *r, size_t off, size_t end, uint64_t target)
{
	r->fix[r->nfix++] = (struct hp_reloc_fix){(uint8_t)off, (uint8_t)end, target};
}

/* Where a branch to `target` goes in the copy: 1 with *ret the copy's
 * offset when it is a displaced instruction's start, 0 when outside. */
static int internal_target(const struct build *b, size_t i, uint64_t target, size_t *ret)
{
	const struct hp_reloc *r = &b->r;

	if (target < r->addr || target >= r->addr + r->len)
		return 0;
	for (size_t j = 0; j < r->ninsn; j++) {
		if (r->addr + r->src_off[j] == target) {
			*ret = r->dst_off[j];
			return 1;
		}
	}
	return refuse(b, r->src_off[i],
		      "it jumps to offset %llu, inside the displaced bytes but not to the start "
		      "of a displaced instruction",
		      (unsigned long long)(target - r->addr));
}

static uint8_t copy_size(const struct step *s)
{
	if (s->kind == STEP_JMP)
		return s->prefix + 5;
	if (s->kind == STEP_JCC)
		return s->prefix + 6;
	return s->size;
}

/* Writes step i at its place in the copy. */
static int write_step(struct build *b, size_t i)
{
	struct hp_reloc *r = &b->r;
	const struct step *s = &b->step[i];
	const uint8_t *src = b->code + r->src_off[i];
	uint8_t *dst = r->bytes + r->dst_off[i];
	size_t d = r->dst_off[i], end = r->dst_off[i + 1], to = 0;
	int in;

	if (s->kind == STEP_COPY || s->kind == STEP_RIP)
		memcpy(dst, src, s->size);
	if (s->kind == STEP_RIP)
		add_fix(r, d + s->field, end, s->target);
	if (s->kind == STEP_COPY || s->kind == STEP_RIP)
		return 0;
	in = internal_target(b, i, s->target, &to);
	if (in < 0)
		return in;
	if (s->kind == STEP_LOOP) {
		int64_t rel = (int64_t)to - (int64_t)end;

		if (!in)
			return refuse(b, r->src_off[i],
				      "it branches out of the displaced bytes and has no rel32 form");
		if (rel < INT8_MIN || rel > INT8_MAX)
			return refuse(b, r->src_off[i], "its rel8 does not reach in the copy");
		memcpy(dst, src, s->size);
		dst[s->field] = (uint8_t)(int8_t)rel;
		return 0;
	}
	memcpy(dst, src, s->prefix);
	dst += s->prefix;
	if (s->kind == STEP_JMP) {
		*dst++ = 0xe9;
	} else {
		*dst++ = 0x0f;
		*dst++ = (uint8_t)(0x80 + s->cc);
	}
	if (in) {
		int32_t rel = (int32_t)((int64_t)to - (int64_t)end);

		memcpy(dst, &rel, 4);
	} else {
		memset(dst, 0, 4);
		add_fix(r, (size_t)(dst - r->bytes), end, s->target);
	}
	return 0;
}

/* Pass two: the copy's layout, its bytes and its fixes. */
static int lay_out(struct build *b)
{
	struct hp_reloc *r = &b->r;
	size_t total = 0;
	int rc;

	for (size_t i = 0; i < r->ninsn; i++) {
		r->dst_off[i] = (uint8_t)total;
		total += copy_size(&b->step[i]);
	}
	r->dst_off[r->ninsn] = (uint8_t)total;
	if (total + (r->ends_function ? 0 : 5) > HP_RELOC_MAX)
		return refuse(b, 0, "the copy would exceed %d bytes", HP_RELOC_MAX);
	for (size_t i = 0; i < r->ninsn; i++) {
		rc = write_step(b, i);
		if (rc < 0)
			return rc;
	}
	if (!r->ends_function) {
		r->bytes[total] = 0xe9;
		memset(r->bytes + total + 1, 0, 4);
		add_fix(r, total + 1, total + 5, r->addr + r->len);
		total += 5;
	}
	r->size = (uint8_t)total;
	r->reach_lo = r->reach_hi = r->addr;
	for (size_t i = 0; i < r->nfix; i++) {
		if (i == 0 || r->fix[i].target < r->reach_lo)
			r->reach_lo = r->fix[i].target;
		if (i == 0 || r->fix[i].target > r->reach_hi)
			r->reach_hi = r->fix[i].target;
	}
	return 0;
}

int hp_reloc_build(const uint8_t *code, size_t len, uint64_t addr, size_t min, uint64_t fn_end,
		   struct hp_reloc *ret)
{
	const struct hp_cs *cs;
	cs_insn *insn = NULL;
	struct build b = {.code = code, .len = len, .addr = addr, .fn_end = fn_end, .min = min};
	int rc;

	if (min == 0 || min > HP_RELOC_MAXSRC)
		return hp_fail(-EINVAL, "relocator: %zu bytes to displace", min);
	rc = hp_cs_get(&cs);
	if (rc < 0)
		return rc;
	b.ninsn = cs->disasm(cs->handle, code, HP_MIN(len, (size_t)HP_RELOC_MAXSRC + 15), addr, 0,
			     &insn);
	b.insn = insn;
	b.r.addr = addr;
	rc = choose(&b);
	if (rc == 0)
		rc = lay_out(&b);
	if (rc == 0) {
		memcpy(b.r.orig, code, b.r.len);
		*ret = b.r;
	}
	if (insn)
		cs->free(insn, b.ninsn);
	return rc;
}

int hp_reloc_emit(const struct hp_reloc *r, uint64_t at, uint8_t *out)
{
	uint8_t buf[HP_RELOC_MAX];

	memcpy(buf, r->bytes, r->size);
	for (size_t i = 0; i < r->nfix; i++) {
		const struct hp_reloc_fix *f = &r->fix[i];
		int64_t rel = (int64_t)(f->target - (at + f->end));
		int32_t rel32 = (int32_t)rel;

		if (rel != rel32)
			return hp_fail(-ERANGE,
				       "a copy of the bytes at 0x%llx placed at 0x%llx cannot reach "
				       "0x%llx with a rel32",
				       (unsigned long long)r->addr, (unsigned long long)at,
				       (unsigned long long)f->target);
		memcpy(buf + f->off, &rel32, 4);
	}
	memcpy(out, buf, r->size);
	return 0;
}

uint64_t hp_reloc_map(const struct hp_reloc *r, uint64_t at, uint64_t ip)
{
	size_t last = r->ends_function ? r->ninsn : r->ninsn + 1u;

	for (size_t i = 0; i < last; i++)
		if (ip == r->addr + r->src_off[i])
			return at + r->dst_off[i];
	return 0;
}

uint64_t hp_reloc_unmap(const struct hp_reloc *r, uint64_t at, uint64_t ip)
{
	size_t last = r->ends_function ? r->ninsn : r->ninsn + 1u;

	for (size_t i = 0; i < last; i++)
		if (ip == at + r->dst_off[i])
			return r->addr + r->src_off[i];
	return 0;
}
