/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "resolve.h"

#include <stdio.h>
#include <string.h>

#include "memory.h"
#include "target.h"
#include "util.h"

static bool wanted(const struct hp_sym *s, enum hp_want want)
{
	if (want == HP_WANT_FUNC)
		return s->type == STT_FUNC || s->type == STT_GNU_IFUNC;
	if (want == HP_WANT_TLS)
		return s->type == STT_TLS;
	return s->type != STT_TLS;
}

/* A thread-local variable has no one address: its value is its offset in
 * the object's TLS block, which every thread has a copy of. */
static uint64_t runtime(const struct hp_object *o, const struct hp_sym *s)
{
	return s->type == STT_TLS ? s->value : o->bias + s->value;
}

static bool parse_addr(const char *p, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len < 3 || len > 18 || p[0] != '0' || (p[1] != 'x' && p[1] != 'X'))
		return false;
	for (size_t i = 2; i < len; i++) {
		int d = p[i] >= '0' && p[i] <= '9'   ? p[i] - '0'
			: p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10
			: p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 10
						     : -1;

		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*ret = v;
	return true;
}

/* The parser itself, which records no error: *ret_bad is the part that is
 * wrong (and *ret_badlen its length) when it returns false. */
static bool parse_symname(const char *q, struct hp_symname *sn, const char **ret_bad,
			  size_t *ret_badlen)
{
	const char *p = q, *end = strchr(q, ';');
	size_t len = end ? (size_t)(end - p) : strlen(p);

	memset(sn, 0, sizeof(*sn));
	*ret_bad = p;
	*ret_badlen = len;
	if (!len || len >= sizeof(sn->name))
		return false;
	memcpy(sn->name, p, len);
	while (end) {
		p = end + 1;
		end = strchr(p, ';');
		len = end ? (size_t)(end - p) : strlen(p);
		*ret_bad = p;
		*ret_badlen = len;
		if (len > 5 && !strncmp(p, "file=", 5) && !sn->file[0] &&
		    len - 5 < sizeof(sn->file))
			memcpy(sn->file, p + 5, len - 5);
		else if (len > 5 && !strncmp(p, "addr=", 5) && !sn->has_addr &&
			 parse_addr(p + 5, len - 5, &sn->addr))
			sn->has_addr = true;
		else
			return false;
	}
	return true;
}

int hp_symname_parse(const char *qualified, struct hp_symname *ret)
{
	const char *bad;
	size_t badlen;

	if (parse_symname(qualified, ret, &bad, &badlen))
		return 0;
	if (bad == qualified)
		return hp_fail(-HP_EBADPATCH, "symbol \"%s\": %s", qualified,
			       badlen ? "the name is too long" : "no name before the first ';'");
	return hp_fail(-HP_EBADPATCH,
		       "symbol \"%s\": \"%.*s\" is not a qualifier: a name is qualified with "
		       "file=FILE and addr=0xHEX, each at most once",
		       qualified, (int)HP_MIN(badlen, 256), bad);
}

const char *hp_symname_show(const char *qualified, char *buf, size_t size)
{
	struct hp_symname sn;
	const char *bad;
	size_t badlen;

	if (!parse_symname(qualified, &sn, &bad, &badlen))
		snprintf(buf, size, "%s", qualified);
	else if (sn.file[0])
		snprintf(buf, size, "%s (in %s)", sn.name, sn.file);
	else
		snprintf(buf, size, "%s", sn.name);
	return buf;
}

/* file= names the STT_FILE exactly, or its last component. */
static bool same_file(const char *have, const char *want)
{
	const char *slash;

	if (!have)
		return false;
	if (!strcmp(have, want))
		return true;
	slash = strrchr(have, '/');
	return !strchr(want, '/') && slash && !strcmp(slash + 1, want);
}

/* A global has one definition in its object: file= cannot single it out
 * further, and it has no STT_FILE to compare. */
static bool qualified(const struct hp_sym *s, const struct hp_symname *sn)
{
	if (sn->has_addr && s->value != sn->addr)
		return false;
	return !sn->file[0] || s->bind != STB_LOCAL || same_file(s->file, sn->file);
}

