/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "srcgen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "srcunit.h"
#include "util.h"

/* A top-level declaration that is no function or variable: a file-scope
 * asm() (libclang 14 has no cursor kind of its own for it). */
static bool is_asm(const struct hp_su *u, CXCursor c)
{
	char *p;
	bool yes;

	if (u->C->getCursorKind(c) != CXCursor_UnexposedDecl)
		return false;
	p = hp_su_str(u, u->C->getCursorPrettyPrinted(c, NULL));
	yes = p && (!strncmp(p, "__asm", 5) || !strncmp(p, "asm", 3));
	free(p);
	return yes;
}

/* A variable definition, a tentative one included: not `extern`, or
 * initialised. */
static bool var_defines(const struct hp_su *u, CXCursor c)
{
	return u->C->Cursor_getStorageClass(c) != CX_SC_Extern ||
	       !u->C->Cursor_isNull(u->C->Cursor_getVarDeclInitializer(c));
}

static bool const_type(const struct hp_su *u, CXType t)
{
	while (t.kind == CXType_ConstantArray || t.kind == CXType_IncompleteArray ||
	       t.kind == CXType_VariableArray)
		t = u->C->getArrayElementType(t);
	return u->C->isConstQualifiedType(t);
}

struct walk {
	struct hp_su *u;
	struct hp_src *s;
	size_t cap_ents, cap_locals;
	const char *function;
	int err;
};

static int add_ent(struct walk *w, CXCursor c, enum hp_src_kind kind)
{
	const struct hp_clang_api *C = w->u->C;
	CXSourceRange ext = C->getCursorExtent(c);
	struct hp_src_ent *e;

	if (hp_grow((void **)&w->s->ents, &w->cap_ents, w->s->nents, sizeof(*e)) < 0)
		return -ENOMEM;
	e = &w->s->ents[w->s->nents];
	*e = (struct hp_src_ent){.kind = kind};
	e->in_macro = kind == HP_SRC_ASM
			      ? hp_su_range_in_macro(w->u, c)
			      : hp_su_macro_blocks(w->u, c,
						   hp_su_offset(w->u, C->getRangeStart(ext), NULL),
						   false);
	hp_su_offset(w->u, C->getRangeStart(ext), &e->first);
	hp_su_offset(w->u, C->getRangeEnd(ext), &e->last);
	w->s->nents++;
	if (kind == HP_SRC_ASM)
		return 0;
	e->name = hp_su_str(w->u, C->getCursorSpelling(c));
	e->type = hp_su_str(w->u, C->getTypeSpelling(C->getCursorType(c)));
	if (!e->name || !e->type)
		return -ENOMEM;
	e->is_static = C->getCursorLinkage(c) == CXLinkage_Internal;
	if (kind == HP_SRC_FUNC) {
		e->definition = C->isCursorDefinition(c);
		e->is_inline = C->Cursor_isFunctionInlined(c);
	} else {
		e->definition = var_defines(w->u, c);
		e->is_const = const_type(w->u, C->getCursorType(c));
	}
	return 0;
}

static enum CXChildVisitResult visit_local(CXCursor c, CXCursor parent, CXClientData data)
{
	struct walk *w = data;
	const struct hp_clang_api *C = w->u->C;
	struct hp_src_local *l;

	(void)parent;
	if (C->getCursorKind(c) != CXCursor_VarDecl || C->Cursor_getStorageClass(c) != CX_SC_Static)
		return CXChildVisit_Recurse;
	if (hp_grow((void **)&w->s->locals, &w->cap_locals, w->s->nlocals, sizeof(*l)) < 0) {
		w->err = -ENOMEM;
		return CXChildVisit_Break;
	}
	l = &w->s->locals[w->s->nlocals++];
	*l = (struct hp_src_local){.function = strdup(w->function),
				   .name = hp_su_str(w->u, C->getCursorSpelling(c)),
				   .is_const = const_type(w->u, C->getCursorType(c))};
	hp_su_offset(w->u, C->getCursorLocation(c), &l->line);
	if (!l->function || !l->name) {
		w->err = -ENOMEM;
		return CXChildVisit_Break;
	}
	return CXChildVisit_Recurse;
}

