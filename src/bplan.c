/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bplan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "util.h"

enum fstate { F_SAME, F_CHANGED, F_REPLACE, F_PRIVATE, F_REFUSED, F_SKIP };

/* What planning knows of one unit while it decides. */
struct uplan {
	struct hp_bunit *u;
	const struct hp_tfile *t;
	struct hp_build_report *rep;
	uint8_t *st; /* per symbol of the original object: enum fstate */
};

static bool is_clone(const char *name)
{
	return strstr(name, ".constprop") || strstr(name, ".isra") || strstr(name, ".part") ||
	       strstr(name, ".lto_priv");
}

char *hp_bplan_qualified(const struct hp_tfile *t, int block, const struct hp_obj *o, size_t i)
{
	const struct hp_tsym *ts = hp_tfile_sym(t, block, o, i);
	char *q = NULL;

	if (!ts)
		return NULL;
	if (ts->block >= 0) {
		if (asprintf(&q, "%s;file=%s;addr=0x%llx", ts->name, t->blocks[ts->block].file,
			     (unsigned long long)ts->addr) < 0)
			q = NULL;
	} else if (asprintf(&q, "%s;addr=0x%llx", ts->name, (unsigned long long)ts->addr) < 0) {
		q = NULL;
	}
	return q;
}

/* Whether a hunk adds or removes a line within [first, last] (physical
 * lines of the patched copy; its context lines do not count). */
static bool hunk_touches(const struct hp_hunk *h, long first, long last)
{
	long pos = h->out_first;

	for (size_t i = 0; i < h->nlines; i++) {
		char c = h->lines[i][0];

		if (c != ' ' && pos >= first && pos <= last)
			return true;
		if (c != '-')
			pos++;
	}
	return false;
}

/* Whether the diff changes a line of function `name`'s own source. */
static bool touched(const struct hp_bunit *u, const char *name)
{
	for (size_t i = 0; i < u->src.nents; i++) {
		const struct hp_src_ent *e = &u->src.ents[i];

		if (!e->name || strcmp(e->name, name) || !e->definition)
			continue;
		for (size_t h = 0; u->fd && h < u->fd->nhunks; h++)
			if (hunk_touches(&u->fd->hunks[h], e->first, e->last))
				return true;
	}
	return false;
}

/* The functions of the original object referring to symbol `i` (other
 * than i itself and its fragments): how many; whether any takes its
 * address; the first whose state is F_SAME (SIZE_MAX if none). */
static size_t referrers(const struct hp_obj *o, size_t i, const uint8_t *st, bool *ret_addr,
			size_t *ret_same)
{
	size_t n = 0;

	*ret_addr = false;
	*ret_same = SIZE_MAX;
	for (size_t k = 0; k < o->nsyms; k++) {
		const struct hp_osym *s = &o->syms[k];
		size_t owner = s->parent >= 0 ? (size_t)s->parent : k;
		bool refers = false;

		for (size_t r = 0; r < s->nrefs; r++) {
			if (s->refs[r].sym != (int)i)
				continue;
			refers = true;
			if (!s->refs[r].call)
				*ret_addr = true;
		}
		if (!refers || owner == i)
			continue;
		n++;
		if (st[owner] == F_SAME && *ret_same == SIZE_MAX)
			*ret_same = owner;
	}
	return n;
}

/* Changed functions from the comparison; a changed clone (f.constprop.0)
 * cannot be replaced by name, so every function calling it changes too. */
