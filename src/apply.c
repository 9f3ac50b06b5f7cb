/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * apply reads as its verbs: open the session (lock, seize nothing yet),
 * recover what an interrupted run left, resolve (everything checked before
 * anything is written), load (one thread runs dlopen while the others keep
 * running), prepare (trampolines, pointers, jump bytes), record, ready the
 * pads, flip (every thread stopped for the 2-byte writes only), commit,
 * close.  A failure unwinds through staged labels, in reverse.
 */
#include "apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/hotpatch.h"
#include "classify.h"
#include "fileio.h"
#include "load.h"
#include "memory.h"
#include "modules.h"
#include "options.h"
#include "patchfile.h"
#include "plan.h"
#include "procfs.h"
#include "prologue.h"
#include "record.h"
#include "recover.h"
#include "remote.h"
#include "report.h"
#include "resolve.h"
#include "session.h"
#include "symbols.h"
#include "tls.h"
#include "trampoline.h"
#include "util.h"

/* The object a record means: its own, or --lib's when it names none. */
static const char *object_of(const struct hp_options *o, const struct hp_patch_rec *rec)
{
	return rec->object[0] || !o->default_object ? rec->object : o->default_object;
}

struct fplan {
	const struct hp_patch_rec *rec;
	char *symbol; /* the record's symbol as messages show it (malloc'd) */
	struct hp_resolved res;
	struct hp_prologue pro;
	const struct hp_reg_func *below; /* the patch this one stacks on */
	uint8_t window_len;
	uint64_t body;
	bool pad_live;	     /* the pad is reachable now: rewrite it only while stopped */
	uint8_t method;	     /* enum hp_method */
	struct hp_reloc rel; /* without a prologue: what the jump displaces (runtime) */
	uint64_t replacement;
	struct hp_tramp_site site;
	uint8_t new_pad[HP_PAD_LEN], new_win[HP_WIN_LEN];
};

/* One apply: what it resolved, loaded and wrote so far. */
struct apply {
	struct hp_session s;
	struct hp_patchfile *pf;
	const struct hp_options *o;
	struct hp_report *rep;
	struct fplan *fp;
	size_t nfp;
	uint64_t *ptrs; /* per record: what an ORIGINAL or SYMBOL slot, or a BIND's, gets */
	size_t *ptr_fp; /* per record: 1 + the function whose copy an ORIGINAL gets, or 0 */
	struct hp_tls_plan tp;
	uint64_t tls_ret[HP_CALL_MAX_OPS];
	size_t ntls;
	struct hp_reg_patch rp; /* the record, until the registry owns it */
	uint32_t id;		/* its id once recorded */
	struct hp_plan plan;
	size_t npre; /* writes of plan.pre made so far */
	const struct hp_patch_rec *failed;
	uint64_t t0, t1;
};

/* The pad's and window's bytes as the process has them now. */
static int read_now(struct hp_session *s, struct hp_prologue *p)
{
	int r = hp_mem_read(&s->t, p->pad, p->pad_bytes, HP_PAD_LEN);

	return r < 0 ? r : hp_mem_read(&s->t, p->window, p->win_bytes, HP_WIN_LEN);
}

/* Stacked on a patch that found padding or relocated: its bytes are the
 * record's, or someone else changed them. */
static int plan_on_moved(struct hp_session *s, struct fplan *f, const struct hp_reg_func *top)
{
	struct hp_prologue *p = &f->pro;
	int r;

	*p = (struct hp_prologue){.entry = top->entry,
				  .pad = top->pad,
				  .window = top->window,
				  .window_len = top->window_len,
				  .body = top->body,
				  .endbr = top->endbr,
				  .layout = "patched",
				  .state = HP_PRO_PATCHED};
	r = read_now(s, p);
	if (r < 0)
		return r;
	hp_decode_jmp(p->pad_bytes, HP_PAD_LEN, p->pad, &p->dest);
	f->method = top->method;
	return 0;
}

static void rebase(struct hp_reloc *rel, uint64_t bias)
{
	rel->addr += bias;
	rel->reach_lo += bias;
	rel->reach_hi += bias;
	for (unsigned i = 0; i < rel->nfix; i++)
		rel->fix[i].target += bias;
}