static enum CXChildVisitResult visit_top(CXCursor c, CXCursor parent, CXClientData data)
{
	struct walk *w = data;
	const struct hp_clang_api *C = w->u->C;
	enum CXCursorKind k = C->getCursorKind(c);
	enum hp_src_kind kind;

	(void)parent;
	if (!hp_su_in_main(w->u, C->getCursorLocation(c)))
		return CXChildVisit_Continue;
	if (k == CXCursor_FunctionDecl)
		kind = HP_SRC_FUNC;
	else if (k == CXCursor_VarDecl)
		kind = HP_SRC_VAR;
	else if (is_asm(w->u, c))
		kind = HP_SRC_ASM;
	else
		return CXChildVisit_Continue;
	w->err = add_ent(w, c, kind);
	if (w->err == 0 && kind == HP_SRC_FUNC && w->s->ents[w->s->nents - 1].definition) {
		w->function = w->s->ents[w->s->nents - 1].name;
		C->visitChildren(c, visit_local, w);
	}
	return w->err ? CXChildVisit_Break : CXChildVisit_Continue;
}

/* `inline` on any declaration makes the function inline. */
static void spread_inline(struct hp_src *s)
{
	for (size_t i = 0; i < s->nents; i++)
		for (size_t j = 0; s->ents[i].is_inline && j < s->nents; j++)
			if (s->ents[j].name && !strcmp(s->ents[j].name, s->ents[i].name))
				s->ents[j].is_inline = true;
}

int hp_src_parse(const char *path, char *const *args, size_t nargs, struct hp_src *ret)
{
	struct hp_src s = {.path = strdup(path)};
	struct hp_su *u = calloc(1, sizeof(*u));
	struct walk w = {.u = u, .s = &s};
	int r;

	s.priv = u;
	if (!u || !s.path) {
		r = -ENOMEM;
		goto fail;
	}
	r = hp_su_open(path, args, nargs, u);
	if (r < 0)
		goto fail;
	u->C->visitChildren(u->C->getTranslationUnitCursor(u->tu), visit_top, &w);
	r = w.err;
	if (r < 0)
		goto fail;
	spread_inline(&s);
	*ret = s;
	return 0;
fail:
	hp_src_free(&s);
	return r;
}

void hp_src_free(struct hp_src *s)
{
	struct hp_su *u = s->priv;

	for (size_t i = 0; i < s->nents; i++) {
		free(s->ents[i].name);
		free(s->ents[i].type);
	}
	for (size_t i = 0; i < s->nlocals; i++) {
		free(s->locals[i].function);
		free(s->locals[i].name);
	}
	if (u)
		hp_su_close(u);
	free(u);
	free(s->ents);
	free(s->locals);
	free(s->path);
	*s = (struct hp_src){0};
}

/* The rewrite: edits by byte offset into the main file's text. */
struct edit {
	size_t start, end; /* replaced; start == end inserts */
	char *text;
	size_t seq;
};

/* A declaration the rewrite looks at: its rule, and the begin of its
 * extent, which those of one declaration share ("static int a, b;"). */
struct decl {
	CXCursor c;
	char *name;
	size_t begin;
	enum hp_src_kind kind;
	bool local;
	const struct hp_gen_rule *rule;	       /* top level */
	const struct hp_gen_local_rule *lrule; /* a static local, with a label */
};

struct gen {
	const struct hp_su *u;
	const struct hp_src *s;
	const struct hp_gen_rule *r;
	size_t nr;
	const struct hp_gen_local_rule *l;
	size_t nl;
	struct decl *d;
	size_t nd, capd;
	struct edit *e;
	size_t ne, cape;
	struct hp_buf pragmas;
	const char *function; /* whose static locals are being collected */
	int err;
};