/* The name is there, but no symbol of it has the qualifiers. */
static int refuse_qualified(struct hp_object *o, const struct hp_sym *s, size_t n,
			    const struct hp_symname *sn)
{
	char where[512] = "", at[32] = "";

	for (size_t i = 0; i < n && i < 8; i++) {
		size_t l = strlen(where);

		snprintf(where + l, sizeof(where) - l, "%s0x%llx%s%s", l ? ", " : "",
			 (unsigned long long)s[i].value, s[i].file ? " in " : "",
			 s[i].file ? s[i].file : "");
	}
	if (sn->has_addr)
		snprintf(at, sizeof(at), " at 0x%llx", (unsigned long long)sn->addr);
	return hp_fail(-HP_ENOSYM,
		       "no %s %s%s%s%s in %s: the patch was built for another build of it (%s "
		       "is at %s)",
		       sn->file[0] ? "static" : "symbol", sn->name, sn->file[0] ? " of " : "",
		       sn->file, at, o->path, sn->name, where);
}

/* Picks one of the symbols called `sn->name` in one object. */
static int pick(struct hp_target *t, struct hp_object *o, const struct hp_sym *s, size_t n,
		const struct hp_symname *sn, const char *symbol, enum hp_want want,
		const struct hp_sym **ret)
{
	const struct hp_sym *global = NULL, *local = NULL;
	size_t nlocal = 0, nqual = 0;
	char files[512] = "";

	for (size_t i = 0; i < n; i++)
		nqual += qualified(&s[i], sn);
	if (!nqual)
		return refuse_qualified(o, s, n, sn);
	for (size_t i = 0; i < n; i++) {
		if (!wanted(&s[i], want) || !qualified(&s[i], sn))
			continue;
		if (s[i].bind != STB_LOCAL) {
			if (!global)
				global = &s[i];
			continue;
		}
		if (local && local->value == s[i].value)
			continue;
		local = &s[i];
		nlocal++;
		size_t l = strlen(files);
		snprintf(files + l, sizeof(files) - l, "%s%s", l ? ", " : "",
			 s[i].file ? s[i].file : "?");
	}
	if (global)
		*ret = global;
	else if (nlocal == 1)
		*ret = local;
	else if (nlocal > 1)
		return hp_fail(-HP_ENOSYM,
			       "%s names %zu different static %s in %s (in %s): hotpatch "
			       "cannot tell which one the patch means; name it as "
			       "\"%s;file=FILE\"",
			       symbol, nlocal, want == HP_WANT_FUNC ? "functions" : "symbols",
			       o->path, files, sn->name);
	else {
		/* found, but not of the wanted kind */
		bool tls = false;

		for (size_t i = 0; i < n; i++)
			tls |= s[i].type == STT_TLS;
		if (want == HP_WANT_TLS)
			return hp_fail(-HP_EBADPATCH,
				       "%s in %s (pid %d) is not a thread-local variable: reach it "
				       "with HOTPATCH_SYMBOL",
				       symbol, o->path, t->pid);
		if (want == HP_WANT_ANY && tls)
			return hp_fail(-HP_EBADPATCH,
				       "%s in %s (pid %d) is thread-local: each thread has its own, "
				       "at an address of its own, so no one pointer can name it; use "
				       "HOTPATCH_TLS(%s, index) and hotpatch_tls_addr(&index), which "
				       "gives the calling thread's",
				       symbol, o->path, t->pid, symbol);
		return hp_fail(-HP_ENOSYM, "%s in %s (pid %d) is not a function%s", symbol, o->path,
			       t->pid, tls ? " but a thread-local variable" : "");
	}
	if ((*ret)->type == STT_GNU_IFUNC)
		return hp_fail(-HP_ENOTPATCHABLE,
			       "%s in %s is an IFUNC: its address is a resolver that picks one "
			       "implementation when the program starts; patch that implementation "
			       "instead",
			       symbol, o->path);
	return 0;
}

int hp_resolve(struct hp_target *t, struct hp_modules *m, const char *object, const char *qname,
	       enum hp_want want, struct hp_resolved *ret)
{
	struct hp_elf *e;
	const struct hp_sym *s, *chosen;
	size_t n, searched = 0;
	int r;
	bool main_stripped = false;
	struct hp_symname sn;
	char symbol[sizeof(sn.name) + sizeof(sn.file) + 8];

	r = hp_symname_parse(qname, &sn);
	if (r < 0)
		return r;
	hp_symname_show(qname, symbol, sizeof(symbol));