static void mark_changed(struct uplan *p)
{
	const struct hp_obj *o = &p->u->orig;
	bool more = true;

	for (size_t i = 0; i < p->u->diff.n; i++) {
		const struct hp_objchange *c = &p->u->diff.ent[i];

		if (c->change == HP_CHANGED && c->orig >= 0 &&
		    o->syms[c->orig].type != HP_OSYM_DATA && o->syms[c->orig].type != HP_OSYM_TLS) {
			int k = o->syms[c->orig].parent >= 0 ? o->syms[c->orig].parent : c->orig;

			p->st[k] = F_CHANGED;
		}
	}
	while (more) {
		more = false;
		for (size_t i = 0; i < o->nsyms; i++) {
			if (p->st[i] != F_CHANGED || !is_clone(o->syms[i].name))
				continue;
			p->st[i] = F_SKIP;
			for (size_t k = 0; k < o->nsyms; k++) {
				const struct hp_osym *s = &o->syms[k];
				size_t owner = s->parent >= 0 ? (size_t)s->parent : k;

				for (size_t r = 0; r < s->nrefs; r++)
					if (s->refs[r].sym == (int)i && p->st[owner] == F_SAME &&
					    s->type == HP_OSYM_FUNC) {
						p->st[owner] = F_CHANGED;
						more = true;
					}
			}
		}
	}
}