static int add_edit(struct gen *g, size_t start, size_t end, const char *text)
{
	for (size_t i = 0; i < g->ne; i++)
		if (g->e[i].start == start && g->e[i].end == end && !strcmp(g->e[i].text, text))
			return 0; /* the same edit for another name of the declaration */
	if (hp_grow((void **)&g->e, &g->cape, g->ne, sizeof(*g->e)) < 0)
		return -ENOMEM;
	g->e[g->ne] = (struct edit){.start = start, .end = end, .text = strdup(text), .seq = g->ne};
	if (!g->e[g->ne].text)
		return -ENOMEM;
	g->ne++;
	return 0;
}

/* Replaces [start, end) with `text` and as many newlines as it had: the
 * lines after it keep their numbers, for messages and for review. */
static int add_edit_lines(struct gen *g, size_t start, size_t end, const char *text)
{
	struct hp_buf t = {0};
	int r;

	hp_buf_printf(&t, "%s", text);
	for (size_t i = start; i < end && i < g->u->len; i++)
		if (g->u->text[i] == '\n')
			hp_buf_printf(&t, "\n");
	r = t.oom ? -ENOMEM : add_edit(g, start, end, t.s);
	free(t.s);
	return r;
}

/* Physical line of a byte offset of the main file. */
static long line_at(const struct hp_su *u, size_t off)
{
	long line = 1;

	for (size_t i = 0; i < off && i < u->len; i++)
		line += u->text[i] == '\n';
	return line;
}

static const struct hp_gen_rule *rule_of(const struct gen *g, const char *name)
{
	for (size_t i = 0; i < g->nr; i++)
		if (g->r[i].name && !strcmp(g->r[i].name, name))
			return &g->r[i];
	return NULL;
}

static const struct hp_gen_local_rule *lrule_of(const struct gen *g, const char *name)
{
	for (size_t i = 0; i < g->nl; i++)
		if (g->l[i].label && !strcmp(g->l[i].function, g->function) &&
		    !strcmp(g->l[i].name, name))
			return &g->l[i];
	return NULL;
}

/* Whether the declaration is rewritten at all: what one declaration of
 * several names must agree on. */
static bool rewritten(const struct decl *d)
{
	return d->local ? d->lrule != NULL : d->rule && d->rule->action != HP_GEN_KEEP;
}

/*
 * Whether the text between two declarators is a comma, not the end of a
 * declaration: the second declares its name in the first's declaration
 * ("static int a = 1, b;").  At file scope libclang's extents of both
 * begin at the shared `static`; this holds where one would not.
 */
static bool continues(const struct hp_su *u, size_t from, size_t to)
{
	const char *x = u->text;
	int depth = 0;

	for (size_t i = from; i < to && i < u->len; i++) {
		if (x[i] == '/' && i + 1 < to && (x[i + 1] == '*' || x[i + 1] == '/')) {
			bool block = x[i + 1] == '*';
			const char *e =
				memmem(x + i + 2, to - i - 2, block ? "*/" : "\n", block ? 2 : 1);

			if (!e)
				return false;
			i = (size_t)(e - x) + (block ? 1 : 0);
		} else if (x[i] == '"' || x[i] == '\'') {
			for (char q = x[i++]; i < to && x[i] != q; i++)
				i += x[i] == '\\';
		} else if (x[i] && strchr("([{", x[i])) {
			depth++;
		} else if (x[i] && strchr(")]}", x[i]) && --depth < 0) {
			return false;
		} else if (depth == 0 && (x[i] == ',' || x[i] == ';')) {
			return x[i] == ',';
		}
	}
	return false;
}

/* `stmt`: a static local's DeclStmt, whose begin is the declaration's
 * (libclang's extent of the variable may begin after a struct in its
 * type, or at its own declarator after a comma). */
