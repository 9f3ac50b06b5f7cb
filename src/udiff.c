/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unified diffs as git, quilt and diff -u write them.  The parser reads a
 * hunk by the counts of its header, never by the look of its lines, so a
 * removed line that reads "-- x" or a mail's "---" separator cannot be taken
 * for a file header.  Applying is exact: a hunk may have moved (patch(1)'s
 * offsets) but every old line must match.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "escape.h"
#include "udiff.h"
#include "util.h"

/* Hunk headers beyond this are refused, so that line arithmetic cannot
 * overflow. */
#define HP_DIFF_MAX_LINE 100000000L

struct cur {
	const char *p, *end;
	long lineno; /* of the line next_line returned last */
	const char *name;
};

/* The next line, without its "\n" (and "\r": CRLF diffs are read as LF). */
static bool next_line(struct cur *c, const char **line, size_t *len)
{
	const char *nl;
	size_t n;

	if (c->p >= c->end)
		return false;
	nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	n = nl ? (size_t)(nl - c->p) : (size_t)(c->end - c->p);
	*line = c->p;
	c->p += n + (nl ? 1 : 0);
	if (n && (*line)[n - 1] == '\r')
		n--;
	*len = n;
	c->lineno++;
	return true;
}

static bool peek_line(const struct cur *c, const char **line, size_t *len)
{
	struct cur t = *c;

	return next_line(&t, line, len);
}

static bool starts(const char *l, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && !memcmp(l, prefix, k);
}

/* Two lines ahead: "--- x" then "+++ y", a file header outside a hunk. */
static bool at_file_header(const struct cur *c)
{
	struct cur t = *c;
	const char *l;
	size_t n;

	if (!next_line(&t, &l, &n) || !starts(l, n, "--- "))
		return false;
	return next_line(&t, &l, &n) && starts(l, n, "+++ ");
}

static int octal_escape(const char *s, size_t n, size_t *i, struct hp_buf *b)
{
	unsigned v = 0;
	int k;
	char ch;

	for (k = 0; k < 3 && *i < n && s[*i] >= '0' && s[*i] <= '7'; k++)
		v = v * 8 + (unsigned)(s[(*i)++] - '0');
	if (k != 3 || v > 255)
		return -EINVAL;
	ch = (char)v;
	hp_buf_add(b, &ch, 1);
	return 0;
}

/* A path git quoted ("a/sp\303\244ce"): unescaped into *ret; *used is how
 * many bytes of s the quoted form took. */
static int unquote(const char *s, size_t n, char **ret, size_t *used)
{
	static const char from[] = "abtnvfr\"\\", to[] = "\a\b\t\n\v\f\r\"\\";
	struct hp_buf b = {0};
	size_t i = 1;
	int r = -EINVAL;

	hp_buf_add(&b, "", 0);
	while (i < n && s[i] != '"') {
		const char *e;

		if (s[i] != '\\') {
			hp_buf_add(&b, s + i++, 1);
			continue;
		}
		if (++i == n)
			goto cleanup;
		if (s[i] >= '0' && s[i] <= '7') {
			if (octal_escape(s, n, &i, &b) < 0)
				goto cleanup;
			continue;
		}
		e = strchr(from, s[i]);
		if (!e || !s[i])
			goto cleanup;
		hp_buf_add(&b, &to[e - from], 1);
		i++;
	}
	if (i == n || b.oom) {
		r = b.oom ? -ENOMEM : -EINVAL;
		goto cleanup;
	}
	*used = i + 1;
	*ret = b.s;
	b.s = NULL;
	r = 0;
cleanup:
	hp_buf_free(&b);
	return r;
}

/* The name on a "--- " or "+++ " line (after the prefix): up to a tab,
 * which diff -u follows with a date; NULL for /dev/null, or for the epoch
 * date some tools give a file that does not exist. */
static int header_path(const char *s, size_t n, char **ret)
{
	const char *rest;
	size_t used;
	int r;

	*ret = NULL;
	if (n && s[0] == '"') {
		r = unquote(s, n, ret, &used);
		if (r < 0)
			return r;
	} else {
		const char *tab = memchr(s, '\t', n);

		used = tab ? (size_t)(tab - s) : n;
		if (!(*ret = strndup(s, used)))
			return -ENOMEM;
	}
	rest = s + used;
	n -= used;
	if (!**ret || !strcmp(*ret, "/dev/null") ||
	    (n > 11 &&
	     (!memcmp(rest + 1, "1970-01-01 ", 11) || !memcmp(rest + 1, "1969-12-31 ", 11)))) {
		free(*ret);
		*ret = NULL;
	}
	return 0;
}