/* The process's bytes must be the file's: anything else is another tool's
 * breakpoint or hook, and relocating it would copy that. */
static int check_unhooked(struct hp_session *s, struct fplan *f, struct hp_elf *e,
			  const struct hp_patchability *c, uint64_t lo, uint64_t bias)
{
	uint8_t mem[HP_PAD_LEN + 4 + HP_RELOC_MAXSRC], file[sizeof(mem)];
	size_t n = (size_t)(c->window + c->rel.len - lo);
	char dm[256], df[256];
	int r;

	if (n > sizeof(mem))
		return hp_fail(-EINVAL, "internal: displaced region too long");
	r = hp_mem_read(&s->t, lo + bias, mem, n);
	if (r == 0)
		r = hp_elf_vaddr_read(e, lo, file, n);
	if (r < 0)
		return r;
	if (!memcmp(mem, file, n))
		return 0;
	hp_disasm(mem + (c->window - lo), n - (size_t)(c->window - lo), c->window + bias, 3, dm,
		  sizeof(dm));
	hp_disasm(file + (c->window - lo), n - (size_t)(c->window - lo), c->window + bias, 3, df,
		  sizeof(df));
	return hp_fail(-HP_ENOTPATCHABLE,
		       "%s in %s does not hold the bytes of its file (a debugger's breakpoint or "
		       "another tool's hook?): in pid %d: %s; in the file: %s",
		       f->symbol, f->res.obj->path, s->t.pid, dm, df);
}

/* Why not, with the bytes at the entry shown as they are in the file. */
static int refuse_moved(struct fplan *f, struct hp_elf *e, const struct hp_patchability *c,
			uint64_t bias, const char *was)
{
	uint8_t b[24];
	char dis[384] = "(unreadable)";

	if (hp_elf_vaddr_read(e, c->window, b, sizeof(b)) == 0)
		hp_disasm(b, sizeof(b), c->window + bias, 3, dis, sizeof(dis));
	hp_error_clear();
	if (c->method == HP_METHOD_PROLOGUE)
		return hp_fail(-HP_ENOTPATCHABLE,
			       "%s; its file %s has a hot-patch prologue there (%s): a debugger or "
			       "another tool changed the bytes",
			       was, f->res.obj->path, dis);
	return hp_fail(-HP_ENOTPATCHABLE,
		       "%s. It has no hot-patch prologue, and --relocate cannot patch it either "
		       "(%s): %s",
		       was, c->code, c->reason);
}

static int fill_moved(struct hp_session *s, struct fplan *f, const struct hp_patchability *c,
		      uint64_t lo, uint64_t bias)
{
	f->rel = c->rel;
	rebase(&f->rel, bias);
	f->method = (uint8_t)c->method;
	f->pro = (struct hp_prologue){.entry = f->res.addr,
				      .pad = lo + bias,
				      .window = c->window + bias,
				      .window_len = c->rel.len,
				      .endbr = c->endbr,
				      .layout = hp_method_name(c->method),
				      .state = HP_PRO_UNPATCHED};
	return read_now(s, &f->pro);
}

/* A function without a hot-patch prologue: what the classifier found in
 * its file, if --relocate allows it and the process holds those bytes. */
static int plan_moved(struct hp_session *s, const struct hp_options *o, struct fplan *f)
{
	struct hp_patchability c;
	struct hp_elf *e;
	uint64_t bias, lo;
	char dis[384], was[sizeof(hp_err.msg)];
	int r;

	snprintf(was, sizeof(was), "%s", hp_err.msg);
	hp_error_clear();
	if ((r = hp_object_elf(&s->t, f->res.obj, &e)) < 0 ||
	    (r = hp_classify(e, f->res.sym, &c)) < 0)
		return r;
	bias = f->res.addr - f->res.sym->value;
	if (c.method == HP_METHOD_REFUSED || c.method == HP_METHOD_PROLOGUE)
		return refuse_moved(f, e, &c, bias, was);
	lo = c.method == HP_METHOD_PADDING ? c.pad : c.window;
	r = check_unhooked(s, f, e, &c, lo, bias);
	if (r < 0)
		return r;
	hp_disasm(c.rel.orig, c.rel.len, c.window + bias, c.rel.ninsn, dis, sizeof(dis));
	if (!o->relocate)
		return hp_fail(-HP_ENOTPATCHABLE,
			       "%s. It has no hot-patch prologue: --relocate would patch it by %s, "
			       "displacing %u byte%s: %s",
			       was, c.method == HP_METHOD_PADDING ? "found padding" : "relocation",
			       c.rel.len, c.rel.len == 1 ? "" : "s", dis);
	return fill_moved(s, f, &c, lo, bias);
}