static int add_decl(struct gen *g, CXCursor c, enum hp_src_kind kind, bool local,
		    const CXCursor *stmt)
{
	const struct hp_clang_api *C = g->u->C;
	struct decl *d;

	if (hp_grow((void **)&g->d, &g->capd, g->nd, sizeof(*d)) < 0)
		return -ENOMEM;
	d = &g->d[g->nd];
	*d = (struct decl){.c = c, .kind = kind, .local = local};
	d->begin = hp_su_offset(g->u, C->getRangeStart(C->getCursorExtent(stmt ? *stmt : c)), NULL);
	if (!stmt && g->nd && kind != HP_SRC_ASM && d[-1].kind != HP_SRC_ASM &&
	    d[-1].local == local &&
	    continues(g->u, hp_su_offset(g->u, C->getRangeEnd(C->getCursorExtent(d[-1].c)), NULL),
		      hp_su_offset(g->u, C->getCursorLocation(c), NULL)))
		d->begin = d[-1].begin;
	if (kind == HP_SRC_ASM) {
		g->nd++;
		return 0;
	}
	d->name = hp_su_str(g->u, C->getCursorSpelling(c));
	if (!d->name)
		return -ENOMEM;
	if (local)
		d->lrule = lrule_of(g, d->name);
	else
		d->rule = rule_of(g, d->name);
	g->nd++;
	return 0;
}

static enum CXChildVisitResult collect_local(CXCursor c, CXCursor parent, CXClientData data)
{
	struct gen *g = data;
	const struct hp_clang_api *C = g->u->C;

	if (C->getCursorKind(c) == CXCursor_VarDecl && C->Cursor_getStorageClass(c) == CX_SC_Static)
		g->err = add_decl(g, c, HP_SRC_VAR, true,
				  C->getCursorKind(parent) == CXCursor_DeclStmt ? &parent : NULL);
	return g->err ? CXChildVisit_Break : CXChildVisit_Recurse;
}

static enum CXChildVisitResult collect_top(CXCursor c, CXCursor parent, CXClientData data)
{
	struct gen *g = data;
	const struct hp_clang_api *C = g->u->C;
	enum CXCursorKind k = C->getCursorKind(c);
	const struct decl *d;

	(void)parent;
	if (!hp_su_in_main(g->u, C->getCursorLocation(c)))
		return CXChildVisit_Continue;
	if (k == CXCursor_FunctionDecl || k == CXCursor_VarDecl)
		g->err = add_decl(g, c, k == CXCursor_FunctionDecl ? HP_SRC_FUNC : HP_SRC_VAR,
				  false, NULL);
	else if (is_asm(g->u, c))
		g->err = add_decl(g, c, HP_SRC_ASM, false, NULL);
	else
		return CXChildVisit_Continue;
	if (g->err)
		return CXChildVisit_Break;
	d = &g->d[g->nd - 1];
	/* a bound function loses its body, and its static locals with it */
	if (d->kind == HP_SRC_FUNC && C->isCursorDefinition(c) &&
	    !(d->rule && d->rule->action == HP_GEN_BIND)) {
		g->function = d->name;
		C->visitChildren(c, collect_local, g);
	}
	return g->err ? CXChildVisit_Break : CXChildVisit_Continue;
}

static int refuse_macro(const struct gen *g, const struct decl *d)
{
	return hp_fail(-HP_EREFUSED,
		       "%s is declared by a macro expansion at %s:%ld: hotpatch build cannot "
		       "rewrite it",
		       d->name, g->s->path, line_at(g->u, d->begin));
}

/* Refuses what the rewrite cannot do: an asm() a macro wrote, one
 * declaration of names with different rules, an ambiguous static local
 * (rewrite() refuses the declarations a macro wrote). */
static int check_decls(const struct gen *g)
{
	for (size_t i = 0; i < g->nd; i++) {
		const struct decl *d = &g->d[i], *p = i ? &g->d[i - 1] : NULL;
		long line = line_at(g->u, d->begin);

		if (d->kind == HP_SRC_ASM && hp_su_range_in_macro(g->u, d->c))
			return hp_fail(-HP_EREFUSED,
				       "a file-scope asm() is written by a macro expansion at %s:%ld: "
				       "hotpatch build cannot drop it",
				       g->s->path, line);
		if (p && p->kind != HP_SRC_ASM && d->kind != HP_SRC_ASM && p->begin == d->begin &&
		    rewritten(p) != rewritten(d))
			return hp_fail(-HP_EREFUSED,
				       "%s and %s are declared together at %s:%ld, one to be bound to "
				       "the target and one kept: hotpatch build cannot split the "
				       "declaration",
				       p->name, d->name, g->s->path, line);
		if (!d->local && d->rule && d->rule->action == HP_GEN_REDIRECT &&
		    d->kind != HP_SRC_FUNC)
			return hp_fail(-EINVAL, "%s is a variable: only a function is redirected",
				       d->name);
		for (size_t j = 0; d->lrule && j < i; j++)
			if (g->d[j].lrule == d->lrule)
				return hp_fail(-HP_EREFUSED,
					       "%s has several static locals named %s: hotpatch build "
					       "cannot tell which one is the target's",
					       d->lrule->function, d->name);
	}
	return 0;
}

