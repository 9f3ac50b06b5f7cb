/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The target of `hotpatch build` as a file: its symbol table in STT_FILE
 * blocks, so that a rebuilt object can be placed in the block it was linked
 * from and its functions compared with the target's bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objdiff.h"

struct hp_tsym {
	const char *name;
	uint64_t addr; /* link-time virtual address */
	uint64_t size;
	uint8_t type, bind; /* STT_*, STB_* */
	int block;	    /* index in hp_tfile.blocks of a local's STT_FILE block, or -1 */
	bool patchable;	    /* its entry is in __patchable_function_entries */
};

struct hp_tblock {
	const char *file; /* the STT_FILE name */
	size_t first, n;  /* its local symbols: syms[first .. first+n) */
};

struct hp_tfile {
	char *path;
	char build_id[129]; /* hex */
	bool pie;
	bool has_symtab;
	struct hp_tsym *syms;
	size_t nsyms;
	struct hp_tblock *blocks;
	size_t nblocks;
	void *priv;
};

/* Reads the target's .symtab (refuses a file without one, saying to build
 * unstripped or to pass the debug file). */
int hp_tfile_open(const char *path, struct hp_tfile *ret);
void hp_tfile_close(struct hp_tfile *t);
/* The block `o` was linked from: named as o's STT_FILE, and holding the
 * local functions and variables o defines.  Fails when none or several do. */
int hp_tfile_place(const struct hp_tfile *t, const struct hp_obj *o, int *ret_block);
/* The target's symbol for o->syms[i]: a local in `block`, a global by name;
 * NULL when the target has none (inlined everywhere, or dropped). */
const struct hp_tsym *hp_tfile_sym(const struct hp_tfile *t, int block, const struct hp_obj *o,
				   size_t i);
/* Compares function o->syms[i] with the target's copy byte for byte,
 * relocated fields (and the bytes linker relaxation may rewrite) masked;
 * fails naming the function and the offset of the first difference. */
int hp_tfile_verify(const struct hp_tfile *t, int block, const struct hp_obj *o, size_t i);
/* Other functions at `s`'s address (identical code folded by the linker):
 * up to `max` of them in ret; returns how many there are. */
size_t hp_tfile_aliases(const struct hp_tfile *t, const struct hp_tsym *s,
			const struct hp_tsym **ret, size_t max);
