/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a build does with each changed function and variable: replace it
 * in the target, keep a private copy, bring it new; or refuse, or warn.
 * And, per unit, the rules that rewrite its source: every function and
 * variable the patch does not bring is bound to the target's own copy.
 */
#pragma once

#include <stddef.h>

#include "breport.h"
#include "bunit.h"

/* A name of the patch resolved to a symbol of the target at apply time. */
struct hp_bbind {
	char *local;  /* the patch's (undefined) symbol */
	char *target; /* the target's, qualified: "name;file=F;addr=0x..." */
};

/* A function of the target replaced by the patch's `newname`. */
struct hp_bredirect {
	char *target; /* qualified */
	char *newname;
	size_t unit;
};

struct hp_bplan {
	struct hp_gen_rule **rules; /* per unit */
	size_t *nrules;
	struct hp_gen_local_rule **lrules;
	size_t *nlrules;
	struct hp_bbind *binds; /* the labels of statics, known before compiling */
	size_t nbinds;
	struct hp_bredirect *redirects;
	size_t nredirects;
	char ***keep; /* per unit, NULL-terminated: variables the patch brings */
	char *tag;    /* unique to this build, for labels */
};

/* Plans every unit; refusals and warnings go to `rep`.  0 even with
 * refusals (the caller looks at rep->nrefusals). */
int hp_bplan_make(struct hp_bunit *u, size_t n, const struct hp_tfile *t, const char *tag,
		  struct hp_build_report *rep, struct hp_bplan *ret);
void hp_bplan_free(struct hp_bplan *p, size_t nunits);
/* The qualified name of the target's copy of o->syms[i] (malloc'd), or
 * NULL when the target has none. */
char *hp_bplan_qualified(const struct hp_tfile *t, int block, const struct hp_obj *o, size_t i);