static int toks_get(const struct gen *g, const struct decl *d, struct hp_su_toks *t)
{
	hp_su_tokens(g->u, d->c, d->begin, t);
	if (t->name < 0)
		return hp_fail(-EINVAL, "%s:%ld: libclang gives no token for %s", g->s->path,
			       line_at(g->u, d->begin), d->name);
	return 0;
}

static const char *const w_static[] = {"static"};
static const char *const w_extern[] = {"extern"};

/* Removes token i and the blanks after it. */
static int drop_token(struct gen *g, const struct hp_su_toks *t, unsigned i)
{
	size_t b = hp_su_tok_begin(g->u, t->t[i]), e = hp_su_tok_end(g->u, t->t[i]);

	while (e < g->u->len && (g->u->text[e] == ' ' || g->u->text[e] == '\t'))
		e++;
	return add_edit(g, b, e, "");
}

static int drop_specs(struct gen *g, const struct hp_su_toks *t)
{
	int r = 0;

	for (int i = 0; r == 0 && i < t->name; i++)
		if (hp_su_tok_in(g->u, t, (unsigned)i, hp_su_dropped, HP_ARRAY_SIZE(hp_su_dropped)))
			r = drop_token(g, t, (unsigned)i);
	return r;
}

/* The body of a definition, refused when old-style (K&R): its parameter
 * declarations would stay after the declarator of a mere declaration. */
static int body_of(const struct gen *g, const struct decl *d, const struct hp_su_toks *t,
		   struct hp_su_body *b)
{
	hp_su_body(g->u, d->c, b);
	if (!b->found || b->macro || b->begin >= b->end || b->end > g->u->len)
		return hp_fail(-EINVAL, "%s:%ld: libclang gives no body for %s", g->s->path,
			       line_at(g->u, d->begin), d->name);
	for (unsigned i = (unsigned)t->name + 1;
	     i < t->n && hp_su_tok_begin(g->u, t->t[i]) < b->begin; i++)
		if (hp_su_tok_is(g->u, t, i, ";"))
			return hp_fail(-HP_EREFUSED,
				       "%s has an old-style (K&R) definition at %s:%ld: hotpatch "
				       "build cannot rewrite it",
				       d->name, g->s->path, line_at(g->u, d->begin));
	return 0;
}

/* The declaration `#pragma redefine_extname` binds to `label`. */
static void add_label(struct gen *g, const char *name, const char *label)
{
	char line[512];

	if (!label)
		return;
	snprintf(line, sizeof(line), "#pragma redefine_extname %s %s\n", name, label);
	if (!g->pragmas.s || !strstr(g->pragmas.s, line))
		hp_buf_printf(&g->pragmas, "%s", line);
}

/*
 * The header of a definition (up to its body) as a declaration of the
 * target's copy, `static` and `inline` dropped; on one line when that is
 * safe (no line comment, directive or continuation), so that the lines
 * after it keep their numbers.
 */
