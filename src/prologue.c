/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "prologue.h"

#include <stdio.h>
#include <string.h>

#include "cs.h"
#include "util.h"

void hp_disasm(const uint8_t *buf, size_t len, uint64_t addr, int max, char *out, size_t outsz)
{
	const struct hp_cs *cs = NULL;
	cs_insn *insn = NULL;
	size_t n = 0, o = 0;

	out[0] = 0;
	if (hp_cs_get(&cs) < 0)
		hp_error_clear(); /* the bytes in hex, then */
	else
		n = cs->disasm(cs->handle, buf, len, addr, (size_t)max, &insn);
	for (size_t i = 0; i < n && o + 8 < outsz; i++) {
		char hex[64];

		hp_hex(hex, sizeof(hex), insn[i].bytes, insn[i].size);
		o += (size_t)snprintf(out + o, outsz - o, "%s%s (%s%s%s)", i ? "; " : "", hex,
				      insn[i].mnemonic, insn[i].op_str[0] ? " " : "",
				      insn[i].op_str);
	}
	if (n == 0) {
		hp_hex(out, outsz, buf, HP_MIN(len, (size_t)8));
		if (strlen(out) + 20 < outsz)
			strcat(out, " (not an instruction)");
	}
	if (insn)
		cs->free(insn, n);
}

/* An instruction that changes nothing: nop, xchg r,r of one register,
 * mov r64,r64 of one register, lea r,[r+0]. */
static bool is_noop(const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;

	switch (in->id) {
	case X86_INS_NOP:
		return true;
	case X86_INS_XCHG:
		return x->op_count == 2 && x->operands[0].type == X86_OP_REG &&
		       x->operands[1].type == X86_OP_REG &&
		       x->operands[0].reg == x->operands[1].reg &&
		       x->operands[0].size != 4; /* xchg eax,eax zero-extends */
	case X86_INS_MOV:
		return x->op_count == 2 && x->operands[0].type == X86_OP_REG &&
		       x->operands[1].type == X86_OP_REG &&
		       x->operands[0].reg == x->operands[1].reg && x->operands[0].size == 8;
	case X86_INS_LEA:
		return x->op_count == 2 && x->operands[0].type == X86_OP_REG &&
		       x->operands[1].type == X86_OP_MEM && x->operands[0].size == 8 &&
		       x->operands[1].mem.base == x->operands[0].reg &&
		       x->operands[1].mem.index == X86_REG_INVALID &&
		       x->operands[1].mem.disp == 0 &&
		       x->operands[1].mem.segment == X86_REG_INVALID;
	default:
		return false;
	}
}

static int not_patchable(const uint8_t *buf, size_t len, uint64_t buf_addr, uint64_t entry,
			 const char *why)
{
	char dis[512], pad[64];
	size_t off = (size_t)(entry - buf_addr);

	hp_disasm(buf + off, len - off, entry, 3, dis, sizeof(dis));
	hp_hex(pad, sizeof(pad), buf + off - HP_PAD_LEN, HP_PAD_LEN);
	return hp_fail(-HP_ENOTPATCHABLE,
		       "%s; found at entry: %s; 5 bytes before entry: %s. Build the target "
		       "with -fpatchable-function-entry=7,5 (or N,M with M >= 5, N-M >= 2)",
		       why, dis, pad);
}

bool hp_decode_jmp(const uint8_t *b, size_t len, uint64_t at, uint64_t *ret)
{
	int32_t rel;

	if (len < 5 || b[0] != 0xe9)
		return false;
	memcpy(&rel, b + 1, 4);
	*ret = at + 5 + (uint64_t)(int64_t)rel;
	return true;
}

/* The layouts compilers emit, by their bytes (Capstone for the rest). */
static const char *known_window(const uint8_t *w, unsigned *ret_len)
{
	static const uint8_t lea[8] = {0x48, 0x8d, 0xa4, 0x24, 0, 0, 0, 0};

	*ret_len = 2;
	if (w[0] == 0x90 && w[1] == 0x90)
		return "gcc";
	if (w[0] == 0x66 && w[1] == 0x90)
		return "clang";
	*ret_len = 8;
	if (!memcmp(w, lea, sizeof(lea)))
		return "ms_hook_prologue";
	return NULL;
}

static bool spare_pad(const uint8_t *pad)
{
	for (int i = 0; i < HP_PAD_LEN; i++)
		if (pad[i] != 0x90 && pad[i] != 0xcc)
			return false;
	return true;
}

/* The window, disassembled: whole no-op instructions covering at least 2
 * bytes; which compiler's (or attribute's) it is. */