/* Where the function's jump goes and what it displaces. */
static int plan_entry(struct hp_session *s, const struct hp_options *o, struct fplan *f,
		      const struct hp_reg_func *top)
{
	int r;

	f->method = HP_METHOD_PROLOGUE;
	if (top && top->method != HP_METHOD_PROLOGUE)
		return plan_on_moved(s, f, top);
	r = hp_resolve_prologue(&s->t, &f->res, &f->pro);
	if (r == -HP_ENOTPATCHABLE && !top)
		r = plan_moved(s, o, f);
	return r;
}

static int plan_function(struct hp_session *s, const struct hp_options *o,
			 const struct hp_patch_rec *rec, struct fplan *f)
{
	const struct hp_sym *clones;
	const struct hp_reg_func *top;
	struct hp_elf *e;
	size_t nclones;
	int r;

	char shown[sizeof(((struct hp_symname *)0)->name) + sizeof(((struct hp_symname *)0)->file)];

	f->rec = rec;
	f->symbol = hp_strdup(hp_symname_show(rec->symbol, shown, sizeof(shown)));
	if (!f->symbol)
		return hp_fail(-ENOMEM, "out of memory");
	r = hp_resolve(&s->t, &s->m, object_of(o, rec), rec->symbol, HP_WANT_FUNC, &f->res);
	if (r < 0)
		return r;
	top = hp_registry_top(&s->reg, f->res.addr, NULL);
	r = plan_entry(s, o, f, top);
	if (r < 0)
		return r;
	if (f->pro.state == HP_PRO_PATCHED) {
		if (!top || memcmp(top->new_pad, f->pro.pad_bytes, HP_PAD_LEN) ||
		    memcmp(top->new_win, f->pro.win_bytes, HP_WIN_LEN))
			return hp_fail(-HP_ENOTPATCHABLE,
				       "%s in %s is already redirected (to 0x%llx), and not by a patch "
				       "hotpatch recorded in pid %d: another tool changed it",
				       f->symbol, f->res.obj->path, (unsigned long long)f->pro.dest,
				       s->t.pid);
		f->below = top;
		f->window_len = top->window_len;
		f->body = top->body;
		f->pad_live = true;
	} else {
		if (top)
			return hp_fail(-HP_EMISMATCH,
				       "%s in %s should be redirected by patch %s, but its bytes were "
				       "put back by someone else; roll that patch back with --force "
				       "first",
				       f->symbol, f->res.obj->path,
				       top->replacement_name ? top->replacement_name : "?");
		f->window_len = (uint8_t)f->pro.window_len;
		f->body = f->pro.body;
	}
	if (hp_object_elf(&s->t, f->res.obj, &e) == 0 &&
	    (nclones = hp_elf_clones(e, f->res.sym->name, &clones)) > 0)
		hp_note("%s has %zu compiler-made cop%s (%s%s) that callers may use instead; those are "
			"not patched unless the patch names them too",
			f->res.sym->name, nclones, nclones == 1 ? "y" : "ies", clones->name,
			nclones > 1 ? ", ..." : "");
	return 0;
}

