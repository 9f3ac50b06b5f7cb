/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How a function without a hot-patch prologue can be patched, decided
 * from its file alone: found padding before the entry, or a jump over
 * relocated first instructions, or a refusal with its reason.  Every
 * hazard is checked here, statically, once per object: branches from
 * anywhere in the object into the displaced bytes, jump tables, symbols
 * and unwind entries inside them, filler that is not proven filler, and
 * GCC's -fipa-ra register contract.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relocate.h"

struct hp_elf;
struct hp_sym;

enum hp_method {
	HP_METHOD_REFUSED = 0,
	HP_METHOD_PROLOGUE, /* a hot-patch prologue: patched as always */
	HP_METHOD_PADDING,  /* proven filler before the entry takes the long jump */
	HP_METHOD_RELOCATE, /* a jmp rel32 over the first instructions */
};

/* "prologue", "padding", "relocate", "refused": the words of --json. */
static inline const char *hp_method_name(unsigned m)
{
	static const char *const names[] = {"refused", "prologue", "padding", "relocate"};

	return m < sizeof(names) / sizeof(names[0]) ? names[m] : "refused";
}

struct hp_patchability {
	enum hp_method method;
	/* REFUSED: a short tag to count by ("call", "branch-into", "short",
	 * "ipa-ra", "symbol-inside", "fde-inside", "unrelocatable", "ifunc",
	 * "breakpoint", "hooked", ...) and the sentence for a person, which
	 * names the function and the instruction or the caller */
	const char *code;
	char reason[512];
	/* all addresses are the file's (st_value space) */
	uint64_t entry;
	uint64_t window; /* where the jump at the entry goes: entry, or entry + 4 after endbr64 */
	uint64_t pad;	 /* PADDING: the 5 filler bytes that take the long jump */
	bool endbr;
	struct hp_reloc rel; /* PADDING and RELOCATE: what the jump displaces (rel.addr = window) */
};

/* What is known of an object's code as a whole: built on first use, kept
 * with the hp_elf (freed by hp_elf_close). */
struct hp_codeindex;

/*
 * Classifies the function `fn` of `e`: the first method that works, in
 * the order of enum hp_method, or REFUSED with the reason the last one
 * failed.  Returns 0 (the verdict is in *ret, refusals included) or a
 * negative errno when the file cannot be read (reason in the error
 * message).
 */
int hp_classify(struct hp_elf *e, const struct hp_sym *fn, struct hp_patchability *ret);
/* Frees what hp_classify built for `e` (hp_elf_close calls it). */
void hp_codeindex_free(struct hp_codeindex *ix);
