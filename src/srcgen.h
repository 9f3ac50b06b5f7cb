/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The source of a generated patch: a translation unit parsed with libclang
 * (loaded on first use, as Capstone is), its top-level declarations listed
 * with their lines, and rewritten declaration by declaration, never a use:
 * what the patch takes from the target becomes a declaration bound to the
 * target's own copy, what it brings stays as written.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum hp_src_kind { HP_SRC_FUNC, HP_SRC_VAR, HP_SRC_ASM };

/* A declaration at file scope of the main file (not of a header). */
struct hp_src_ent {
	char *name; /* NULL for a file-scope asm() */
	enum hp_src_kind kind;
	bool definition; /* a function with a body, a variable definition
			  * (tentative ones included) */
	bool is_static;
	bool is_inline;	  /* declared inline (this or another declaration) */
	bool in_macro;	  /* what binding it would change (its static or
			   * inline, body, end, a variable's name) is a
			   * macro's: cannot be rewritten */
	bool is_const;	  /* a variable of const-qualified type */
	long first, last; /* the physical lines of its extent, 1-based */
	char *type;	  /* as clang spells it: "int (const char *, int)" */
};

/* A static variable declared inside a function of the main file. */
struct hp_src_local {
	char *function;
	char *name;
	long line;
	bool is_const;
};

struct hp_src {
	char *path;
	struct hp_src_ent *ents; /* in the order of the file */
	size_t nents;
	struct hp_src_local *locals;
	size_t nlocals;
	void *priv; /* the parsed unit */
};

/*
 * Parses `path` as a compiler would with `args` (the compile command's
 * arguments without the compiler, the source file, -c and -o FILE;
 * options clang does not know are dropped, with the compile's meaning
 * kept: -D, -U, -I, -iquote, -isystem, -include, -std, -O).  Fails with
 * clang's first error when the file does not parse.  With
 * "-working-directory DIR" among them, relative paths are DIR's (the
 * compile command's directory); "-fgnuc-version=V" gives GCC's __GNUC__.
 */
int hp_src_parse(const char *path, char *const *args, size_t nargs, struct hp_src *ret);
void hp_src_free(struct hp_src *s);

enum hp_gen_action {
	HP_GEN_KEEP,	 /* as written (the default for names without a rule) */
	HP_GEN_BIND,	 /* a declaration of the target's copy: no body, no
			  * initialiser, not static, extern */
	HP_GEN_REDIRECT, /* the definition renamed `newname` and made static; the
			  * name itself bound as for BIND */
};

struct hp_gen_rule {
	const char *name;
	enum hp_gen_action action;
	/* BIND, REDIRECT: the external name the declaration gets
	 * (#pragma redefine_extname), for a static; NULL keeps the name. */
	const char *label;
	const char *newname; /* REDIRECT */
};

/* A static local of a function whose body the patch keeps: with a label,
 * an extern declaration of the target's copy (asm label `label`, no
 * initialiser); without one, kept as written (a new variable). */
struct hp_gen_local_rule {
	const char *function, *name;
	const char *label;
};

/*
 * Writes the patch's source to *ret (malloc'd, NUL-terminated): the parsed
 * file with every declaration of each ruled name in the main file
 * rewritten as its rule says, each ruled static local rewritten, every
 * file-scope asm() dropped (it is the target's), and `banner` (a comment)
 * first.  Refuses, naming it, a declaration it must rewrite that a macro
 * wrote, or one that declares several names with different rules.
 */
int hp_src_generate(const struct hp_src *s, const struct hp_gen_rule *r, size_t nr,
		    const struct hp_gen_local_rule *l, size_t nl, const char *banner, char **ret,
		    size_t *retlen);
