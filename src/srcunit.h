/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A translation unit parsed with libclang, for srcgen: byte offsets and
 * physical lines of locations, whether a macro wrote one, the tokens of a
 * declaration as the file spells them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "clangapi.h"

/* The unit and libclang's copy of its main file's text: the offsets it
 * gives are into it. */
struct hp_su {
	const struct hp_clang_api *C;
	CXIndex index;
	CXTranslationUnit tu;
	CXFile file;
	const char *text;
	size_t len;
};

/* Parses `path` with the meaningful ones of a compile command's `args`
 * (see srcgen.h); fails with clang's first error ("file:line: text"). */
int hp_su_open(const char *path, char *const *args, size_t nargs, struct hp_su *u);
void hp_su_close(struct hp_su *u);

/* Offset and physical line (not #line's) where `loc` expands. */
size_t hp_su_offset(const struct hp_su *u, CXSourceLocation loc, long *ret_line);
bool hp_su_in_main(const struct hp_su *u, CXSourceLocation loc);
/* Whether `loc` is inside a macro expansion. */
bool hp_su_is_macro(const struct hp_su *u, CXSourceLocation loc);
/* Whether the extent of `c` begins or ends, or its name is, in one. */
bool hp_su_range_in_macro(const struct hp_su *u, CXCursor c);
/* The string, malloc'd (NULL without memory); `s` is disposed of. */
char *hp_su_str(const struct hp_su *u, CXString s);

/* The tokens of a declaration from `begin` (its own, or the first of the
 * declaration it shares) to the end of its extent. */
struct hp_su_toks {
	CXToken *t;
	unsigned n;
	int name; /* the index of the declared name, or -1 */
	/* before the name: the keyword a macro token stands for, or NULL */
	const char **alias;
};
void hp_su_tokens(const struct hp_su *u, CXCursor c, size_t begin, struct hp_su_toks *t);
void hp_su_toks_free(const struct hp_su *u, struct hp_su_toks *t);
size_t hp_su_tok_begin(const struct hp_su *u, CXToken t);
size_t hp_su_tok_end(const struct hp_su *u, CXToken t);
bool hp_su_tok_is(const struct hp_su *u, const struct hp_su_toks *t, unsigned i, const char *s);
bool hp_su_tok_in(const struct hp_su *u, const struct hp_su_toks *t, unsigned i,
		  const char *const *w, size_t nw);
/* The index of the first token before the name spelled as one of `w`, or -1. */
int hp_su_find_spec(const struct hp_su *u, const struct hp_su_toks *t, const char *const *w,
		    size_t nw);

/* A function definition's body. */
struct hp_su_body {
	size_t begin, end;
	bool found, macro; /* macro: written by one */
};
void hp_su_body(const struct hp_su *u, CXCursor c, struct hp_su_body *ret);

/* Whether a macro writes what binding declaration `c` (from `begin`) to
 * the target must change: its end, its `static` or `inline`, its body;
 * its name too when `rename` (or for a variable). */
bool hp_su_macro_blocks(const struct hp_su *u, CXCursor c, size_t begin, bool rename);

extern const char *const hp_su_dropped[4]; /* static and inline's spellings */
