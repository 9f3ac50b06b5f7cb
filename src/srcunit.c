/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "srcunit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Options that change what the file means; the rest (warnings, code
 * generation, GCC's own -f) would only make clang complain.  The caller
 * may add -working-directory (relative paths are the compile's) and
 * -fgnuc-version= (GCC's __GNUC__ for the #if that test it). */
static const char *const valued[] = {
	"-D",	    "-U",	"-I",	     "-iquote", "-isystem",	      "-idirafter",
	"-include", "-imacros", "-isysroot", "-x",	"-working-directory",
};
/* with the value joined; the -m ones define the macros of an instruction
 * set (__AVX2__) that code tests */
static const char *const joined[] = {
	"-D",	 "-U",	     "-I",    "-iquote",    "-isystem",	       "-idirafter",
	"-std=", "-O",	     "-x",    "--sysroot=", "-fgnuc-version=", "-march=",
	"-msse", "-mno-sse", "-mavx", "-mno-avx",   "-mpopcnt",	       "-mbmi",
	"-maes", "-mpclmul", "-mfma", "-mf16c",	    "-mlzcnt",
};
static const char *const exact[] = {
	"-m32",
	"-m64",
	"-ansi",
	"-pthread",
	"-nostdinc",
	"-ffreestanding",
	"-fms-extensions",
	"-fsigned-char",
	"-fno-signed-char",
	"-funsigned-char",
	"-fno-unsigned-char",
	"-fPIC",
	"-fpic",
	"-fPIE",
	"-fpie",
};

static bool in_list(const char *a, const char *const *l, size_t n, bool prefix)
{
	for (size_t i = 0; i < n; i++)
		if (prefix ? !strncmp(a, l[i], strlen(l[i])) : !strcmp(a, l[i]))
			return true;
	return false;
}

static const char *const paths[] = {"-I",	  "-iquote",  "-isystem",
				    "-idirafter", "-include", "-imacros"};

/* The value `val` of option `opt`, after it (`join`) or alone, a relative
 * path made one from `wd` (libclang's -working-directory does not reach
 * the include paths). */
static char *value_of(const char *opt, const char *val, const char *wd, bool join)
{
	bool rel =
		wd && val[0] && val[0] != '/' && in_list(opt, paths, HP_ARRAY_SIZE(paths), false);
	char *r;

	if (asprintf(&r, "%s%s%s%s", join ? opt : "", rel ? wd : "", rel ? "/" : "", val) < 0)
		return NULL;
	return r;
}

static char *joined_arg(const char *a, const char *wd)
{
	for (size_t k = 0; k < HP_ARRAY_SIZE(paths); k++)
		if (!strncmp(a, paths[k], strlen(paths[k])) && a[strlen(paths[k])])
			return value_of(paths[k], a + strlen(paths[k]), wd, true);
	return strdup(a);
}

static void args_free(char **v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* The arguments clang gets, in their order (malloc'd). */
static char **filter_args(char *const *args, size_t nargs, int *ret_n)
{
	char **out = calloc(nargs + 1, sizeof(*out));
	const char *wd = NULL;
	int n = 0;
	bool oom = !out;

	for (size_t i = 0; i + 1 < nargs; i++)
		if (!strcmp(args[i], "-working-directory"))
			wd = args[i + 1];
	for (size_t i = 0; !oom && i < nargs; i++) {
		const char *a = args[i];

		if (in_list(a, valued, HP_ARRAY_SIZE(valued), false) && i + 1 < nargs) {
			out[n++] = strdup(a);
			out[n++] = value_of(a, args[++i], wd, false);
			oom = !out[n - 2] || !out[n - 1];
		} else if (in_list(a, joined, HP_ARRAY_SIZE(joined), true) ||
			   in_list(a, exact, HP_ARRAY_SIZE(exact), false)) {
			out[n++] = joined_arg(a, wd);
			oom = !out[n - 1];
		}
	}
	if (oom) {
		args_free(out, n);
		return NULL;
	}
	*ret_n = n;
	return out;
}

/* Offset and physical line of `loc` in the file it expands in. */
size_t hp_su_offset(const struct hp_su *u, CXSourceLocation loc, long *ret_line)
{
	unsigned line = 0, col = 0, off = 0;
	CXFile f = NULL;

	u->C->getExpansionLocation(loc, &f, &line, &col, &off);
	if (ret_line)
		*ret_line = line;
	return off;
}

bool hp_su_in_main(const struct hp_su *u, CXSourceLocation loc)
{
	unsigned line, col, off;
	CXFile f = NULL;

	u->C->getExpansionLocation(loc, &f, &line, &col, &off);
	return f && u->C->File_isEqual(f, u->file);
}

/* Whether `loc` is inside a macro expansion: it is not the plain location
 * of the file offset it expands at (libclang's spelling location is the
 * expansion's for a macro's body, so comparing the two would not do). */
bool hp_su_is_macro(const struct hp_su *u, CXSourceLocation loc)
{
	unsigned line, col, off;
	CXFile f = NULL;

	u->C->getExpansionLocation(loc, &f, &line, &col, &off);
	if (!f)
		return true;
	return !u->C->equalLocations(loc, u->C->getLocationForOffset(u->tu, f, off));
}

bool hp_su_range_in_macro(const struct hp_su *u, CXCursor c)
{
	CXSourceRange r = u->C->getCursorExtent(c);

	return hp_su_is_macro(u, u->C->getRangeStart(r)) ||
	       hp_su_is_macro(u, u->C->getRangeEnd(r)) ||
	       hp_su_is_macro(u, u->C->getCursorLocation(c));
}

char *hp_su_str(const struct hp_su *u, CXString s)
{
	const char *p = u->C->getCString(s);
	char *d = strdup(p ? p : "");

	u->C->disposeString(s);
	return d;
}

static int first_error(const struct hp_su *u, const char *path)
{
	const struct hp_clang_api *C = u->C;
	unsigned n = C->getNumDiagnostics(u->tu);

	for (unsigned i = 0; i < n; i++) {
		CXDiagnostic d = C->getDiagnostic(u->tu, i);
		CXFile f = NULL;
		unsigned line = 0, col, off;
		char *msg, *file;
		int r;

		if (C->getDiagnosticSeverity(d) < CXDiagnostic_Error) {
			C->disposeDiagnostic(d);
			continue;
		}
		C->getExpansionLocation(C->getDiagnosticLocation(d), &f, &line, &col, &off);
		file = f ? hp_su_str(u, C->getFileName(f)) : strdup(path);
		msg = hp_su_str(u, C->getDiagnosticSpelling(d));
		C->disposeDiagnostic(d);
		r = hp_fail(-HP_ESOURCE, "%s:%u: %s", file ? file : path, line, msg ? msg : "");
		free(file);
		free(msg);
		return r;
	}
	return 0;
}

int hp_su_open(const char *path, char *const *args, size_t nargs, struct hp_su *u)
{
	int n = 0, r;
	char **cargs = filter_args(args, nargs, &n);
	enum CXErrorCode ec;

	if (!cargs)
		return -ENOMEM;
	r = hp_clang_get(&u->C);
	if (r < 0) {
		args_free(cargs, n);
		return r;
	}
	u->index = u->C->createIndex(0, 0);
	ec = u->C->parseTranslationUnit2(u->index, path, (const char *const *)cargs, n, NULL, 0,
					 CXTranslationUnit_DetailedPreprocessingRecord, &u->tu);
	args_free(cargs, n);
	if (ec != CXError_Success || !u->tu)
		return hp_fail(-HP_ESOURCE, "%s: libclang cannot parse it (error %d)", path, ec);
	r = first_error(u, path);
	if (r < 0)
		return r;
	u->file = u->C->getFile(u->tu, path);
	u->text = u->file ? u->C->getFileContents(u->tu, u->file, &u->len) : NULL;
	if (!u->text)
		return hp_fail(-HP_ESOURCE, "%s: libclang has no text of it", path);
	return 0;
}

size_t hp_su_tok_begin(const struct hp_su *u, CXToken t)
{
	return hp_su_offset(u, u->C->getRangeStart(u->C->getTokenExtent(u->tu, t)), NULL);
}

size_t hp_su_tok_end(const struct hp_su *u, CXToken t)
{
	return hp_su_offset(u, u->C->getRangeEnd(u->C->getTokenExtent(u->tu, t)), NULL);
}

bool hp_su_tok_is(const struct hp_su *u, const struct hp_su_toks *t, unsigned i, const char *s)
{
	size_t b, e;

	if (i >= t->n)
		return false;
	if (t->alias && i < (unsigned)t->name && t->alias[i])
		return !strcmp(t->alias[i], s);
	b = hp_su_tok_begin(u, t->t[i]);
	e = hp_su_tok_end(u, t->t[i]);
	return e - b == strlen(s) && e <= u->len && !memcmp(u->text + b, s, e - b);
}

void hp_su_toks_free(const struct hp_su *u, struct hp_su_toks *t)
{
	if (t->t)
		u->C->disposeTokens(u->tu, t->t, t->n);
	free(t->alias);
	*t = (struct hp_su_toks){0};
}

bool hp_su_tok_in(const struct hp_su *u, const struct hp_su_toks *t, unsigned i,
		  const char *const *w, size_t nw)
{
	for (size_t k = 0; k < nw; k++)
		if (hp_su_tok_is(u, t, i, w[k]))
			return true;
	return false;
}

/* Index of the first specifier before the name spelled as one of `w`, or -1. */
int hp_su_find_spec(const struct hp_su *u, const struct hp_su_toks *t, const char *const *w,
		    size_t nw)
{
	for (int i = 0; i < t->name; i++)
		if (hp_su_tok_in(u, t, (unsigned)i, w, nw))
			return i;
	return -1;
}

struct body_walk {
	const struct hp_su *u;
	struct hp_su_body *b;
};

static enum CXChildVisitResult find_body(CXCursor c, CXCursor parent, CXClientData data)
{
	const struct hp_su *u = ((struct body_walk *)data)->u;
	struct hp_su_body *b = ((struct body_walk *)data)->b;
	CXSourceRange r;

	(void)parent;
	if (u->C->getCursorKind(c) != CXCursor_CompoundStmt)
		return CXChildVisit_Continue;
	r = u->C->getCursorExtent(c);
	b->begin = hp_su_offset(u, u->C->getRangeStart(r), NULL);
	b->end = hp_su_offset(u, u->C->getRangeEnd(r), NULL);
	b->found = true;
	b->macro = hp_su_range_in_macro(u, c);
	return CXChildVisit_Break;
}
void hp_su_body(const struct hp_su *u, CXCursor c, struct hp_su_body *ret)
{
	struct body_walk w = {.u = u, .b = ret};

	*ret = (struct hp_su_body){0};
	u->C->visitChildren(c, find_body, &w);
}

const char *const hp_su_dropped[4] = {"static", "inline", "__inline", "__inline__"};
static const char *const keywords[] = {"static", "inline", "__inline", "__inline__", "extern"};

/* The keyword an object-like macro stands for ("#define REDIS_STATIC
 * static"), or NULL. */
static const char *macro_keyword(const struct hp_su *u, CXToken tok)
{
	const struct hp_clang_api *C = u->C;
	CXCursor m, def;
	CXToken *dt = NULL;
	unsigned n = 0;
	const char *kw = NULL;

	if (C->getTokenKind(tok) != CXToken_Identifier)
		return NULL;
	m = C->getCursor(u->tu, C->getRangeStart(C->getTokenExtent(u->tu, tok)));
	if (C->getCursorKind(m) != CXCursor_MacroExpansion)
		return NULL;
	def = C->getCursorReferenced(m);
	if (C->getCursorKind(def) != CXCursor_MacroDefinition || C->Cursor_isMacroFunctionLike(def))
		return NULL;
	C->tokenize(u->tu, C->getCursorExtent(def), &dt, &n);
	for (size_t k = 0; n == 2 && k < HP_ARRAY_SIZE(keywords); k++) {
		char *sp = hp_su_str(u, C->getTokenSpelling(u->tu, dt[1]));

		if (sp && !strcmp(sp, keywords[k]))
			kw = keywords[k];
		free(sp);
	}
	if (dt)
		C->disposeTokens(u->tu, dt, n);
	return kw;
}

void hp_su_tokens(const struct hp_su *u, CXCursor c, size_t begin, struct hp_su_toks *t)
{
	size_t name = hp_su_offset(u, u->C->getCursorLocation(c), NULL);
	CXSourceRange ext = u->C->getCursorExtent(c);

	ext = u->C->getRange(u->C->getLocationForOffset(u->tu, u->file, (unsigned)begin),
			     u->C->getRangeEnd(ext));
	u->C->tokenize(u->tu, ext, &t->t, &t->n);
	t->name = -1;
	for (unsigned i = 0; i < t->n && t->name < 0; i++)
		if (hp_su_tok_begin(u, t->t[i]) == name)
			t->name = (int)i;
	/* without memory, no macro is taken for a keyword: refused, not wrong */
	t->alias = t->name > 0 ? calloc((size_t)t->name, sizeof(*t->alias)) : NULL;
	for (int i = 0; t->alias && i < t->name; i++)
		t->alias[i] = macro_keyword(u, t->t[i]);
}

static const char *const w_static[] = {"static"};

/*
 * A declaration that begins with a macro ("LUA_API int f(...)") can be
 * bound when what must change is written in the file: the macro may hide
 * a `static` or `inline` that has to go.
 */
static bool spec_hidden(const struct hp_su *u, CXCursor c, const struct hp_su_toks *t)
{
	if (u->C->Cursor_getStorageClass(c) == CX_SC_Static &&
	    hp_su_find_spec(u, t, w_static, 1) < 0)
		return true;
	return u->C->getCursorKind(c) == CXCursor_FunctionDecl &&
	       u->C->Cursor_isFunctionInlined(c) &&
	       hp_su_find_spec(u, t, hp_su_dropped + 1, HP_ARRAY_SIZE(hp_su_dropped) - 1) < 0;
}

bool hp_su_macro_blocks(const struct hp_su *u, CXCursor c, size_t begin, bool rename)
{
	const struct hp_clang_api *C = u->C;
	bool func = C->getCursorKind(c) == CXCursor_FunctionDecl, blocked;
	struct hp_su_toks t = {0};
	struct hp_su_body b;

	/* a function's name from a macro ("#define luaI_openlib luaL_openlib")
	 * is no trouble where the name is not what changes */
	if (hp_su_is_macro(u, C->getRangeEnd(C->getCursorExtent(c))) ||
	    (hp_su_is_macro(u, C->getCursorLocation(c)) && (!func || rename)))
		return true;
	if (func && C->isCursorDefinition(c)) {
		hp_su_body(u, c, &b);
		if (b.found && b.macro)
			return true;
	}
	if (!hp_su_is_macro(u, C->getRangeStart(C->getCursorExtent(c))))
		return false;
	hp_su_tokens(u, c, begin, &t);
	blocked = t.name < 0 || spec_hidden(u, c, &t);
	hp_su_toks_free(u, &t);
	return blocked;
}

void hp_su_close(struct hp_su *u)
{
	if (u->tu)
		u->C->disposeTranslationUnit(u->tu);
	if (u->index)
		u->C->disposeIndex(u->index);
	*u = (struct hp_su){0};
}