static char *bound_header(const struct gen *g, const struct hp_su_toks *t, size_t begin,
			  size_t body)
{
	const char *x = g->u->text;
	struct hp_buf b = {0};
	size_t p = begin, n;
	bool one_line;

	for (int i = 0; i < t->name; i++) {
		if (!hp_su_tok_in(g->u, t, (unsigned)i, hp_su_dropped,
				  HP_ARRAY_SIZE(hp_su_dropped)))
			continue;
		n = hp_su_tok_begin(g->u, t->t[i]);
		hp_buf_add(&b, x + p, n - p);
		p = hp_su_tok_end(g->u, t->t[i]);
		while (p < body && (x[p] == ' ' || x[p] == '\t'))
			p++;
	}
	hp_buf_add(&b, x + p, body - p);
	while (b.len && (b.s[b.len - 1] == ' ' || b.s[b.len - 1] == '\t' || b.s[b.len - 1] == '\n'))
		b.s[--b.len] = '\0';
	one_line = b.s && !strstr(b.s, "//") && !strchr(b.s, '#') && !strchr(b.s, '\\');
	for (size_t i = 0; one_line && i < b.len; i++)
		if (b.s[i] == '\n')
			b.s[i] = ' ';
	hp_buf_printf(&b, one_line ? "; " : ";\n");
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* A declaration of the target's copy: no static, no inline, no body. */
static int bind_func(struct gen *g, const struct decl *d, const struct hp_su_toks *t)
{
	struct hp_su_body b;
	int r = drop_specs(g, t);

	if (r < 0 || !g->u->C->isCursorDefinition(d->c))
		return r;
	r = body_of(g, d, t, &b);
	return r < 0 ? r : add_edit_lines(g, b.begin, b.end, ";");
}

/* The definition renamed and made static, after a declaration of the
 * target's copy under the name itself.  A macro's `extern` ("LUA_API")
 * stays: the new name is then global, hidden as the patch compiles. */
static int redirect_func(struct gen *g, const struct decl *d, const struct hp_su_toks *t)
{
	struct hp_su_body b;
	char *head;
	int r, ext;

	if (!g->u->C->isCursorDefinition(d->c))
		return bind_func(g, d, t);
	r = body_of(g, d, t, &b);
	if (r < 0)
		return r;
	head = bound_header(g, t, d->begin, b.begin);
	if (!head)
		return -ENOMEM;
	r = add_edit(g, d->begin, d->begin, head);
	free(head);
	ext = hp_su_find_spec(g->u, t, w_extern, 1);
	if (r == 0 && ext >= 0)
		r = add_edit(g, hp_su_tok_begin(g->u, t->t[ext]), hp_su_tok_end(g->u, t->t[ext]),
			     "static");
	else if (r == 0 && hp_su_find_spec(g->u, t, w_static, 1) < 0 &&
		 g->u->C->Cursor_getStorageClass(d->c) != CX_SC_Extern)
		r = add_edit(g, d->begin, d->begin, "static ");
	if (r == 0)
		r = add_edit(g, hp_su_tok_begin(g->u, t->t[t->name]),
			     hp_su_tok_end(g->u, t->t[t->name]), d->rule->newname);
	return r;
}

/* Where the declarator ends: after the name, its array and parameter
 * suffixes and the parentheses around it ("(*fp)(int)", "tab[4]"). */
static unsigned declarator_end(const struct gen *g, const struct hp_su_toks *t)
{
	unsigned i = (unsigned)t->name + 1;

	while (i < t->n) {
		if (hp_su_tok_is(g->u, t, i, "[") || hp_su_tok_is(g->u, t, i, "(")) {
			int depth = 0;

			do {
				if (hp_su_tok_is(g->u, t, i, "[") || hp_su_tok_is(g->u, t, i, "("))
					depth++;
				else if (hp_su_tok_is(g->u, t, i, "]") ||
					 hp_su_tok_is(g->u, t, i, ")"))
					depth--;
				i++;
			} while (i < t->n && depth > 0);
		} else if (hp_su_tok_is(g->u, t, i, ")")) {
			i++;
		} else {
			break;
		}
	}
	return i - 1;
}

/* No initialiser; an array sized by it keeps its size ("tab[] = {..}"
 * becomes "tab[3]": sizeof must not change). */
static int drop_init(struct gen *g, const struct decl *d, const struct hp_su_toks *t)
{
	const struct hp_clang_api *C = g->u->C;
	CXCursor init = C->Cursor_getVarDeclInitializer(d->c);
	CXType type = C->getCursorType(d->c);
	size_t ib, ie, eq = SIZE_MAX, stop = hp_su_tok_end(g->u, t->t[t->name]);
	int r = 0;

	if (type.kind == CXType_ConstantArray &&
	    hp_su_tok_is(g->u, t, (unsigned)t->name + 1, "[") &&
	    hp_su_tok_is(g->u, t, (unsigned)t->name + 2, "]")) {
		char n[32];

		snprintf(n, sizeof(n), "%lld", C->getArraySize(type));
		r = add_edit(g, hp_su_tok_begin(g->u, t->t[t->name + 2]),
			     hp_su_tok_begin(g->u, t->t[t->name + 2]), n);
	}
	if (r < 0 || C->Cursor_isNull(init))
		return r;
	ib = hp_su_offset(g->u, C->getRangeStart(C->getCursorExtent(init)), NULL);
	ie = hp_su_offset(g->u, C->getRangeEnd(C->getCursorExtent(init)), NULL);
	for (unsigned i = (unsigned)t->name + 1; i < t->n && hp_su_tok_begin(g->u, t->t[i]) < ib;
	     i++)
		if (hp_su_tok_is(g->u, t, i, "="))
			eq = hp_su_tok_begin(g->u, t->t[i]);
	if (eq == SIZE_MAX || ie < eq || ie > g->u->len)
		return hp_fail(-EINVAL, "%s:%ld: cannot find the initialiser of %s", g->s->path,
			       line_at(g->u, d->begin), d->name);
	while (eq > stop && (g->u->text[eq - 1] == ' ' || g->u->text[eq - 1] == '\t'))
		eq--;
	return add_edit(g, eq, ie, "");
}

/* `extern` instead of `static` (or in front), no initialiser. */
static int bind_var(struct gen *g, const struct decl *d, const struct hp_su_toks *t)
{
	int st = hp_su_find_spec(g->u, t, w_static, 1), r = 0;

	if (st >= 0)
		r = add_edit(g, hp_su_tok_begin(g->u, t->t[st]), hp_su_tok_end(g->u, t->t[st]),
			     "extern");
	else if (hp_su_find_spec(g->u, t, w_extern, 1) < 0)
		r = add_edit(g, d->begin, d->begin, "extern ");
	return r < 0 ? r : drop_init(g, d, t);
}

/* A static local of the target: a block-scope extern with its label. */
static int bind_local(struct gen *g, const struct decl *d, const struct hp_su_toks *t)
{
	char *label = NULL;
	int r;

	if (asprintf(&label, " __asm__(\"%s\")", d->lrule->label) < 0)
		return -ENOMEM;
	r = add_edit(g, hp_su_tok_end(g->u, t->t[declarator_end(g, t)]),
		     hp_su_tok_end(g->u, t->t[declarator_end(g, t)]), label);
	free(label);
	return r < 0 ? r : bind_var(g, d, t);
}

/* The target has its own: assembled again, it would define its symbols a
 * second time.  Its lines stay, as blank ones. */
static int drop_asm(struct gen *g, const struct decl *d)
{
	const struct hp_clang_api *C = g->u->C;
	size_t b = d->begin, e = hp_su_offset(g->u, C->getRangeEnd(C->getCursorExtent(d->c)), NULL);
	size_t p = e;

	while (p < g->u->len &&
	       (g->u->text[p] == ' ' || g->u->text[p] == '\t' || g->u->text[p] == '\n'))
		p++;
	if (p < g->u->len && g->u->text[p] == ';')
		e = p + 1;
	return add_edit_lines(g, b, e,
			      "/* hotpatch build: a file-scope asm() dropped (the target has it) */");
}

static const char *const w_asm[] = {"asm", "__asm", "__asm__"};

/* An asm label after the declarator ("int x __asm__(\"y\")") would win
 * over the label the rewrite gives. */
static bool own_label(const struct gen *g, const struct hp_su_toks *t)
{
	unsigned e = declarator_end(g, t);

	return e + 1 < t->n && hp_su_tok_in(g->u, t, e + 1, w_asm, HP_ARRAY_SIZE(w_asm));
}

static int rewrite(struct gen *g, const struct decl *d)
{
	struct hp_su_toks t = {0};
	int r;

	if (d->kind == HP_SRC_ASM)
		return drop_asm(g, d);
	if (!rewritten(d))
		return 0;
	if (hp_su_macro_blocks(g->u, d->c, d->begin,
			       d->local || d->rule->action == HP_GEN_REDIRECT))
		return refuse_macro(g, d);
	r = toks_get(g, d, &t);
	if (r == 0 && (d->local || d->rule->label) && own_label(g, &t))
		r = hp_fail(-HP_EREFUSED,
			    "%s has an asm label of its own at %s:%ld: hotpatch build cannot bind it "
			    "to the target's copy",
			    d->name, g->s->path, line_at(g->u, d->begin));
	if (r < 0)
		goto out;
	if (d->local)
		r = bind_local(g, d, &t);
	else if (d->kind == HP_SRC_VAR)
		r = bind_var(g, d, &t);
	else if (d->rule->action == HP_GEN_REDIRECT)
		r = redirect_func(g, d, &t);
	else
		r = bind_func(g, d, &t);
	if (r == 0 && !d->local)
		add_label(g, d->name, d->rule->label);
out:
	hp_su_toks_free(g->u, &t);
	return r;
}

/* Insertions before replacements at one offset, else in the order made. */
static int edit_cmp(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;
	bool xi = x->start == x->end, yi = y->start == y->end;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (xi != yi)
		return xi ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int assemble(struct gen *g, const char *banner, struct hp_buf *out)
{
	size_t p = 0;

	if (g->ne)
		qsort(g->e, g->ne, sizeof(*g->e), edit_cmp);
	if (banner)
		hp_buf_printf(out, "%s\n", banner);
	if (g->pragmas.s)
		hp_buf_add(out, g->pragmas.s, g->pragmas.len);
	for (size_t i = 0; i < g->ne; i++) {
		const struct edit *e = &g->e[i];

		if (e->start < p || e->end > g->u->len)
			return hp_fail(-EINVAL, "%s:%ld: two rewrites overlap", g->s->path,
				       line_at(g->u, e->start));
		hp_buf_add(out, g->u->text + p, e->start - p);
		hp_buf_add(out, e->text, strlen(e->text));
		p = e->end;
	}
	hp_buf_add(out, g->u->text + p, g->u->len - p);
	if (!out->s)
		hp_buf_add(out, "", 0);
	return out->oom ? -ENOMEM : 0;
}

static void gen_free(struct gen *g)
{
	for (size_t i = 0; i < g->nd; i++)
		free(g->d[i].name);
	for (size_t i = 0; i < g->ne; i++)
		free(g->e[i].text);
	free(g->d);
	free(g->e);
	free(g->pragmas.s);
}

int hp_src_generate(const struct hp_src *s, const struct hp_gen_rule *r, size_t nr,
		    const struct hp_gen_local_rule *l, size_t nl, const char *banner, char **ret,
		    size_t *retlen)
{
	struct gen g = {.u = s->priv, .s = s, .r = r, .nr = nr, .l = l, .nl = nl};
	struct hp_buf out = {0};
	int rc;

	if (!g.u || !g.u->tu)
		return hp_fail(-EINVAL, "%s: not parsed", s->path);
	g.u->C->visitChildren(g.u->C->getTranslationUnitCursor(g.u->tu), collect_top, &g);
	rc = g.err;
	if (rc == 0)
		rc = check_decls(&g);
	for (size_t i = 0; rc == 0 && i < g.nd; i++)
		rc = rewrite(&g, &g.d[i]);
	if (rc == 0 && g.pragmas.oom)
		rc = -ENOMEM;
	if (rc == 0)
		rc = assemble(&g, banner, &out);
	gen_free(&g);
	if (rc < 0) {
		free(out.s);
		return rc;
	}
	*ret = out.s;
	*retlen = out.len;
	return 0;
}
