/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A relocatable object (.o built with -ffunction-sections -fdata-sections)
 * read with libelf, each function and variable with its bytes and its
 * relocations normalised to what they refer to; two such objects compared
 * symbol by symbol. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hp_oref {
	uint64_t offset; /* of the relocated field, from the symbol's start */
	uint32_t type;	 /* R_X86_64_* */
	/* What it refers to, the same in both objects when the reference is:
	 * a symbol's key, "str:" and a string's text for a mergeable string,
	 * or "<section>:" and the bytes referred to for an anonymous constant. */
	char *to;
	int64_t addend; /* from `to`, the instruction-end adjustment removed */
	bool call;	/* a call or jump to a function, not its address taken */
	int sym;	/* index in hp_obj.syms of the symbol referred to, or -1 */
};

enum hp_osym_type { HP_OSYM_FUNC, HP_OSYM_DATA, HP_OSYM_TLS, HP_OSYM_IFUNC };

struct hp_osym {
	char *name; /* as in the object: "counter.1", "f.constprop.0", "f.cold" */
	/* For pairing across objects: clone numbers dropped ("f.constprop"),
	 * a GCC static local as "function/name" after the first function that
	 * refers to it ("f/counter"), anything else its name. */
	char *key;
	enum hp_osym_type type;
	bool local, weak, defined;
	bool readonly; /* in a section that is not writable */
	char *section;
	uint64_t size;
	const uint8_t *bytes; /* `size` bytes; NULL for .bss-like (zeros) */
	struct hp_oref *refs; /* the relocations inside it, by offset */
	size_t nrefs;
	int parent;    /* a ".cold" fragment: the index of its function; else -1 */
	bool in_ctors; /* referred to from .init_array, .preinit_array, .ctors */
	bool in_dtors; /* from .fini_array, .dtors */
};

struct hp_obj {
	char *path;
	char *file;	      /* the STT_FILE name, or NULL */
	struct hp_osym *syms; /* defined and undefined, in symbol-table order */
	size_t nsyms;
	bool lto; /* has .gnu.lto_* sections: bytecode, not code */
	void *priv;
};

int hp_obj_load(const char *path, struct hp_obj *ret);
void hp_obj_free(struct hp_obj *o);
/* The defined symbol with this key, or -1. */
int hp_obj_find(const struct hp_obj *o, const char *key);

enum hp_change { HP_SAME, HP_CHANGED, HP_NEW, HP_REMOVED };

struct hp_objchange {
	int orig, patched; /* indices in each object's syms, or -1 */
	enum hp_change change;
	char why[200]; /* CHANGED: the first difference ("bytes differ at +0x1c",
			* "the call at +0x22 now goes to g", "size 48 -> 64") */
};

struct hp_objdiff {
	struct hp_objchange *ent; /* every defined function and variable */
	size_t n;
};

/* Pairs the defined functions and variables of two objects by key and
 * compares them: sizes, bytes outside relocated fields, and normalised
 * relocations (type, what they refer to, addend).  A .cold fragment is
 * reported with its function (the function is CHANGED when either is). */
int hp_obj_diff(const struct hp_obj *orig, const struct hp_obj *patched, struct hp_objdiff *ret);
void hp_objdiff_free(struct hp_objdiff *d);
