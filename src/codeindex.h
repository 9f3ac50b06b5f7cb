/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What is known of an object's code as a whole, for the classifier: every
 * reference into code (direct branches, rip-relative operands, jump tables,
 * pointers in data), every symbol's start, every unwind entry, the
 * producer and the compile units.  Built once per hp_elf and kept with it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cunits.h"

struct hp_elf;

enum hp_ref_kind {
	HP_REF_CALL,
	HP_REF_JMP, /* jmp, jcc, loop, jrcxz, xbegin */
	HP_REF_RIP, /* a rip-relative operand */
	HP_REF_TABLE,
	HP_REF_DATA,
};

struct hp_ref {
	uint64_t target, source;
	uint8_t kind;
};

struct hp_fde {
	uint64_t start, end;
};

struct hp_codeindex {
	struct hp_ref *refs;
	size_t nrefs, cap;
	struct hp_fde *fdes;
	uint64_t *maxend; /* the largest end among fdes[0..i] */
	size_t nfdes, fcap;
	uint64_t *symstart; /* every symbol's start, sorted */
	size_t nsyms;
	struct {
		uint64_t lo, hi;
	} exec[32], plt[4]; /* executable sections; PLT stubs */
	size_t nexec, nplt;
	bool ipa_ra;	      /* GCC's, and not switched off */
	struct hp_cunits cus; /* read only when ipa_ra */
};

/* The index of `e`, built on first use (0, or a negative errno). */
int hp_ix_get(struct hp_elf *e, struct hp_codeindex **ret);
void hp_ix_free(struct hp_codeindex *ix);
bool hp_ix_in_exec(const struct hp_codeindex *ix, uint64_t a);
bool hp_ix_in_plt(const struct hp_codeindex *ix, uint64_t a);
/* The extent of the function holding `a`: its symbol, else its FDE. */
bool hp_ix_extent(struct hp_elf *e, struct hp_codeindex *ix, uint64_t a, uint64_t *lo,
		  uint64_t *hi);
/* The first reference into [lo, hi), but for direct branches from inside
 * [xlo, xhi) (the displaced bytes, whose copy the relocator re-targets). */
const struct hp_ref *hp_ix_ref_into(const struct hp_codeindex *ix, uint64_t lo, uint64_t hi,
				    uint64_t xlo, uint64_t xhi);
bool hp_ix_sym_in(const struct hp_codeindex *ix, uint64_t lo, uint64_t hi);
bool hp_ix_fde_starts_in(const struct hp_codeindex *ix, uint64_t lo, uint64_t hi);
bool hp_ix_fde_covers(const struct hp_codeindex *ix, uint64_t lo, uint64_t hi);
/* The FDE that starts exactly at `start`, or NULL. */
const struct hp_fde *hp_ix_fde_at(const struct hp_codeindex *ix, uint64_t start);