static const char *file_name(const struct hp_file_diff *f)
{
	if (f->path)
		return f->path;
	return f->new_path ? f->new_path : f->old_path ? f->old_path : "(unnamed)";
}

static bool parse_num(const char **p, const char *end, long *v)
{
	const char *s = *p;
	long x = 0;

	while (*p < end && **p >= '0' && **p <= '9') {
		x = x * 10 + (**p - '0');
		if (x > HP_DIFF_MAX_LINE)
			return false;
		(*p)++;
	}
	*v = x;
	return *p > s;
}

/* "-5,7", or "-5" for a length of 1 */
static bool parse_range(const char **p, const char *end, char sign, long *start, long *len)
{
	if (*p >= end || **p != sign)
		return false;
	(*p)++;
	if (!parse_num(p, end, start))
		return false;
	*len = 1;
	if (*p < end && **p == ',') {
		(*p)++;
		if (!parse_num(p, end, len))
			return false;
	}
	/* line 0 only names the place before the first line, for no lines */
	return *start > 0 || *len == 0;
}

static bool parse_hunk_header(const char *l, size_t n, struct hp_hunk *h)
{
	const char *p = l + 3, *end = l + n;

	if (!parse_range(&p, end, '-', &h->old_start, &h->old_len))
		return false;
	if (p >= end || *p++ != ' ')
		return false;
	if (!parse_range(&p, end, '+', &h->new_start, &h->new_len))
		return false;
	return end - p >= 3 && !memcmp(p, " @@", 3);
}

static int add_line(struct hp_hunk *h, size_t *cap, const char *l, size_t n)
{
	if (hp_grow((void **)&h->lines, cap, h->nlines, sizeof(*h->lines)) < 0)
		return -ENOMEM;
	/* a context line whose lone space a mailer trimmed */
	h->lines[h->nlines] = n ? strndup(l, n) : strdup(" ");
	if (!h->lines[h->nlines])
		return -ENOMEM;
	h->nlines++;
	return 0;
}

/* The hunk's lines, as many as its header counts, and the "\ No newline at
 * end of file" markers among them. */
static int parse_hunk_body(struct cur *c, struct hp_hunk *h, size_t hno, const char *file)
{
	long old_rem = h->old_len, new_rem = h->new_len;
	size_t cap = 0, n;
	const char *l;
	char last = 0, k;
	int r;

	for (;;) {
		if (!old_rem && !new_rem && (!peek_line(c, &l, &n) || !n || l[0] != '\\'))
			return 0;
		if (!next_line(c, &l, &n))
			return hp_fail(-EINVAL,
				       "%s: hunk %zu of %s ends before the %ld old and %ld new lines its header counts",
				       c->name, hno, file, h->old_len, h->new_len);
		k = n ? l[0] : ' ';
		if (k == '\\') {
			if (last == '+' || last == ' ')
				h->new_noeol = true;
			continue;
		}
		if (k == ' ' && old_rem && new_rem) {
			old_rem--;
			new_rem--;
		} else if (k == '-' && old_rem) {
			old_rem--;
		} else if (k == '+' && new_rem) {
			new_rem--;
		} else {
			return hp_fail(-EINVAL,
				       "%s: line %ld: hunk %zu of %s (@@ -%ld,%ld +%ld,%ld @@) has fewer lines than its header counts",
				       c->name, c->lineno, hno, file, h->old_start, h->old_len,
				       h->new_start, h->new_len);
		}
		if (k != '-')
			h->new_noeol = false;
		r = add_line(h, &cap, l, n);
		if (r < 0)
			return r;
		last = k;
	}
}

static int parse_hunks(struct cur *c, struct hp_file_diff *f)
{
	size_t cap = 0, n;
	const char *l;
	int r;

	while (peek_line(c, &l, &n) && starts(l, n, "@@ ")) {
		struct hp_hunk *h;

		next_line(c, &l, &n);
		if (hp_grow((void **)&f->hunks, &cap, f->nhunks, sizeof(*f->hunks)) < 0)
			return -ENOMEM;
		h = &f->hunks[f->nhunks++];
		memset(h, 0, sizeof(*h));
		if (!parse_hunk_header(l, n, h))
			return hp_fail(-EINVAL,
				       "%s: line %ld: a hunk header of %s that does not read \"@@ -start,length +start,length @@\"",
				       c->name, c->lineno, file_name(f));
		r = parse_hunk_body(c, h, f->nhunks, file_name(f));
		if (r < 0)
			return r;
	}
	return 0;
}