static int refuse(struct uplan *p, size_t i, const char *msg)
{
	p->st[i] = F_REFUSED;
	if (!msg)
		return -ENOMEM;
	int r = hp_bnote_add(&p->rep->refusals, &p->rep->nrefusals, p->u->orig.syms[i].name,
			     "%s (%s)", msg, p->u->rel);

	free((char *)msg);
	return r;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static const char *why_changed(const struct uplan *p, size_t i)
{
	for (size_t k = 0; k < p->u->diff.n; k++) {
		const struct hp_objchange *c = &p->u->diff.ent[k];

		if (c->orig >= 0 &&
		    ((size_t)c->orig == i || p->u->orig.syms[c->orig].parent == (int)i))
			if (c->change == HP_CHANGED)
				return c->why;
	}
	return "a function it calls changed";
}

static int add_func(struct uplan *p, const char *name, enum hp_bfunc_action a, const char *why)
{
	struct hp_build_report *rep = p->rep;
	struct hp_bfunc *nf = realloc(rep->funcs, (rep->nfuncs + 1) * sizeof(*nf));

	if (!nf)
		return -ENOMEM;
	rep->funcs = nf;
	nf[rep->nfuncs] = (struct hp_bfunc){.name = strdup(name),
					    .unit = strdup(p->u->rel),
					    .action = a,
					    .why = strdup(why)};
	if (!nf[rep->nfuncs].name || !nf[rep->nfuncs].unit || !nf[rep->nfuncs].why)
		return -ENOMEM;
	rep->nfuncs++;
	return 0;
}

/* A changed static whose signature changed may stay a private function of
 * the patch when nothing outside the patch reaches it. */
static int signature(struct uplan *p, size_t i, bool *ret_private)
{
	const struct hp_osym *s = &p->u->orig.syms[i];
	char *so = NULL, *sn = NULL;
	bool addr;
	size_t same;
	int r = hp_dw_signature(p->u->dw_orig, s->name, &so);

	*ret_private = false;
	if (r == 0)
		r = hp_dw_signature(p->u->dw_new, s->name, &sn);
	if (r < 0 || !so || !sn || !strcmp(so, sn))
		goto out;
	referrers(&p->u->orig, i, p->st, &addr, &same);
	if (s->local && !addr && same == SIZE_MAX)
		*ret_private = true;
	else if (!s->local)
		r = refuse(p, i,
			   fmt("its signature changes from %s to %s, and it is not static: callers in other files, which the patch does not replace, would call it the old way",
			       so, sn));
	else if (addr)
		r = refuse(p, i,
			   fmt("its signature changes from %s to %s, and its address is taken: calls through that pointer would use the old signature",
			       so, sn));
	else
		r = refuse(p, i,
			   fmt("its signature changes from %s to %s, and %s, which the patch does not replace, calls it the old way",
			       so, sn, p->u->orig.syms[same].name));
out:
	free(so);
	free(sn);
	return r;
}

static bool in_ctor_lists(const struct uplan *p, size_t i)
{
	int k = hp_obj_find(&p->u->new, p->u->orig.syms[i].key);

	return p->u->orig.syms[i].in_ctors || p->u->orig.syms[i].in_dtors ||
	       (k >= 0 && (p->u->new.syms[k].in_ctors || p->u->new.syms[k].in_dtors));
}

/* Whether the code of s can leave it: a return, or a jump to another
 * function (a tail call).  A loop that never does keeps running the old
 * code however often the function is replaced. */
static bool can_leave(const struct hp_osym *s)
{
	const struct hp_cs *cs;
	cs_insn *insn = NULL;
	size_t n;
	bool leaves = false;

	if (!s->bytes || hp_cs_get(&cs) < 0)
		return true;
	n = cs->disasm(cs->handle, s->bytes, s->size, 0, 0, &insn);
	for (size_t i = 0; i < n && !leaves; i++) {
		const cs_detail *d = insn[i].detail;

		for (uint8_t g = 0; d && g < d->groups_count; g++)
			leaves |= d->groups[g] == CS_GRP_RET;
		if (insn[i].id != X86_INS_JMP)
			continue;
		for (size_t r = 0; r < s->nrefs; r++)
			leaves |= s->refs[r].call && s->refs[r].offset > insn[i].address &&
				  s->refs[r].offset < insn[i].address + insn[i].size;
	}
	if (insn)
		cs->free(insn, n);
	return leaves || n == 0;
}

static bool never_returns(const struct hp_obj *o, size_t i)
{
	if (can_leave(&o->syms[i]))
		return false;
	for (size_t k = 0; k < o->nsyms; k++)
		if (o->syms[k].parent == (int)i && can_leave(&o->syms[k]))
			return false;
	return true;
}

/* What checks a replaced function passes; a refusal, a warning, or none. */
static int check_replaceable(struct uplan *p, size_t i, const struct hp_tsym *ts)
{
	const char *name = p->u->orig.syms[i].name;
	const struct hp_tsym *alias[4];
	size_t na = hp_tfile_aliases(p->t, ts, alias, HP_ARRAY_SIZE(alias));

	if (p->u->orig.syms[i].type == HP_OSYM_IFUNC)
		return refuse(p, i,
			      fmt("it is an IFUNC: its address is a resolver that chose one implementation at start-up; change the implementation instead"));
	if (in_ctor_lists(p, i))
		return refuse(p, i,
			      fmt("it is a constructor or destructor: it ran when the program started (or runs when it ends) and a patch cannot run it again"));
	if (na)
		return refuse(p, i,
			      fmt("it shares one body with %s%s (identical code folded by the linker): replacing it would change %s too",
				  alias[0]->name, na > 1 ? " and others" : "", alias[0]->name));
	if (!ts->patchable)
		return refuse(p, i,
			      touched(p->u, name)
				      ? fmt("it has no hot-patch prologue: build %s with -fpatchable-function-entry=7,5",
					    p->u->rel)
				      : fmt("it changes because a changed function was inlined into it (its own source is unchanged), and it has no hot-patch prologue: build %s with -fpatchable-function-entry=7,5",
					    p->u->rel));
	if (!strcmp(name, "main"))
		return hp_bnote_add(&p->rep->warnings, &p->rep->nwarnings, name,
				    "main runs once, when the program starts: the change takes effect "
				    "only if it is entered again, which main never is");
	if (never_returns(&p->u->orig, i))
		return hp_bnote_add(&p->rep->warnings, &p->rep->nwarnings, name,
				    "it never returns (an event loop?): a thread already in it keeps "
				    "running the old code; the change takes effect for calls that "
				    "start after the patch (%s)",
				    p->u->rel);
	return 0;
}

static int decide(struct uplan *p, size_t i)
{
	const struct hp_osym *s = &p->u->orig.syms[i];
	const struct hp_tsym *ts = hp_tfile_sym(p->t, p->u->block, &p->u->orig, i);
	bool priv = false;
	int r;

	if (!ts) {
		/* not in the target: the linker dropped it, nothing calls it */
		p->st[i] = F_SKIP;
		return 0;
	}
	r = signature(p, i, &priv);
	if (r < 0 || p->st[i] == F_REFUSED)
		return r;
	if (priv) {
		p->st[i] = F_PRIVATE;
		return add_func(p, s->name, HP_BF_PRIVATE,
				"its signature changes and every caller is in the patch: the "
				"patch calls its own copy, and the target's old callers keep the "
				"old one");
	}
	r = check_replaceable(p, i, ts);
	if (r < 0 || p->st[i] == F_REFUSED)
		return r;
	p->st[i] = F_REPLACE;
	if (!touched(p->u, s->name))
		return add_func(p, s->name, HP_BF_REPLACE,
				"its source is unchanged, but a changed function was inlined into "
				"it");
	char *why = fmt("its source changes; %s", why_changed(p, i));

	r = why ? add_func(p, s->name, HP_BF_REPLACE, why) : -ENOMEM;
	free(why);
	return r;
}

/* Whether every function of the patched object that refers to its symbol
 * `k` is one the patch brings (replaced, private or new). */
static bool only_patch_reads(const struct uplan *p, size_t k)
{
	const struct hp_obj *n = &p->u->new;

	for (size_t j = 0; j < n->nsyms; j++) {
		const struct hp_osym *s = &n->syms[j];
		int oi;

		for (size_t r = 0; r < s->nrefs; r++) {
			if (s->refs[r].sym != (int)k)
				continue;
			oi = hp_obj_find(&p->u->orig, s->key);
			if (oi >= 0 && p->st[oi] != F_REPLACE && p->st[oi] != F_PRIVATE)
				return false;
		}
	}
	return true;
}

static int keep_var(struct hp_bplan *pl, size_t unit, const char *name)
{
	char **k = pl->keep[unit];
	size_t n = 0;

	while (k && k[n])
		n++;
	k = realloc(k, (n + 2) * sizeof(*k));
	if (!k)
		return -ENOMEM;
	pl->keep[unit] = k;
	k[n] = strdup(name);
	k[n + 1] = NULL;
	return k[n] ? 0 : -ENOMEM;
}

static int changed_var(struct uplan *p, struct hp_bplan *pl, size_t unit,
		       const struct hp_objchange *c)
{
	const struct hp_osym *s = &p->u->orig.syms[c->orig];

	if (s->readonly && c->patched >= 0 && only_patch_reads(p, (size_t)c->patched))
		return keep_var(pl, unit, s->name);
	p->st[c->orig] = F_REFUSED;
	return hp_bnote_add(&p->rep->refusals, &p->rep->nrefusals, s->name,
			    "its initial value, size or type changes (%s): the running process "
			    "already holds its value, and a new initialiser would never run (%s)",
			    c->why, p->u->rel);
}

static int new_sym(struct uplan *p, struct hp_bplan *pl, size_t unit, const struct hp_osym *s)
{
	if (s->type == HP_OSYM_FUNC) {
		if (s->parent >= 0 || is_clone(s->name))
			return 0;
		if (s->in_ctors || s->in_dtors)
			return hp_bnote_add(&p->rep->refusals, &p->rep->nrefusals, s->name,
					    "a new constructor or destructor: it would run inside the "
					    "target while the patch loads, before its references to the "
					    "target are bound (%s)",
					    p->u->rel);
		return add_func(p, s->name, HP_BF_NEW, "new in the patched source");
	}
	if (s->type == HP_OSYM_TLS)
		return hp_bnote_add(&p->rep->refusals, &p->rep->nrefusals, s->name,
				    "a new thread-local variable: threads that exist already have no "
				    "room for it (%s)",
				    p->u->rel);
	if (s->readonly || !s->local || !strchr(s->key, '/'))
		if (keep_var(pl, unit, s->name) < 0)
			return -ENOMEM;
	if (s->readonly)
		return 0;
	return hp_bnote_add(&p->rep->warnings, &p->rep->nwarnings, s->key,
			    "a new variable: it starts at its initial value in each process the patch "
			    "is applied to, and its value is lost on rollback (%s)",
			    p->u->rel);
}

static int data_and_new(struct uplan *p, struct hp_bplan *pl, size_t unit)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < p->u->diff.n; i++) {
		const struct hp_objchange *c = &p->u->diff.ent[i];

		if (c->change == HP_NEW && c->patched >= 0)
			r = new_sym(p, pl, unit, &p->u->new.syms[c->patched]);
		else if (c->change == HP_CHANGED && c->orig >= 0 &&
			 (p->u->orig.syms[c->orig].type == HP_OSYM_DATA ||
			  p->u->orig.syms[c->orig].type == HP_OSYM_TLS))
			r = changed_var(p, pl, unit, c);
	}
	return r;
}

