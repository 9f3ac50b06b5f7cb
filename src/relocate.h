/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The relocator: the first whole instructions of a function copied to
 * another address so that they do there what they did at the entry, and
 * then jump back.  Pure (Capstone over a buffer, no process), so that every
 * re-encoding and every refusal is unit-tested on bytes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most instructions and bytes ever displaced, and the copy's size. */
#define HP_RELOC_MAXINSN 8
#define HP_RELOC_MAXSRC	 32
#define HP_RELOC_MAX	 96

/* A rel32 field of the copy: the 4 bytes at `off` hold
 * target - (copy address + end). */
struct hp_reloc_fix {
	uint8_t off, end;
	uint64_t target;
};

struct hp_reloc {
	uint64_t addr; /* where the displaced instructions are */
	uint8_t len;   /* bytes displaced: whole instructions (and filler) */
	uint8_t ninsn; /* instructions copied */
	/* boundary i of the original (addr + src_off[i]) is boundary i of the
	 * copy (copy + dst_off[i]); i = ninsn is the end of both */
	uint8_t src_off[HP_RELOC_MAXINSN + 1], dst_off[HP_RELOC_MAXINSN + 1];
	uint8_t orig[HP_RELOC_MAXSRC]; /* the displaced bytes, as found */
	uint8_t bytes[HP_RELOC_MAX];   /* the copy, fields not yet fixed */
	uint8_t size;
	struct hp_reloc_fix fix[HP_RELOC_MAXINSN + 1];
	uint8_t nfix;
	/* the function's last instruction (ret, jmp, ud2) is copied: no jump
	 * back; the filler after it up to addr + min counts in len, uncopied */
	bool ends_function;
	uint64_t reach_lo, reach_hi; /* every fix target lies in [lo, hi] (addr if none) */
};

/*
 * Copies the whole instructions at `addr` that cover at least `min` bytes
 * (2 for found padding, 5 for a jump at the entry).  `code` holds `len`
 * bytes from `addr`; `fn_end` is the end of the function: past a ret or a
 * jmp, the bytes up to addr + min must be filler (nop, int3) that lies at
 * or past fn_end (fn_end <= addr: not known, and a ret or jmp before addr +
 * min is refused).  A ret or jmp before fn_end does not end the copy: the
 * code after it is reached by branches.  Returns 0, or -HP_ENOTPATCHABLE
 * with the reason in the error message, naming the instruction
 * (disassembled) and its offset; *ret is untouched then.
 */
int hp_reloc_build(const uint8_t *code, size_t len, uint64_t addr, size_t min, uint64_t fn_end,
		   struct hp_reloc *ret);
/* The copy's bytes for address `at` (r->size of them): -ERANGE when a
 * target is beyond rel32 reach from there. */
int hp_reloc_emit(const struct hp_reloc *r, uint64_t at, uint8_t *out);
/* The address in the copy at `at` that matches `ip` in the original, or 0
 * when ip is not an instruction boundary of the displaced bytes.  The end
 * boundary (addr + src_off[ninsn]) maps to the jump back, and only when
 * there is one (!ends_function); filler maps to nothing. */
uint64_t hp_reloc_map(const struct hp_reloc *r, uint64_t at, uint64_t ip);
/* And back: the address in the original for `ip` inside the copy, or 0. */
uint64_t hp_reloc_unmap(const struct hp_reloc *r, uint64_t at, uint64_t ip);