/* "--- old" and "+++ new" */
static int parse_names(struct cur *c, struct hp_file_diff *f)
{
	const char *l;
	size_t n;
	int r;

	free(f->old_path);
	free(f->new_path);
	f->old_path = f->new_path = NULL;
	next_line(c, &l, &n);
	r = header_path(l + 4, n - 4, &f->old_path);
	if (r < 0)
		return hp_fail(r, "%s: line %ld: a file name that cannot be read", c->name,
			       c->lineno);
	next_line(c, &l, &n);
	r = header_path(l + 4, n - 4, &f->new_path);
	if (r < 0)
		return hp_fail(r, "%s: line %ld: a file name that cannot be read", c->name,
			       c->lineno);
	if (!f->old_path && !f->new_path)
		return hp_fail(-EINVAL, "%s: line %ld: a file diff from /dev/null to /dev/null",
			       c->name, c->lineno);
	f->creates = f->creates || !f->old_path;
	f->deletes = f->deletes || !f->new_path;
	return 0;
}

/* The first components of a and b aside, the same path. */
static bool same_tail(const char *a, size_t an, const char *b, size_t bn)
{
	const char *sa = memchr(a, '/', an), *sb = memchr(b, '/', bn);

	if (an == bn && !memcmp(a, b, an))
		return true;
	if (!sa || !sb)
		return false;
	an -= (size_t)(sa - a);
	bn -= (size_t)(sb - b);
	return an == bn && !memcmp(sa, sb, an);
}

/* The names of a "diff --git a/x b/x" line, for the file diffs that have no
 * "---"/"+++" lines (an empty file created or deleted); spaces make the
 * line ambiguous, so both names must be the same path. */
static void git_line_names(const char *s, size_t n, struct hp_file_diff *f)
{
	size_t used, k;

	if (n && s[0] == '"') {
		if (unquote(s, n, &f->old_path, &used) < 0 || used >= n || s[used] != ' ')
			return;
		s += used + 1;
		n -= used + 1;
		if (n && s[0] == '"')
			(void)unquote(s, n, &f->new_path, &used);
		else
			f->new_path = strndup(s, n);
		return;
	}
	for (k = 0; k < n; k++) {
		if (s[k] == ' ' && same_tail(s, k, s + k + 1, n - k - 1)) {
			f->old_path = strndup(s, k);
			f->new_path = strndup(s + k + 1, n - k - 1);
			return;
		}
	}
}

static void free_file(struct hp_file_diff *f)
{
	for (size_t i = 0; i < f->nhunks; i++) {
		for (size_t j = 0; j < f->hunks[i].nlines; j++)
			free(f->hunks[i].lines[j]);
		free(f->hunks[i].lines);
	}
	free(f->hunks);
	free(f->old_path);
	free(f->new_path);
	free(f->path);
	memset(f, 0, sizeof(*f));
}

static int add_file(struct hp_diff *d, size_t *cap, struct hp_file_diff *f)
{
	if (hp_grow((void **)&d->files, cap, d->nfiles, sizeof(*d->files)) < 0)
		return -ENOMEM;
	d->files[d->nfiles++] = *f;
	memset(f, 0, sizeof(*f));
	return 0;
}

enum git_ext { GIT_OTHER, GIT_IGNORED, GIT_CREATES, GIT_DELETES, GIT_RENAME, GIT_COPY, GIT_BINARY };

static enum git_ext git_ext_line(const char *l, size_t n)
{
	static const char *const ignored[] = {"old mode ", "new mode ", "index ",
					      "similarity index ", "dissimilarity index "};

	if (starts(l, n, "new file mode "))
		return GIT_CREATES;
	if (starts(l, n, "deleted file mode "))
		return GIT_DELETES;
	if (starts(l, n, "rename from ") || starts(l, n, "rename to "))
		return GIT_RENAME;
	if (starts(l, n, "copy from ") || starts(l, n, "copy to "))
		return GIT_COPY;
	if (starts(l, n, "Binary files ") || starts(l, n, "GIT binary patch"))
		return GIT_BINARY;
	for (size_t i = 0; i < HP_ARRAY_SIZE(ignored); i++)
		if (starts(l, n, ignored[i]))
			return GIT_IGNORED;
	return GIT_OTHER;
}

/* One file of a git diff: "diff --git", extended header lines, then
 * (unless the file is empty, binary or only changes mode) names and hunks. */