/* Code the patch brings must not use the target's thread-local variables:
 * nothing binds them (each thread has its own copy). */
static int check_tls(struct uplan *p)
{
	const struct hp_obj *n = &p->u->new;

	for (size_t j = 0; j < n->nsyms; j++) {
		const struct hp_osym *s = &n->syms[j];
		int oi = hp_obj_find(&p->u->orig, s->key);

		if (!s->defined || s->type != HP_OSYM_FUNC)
			continue;
		if (oi >= 0 && p->st[oi] != F_REPLACE && p->st[oi] != F_PRIVATE)
			continue;
		for (size_t r = 0; r < s->nrefs; r++) {
			int k = s->refs[r].sym;

			if (k < 0 || n->syms[k].type != HP_OSYM_TLS)
				continue;
			return hp_bnote_add(&p->rep->refusals, &p->rep->nrefusals, n->syms[k].name,
					    "%s uses the thread-local variable %s: every thread has "
					    "its own copy, which a generated patch cannot reach (%s)",
					    s->name, n->syms[k].name, p->u->rel);
		}
	}
	return 0;
}

static int check_layouts(struct uplan *p)
{
	char **msgs = NULL;
	size_t n = 0;
	int r = hp_dw_layout_diff(p->u->dw_orig, p->u->dw_new, &msgs, &n);

	for (size_t i = 0; r == 0 && i < n; i++) {
		/* "struct client grows ...": the subject is the type's name */
		char subject[256];
		const char *sp = strchr(msgs[i], ' ');

		if (sp && (!strncmp(msgs[i], "struct ", 7) || !strncmp(msgs[i], "union ", 6) ||
			   !strncmp(msgs[i], "enum ", 5)))
			sp = strpbrk(sp + 1, " :");
		snprintf(subject, sizeof(subject), "%.*s", sp ? (int)(sp - msgs[i]) : 255, msgs[i]);
		r = hp_bnote_add(&p->rep->refusals, &p->rep->nrefusals, subject,
				 "%s: the objects already in memory have the old layout, and code "
				 "that is not replaced reads them the old way (%s)",
				 msgs[i], p->u->rel);
	}
	hp_dw_free_msgs(msgs, n);
	return r;
}

