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

/* Picks one of the symbols called `symbol` in one object. */
static int pick(struct hp_target *t, struct hp_object *o, const struct hp_sym *s, size_t n,
		const char *symbol, enum hp_want want, const struct hp_sym **ret)
{
	const struct hp_sym *global = NULL, *local = NULL;
	size_t nlocal = 0;
	char files[512] = "";

	for (size_t i = 0; i < n; i++) {
		if (!wanted(&s[i], want))
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
			       "%s names %zu different static functions in %s (in %s): hotpatch "
			       "cannot tell which one the patch means",
			       symbol, nlocal, o->path, files);
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

int hp_resolve(struct hp_target *t, struct hp_modules *m, const char *object, const char *symbol,
	       enum hp_want want, struct hp_resolved *ret)
{
	struct hp_elf *e;
	const struct hp_sym *s, *chosen;
	size_t n, searched = 0;
	int r;
	bool main_stripped = false;

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
		n = hp_elf_lookup(e, symbol, &s);
		if (!n)
			return hp_fail(-HP_ENOSYM, "symbol %s not found in %s (pid %d, %s)%s",
				       symbol, o->path, t->pid, t->comm,
				       e->has_symtab
					       ? ""
					       : "; it has no .symtab, so only exported symbols are visible");
		r = pick(t, o, s, n, symbol, want, &chosen);
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
		n = hp_elf_lookup(e, symbol, &s);
		if (o->is_main && !e->has_symtab)
			main_stripped = true;
		if (!n)
			continue;
		r = pick(t, o, s, n, symbol, want, &chosen);
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