static int parse_git_file(struct cur *c, struct hp_diff *d, size_t *cap)
{
	struct hp_file_diff f = {0};
	bool rename = false, copy = false, binary = false;
	enum git_ext e;
	const char *l;
	size_t n;
	int r = 0;

	next_line(c, &l, &n);
	git_line_names(l + 11, n - 11, &f);
	while (peek_line(c, &l, &n) && (e = git_ext_line(l, n)) != GIT_OTHER) {
		next_line(c, &l, &n);
		f.creates = f.creates || e == GIT_CREATES;
		f.deletes = f.deletes || e == GIT_DELETES;
		rename = rename || e == GIT_RENAME;
		copy = copy || e == GIT_COPY;
		binary = binary || e == GIT_BINARY;
	}
	if (copy || (rename && !at_file_header(c))) {
		r = hp_fail(-EINVAL,
			    "%s: line %ld: the diff %s %s without changing it; hotpatch build cannot follow that",
			    c->name, c->lineno, copy ? "copies" : "renames", file_name(&f));
		goto cleanup;
	}
	if (binary) {
		hp_note("%s: the binary change to %s is skipped", c->name, file_name(&f));
		goto cleanup;
	}
	if (at_file_header(c)) {
		r = parse_names(c, &f);
		if (r >= 0)
			r = parse_hunks(c, &f);
		if (r < 0)
			goto cleanup;
	}
	if (!f.nhunks && !f.creates && !f.deletes)
		goto cleanup; /* a change of mode alone */
	if (!f.old_path && !f.new_path) {
		r = hp_fail(-EINVAL,
			    "%s: line %ld: a \"diff --git\" line whose file names cannot be told apart",
			    c->name, c->lineno);
		goto cleanup;
	}
	if (f.creates) {
		free(f.old_path);
		f.old_path = NULL;
	}
	if (f.deletes) {
		free(f.new_path);
		f.new_path = NULL;
	}
	r = add_file(d, cap, &f);
cleanup:
	free_file(&f);
	return r;
}

static int parse_plain_file(struct cur *c, struct hp_diff *d, size_t *cap)
{
	struct hp_file_diff f = {0};
	int r;

	r = parse_names(c, &f);
	if (r >= 0)
		r = parse_hunks(c, &f);
	if (r >= 0 && !f.nhunks)
		r = hp_fail(-EINVAL, "%s: line %ld: the diff of %s has no hunk", c->name, c->lineno,
			    file_name(&f));
	if (r >= 0)
		r = add_file(d, cap, &f);
	free_file(&f);
	return r;
}

int hp_diff_parse(const char *text, size_t len, const char *name, struct hp_diff *ret)
{
	struct cur c = {.p = text, .end = text + len, .name = name};
	struct hp_diff d = {0};
	size_t cap = 0, n;
	const char *l;
	int r = 0;

	while (r >= 0 && peek_line(&c, &l, &n)) {
		if (starts(l, n, "diff --git "))
			r = parse_git_file(&c, &d, &cap);
		else if (at_file_header(&c))
			r = parse_plain_file(&c, &d, &cap);
		else
			next_line(&c, &l, &n); /* a mail header, a description, "Index:" */
	}
	if (r >= 0 && !d.nfiles)
		r = hp_fail(-EINVAL, "%s: no file changes found (not a unified diff?)", name);
	if (r < 0)
		goto cleanup;
	*ret = d;
	memset(&d, 0, sizeof(d));
cleanup:
	hp_diff_free(&d);
	return r;
}

void hp_diff_free(struct hp_diff *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nfiles; i++)
		free_file(&d->files[i]);
	free(d->files);
	memset(d, 0, sizeof(*d));
}

/* `p` without its first `strip` components, as patch -p does; NULL when it
 * has fewer, or when what is left could name a file outside the tree. */
static const char *strip_path(const char *p, int strip)
{
	const char *s = p, *q;

	for (int i = 0; i < strip; i++) {
		s = strchr(s, '/');
		if (!s)
			return NULL;
		while (*s == '/')
			s++;
	}
	if (!*s || *s == '/')
		return NULL;
	for (q = s; q; q = strchr(q, '/')) {
		q += *q == '/';
		if (q[0] == '.' && q[1] == '.' && (!q[2] || q[2] == '/'))
			return NULL;
	}
	return s;
}