	if (object && *object) {
		struct hp_object *o;
		char why[4200];

		r = hp_modules_find(t, m, object, &o, why, sizeof(why));
		if (r == -ENOENT)
			return hp_fail(-HP_ENOSYM,
				       "%s is not loaded in pid %d (%s), so %s cannot be found "
				       "there%s",
				       object, t->pid, t->comm, symbol, why);
		if (r < 0)
			return r;
		r = hp_object_elf(t, o, &e);
		if (r < 0)
			return r;
		n = hp_elf_lookup(e, sn.name, &s);
		if (!n)
			return hp_fail(-HP_ENOSYM, "symbol %s not found in %s (pid %d, %s)%s",
				       symbol, o->path, t->pid, t->comm,
				       e->has_symtab
					       ? ""
					       : "; it has no .symtab, so only exported symbols are visible");
		r = pick(t, o, s, n, &sn, symbol, want, &chosen);
		if (r < 0)
			return r;
		*ret = (struct hp_resolved){o, chosen, runtime(o, chosen)};
		return 0;
	}
	for (size_t i = 0; i < m->n; i++) {
		struct hp_object *o = &m->obj[i];

		if (hp_object_elf(t, o, &e) < 0) {
			if (o->is_main)
				return hp_err.code;
			hp_error_clear(); /* not an ELF object: locale archives, fonts */
			continue;
		}
		if (e->ehdr.e_type != ET_DYN && e->ehdr.e_type != ET_EXEC)
			continue;
		searched++;
		n = hp_elf_lookup(e, sn.name, &s);
		if (o->is_main && !e->has_symtab)
			main_stripped = true;
		if (!n)
			continue;
		r = pick(t, o, s, n, &sn, symbol, want, &chosen);
		if (r < 0)
			return r;
		*ret = (struct hp_resolved){o, chosen, runtime(o, chosen)};
		return 0;
	}
	return hp_fail(-HP_ENOSYM,
		       "symbol %s not found in pid %d (%s): searched the executable and %zu loaded "
		       "objects%s",
		       symbol, t->pid, t->comm, searched ? searched - 1 : 0,
		       main_stripped ? "; the executable has no .symtab (stripped), so its static "
				       "functions are invisible: install its debug symbols"
				     : "");
}

int hp_resolve_prologue(struct hp_target *t, const struct hp_resolved *f, struct hp_prologue *ret)
{
	uint8_t buf[HP_PRO_BEFORE + HP_PRO_AFTER];
	const struct hp_sym *owner;
	struct hp_elf *e;
	int r;

	r = hp_mem_read(t, f->addr - HP_PRO_BEFORE, buf, sizeof(buf));
	if (r < 0)
		return hp_fail_prefix(r, "%s: ", f->sym->name);
	r = hp_prologue_analyze(buf, sizeof(buf), f->addr - HP_PRO_BEFORE, f->addr, ret);
	if (r < 0)
		return hp_fail_prefix(r, "%s in %s is not patchable: ", f->sym->name, f->obj->path);
	/* The pad must be spare bytes, not the tail of another function. */
	if (hp_object_elf(t, f->obj, &e) == 0) {
		for (uint64_t a = ret->pad; a < ret->entry; a++) {
			owner = hp_elf_func_at(e, a - f->obj->bias);
			if (owner && owner->value != f->sym->value)
				return hp_fail(-HP_ENOTPATCHABLE,
					       "%s in %s is not patchable: the 5 bytes before it belong "
					       "to %s",
					       f->sym->name, f->obj->path, owner->name);
		}
	}
	return 0;
}

int hp_check_build_id(struct hp_target *t, struct hp_modules *m, const char *object,
		      const char *hex)
{
	struct hp_object *o = hp_modules_main(m);
	struct hp_elf *e;
	char have[160], why[4200] = "";
	int r;

	if (object && *object) {
		r = hp_modules_find(t, m, object, &o, why, sizeof(why));
		if (r < 0 && r != -ENOENT)
			return r;
		if (r < 0)
			o = NULL;
	}
	if (!o)
		return hp_fail(-HP_EBUILDID,
			       "the patch is for %s, which pid %d (%s) has not loaded%s", object,
			       t->pid, t->comm, why);
	r = hp_object_elf(t, o, &e);
	if (r < 0)
		return r;
	hp_build_id_hex(e->build_id, e->build_id_len, have, sizeof(have));
	if (strcasecmp(have, hex))
		return hp_fail(-HP_EBUILDID,
			       "the patch was built for %s with build-id %s, but pid %d (%s) runs "
			       "one with build-id %s: this patch is not for this build",
			       o->path, hex, t->pid, t->comm, have[0] ? have : "(none)");
	return 0;
}