static bool kept(const struct hp_bplan *pl, size_t unit, const char *name)
{
	for (char **k = pl->keep[unit]; k && *k; k++)
		if (!strcmp(*k, name))
			return true;
	return false;
}

static int add_bind(struct hp_bplan *pl, const char *local, char *target)
{
	struct hp_bbind *nb = realloc(pl->binds, (pl->nbinds + 1) * sizeof(*nb));

	if (!nb || !target) {
		free(target);
		return -ENOMEM;
	}
	pl->binds = nb;
	nb[pl->nbinds].local = strdup(local);
	nb[pl->nbinds].target = target;
	if (!nb[pl->nbinds].local)
		return -ENOMEM;
	pl->nbinds++;
	return 0;
}

/* A label for static `oi` bound to the target's copy; NULL for a global,
 * which keeps its name (bound by it once the patch is compiled). */
static int label_for(struct uplan *p, struct hp_bplan *pl, size_t oi, char **ret)
{
	*ret = NULL;
	if (!p->u->orig.syms[oi].local)
		return 0;
	if (asprintf(ret, "__hp_%s_%zu", pl->tag, pl->nbinds) < 0)
		return -ENOMEM;
	return add_bind(pl, *ret, hp_bplan_qualified(p->t, p->u->block, &p->u->orig, oi));
}

static int add_rule(struct hp_bplan *pl, size_t unit, struct hp_gen_rule rule)
{
	struct hp_gen_rule *nr = realloc(pl->rules[unit], (pl->nrules[unit] + 1) * sizeof(*nr));

	if (!nr)
		return -ENOMEM;
	pl->rules[unit] = nr;
	nr[pl->nrules[unit]++] = rule;
	return 0;
}