static bool exists_under(const char *root, const char *rel, bool dir_of)
{
	_cleanup_free_ char *p = NULL;
	struct stat st;
	char *slash;

	if (asprintf(&p, "%s/%s", root, rel) < 0)
		return false;
	if (dir_of) {
		slash = strrchr(p, '/');
		*slash = 0;
		return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
	}
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The path of f with -p`strip`: the new name, or the old one (a renamed
 * file is found under its old name); NULL when neither exists, or for a
 * created file whose directory does not exist when `dirs` is set. */
static const char *locate_file(const struct hp_file_diff *f, const char *root, int strip, bool dirs)
{
	const char *names[2] = {f->new_path, f->old_path}, *s;

	if (f->creates) {
		s = f->new_path ? strip_path(f->new_path, strip) : NULL;
		return s && (!dirs || exists_under(root, s, true)) ? s : NULL;
	}
	for (int i = 0; i < 2; i++) {
		s = names[i] ? strip_path(names[i], strip) : NULL;
		if (s && exists_under(root, s, false))
			return s;
	}
	return NULL;
}

/* How many files are missing with -p`strip`; with `b`, their names. */
static size_t count_missing(const struct hp_diff *d, const char *root, int strip, bool dirs,
			    struct hp_buf *b)
{
	size_t missing = 0;

	for (size_t i = 0; i < d->nfiles; i++) {
		const struct hp_file_diff *f = &d->files[i];
		const char *name = f->new_path ? f->new_path : f->old_path, *s;

		if (locate_file(f, root, strip, dirs))
			continue;
		if (b && (!f->creates || !dirs)) {
			s = strip_path(name, strip);
			hp_buf_printf(b, "%s%s", missing ? ", " : "", s ? s : name);
		}
		missing++;
	}
	return missing;
}

int hp_diff_locate(struct hp_diff *d, const char *root)
{
	struct hp_buf b = {0};
	size_t missing[4] = {0};
	int best = 1, found = 4, strip, r = 0;

	/* created files decide only between levels that find the rest: a
	 * level that also finds their directories wins */
	for (strip = 0; strip <= 3 && count_missing(d, root, strip, true, NULL); strip++)
		;
	for (int s = 3; strip > 3 && s >= 0; s--) {
		missing[s] = count_missing(d, root, s, false, NULL);
		found = missing[s] ? found : s;
	}
	if (strip > 3)
		strip = found;
	/* for the message: on a tie, the names as git and quilt mean them */
	for (int s = 0; s <= 3; s++)
		if (missing[s] < missing[best])
			best = s;
	if (strip > 3) {
		hp_buf_add(&b, "", 0);
		count_missing(d, root, best, false, &b);
		r = hp_fail(-ENOENT,
			    "the files the diff changes are not under %s with any of -p0 to -p3 (with -p%d, missing: %s)",
			    root, best, b.oom ? "?" : b.s);
		goto cleanup;
	}
	for (size_t i = 0; i < d->nfiles; i++) {
		free(d->files[i].path);
		d->files[i].path = hp_strdup(locate_file(&d->files[i], root, strip, false));
		if (!d->files[i].path) {
			r = -ENOMEM;
			goto cleanup;
		}
	}
	d->strip = strip;
cleanup:
	hp_buf_free(&b);
	return r;
}

/* A line of the old or the new text: its bytes without the line end. */
struct tline {
	const char *s;
	size_t len;
	long old;   /* its line in the old text; 0 for a line the diff adds */
	bool cr;    /* it ended in "\r\n" */
	bool noeol; /* the last line, with no newline */
};

struct tlines {
	struct tline *l;
	size_t n, cap;
};

static int push_line(struct tlines *t, struct tline l)
{
	if (hp_grow((void **)&t->l, &t->cap, t->n, sizeof(*t->l)) < 0)
		return -ENOMEM;
	t->l[t->n++] = l;
	return 0;
}

static int split_lines(const char *s, size_t len, struct tlines *t)
{
	const char *end = s + len, *nl;
	struct tline l;

	while (s < end) {
		nl = memchr(s, '\n', (size_t)(end - s));
		l = (struct tline){.s = s, .len = nl ? (size_t)(nl - s) : (size_t)(end - s)};
		l.old = (long)t->n + 1;
		l.noeol = !nl;
		l.cr = l.len && s[l.len - 1] == '\r';
		l.len -= l.cr;
		if (push_line(t, l) < 0)
			return -ENOMEM;
		s += l.len + l.cr + !l.noeol;
	}
	return 0;
}

static size_t old_count(const struct hp_hunk *h)
{
	size_t n = 0;

	for (size_t j = 0; j < h->nlines; j++)
		n += h->lines[j][0] != '+';
	return n;
}

/* Whether h's old lines are those of `old` from `pos` (0-based); if not,
 * *bad is the hunk line that differs first. */
static bool hunk_matches(const struct hp_hunk *h, const struct tlines *old, size_t pos, size_t *bad)
{
	size_t k = pos;

	for (size_t j = 0; j < h->nlines; j++) {
		const char *hl = h->lines[j] + 1;

		if (h->lines[j][0] == '+')
			continue;
		if (k >= old->n || strlen(hl) != old->l[k].len ||
		    memcmp(hl, old->l[k].s, old->l[k].len)) {
			*bad = j;
			return false;
		}
		k++;
	}
	return true;
}

static void add_quoted(struct hp_buf *b, const char *s, size_t n)
{
	hp_buf_add(b, "\"", 1);
	hp_escape_buf(b, s, HP_MIN(n, 160), HP_ESC_QUOTED);
	hp_buf_printf(b, "%s\"", n > 160 ? "..." : "");
}

/* Says where hunk `hno` of f differs from `old` at `pos`. */
static int mismatch(const char *name, const struct hp_file_diff *f, size_t hno,
		    const struct tlines *old, size_t pos)
{
	const struct hp_hunk *h = &f->hunks[hno];
	struct hp_buf b = {0};
	size_t bad = 0, k = pos;
	int r;

	hp_buf_add(&b, "", 0);
	(void)hunk_matches(h, old, pos, &bad);
	for (size_t j = 0; j < bad; j++)
		k += h->lines[j][0] != '+';
	if (k < old->n) {
		hp_buf_printf(&b, "line %zu reads ", k + 1);
		add_quoted(&b, old->l[k].s, old->l[k].len);
	} else {
		hp_buf_printf(&b, "the file ends after line %zu", old->n);
	}
	hp_buf_printf(&b, " where the diff expects ");
	add_quoted(&b, h->lines[bad] + 1, strlen(h->lines[bad] + 1));
	r = hp_fail(-EINVAL, "%s: hunk %zu (@@ -%ld,%ld +%ld,%ld @@) does not apply: %s", name,
		    hno + 1, h->old_start, h->old_len, h->new_start, h->new_len,
		    b.oom ? "(out of memory)" : b.s);
	hp_buf_free(&b);
	return r;
}

/* Where h applies: the place nearest `guess` that matches, searching
 * outwards, never before `lo` (the end of the hunk before). */
static int find_hunk(const char *name, const struct hp_file_diff *f, size_t hno,
		     const struct tlines *old, size_t lo, long guess, size_t *ret)
{
	const struct hp_hunk *h = &f->hunks[hno];
	size_t nol = old_count(h), hi, at, bad;

	if (nol > old->n || old->n - nol < lo)
		return mismatch(name, f, hno, old, lo);
	hi = old->n - nol;
	at = guess < (long)lo ? lo : guess > (long)hi ? hi : (size_t)guess;
	for (size_t d = 0; d <= hi - lo; d++) {
		if (at + d <= hi && hunk_matches(h, old, at + d, &bad)) {
			*ret = at + d;
			return 0;
		}
		if (d && d <= at - lo && hunk_matches(h, old, at - d, &bad)) {
			*ret = at - d;
			return 0;
		}
	}
	return mismatch(name, f, hno, old, at);
}

/* The new text as lines, and where each hunk's lines are among them. */
struct newtext {
	struct tlines t;
	size_t *first, *end; /* per hunk */
};

static int copy_old(struct newtext *nt, const struct tlines *old, size_t from, size_t to)
{
	for (size_t k = from; k < to; k++)
		if (push_line(&nt->t, old->l[k]) < 0)
			return -ENOMEM;
	return 0;
}

/* Hunk i's new lines: its context from the old text (with the old text's
 * line ends), its added lines with the line end the file uses. */
static int add_hunk(struct newtext *nt, const struct hp_hunk *h, const struct tlines *old,
		    size_t pos, bool crlf)
{
	size_t k = pos;
	struct tline l;

	for (size_t j = 0; j < h->nlines; j++) {
		const char *hl = h->lines[j];

		if (hl[0] == '-') {
			k++;
			continue;
		}
		if (hl[0] == ' ')
			l = old->l[k++];
		else
			l = (struct tline){.s = hl + 1, .len = strlen(hl + 1), .cr = crlf};
		if (push_line(&nt->t, l) < 0)
			return -ENOMEM;
	}
	if (h->new_noeol && nt->t.n)
		nt->t.l[nt->t.n - 1].noeol = true;
	return 0;
}

static int build_new(const char *name, struct hp_file_diff *f, const struct tlines *old,
		     struct newtext *nt)
{
	bool crlf = old->n && old->l[0].cr;
	size_t prev = 0, pos = 0;
	long offset = 0, base;
	int r = 0;

	nt->first = calloc(f->nhunks + 1, sizeof(*nt->first));
	nt->end = calloc(f->nhunks + 1, sizeof(*nt->end));
	if (!nt->first || !nt->end)
		return -ENOMEM;
	for (size_t i = 0; i < f->nhunks; i++) {
		struct hp_hunk *h = &f->hunks[i];

		/* "-5,0" inserts after line 5, "-5,2" replaces from line 5 */
		base = h->old_len ? h->old_start - 1 : h->old_start;
		r = find_hunk(name, f, i, old, prev, base + offset, &pos);
		if (r < 0)
			return r;
		offset = (long)pos - base;
		h->applied_old = h->old_start + offset;
		r = copy_old(nt, old, prev, pos);
		if (r < 0)
			return r;
		nt->first[i] = nt->t.n;
		r = add_hunk(nt, h, old, pos, crlf);
		if (r < 0)
			return r;
		nt->end[i] = nt->t.n;
		prev = pos + old_count(h);
	}
	return copy_old(nt, old, prev, old->n);
}

/*
 * C's lexical state, as far as #line cares: a directive placed inside a
 * comment, a string or a continued line would not be one.  The nesting of
 * #if groups is followed too, because a #line in a group the preprocessor
 * skips is ignored.
 */
struct lexer {
	bool block;	   /* inside a comment */
	bool line_comment; /* inside a // comment */
	char quote;	   /* inside "..." or '...' */
	bool cont;	   /* the line before ended in a backslash */
	bool directive;	   /* the line is a preprocessor directive */
	int depth;	   /* of #if groups */
	/* Open parentheses outside directives: a directive inside a macro's
	 * arguments is undefined behaviour (GCC -pedantic warns).  #if, #else
	 * and #endif reset the count, as the branches of a group may open
	 * different numbers. */
	int parens;
};

/* The boundary before a line: whether a directive may go there, how deep
 * in #if groups it lies, and the kind of directive the line starts with
 * ('o' #if/#ifdef/#ifndef, 'e' #else/#elif..., 'c' #endif, '#' another,
 * or 0). */
struct bound {
	bool normal;
	int depth;
	char cond;
};

/* Whether a line opens a block: a mark just before it could split a
 * function's header from its body, which the patch's source copies. */
static bool opens_block(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i < n && s[i] == '{';
}

static char directive_kind(const char *s, size_t n)
{
	static const struct {
		const char *name;
		char kind;
	} kinds[] = {{"if", 'o'},      {"ifdef", 'o'},	  {"ifndef", 'o'}, {"elif", 'e'},
		     {"elifdef", 'e'}, {"elifndef", 'e'}, {"else", 'e'},   {"endif", 'c'}};
	size_t i = 0, w;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == n || s[i++] != '#')
		return 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	for (w = i; w < n && ((s[w] >= 'a' && s[w] <= 'z') || s[w] == '_'); w++)
		;
	for (size_t k = 0; k < HP_ARRAY_SIZE(kinds); k++)
		if (strlen(kinds[k].name) == w - i && !memcmp(kinds[k].name, s + i, w - i))
			return kinds[k].kind;
	return '#';
}

