/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "tls.h"

#include <stdio.h>
#include <string.h>

#include "memory.h"
#include "modules.h"
#include "resolve.h"
#include "target.h"
#include "util.h"

#define RTLD_DI_TLS_MODID_ 9
/* one 8-byte answer per object, in the control mapping's scratch area */
#define PER_CALL HP_CALL_MAX_OPS
_Static_assert(PER_CALL * 8 <= HP_CTL_SCRATCH_LEN, "scratch area too small");

static const GElf_Phdr *tls_segment(const struct hp_elf *e)
{
	for (size_t i = 0; i < e->phnum; i++)
		if (e->phdr[i].p_type == PT_TLS)
			return &e->phdr[i];
	return NULL;
}

int hp_tls_plan_add(struct hp_tls_plan *p, struct hp_remote *rc, const char *object,
		    const char *symbol, uint64_t slot)
{
	struct hp_target *t = rc->t;
	const GElf_Phdr *seg;
	struct hp_resolved res;
	struct hp_elf *e;
	size_t k;
	int r;

	r = hp_resolve(t, rc->m, object, symbol, HP_WANT_TLS, &res);
	if (r < 0)
		return r;
	r = hp_object_elf(t, res.obj, &e);
	if (r < 0)
		return r;
	seg = tls_segment(e);
	if (!seg || res.addr > seg->p_memsz || res.sym->size > seg->p_memsz - res.addr)
		return hp_fail(-HP_EBADPATCH,
			       "%s is thread-local in %s, but %s: the file is damaged", symbol,
			       res.obj->path,
			       seg ? "lies outside its TLS segment" : "it has no TLS segment");
	if (!rc->fn_dlinfo)
		return hp_fail(-HP_EUNSUPPORTED,
			       "the C library of pid %d does not export dlinfo (glibc 2.34 or "
			       "later does), which tells where %s's thread-local variables are",
			       t->pid, res.obj->path);
	/* glibc's dlopen handle is the object's struct link_map, the entry
	 * in the loader's list: dlinfo takes either */
	if (!res.obj->lm_node)
		return hp_fail(-HP_EUNSUPPORTED,
			       "%s is not in the dynamic loader's list of pid %d (loaded in another "
			       "namespace, or not by the loader?): its thread-local %s cannot be "
			       "reached",
			       res.obj->path, t->pid, symbol);
	for (k = 0; k < p->nobj; k++)
		if (p->obj[k] == res.obj)
			break;
	if (k == p->nobj) {
		struct hp_object **no = realloc(p->obj, (p->nobj + 1) * sizeof(*no));
		uint64_t *nm = no ? realloc(p->module, (p->nobj + 1) * sizeof(*nm)) : NULL;

		if (no)
			p->obj = no;
		if (!nm)
			return hp_fail(-ENOMEM, "out of memory");
		p->module = nm;
		p->obj[p->nobj] = res.obj;
		p->module[p->nobj++] = 0;
	}
	struct hp_tls_var *nv = realloc(p->var, (p->nvar + 1) * sizeof(*nv));
	if (!nv)
		return hp_fail(-ENOMEM, "out of memory");
	p->var = nv;
	p->var[p->nvar++] = (struct hp_tls_var){k, res.addr, slot};
	return 0;
}

/* The dlinfo calls for objects [first, first + n), answers at scratch[0..n). */
static int make_ops(struct hp_tls_plan *p, struct hp_remote *rc, size_t first, size_t n,
		    struct hp_rop *ops)
{
	uint64_t zero[PER_CALL] = {0};
	int r;

	/* a stale answer must not pass for one */
	r = hp_mem_write(rc->t, rc->ctl + HP_CTL_SCRATCH_OFF, zero, n * 8);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		ops[i] = (struct hp_rop){.fn = rc->fn_dlinfo,
					 .args = {p->obj[first + i]->lm_node, RTLD_DI_TLS_MODID_,
						  rc->ctl + HP_CTL_SCRATCH_OFF + 8 * i}};
	return 0;
}

static int collect(struct hp_tls_plan *p, struct hp_remote *rc, size_t first, size_t n,
		   const uint64_t *ret)
{
	uint64_t got[PER_CALL];
	int r;

	r = hp_mem_read(rc->t, rc->ctl + HP_CTL_SCRATCH_OFF, got, n * 8);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const struct hp_object *o = p->obj[first + i];

		if ((int32_t)ret[i] != 0) /* dlinfo returns an int, -1 on error */
			return hp_fail(-HP_EUNSUPPORTED,
				       "dlinfo(RTLD_DI_TLS_MODID) failed in pid %d for %s",
				       rc->t->pid, o->path);
		if (!got[i])
			return hp_fail(-HP_EUNSUPPORTED,
				       "the dynamic loader of pid %d gave %s no TLS module id: its "
				       "thread-local variables cannot be reached",
				       rc->t->pid, o->path);
		p->module[first + i] = got[i];
	}
	return 0;
}

int hp_tls_ride_along(struct hp_tls_plan *p, struct hp_remote *rc, struct hp_rop *ops, size_t room,
		      size_t *n)
{
	*n = HP_MIN(HP_MIN(room, p->nobj), (size_t)PER_CALL);
	return *n ? make_ops(p, rc, 0, *n, ops) : 0;
}

int hp_tls_finish(struct hp_tls_plan *p, struct hp_remote *rc, const uint64_t *ret, size_t n,
		  uint64_t deadline)
{
	int r = n ? collect(p, rc, 0, n, ret) : 0;

	for (size_t first = n; r == 0 && first < p->nobj; first += PER_CALL) {
		size_t k = HP_MIN(p->nobj - first, (size_t)PER_CALL);
		struct hp_rop ops[PER_CALL];
		uint64_t res[PER_CALL];

		memset(ops, 0, sizeof(ops));
		r = make_ops(p, rc, first, k, ops);
		if (r == 0)
			r = hp_remote_call(rc, ops, k, NULL, 0, res, deadline,
					   "finding thread-local storage");
		if (r == 0)
			r = collect(p, rc, first, k, res);
	}
	/* dlinfo read the entry the list had when hotpatch looked: it must
	 * still be that object's, or the answer may be some other memory's */
	for (size_t i = 0; r == 0 && i < p->nobj; i++) {
		uint64_t base;
		char name[1];

		if (hp_lm_lookup(rc->t, rc->m, p->obj[i]->lm_node, &base, name, sizeof(name)) < 0 ||
		    base != p->obj[i]->bias)
			r = hp_fail(-HP_EINTERFERED,
				    "%s left pid %d's list of loaded objects while hotpatch asked "
				    "where its thread-local variables are",
				    p->obj[i]->path, rc->t->pid);
	}
	return r;
}

void hp_tls_index(const struct hp_tls_plan *p, size_t i, uint64_t out[2])
{
	out[0] = p->module[p->var[i].obj];
	out[1] = p->var[i].offset;
}

void hp_tls_plan_free(struct hp_tls_plan *p)
{
	free(p->var);
	free(p->obj);
	free(p->module);
	memset(p, 0, sizeof(*p));
}