/* The address the ORIGINAL, SYMBOL and BIND records ask for. */
static int plan_pointer(struct hp_session *s, const struct hp_options *o,
			const struct hp_patch_rec *rec, struct fplan *fp, size_t nfp, uint64_t *ret,
			size_t *ret_fp)
{
	struct hp_resolved res;
	struct hp_prologue pro;
	int r;

	r = hp_resolve(&s->t, &s->m, object_of(o, rec), rec->symbol,
		       rec->kind == HOTPATCH_KIND_ORIGINAL ? HP_WANT_FUNC : HP_WANT_ANY, &res);
	if (r < 0)
		return r;
	if (rec->kind != HOTPATCH_KIND_ORIGINAL) { /* SYMBOL, BIND */
		*ret = res.addr;
		return 0;
	}
	for (size_t i = 0; i < nfp; i++)
		if (fp[i].res.addr == res.addr) {
			*ret = fp[i].body;
			/* a copy made for this patch: known once it is placed */
			if (!fp[i].below && fp[i].method != HP_METHOD_PROLOGUE)
				*ret_fp = i + 1;
			return 0;
		}
	const struct hp_reg_func *top = hp_registry_top(&s->reg, res.addr, NULL);
	if (top) {
		*ret = top->body;
		return 0;
	}
	r = hp_resolve_prologue(&s->t, &res, &pro);
	if (r < 0) {
		/* no hot-patch prologue: its entry is its original body */
		hp_error_clear();
		*ret = res.addr;
		return 0;
	}
	*ret = pro.body;
	return 0;
}

static void fill_func_record(struct hp_reg_func *rf, const struct fplan *f, const char *repl_name)
{
	rf->symbol = hp_strdup(f->symbol);
	rf->object = hp_strdup(f->res.obj->path);
	rf->replacement_name = hp_strdup(repl_name);
	rf->entry = f->res.addr;
	rf->pad = f->pro.pad;
	rf->window = f->pro.window;
	rf->body = f->body;
	rf->window_len = f->window_len;
	rf->endbr = f->pro.endbr;
	rf->method = f->method;
	rf->ninsn = f->below ? f->below->ninsn : f->rel.ninsn;
	memcpy(rf->old_pad, f->pro.pad_bytes, HP_PAD_LEN);
	memcpy(rf->old_win, f->pro.win_bytes, HP_WIN_LEN);
	memcpy(rf->new_pad, f->new_pad, HP_PAD_LEN);
	memcpy(rf->new_win, f->new_win, HP_WIN_LEN);
	rf->replacement = f->replacement;
	rf->slot = f->site.slot;
}

/* The same patch again is done already; an unfinished one must go first. */
static int check_new(struct apply *a)
{
	for (size_t i = 0; i < a->s.reg.n; i++) {
		const struct hp_reg_patch *p = &a->s.reg.p[i];

		if (memcmp(p->sha256, a->pf->sha256, 32))
			continue;
		if (p->state == HP_REG_APPLIED) {
			hp_report_patch(a->rep, p, "already-applied");
			return 1;
		}
		return hp_fail(-HP_EBUSY,
			       "an earlier apply of this patch (id %u) did not finish; take it out "
			       "first with: hotpatch rollback --pid %d %s",
			       p->id, a->s.t.pid, a->pf->path);
	}
	return 0;
}

static int plan_functions(struct apply *a)
{
	const struct hp_patchfile *pf = a->pf;
	int r;

	a->fp = calloc(pf->nreplace ? pf->nreplace : 1, sizeof(*a->fp));
	if (!a->fp)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < pf->nrec; i++) {
		if (pf->rec[i].kind != HOTPATCH_KIND_REPLACE)
			continue;
		r = plan_function(&a->s, a->o, &pf->rec[i], &a->fp[a->nfp]);
		if (r < 0) {
			a->failed = &pf->rec[i];
			return r;
		}
		for (size_t k = 0; k < a->nfp; k++)
			if (a->fp[k].res.addr == a->fp[a->nfp].res.addr)
				return hp_fail(-HP_EBADPATCH,
					       "%s and %s are the same function: replace it once",
					       a->fp[k].symbol, a->fp[a->nfp].symbol);
		a->nfp++;
	}
	return 0;
}