static int redirect(struct uplan *p, struct hp_bplan *pl, size_t unit, size_t oi)
{
	struct hp_bredirect *nr = realloc(pl->redirects, (pl->nredirects + 1) * sizeof(*nr));
	char *label = NULL, *newname = NULL;
	int r;

	if (!nr)
		return -ENOMEM;
	pl->redirects = nr;
	r = label_for(p, pl, oi, &label);
	if (r < 0 || asprintf(&newname, "%s__hp_new", p->u->orig.syms[oi].name) < 0)
		return -ENOMEM;
	nr[pl->nredirects++] = (struct hp_bredirect){.target = hp_bplan_qualified(p->t, p->u->block,
										  &p->u->orig, oi),
						     .newname = newname,
						     .unit = unit};
	return add_rule(pl, unit,
			(struct hp_gen_rule){.name = p->u->orig.syms[oi].name,
					     .action = HP_GEN_REDIRECT,
					     .label = label,
					     .newname = strdup(newname)});
}

static bool has_rule(const struct hp_bplan *pl, size_t unit, const char *name)
{
	for (size_t i = 0; i < pl->nrules[unit]; i++)
		if (!strcmp(pl->rules[unit][i].name, name))
			return true;
	return false;
}

/* The rule for a name the unit declares: redirect what is replaced, bind
 * what the target has and the patch does not bring, keep the rest. */
static int rule_for(struct uplan *p, struct hp_bplan *pl, size_t unit, const struct hp_src_ent *e)
{
	int oi = hp_obj_find(&p->u->orig, e->name);
	char *label = NULL;
	int r;

	if (has_rule(pl, unit, e->name) || oi < 0 || kept(pl, unit, e->name))
		return 0;
	if (p->u->orig.syms[oi].type == HP_OSYM_TLS || p->u->orig.syms[oi].type == HP_OSYM_IFUNC)
		return 0;
	if (p->st[oi] == F_REPLACE)
		return redirect(p, pl, unit, (size_t)oi);
	if (p->st[oi] == F_PRIVATE || p->st[oi] == F_REFUSED)
		return 0;
	if (e->kind == HP_SRC_FUNC && (e->is_inline || e->in_macro))
		return 0; /* a copy of its code: a macro's cannot be made a declaration */
	if (!hp_tfile_sym(p->t, p->u->block, &p->u->orig, (size_t)oi))
		return 0; /* inlined everywhere, or dropped: the patch has its own */
	r = label_for(p, pl, (size_t)oi, &label);
	if (r < 0)
		return r;
	return add_rule(pl, unit,
			(struct hp_gen_rule){.name = p->u->orig.syms[oi].name,
					     .action = HP_GEN_BIND,
					     .label = label});
}

/* A static local keeps its state in the target: bind it by its name
 * there ("counter.1" for GCC, "f.counter" for clang). */
static int local_rule(struct uplan *p, struct hp_bplan *pl, size_t unit,
		      const struct hp_src_local *l)
{
	char key[512];
	int oi;
	struct hp_gen_local_rule *nl;
	char *label = NULL;

	snprintf(key, sizeof(key), "%s/%s", l->function, l->name);
	oi = hp_obj_find(&p->u->orig, key);
	if (oi < 0) {
		snprintf(key, sizeof(key), "%s.%s", l->function, l->name);
		oi = hp_obj_find(&p->u->orig, key);
	}
	if (oi < 0 || !hp_tfile_sym(p->t, p->u->block, &p->u->orig, (size_t)oi))
		return 0;
	if (label_for(p, pl, (size_t)oi, &label) < 0 || !label)
		return -ENOMEM;
	nl = realloc(pl->lrules[unit], (pl->nlrules[unit] + 1) * sizeof(*nl));
	if (!nl) {
		free(label);
		return -ENOMEM;
	}
	pl->lrules[unit] = nl;
	nl[pl->nlrules[unit]++] = (struct hp_gen_local_rule){.function = l->function,
							     .name = l->name,
							     .label = label};
	return 0;
}