static void lex_chars(struct lexer *x, const char *s, size_t n)
{
	for (size_t i = 0; i < n && !x->line_comment;) {
		char c = s[i], d = i + 1 < n ? s[i + 1] : 0;

		if (x->block) {
			x->block = !(c == '*' && d == '/');
			i += x->block ? 1 : 2;
		} else if (x->quote) {
			if (c == x->quote)
				x->quote = 0;
			i += c == '\\' ? 2 : 1;
		} else if (c == '/' && (d == '*' || d == '/')) {
			x->block = d == '*';
			x->line_comment = d == '/';
			i += 2;
		} else {
			if (c == '"' || c == '\'')
				x->quote = c;
			else if (c == '(' && !x->directive)
				x->parens++;
			else if (c == ')' && !x->directive && x->parens > 0)
				x->parens--;
			i++;
		}
	}
}

/* Reads one line; returns the kind of directive it starts. */
static char lex_line(struct lexer *x, const char *s, size_t n)
{
	char kind = 0;
	size_t e = n;

	if (!x->cont) {
		/* strings, // comments and directives end with the line */
		x->quote = 0;
		x->line_comment = false;
		if (!x->block)
			kind = directive_kind(s, n);
		x->directive = kind != 0;
	}
	if (kind && kind != '#')
		x->parens = 0;
	if (kind == 'o')
		x->depth++;
	else if (kind == 'c' && x->depth > 0)
		x->depth--;
	lex_chars(x, s, n);
	/* GCC splices a backslash followed by blanks too */
	while (e && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	x->cont = e && s[e - 1] == '\\';
	return kind;
}

/* The #line marks after the hunk whose lines end before line `from`, up to
 * line `limit` (the next hunk's first): at the first boundary where a
 * directive may go, and then after each #else or #endif that leaves the
 * #if group that mark lies in (its group may be one the preprocessor
 * skips), until the nesting is back at the level of no group. */
static void mark_hunk(const struct tlines *t, const struct bound *bd, size_t from, size_t limit,
		      long *mark)
{
	int dmin = INT_MAX;
	bool pending = true;

	for (size_t k = from; k <= limit && k < t->n; k++) {
		char c = k > from ? bd[k - 1].cond : 0;

		if (c == 'e' && bd[k - 1].depth <= dmin)
			pending = true;
		if (c == 'c' && bd[k].depth < dmin) {
			pending = true;
			dmin = bd[k].depth;
		}
		if (!pending || !bd[k].normal || !t->l[k].old)
			continue;
		mark[k] = t->l[k].old;
		pending = false;
		dmin = HP_MIN(dmin, bd[k].depth);
		if (!dmin)
			return;
	}
}

static int place_marks(const struct hp_file_diff *f, const struct newtext *nt, long *mark)
{
	struct lexer x = {0};
	struct bound *bd = calloc(nt->t.n + 1, sizeof(*bd));

	if (!bd)
		return -ENOMEM;
	for (size_t k = 0; k < nt->t.n; k++) {
		bd[k].normal = !x.block && !x.cont && !x.parens &&
			       !opens_block(nt->t.l[k].s, nt->t.l[k].len);
		bd[k].depth = x.depth;
		bd[k].cond = lex_line(&x, nt->t.l[k].s, nt->t.l[k].len);
	}
	bd[nt->t.n].normal = !x.block && !x.cont && !x.parens;
	bd[nt->t.n].depth = x.depth;
	if (nt->t.n)
		mark[0] = 1; /* __FILE__ spelled as in the tree */
	for (size_t i = 0; i < f->nhunks; i++)
		mark_hunk(&nt->t, bd, nt->end[i], i + 1 < f->nhunks ? nt->first[i + 1] : nt->t.n,
			  mark);
	free(bd);
	return 0;
}

/* `s` as the inside of a C string literal */
static void add_c_string(struct hp_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\' || c == '"')
			hp_buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			hp_buf_printf(b, "\\%03o", c);
		else
			hp_buf_add(b, s, 1);
	}
}