static int plan_pointers(struct apply *a)
{
	const struct hp_patchfile *pf = a->pf;
	int r = 0;

	a->ptrs = calloc(pf->nrec ? pf->nrec : 1, sizeof(*a->ptrs));
	a->ptr_fp = calloc(pf->nrec ? pf->nrec : 1, sizeof(*a->ptr_fp));
	if (!a->ptrs || !a->ptr_fp)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < pf->nrec && r == 0; i++)
		if (pf->rec[i].kind == HOTPATCH_KIND_ORIGINAL ||
		    pf->rec[i].kind == HOTPATCH_KIND_SYMBOL ||
		    pf->rec[i].kind == HOTPATCH_KIND_BIND)
			r = plan_pointer(&a->s, a->o, &pf->rec[i], a->fp, a->nfp, &a->ptrs[i],
					 &a->ptr_fp[i]);
		else if (pf->rec[i].kind == HOTPATCH_KIND_TLS)
			r = hp_tls_plan_add(&a->tp, &a->s.rc, object_of(a->o, &pf->rec[i]),
					    pf->rec[i].symbol, pf->rec[i].slot);
	return r;
}

/* Everything is checked before anything is written. */
static int resolve(struct apply *a)
{
	const struct hp_patchfile *pf = a->pf;
	int r;

	r = hp_procfs_check(&a->s.t);
	for (size_t i = 0; i < pf->nrec && r == 0; i++)
		if (pf->rec[i].kind == HOTPATCH_KIND_BUILD_ID)
			r = hp_check_build_id(&a->s.t, &a->s.m, object_of(a->o, &pf->rec[i]),
					      pf->rec[i].symbol);
	if (r == 0)
		r = plan_functions(a);
	if (r == 0)
		r = plan_pointers(a);
	a->t1 = hp_now_ns();
	a->rep->resolve_ns = a->t1 - a->t0;
	hp_trace("resolved");
	if (r < 0)
		return r;
	a->rp.state = HP_REG_LOADED;
	memcpy(a->rp.sha256, pf->sha256, 32);
	a->rp.build_id_len = (uint8_t)HP_MIN(pf->elf.build_id_len, sizeof(a->rp.build_id));
	memcpy(a->rp.build_id, pf->elf.build_id, a->rp.build_id_len);
	a->rp.path = hp_strdup(pf->path);
	hp_fault_point("apply:resolved");
	return 0;
}

static int fill_funcs(struct apply *a)
{
	a->rp.funcs = calloc(a->nfp ? a->nfp : 1, sizeof(*a->rp.funcs));
	if (!a->rp.funcs)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < a->nfp; i++)
		fill_func_record(&a->rp.funcs[a->rp.nfuncs++], &a->fp[i],
				 a->fp[i].rec->replacement_name);
	return 0;
}

/* The flip's plan, from what was resolved and encoded. */
static int make_plan(struct apply *a)
{
	_cleanup_free_ struct hp_plan_func *pf = calloc(a->nfp + 1, sizeof(*pf));
	int r;

	if (!pf)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < a->nfp; i++) {
		const struct fplan *f = &a->fp[i];

		pf[i] = (struct hp_plan_func){.symbol = f->symbol,
					      .pad = f->pro.pad,
					      .window = f->pro.window,
					      .window_len = f->window_len,
					      .pad_live = f->pad_live,
					      .method = f->method};
		memcpy(pf[i].pad_now, f->pro.pad_bytes, HP_PAD_LEN);
		memcpy(pf[i].win_now, f->pro.win_bytes, HP_WIN_LEN);
		memcpy(pf[i].pad_want, f->new_pad, HP_PAD_LEN);
		memcpy(pf[i].win_want, f->new_win, HP_WIN_LEN);
	}
	r = hp_plan_build(HP_PLAN_FORWARD, pf, a->nfp, &a->plan);
	return r < 0 ? hp_fail(r, "out of memory") : 0;
}

/* Dry run: the relocated copies find room within reach of their targets
 * (far jumps to the replacement are not known yet; they always find one). */