static int plan_unit(struct uplan *p, struct hp_bplan *pl, size_t unit)
{
	const struct hp_obj *o = &p->u->orig;
	int r = 0;

	mark_changed(p);
	for (size_t i = 0; r == 0 && i < o->nsyms; i++)
		if (p->st[i] == F_CHANGED)
			r = decide(p, i);
	if (r == 0)
		r = data_and_new(p, pl, unit);
	if (r == 0)
		r = check_tls(p);
	if (r == 0)
		r = check_layouts(p);
	for (size_t i = 0; r == 0 && i < p->u->src.nents; i++)
		if (p->u->src.ents[i].name && p->u->src.ents[i].kind != HP_SRC_ASM)
			r = rule_for(p, pl, unit, &p->u->src.ents[i]);
	for (size_t i = 0; r == 0 && i < p->u->src.nlocals; i++)
		r = local_rule(p, pl, unit, &p->u->src.locals[i]);
	return r;
}

/* A replaced function whose definition the unit's own file does not hold
 * (a header's) cannot be renamed there. */
static int check_redirected(struct uplan *p, struct hp_bplan *pl, size_t unit)
{
	for (size_t i = 0; i < p->u->orig.nsyms; i++) {
		bool found = false;

		if (p->st[i] != F_REPLACE)
			continue;
		for (size_t k = 0; k < pl->nrules[unit]; k++)
			found |= pl->rules[unit][k].action == HP_GEN_REDIRECT &&
				 !strcmp(pl->rules[unit][k].name, p->u->orig.syms[i].name);
		if (!found)
			return refuse(p, i,
				      fmt("its definition is not in %s itself (a header's, or a macro's): hotpatch build can only rename a definition in the file it compiles",
					  p->u->rel));
	}
	return 0;
}

int hp_bplan_make(struct hp_bunit *u, size_t n, const struct hp_tfile *t, const char *tag,
		  struct hp_build_report *rep, struct hp_bplan *ret)
{
	struct hp_bplan pl = {0};
	int r = 0;

	pl.rules = calloc(n, sizeof(*pl.rules));
	pl.nrules = calloc(n, sizeof(*pl.nrules));
	pl.lrules = calloc(n, sizeof(*pl.lrules));
	pl.nlrules = calloc(n, sizeof(*pl.nlrules));
	pl.keep = calloc(n, sizeof(*pl.keep));
	pl.tag = strdup(tag);
	if (!pl.rules || !pl.nrules || !pl.lrules || !pl.nlrules || !pl.keep || !pl.tag)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct uplan p = {.u = &u[i], .t = t, .rep = rep};

		p.st = calloc(u[i].orig.nsyms + 1, 1);
		if (!p.st)
			r = -ENOMEM;
		if (r == 0)
			r = plan_unit(&p, &pl, i);
		if (r == 0)
			r = check_redirected(&p, &pl, i);
		free(p.st);
	}
	if (r < 0) {
		hp_bplan_free(&pl, n);
		return r;
	}
	*ret = pl;
	return 0;
}

void hp_bplan_free(struct hp_bplan *p, size_t nunits)
{
	for (size_t u = 0; p->rules && u < nunits; u++) {
		for (size_t i = 0; i < p->nrules[u]; i++) {
			free((char *)p->rules[u][i].label);
			free((char *)p->rules[u][i].newname);
		}
		for (size_t i = 0; i < p->nlrules[u]; i++)
			free((char *)p->lrules[u][i].label);
		free(p->rules[u]);
		free(p->lrules[u]);
		hp_ccmd_argv_free(p->keep[u]);
	}
	for (size_t i = 0; i < p->nbinds; i++) {
		free(p->binds[i].local);
		free(p->binds[i].target);
	}
	for (size_t i = 0; i < p->nredirects; i++) {
		free(p->redirects[i].target);
		free(p->redirects[i].newname);
	}
	free(p->binds);
	free(p->redirects);
	free(p->rules);
	free(p->nrules);
	free(p->lrules);
	free(p->nlrules);
	free(p->keep);
	free(p->tag);
	*p = (struct hp_bplan){0};
}