/* The new text with its marks; sets the hunks' out_first and out_last. */
static void emit(struct hp_file_diff *f, const struct newtext *nt, const long *mark,
		 const char *spelling, struct hp_buf *b)
{
	long *phys = calloc(nt->t.n + 1, sizeof(*phys)), ln = 0;
	bool crlf = nt->t.n && nt->t.l[0].cr;

	if (!phys) {
		b->oom = true;
		return;
	}
	hp_buf_add(b, "", 0);
	for (size_t k = 0; k < nt->t.n; k++) {
		const struct tline *l = &nt->t.l[k];

		if (mark && mark[k]) {
			hp_buf_printf(b, "#line %ld \"", mark[k]);
			add_c_string(b, spelling);
			hp_buf_add(b, crlf ? "\"\r\n" : "\"\n", crlf ? 3 : 2);
			ln++;
		}
		phys[k] = ++ln;
		hp_buf_add(b, l->s, l->len);
		/* a line with no newline gets one when something follows it */
		if (!l->noeol || k + 1 < nt->t.n)
			hp_buf_add(b, l->cr ? "\r\n" : "\n", l->cr ? 2 : 1);
	}
	phys[nt->t.n] = ln + 1;
	for (size_t i = 0; i < f->nhunks; i++) {
		struct hp_hunk *h = &f->hunks[i];

		h->out_first = nt->first[i] < nt->end[i]
				       ? phys[nt->first[i]]
				       : (nt->first[i] ? phys[nt->first[i] - 1] : 0) + 1;
		h->out_last = nt->first[i] < nt->end[i] ? phys[nt->end[i] - 1] : h->out_first - 1;
	}
	free(phys);
}