static int check_copies(struct apply *a)
{
	_cleanup_free_ struct hp_tramp_site *sites = calloc(a->nfp ? a->nfp : 1, sizeof(*sites));
	struct hp_reg_range *regions = NULL;
	size_t n = 0, nreg = 0;
	int r;

	if (!sites)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < a->nfp; i++)
		if (!a->fp[i].below && a->fp[i].method != HP_METHOD_PROLOGUE)
			sites[n++] = (struct hp_tramp_site){.from = a->fp[i].pro.pad,
							    .to = a->fp[i].pro.pad,
							    .copy = &a->fp[i].rel};
	if (!n)
		return 0;
	r = hp_tramp_plan(&a->s.m.maps, sites, n, &regions, &nreg);
	for (size_t i = 0; r == 0 && i < nreg; i++) {
		uint8_t *img = NULL;

		r = hp_tramp_image(&regions[i], sites, n, &img);
		free(img);
	}
	free(regions);
	return r;
}

/* Everything but loading and writing: the threads are stopped and checked
 * against the ranges the flip would forbid, as the flip would. */
static int dry_run(struct apply *a)
{
	int r;

	r = check_copies(a);
	if (r == 0)
		r = make_plan(a);
	if (r == 0)
		r = hp_remote_probe(&a->s.rc, a->s.deadline);
	if (r == 0)
		r = hp_flip_probe(&a->s.t, a->plan.forbid, a->plan.nforbid, a->s.deadline,
				  &a->rep->flip, &a->rep->in_window);
	if (r == 0)
		r = fill_funcs(a);
	if (r == 0)
		hp_report_patch(a->rep, &a->rp, "would-apply");
	return r;
}

/* One thread at a safe point runs dlopen; the rest run on. */
static int load(struct apply *a)
{
	int r;

	r = hp_remote_ensure_ctl(&a->s.rc, a->s.deadline);
	hp_fault_point("apply:control-mapping");
	if (r == 0)
		r = hp_load_patch(&a->s, a->pf, &a->rp, &a->tp, a->tls_ret, &a->ntls);
	if (r == 0)
		hp_fault_point("apply:loaded");
	return r;
}

static int place_trampolines(struct apply *a)
{
	_cleanup_free_ struct hp_tramp_site *sites = calloc(a->nfp ? a->nfp : 1, sizeof(*sites));
	int r;

	if (!sites)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < a->nfp; i++) {
		a->fp[i].replacement = a->rp.base + a->fp[i].rec->replacement;
		sites[i] = (struct hp_tramp_site){.from = a->fp[i].pro.pad,
						  .to = a->fp[i].replacement};
		if (!a->fp[i].below && a->fp[i].method != HP_METHOD_PROLOGUE)
			sites[i].copy = &a->fp[i].rel;
	}
	r = hp_load_trampolines(&a->s, sites, a->nfp, &a->rp);
	for (size_t i = 0; i < a->nfp; i++) {
		a->fp[i].site = sites[i];
		if (sites[i].copy)
			a->fp[i].body = sites[i].copy_at; /* the original, relocated */
	}
	return r;
}

/* A BIND record's slots: the patch's GOT and PLT entries for its local
 * name, and its 64-bit pointers to it.  They may lie in RELRO pages, which
 * writing through /proc/PID/mem does not mind. */
static int write_bind(struct apply *a, const struct hp_patch_rec *rec, uint64_t addr)
{
	const struct hp_elf_rel *rel;
	size_t n = hp_elf_relocs(&a->pf->elf, &rel);
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++) {
		uint64_t v = addr;

		if (rel[i].sym != rec->bind_sym)
			continue;
		if (rel[i].type == R_X86_64_64)
			v += (uint64_t)rel[i].addend;
		else if (rel[i].type != R_X86_64_GLOB_DAT && rel[i].type != R_X86_64_JUMP_SLOT)
			continue; /* patchfile.c refused any other */
		r = hp_mem_write(&a->s.t, a->rp.base + rel[i].offset, &v, sizeof(v));
	}
	return r;
}