static int disasm_window(const struct hp_cs *cs, const uint8_t *buf, size_t len, uint64_t buf_addr,
			 uint64_t entry, size_t woff, struct hp_prologue *p)
{
	cs_insn *insn = NULL;
	size_t n;

	n = cs->disasm(cs->handle, buf + woff, len - woff, p->window, 2, &insn);
	for (size_t i = 0; i < n && p->window_len < HP_WIN_LEN; i++) {
		if (!is_noop(&insn[i])) {
			cs->free(insn, n);
			return not_patchable(buf, len, buf_addr, entry,
					     p->window_len
						     ? "the no-op at the entry is only 1 byte long"
						     : "no 2-byte no-op at the entry");
		}
		p->window_len += insn[i].size;
	}
	if (n && p->window_len >= HP_WIN_LEN) {
		if (insn[0].id == X86_INS_LEA)
			p->layout = "ms_hook_prologue";
		else if (n >= 2 && insn[0].size == 1 && insn[1].size == 1 && buf[woff] == 0x90)
			p->layout = "gcc";
		else if (insn[0].size == 2 && buf[woff] == 0x66 && buf[woff + 1] == 0x90)
			p->layout = "clang";
		else
			p->layout = "nop";
	}
	if (insn)
		cs->free(insn, n);
	if (p->window_len < HP_WIN_LEN)
		return not_patchable(buf, len, buf_addr, entry, "no 2-byte no-op at the entry");
	p->body = p->window + p->window_len;
	return 0;
}

/* A pad of no-op instructions that end exactly at the entry. */
static bool noop_pad(const struct hp_cs *cs, const uint8_t *pad, uint64_t addr)
{
	cs_insn *insn = NULL;
	size_t covered = 0, n;
	bool ok;

	n = cs->disasm(cs->handle, pad, HP_PAD_LEN, addr, HP_PAD_LEN, &insn);
	ok = n > 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_noop(&insn[i]))
			ok = false;
		covered += insn[i].size;
	}
	if (insn)
		cs->free(insn, n);
	return ok && covered == HP_PAD_LEN;
}

int hp_prologue_analyze(const uint8_t *buf, size_t len, uint64_t buf_addr, uint64_t entry,
			struct hp_prologue *ret)
{
	struct hp_prologue p = {0};
	const struct hp_cs *cs = NULL;
	size_t off, woff;
	int r;

	if (entry < buf_addr + HP_PRO_BEFORE || entry + HP_PRO_AFTER > buf_addr + len)
		return hp_fail(-EINVAL, "internal: prologue buffer does not cover the entry");
	off = (size_t)(entry - buf_addr);
	p.entry = entry;
	p.pad = entry - HP_PAD_LEN;
	p.window = entry;
	if (!memcmp(buf + off, "\xf3\x0f\x1e\xfa", 4)) {
		p.endbr = true;
		p.window = entry + 4;
	}
	woff = (size_t)(p.window - buf_addr);
	memcpy(p.pad_bytes, buf + off - HP_PAD_LEN, HP_PAD_LEN);
	memcpy(p.win_bytes, buf + woff, HP_WIN_LEN);

	/* Already patched: a short jump back to a pad that holds a long jump. */
	if (buf[woff] == 0xeb && (int8_t)buf[woff + 1] == (int8_t)(p.pad - (p.window + 2)) &&
	    hp_decode_jmp(buf + off - HP_PAD_LEN, HP_PAD_LEN, p.pad, &p.dest)) {
		p.state = HP_PRO_PATCHED;
		p.layout = "patched";
		p.window_len = HP_WIN_LEN; /* the record knows the real one */
		p.body = p.window + p.window_len;
		*ret = p;
		return 0;
	}

	p.layout = known_window(buf + woff, &p.window_len);
	if (p.layout && spare_pad(buf + off - HP_PAD_LEN)) {
		p.body = p.window + p.window_len;
		p.state = HP_PRO_UNPATCHED;
		*ret = p;
		return 0;
	}
	p.layout = NULL;
	p.window_len = 0;
	r = hp_cs_get(&cs);
	if (r == 0)
		r = disasm_window(cs, buf, len, buf_addr, entry, woff, &p);
	if (r < 0)
		return r;
	if (!spare_pad(buf + off - HP_PAD_LEN) && !noop_pad(cs, buf + off - HP_PAD_LEN, p.pad))
		return not_patchable(buf, len, buf_addr, entry,
				     "no 5 spare bytes (nop or int3) right before the entry");
	p.state = HP_PRO_UNPATCHED;
	*ret = p;
	return 0;
}

int hp_jmp_rel32(uint8_t out[5], uint64_t at, uint64_t to)
{
	int64_t rel = (int64_t)(to - (at + 5));
	int32_t r32;

	if (rel < INT32_MIN || rel > INT32_MAX)
		return -ERANGE;
	r32 = (int32_t)rel;
	out[0] = 0xe9;
	memcpy(out + 1, &r32, 4);
	return 0;
}

int hp_jmp_rel8(uint8_t out[2], uint64_t at, uint64_t to)
{
	int64_t rel = (int64_t)(to - (at + 2));

	if (rel < -128 || rel > 127)
		return -ERANGE;
	out[0] = 0xeb;
	out[1] = (uint8_t)(int8_t)rel;
	return 0;
}

void hp_jmp_abs(uint8_t out[HP_SLOT_LEN], uint64_t to)
{
	/* jmp *0(%rip); .quad to; two int3 of padding */
	static const uint8_t head[6] = {0xff, 0x25, 0, 0, 0, 0};

	memcpy(out, head, sizeof(head));
	memcpy(out + 6, &to, 8);
	out[14] = 0xcc;
	out[15] = 0xcc;
}