int hp_diff_apply(struct hp_file_diff *f, const char *old, size_t oldlen, const char *spelling,
		  bool line_marks, char **ret, size_t *retlen)
{
	/* the file as the tree has it, or failing that as the build spells it */
	const char *name = f->path ? f->path : spelling ? spelling : file_name(f);
	struct tlines ot = {0};
	struct newtext nt = {0};
	struct hp_buf b = {0};
	long *mark = NULL;
	int r;

	r = split_lines(old ? old : "", old ? oldlen : 0, &ot);
	if (r >= 0)
		r = build_new(name, f, &ot, &nt);
	if (r < 0)
		goto cleanup;
	if (line_marks) {
		mark = calloc(nt.t.n + 1, sizeof(*mark));
		r = mark ? place_marks(f, &nt, mark) : -ENOMEM;
		if (r < 0)
			goto cleanup;
	}
	emit(f, &nt, mark, spelling ? spelling : name, &b);
	if (b.oom) {
		r = -ENOMEM;
		goto cleanup;
	}
	*ret = b.s;
	*retlen = b.len;
	b.s = NULL;
cleanup:
	if (r == -ENOMEM)
		r = hp_fail(r, "%s: out of memory applying the diff", name);
	hp_buf_free(&b);
	free(mark);
	free(ot.l);
	free(nt.t.l);
	free(nt.first);
	free(nt.end);
	return r;
}