/* The patch's ORIGINAL, SYMBOL, TLS and BIND slots. */
static int write_pointers(struct apply *a)
{
	const struct hp_patchfile *pf = a->pf;
	int r = 0;

	for (size_t i = 0; i < pf->nrec; i++)
		if (a->ptr_fp[i])
			a->ptrs[i] = a->fp[a->ptr_fp[i] - 1].body;
	for (size_t i = 0; r == 0 && i < pf->nrec; i++)
		if (pf->rec[i].kind == HOTPATCH_KIND_ORIGINAL ||
		    pf->rec[i].kind == HOTPATCH_KIND_SYMBOL)
			r = hp_mem_write(&a->s.t, a->rp.base + pf->rec[i].slot, &a->ptrs[i],
					 sizeof(a->ptrs[i]));
	for (size_t i = 0; r == 0 && i < a->tp.nvar; i++) {
		uint64_t idx[2];

		hp_tls_index(&a->tp, i, idx);
		r = hp_mem_write(&a->s.t, a->rp.base + a->tp.var[i].slot, idx, sizeof(idx));
	}
	for (size_t i = 0; r == 0 && i < pf->nrec; i++)
		if (pf->rec[i].kind == HOTPATCH_KIND_BIND)
			r = write_bind(a, &pf->rec[i], a->ptrs[i]);
	return r;
}

static int encode_jumps(struct apply *a)
{
	for (size_t i = 0; i < a->nfp; i++) {
		struct fplan *f = &a->fp[i];

		if (hp_jmp_rel32(f->new_pad, f->pro.pad,
				 f->site.slot ? f->site.slot : f->replacement) < 0 ||
		    (f->method != HP_METHOD_RELOCATE &&
		     hp_jmp_rel8(f->new_win, f->pro.window, f->pro.pad) < 0))
			return hp_fail(-ERANGE, "internal: jump to 0x%llx out of reach",
				       (unsigned long long)f->replacement);
		if (f->method == HP_METHOD_RELOCATE) /* the window is the jump's start */
			memcpy(f->new_win, f->new_pad, HP_WIN_LEN);
	}
	return 0;
}

/* Trampolines, pointers, jump bytes, the record's functions. */
static int prepare(struct apply *a)
{
	int r;

	r = hp_tls_finish(&a->tp, &a->s.rc, a->tls_ret, a->ntls, a->s.deadline);
	if (r == 0)
		r = place_trampolines(a);
	if (r == 0)
		r = write_pointers(a);
	if (r == 0)
		r = encode_jumps(a);
	if (r == 0)
		r = fill_funcs(a);
	return r;
}

/* The record comes first: whatever happens next, a later run knows every
 * byte we are about to change. */
static int record(struct apply *a)
{
	int r;

	r = hp_record_add(&a->s, &a->rp);
	if (r < 0)
		return r;
	hp_fault_point("apply:recorded");
	a->id = a->s.reg.p[a->s.reg.n - 1].id;
	return 0;
}

/* Pads that no jump reaches yet are written now, while the target runs:
 * the stop is left with the 2-byte windows only.  The window's own bytes
 * are written back unchanged too, so that its page is the process's
 * private copy before the stop: writing it then never has to read a file
 * (from a slow disk, or a filesystem that stalls). */
static int ready_pads(struct apply *a)
{
	int r = 0;

	for (size_t i = 0; i < a->plan.npre && r == 0; i++) {
		const struct hp_plan_pre *p = &a->plan.pre[i];
		uint8_t now[8];

		r = hp_mem_read(&a->s.t, p->w.addr, now, p->w.len);
		if (r == 0 && memcmp(now, p->w.old, p->w.len))
			r = hp_fail(-HP_EMISMATCH, "the %s of %s changed while hotpatch worked",
				    p->touch ? "entry" : "pad", a->fp[p->func].symbol);
		if (r == 0)
			r = p->touch ? hp_mem_write(&a->s.t, p->w.addr, p->w.new, p->w.len)
				     : hp_mem_write_verify(&a->s.t, p->w.addr, p->w.new, p->w.len);
		if (r == 0)
			a->npre = i + 1; /* what unready() puts back */
		if (!p->touch)
			hp_fault_point("apply:pad");
	}
	return r;
}

/* Every thread stopped, windows written, threads resumed. */
static int flip(struct apply *a)
{
	int r;

	a->rep->load_ns = hp_now_ns() - a->t1;
	r = hp_flip(&a->s.t, a->plan.w, a->plan.nw, a->plan.forbid, a->plan.nforbid, NULL, NULL,
		    a->s.deadline, &a->rep->flip);
	if (r == 0)
		hp_fault_point("apply:flipped");
	return r;
}

/* The patch is in effect: a failure to record that is a note, not an
 * error (the next run finds the flip done and completes the record). */
static void commit(struct apply *a)
{
	struct hp_reg_patch *cur = hp_record_find(&a->s, a->id);
	struct hp_patch_report *pr;
	uint64_t t1 = hp_now_ns();
	int r;

	r = hp_record_mark_applied(&a->s, cur);
	hp_fault_point("apply:done");
	a->rep->record_ns = hp_now_ns() - t1;
	pr = hp_report_patch(a->rep, cur, "applied");
	for (size_t i = 0; pr && i < a->nfp && i < pr->nfuncs; i++) {
		pr->funcs[i].layout =
			a->fp[i].pro.state == HP_PRO_PATCHED ? "stacked" : a->fp[i].pro.layout;
		pr->funcs[i].method = hp_method_name(a->fp[i].method);
		pr->funcs[i].stacked = a->fp[i].below != NULL;
	}
	if (r < 0) {
		hp_note("the patch is in effect, but recording it failed: %s", hp_err.msg);
		hp_error_clear();
	}
}

/* Undo of ready_pads and record: the flip itself never leaves a partial
 * write. */
static void unready(struct apply *a)
{
	struct hp_reg_patch *p;

	for (size_t i = a->npre; i-- > 0;)
		if (!a->plan.pre[i].touch)
			hp_mem_write(&a->s.t, a->plan.pre[i].w.addr, a->plan.pre[i].w.old,
				     a->plan.pre[i].w.len);
	p = hp_record_find(&a->s, a->id);
	if (p && hp_load_unload(&a->s, p) == 0)
		hp_record_remove(&a->s, a->id);
}

static void apply_free(struct apply *a)
{
	a->rep->remote_calls = a->s.rc.calls;
	hp_session_close(&a->s);
	hp_reg_patch_free(&a->rp);
	hp_tls_plan_free(&a->tp);
	hp_plan_free(&a->plan);
	for (size_t i = 0; a->fp && i < a->pf->nreplace; i++)
		free(a->fp[i].symbol);
	free(a->fp);
	free(a->ptrs);
	free(a->ptr_fp);
	a->rep->total_ns = hp_now_ns() - a->t0;
}

int hp_apply(pid_t pid, struct hp_patchfile *pf, const struct hp_options *o, struct hp_report *rep)
{
	struct apply a = {.pf = pf, .o = o, .rep = rep, .t0 = hp_now_ns()};
	int r;

	memset(rep, 0, sizeof(*rep));
	for (size_t i = 0; i < pf->nrec; i++)
		if (strchr(object_of(o, &pf->rec[i]), '/'))
			hp_io_prestart(); /* objects named by path are looked up by it */
	r = hp_session_open(&a.s, pid, "apply", o, rep);
	if (r == 0 && !o->dry_run)
		r = hp_recover(&a.s, o);
	if (r == 0)
		r = check_new(&a);
	if (r == 0)
		r = resolve(&a);
	if (r != 0 || o->dry_run) {
		r = r > 0 ? 0 : r == 0 ? dry_run(&a) : r;
		goto out;
	}
	r = load(&a);
	if (r < 0)
		goto out;
	r = prepare(&a);
	if (r == 0)
		r = record(&a);
	if (r < 0)
		goto err_unload;
	r = make_plan(&a);
	if (r == 0)
		r = ready_pads(&a);
	if (r == 0)
		r = flip(&a);
	if (r < 0)
		goto err_unrecord;
	commit(&a);
	goto out;

err_unrecord:
	hp_unwind_begin();
	unready(&a);
	hp_unwind_end();
	goto out;
err_unload:
	hp_unwind_begin();
	hp_load_unload(&a.s, &a.rp);
	hp_unwind_end();
out:
	if (r < 0 && !rep->npatches)
		hp_report_failure(rep, pf, a.failed, hp_err.msg);
	apply_free(&a);
	return r;
}
