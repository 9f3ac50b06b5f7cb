/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * apply reads as its verbs: open the session (lock, seize nothing yet),
 * resolve, load (one thread runs dlopen while the others keep running),
 * prepare (trampolines, pointers, pads, the record), flip (every thread
 * stopped for the 2-byte writes only), record, report.
 */
#include "patch.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "../include/hotpatch.h"
#include "fileio.h"
#include "memory.h"
#include "modules.h"
#include "patchfile.h"
#include "procfs.h"
#include "remote.h"
#include "resolve.h"
#include "stackcheck.h"
#include "target.h"
#include "tls.h"
#include "trampoline.h"
#include "session.h"
#include "util.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define RTLD_NOW_ 2
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1u
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 2u
#endif

/* ---------------------------------------------------------------- apply */

/* The object a record means: its own, or --lib's when it names none. */
static const char *object_of(const struct hp_options *o, const struct hp_patch_rec *rec)
{
	return rec->object[0] || !o->default_object ? rec->object : o->default_object;
}

struct fplan {
	const struct hp_patch_rec *rec;
	struct hp_resolved res;
	struct hp_prologue pro;
	const struct hp_reg_func *below; /* the patch this one stacks on */
	uint8_t window_len;
	uint64_t body;
	bool pad_live; /* the pad is reachable now: rewrite it only while stopped */
	uint64_t replacement;
	struct hp_tramp_site site;
	uint8_t new_pad[HP_PAD_LEN], new_win[HP_WIN_LEN];
	bool pad_written;
};

static int plan_function(struct hp_session *s, const struct hp_options *o,
			 const struct hp_patch_rec *rec, struct fplan *f)
{
	const struct hp_sym *clones;
	struct hp_elf *e;
	size_t nclones;
	int r;

	f->rec = rec;
	r = hp_resolve(&s->t, &s->m, object_of(o, rec), rec->symbol, HP_WANT_FUNC, &f->res);
	if (r < 0)
		return r;
	r = hp_resolve_prologue(&s->t, &f->res, &f->pro);
	if (r < 0)
		return r;
	const struct hp_reg_func *top = hp_registry_top(&s->reg, f->res.addr, NULL);
	if (f->pro.state == HP_PRO_PATCHED) {
		if (!top || memcmp(top->new_pad, f->pro.pad_bytes, HP_PAD_LEN) ||
		    memcmp(top->new_win, f->pro.win_bytes, HP_WIN_LEN))
			return hp_fail(-HP_ENOTPATCHABLE,
				       "%s in %s is already redirected (to 0x%llx), and not by a patch "
				       "hotpatch recorded in pid %d: another tool changed it",
				       rec->symbol, f->res.obj->path,
				       (unsigned long long)f->pro.dest, s->t.pid);
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
				       rec->symbol, f->res.obj->path,
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

/* The address the ORIGINAL and SYMBOL records ask for. */
static int plan_pointer(struct hp_session *s, const struct hp_options *o,
			const struct hp_patch_rec *rec, struct fplan *fp, size_t nfp, uint64_t *ret)
{
	struct hp_resolved res;
	struct hp_prologue pro;
	int r;

	r = hp_resolve(&s->t, &s->m, object_of(o, rec), rec->symbol,
		       rec->kind == HOTPATCH_KIND_ORIGINAL ? HP_WANT_FUNC : HP_WANT_ANY, &res);
	if (r < 0)
		return r;
	if (rec->kind == HOTPATCH_KIND_SYMBOL) {
		*ret = res.addr;
		return 0;
	}
	for (size_t i = 0; i < nfp; i++)
		if (fp[i].res.addr == res.addr) {
			*ret = fp[i].body;
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

/*
 * The memfd the target just made for the patch, taken over by hotpatch:
 * pidfd_getfd() duplicates the target's file itself, with the target's own
 * access mode, so nothing the target does to its fd table can make root open
 * another file.  It must still be the memfd we asked for (a thread of the
 * target may have put something else under that number): regular, unlinked,
 * empty, sealable and unsealed, with our name.  Then the bytes go in, the
 * memfd is sealed against any change, and read back: what the target loads
 * is what was checked and logged, even against the target itself.
 */
static int fill_memfd(struct hp_session *s, int tfd, const char *name,
		      const struct hp_patchfile *pf, struct stat *ret_st)
{
	char link[128], want[128], fdpath[64];
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *back = NULL;
	struct stat st;
	ssize_t n;
	int seals, r = 0;

	if (s->t.pidfd < 0)
		return hp_fail(-ENOSYS, "cannot take the patch's memfd from pid %d: no pidfd",
			       s->t.pid);
	fd = (int)syscall(SYS_pidfd_getfd, s->t.pidfd, tfd, 0);
	if (fd < 0)
		return hp_fail(errno == EBADF ? -HP_EINTERFERED : -errno,
			       "cannot take the memfd hotpatch made in pid %d (fd %d): %m%s",
			       s->t.pid, tfd, errno == EBADF ? "; the target closed it" : "");
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	n = readlink(fdpath, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	seals = fcntl(fd, F_GET_SEALS);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 0 || st.st_size != 0 ||
	    seals != 0 || (fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR || strcmp(link, want))
		return hp_fail(-HP_EINTERFERED,
			       "fd %d of pid %d is no longer the empty memfd hotpatch made for the "
			       "patch (it is now %s): something in the target replaced it. Nothing "
			       "was written",
			       tfd, s->t.pid, link[0] ? link : "unknown");
	for (size_t done = 0; done < pf->len;) {
		n = pwrite(fd, pf->data + done, pf->len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return hp_fail(n < 0 ? -errno : -EIO,
				       "cannot copy the patch into pid %d: %s", s->t.pid,
				       n < 0 ? strerror(errno) : "short write");
		done += (size_t)n;
	}
	hp_fault_point("apply:memfd-written");
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		return hp_fail(errno == EBUSY ? -HP_EINTERFERED : -errno,
			       "cannot seal the patch's memfd in pid %d: %m%s", s->t.pid,
			       errno == EBUSY ? " (the target mapped it writable)" : "");
	/* sealed: from here on nobody changes it; were these our bytes? */
	back = malloc(pf->len ? pf->len : 1);
	if (!back)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t done = 0; done < pf->len && r == 0;) {
		n = pread(fd, back + done, pf->len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = -1;
		else
			done += (size_t)n;
	}
	if (r < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size != pf->len ||
	    memcmp(back, pf->data, pf->len))
		return hp_fail(-HP_EINTERFERED,
			       "the patch's memfd in pid %d does not hold the patch hotpatch wrote: "
			       "something in the target changed it before it was sealed",
			       s->t.pid);
	*ret_st = st;
	return 0;
}

/* Is fd `tfd` of the target still our memfd? */
static bool memfd_still_there(struct hp_session *s, int tfd, const struct stat *ours)
{
	_cleanup_close_ int fd = (int)syscall(SYS_pidfd_getfd, s->t.pidfd, tfd, 0);
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == ours->st_ino &&
	       st.st_dev == ours->st_dev;
}

/* The patch's mapped range, found by the memfd's identity: the object the
 * target's dlopen mapped must be that memfd, or it loaded something else. */
static int loaded_range(struct hp_session *s, const struct hp_patchfile *pf, const struct stat *st,
			struct hp_reg_patch *rp)
{
	uint64_t lo = UINT64_MAX, hi = 0, first = UINT64_MAX;
	struct hp_maps maps;
	int r;

	r = hp_maps_read(s->t.pid, &maps);
	if (r < 0)
		return r;
	for (size_t i = 0; i < maps.n; i++)
		if (maps.m[i].inode == st->st_ino && maps.m[i].dev_major == major(st->st_dev) &&
		    maps.m[i].dev_minor == minor(st->st_dev)) {
			lo = HP_MIN(lo, maps.m[i].start);
			hi = HP_MAX(hi, maps.m[i].end);
		}
	for (size_t i = 0; i < pf->elf.phnum; i++)
		if (pf->elf.phdr[i].p_type == PT_LOAD)
			first = HP_MIN(first, pf->elf.phdr[i].p_vaddr & ~4095ull);
	if (!hi || first == UINT64_MAX || lo != rp->base + first) {
		hp_maps_free(&maps);
		return hp_fail(-HP_EINTERFERED,
			       "pid %d loaded something other than the patch hotpatch gave it (its "
			       "dlopen handle 0x%llx names base 0x%llx; the patch's memfd is mapped "
			       "%s): something in the target replaced it",
			       s->t.pid, (unsigned long long)rp->handle,
			       (unsigned long long)rp->base, hi ? "elsewhere" : "nowhere");
	}
	rp->text = (struct hp_reg_range){lo, hi - lo};
	/* later steps pick gaps from the maps as they are now */
	hp_maps_free(&s->m.maps);
	s->m.maps = maps;
	return 0;
}

/* Copies the checked bytes into a sealed memfd of the target and dlopens
 * that: the target loads exactly what was checked, whatever happens to the
 * file or to the target's fd table.  The TLS lookups (tp) ride along in
 * the dlopen's call: tls_ret[] gets their *ntls results. */
#define LOAD_OPS 3
static int load_patch(struct hp_session *s, struct hp_patchfile *pf, struct hp_reg_patch *rp,
		      struct hp_tls_plan *tp, uint64_t *tls_ret, size_t *ntls)
{
	char name[64], path[128];
	struct hp_rop ops[HP_CALL_MAX_OPS];
	uint64_t ret[HP_CALL_MAX_OPS];
	struct hp_rop extra[HP_CALL_MAX_OPS - LOAD_OPS];
	struct stat st = {0};
	int r;

	memset(extra, 0, sizeof(extra));
	r = hp_tls_ride_along(tp, &s->rc, extra, HP_ARRAY_SIZE(extra), ntls);
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "hotpatch:%.40s", hp_basename(pf->path));
	struct hp_ctl_hdr hdr;

	/* if we die from here until the record is written, the next run finds
	 * what this load left in the target and takes it out */
	if (hp_ctl_read(&s->rc, &hdr) == 0) {
		hdr.pending_load = 1;
		hp_ctl_write(&s->rc, &hdr);
	}
	memset(ops, 0, sizeof(ops));
	ops[0] = (struct hp_rop){.nr = SYS_memfd_create,
				 .args = {hp_remote_str(&s->rc, 0),
					  MFD_CLOEXEC | MFD_ALLOW_SEALING}};
	r = hp_remote_call(&s->rc, ops, 1, name, strlen(name) + 1, ret, s->deadline,
			   "creating a memfd for the patch");
	if (r < 0)
		return r;
	if ((int64_t)ret[0] < 0)
		return hp_remote_error(s, ret[0], "memfd_create");
	int tfd = (int)ret[0];

	hp_fault_point("apply:memfd");
	r = fill_memfd(s, tfd, name, pf, &st);
	if (r < 0) {
		/* a number that is no longer our memfd is the target's own now */
		if (r == -HP_EINTERFERED)
			return r;
		memset(ops, 0, sizeof(ops));
		ops[0] = (struct hp_rop){.nr = SYS_close, .args = {(uint64_t)tfd}};
		hp_unwind_begin();
		hp_remote_call(&s->rc, ops, 1, NULL, 0, ret, s->deadline, "closing the memfd");
		hp_unwind_end();
		return r;
	}

	/* glibc reuses a loaded object of the same name: make ours unique */
	for (int k = 0; k < 8; k++) {
		size_t o = (size_t)snprintf(path, sizeof(path), "/proc/self/fd/");

		for (int i = 0; i < k; i++) /* same file, different name */
			o += (size_t)snprintf(path + o, sizeof(path) - o, "../fd/");
		snprintf(path + o, sizeof(path) - o, "%d", tfd);
		if (!hp_modules_lm_has(&s->m, path))
			break;
	}
	/* the TLS lookups first: a dl* call after dlerror() would free the
	 * message it returned */
	memset(ops, 0, sizeof(ops));
	memcpy(ops, extra, *ntls * sizeof(*extra));
	struct hp_rop *lo = ops + *ntls;
	uint64_t *lr = ret + *ntls;
	lo[0] = (struct hp_rop){.fn = s->rc.fn_dlopen,
				.args = {hp_remote_str(&s->rc, 0), RTLD_NOW_}};
	lo[1] = (struct hp_rop){.fn = s->rc.fn_dlerror, .flags = HP_OPF_SKIP_UNLESS_PREV_ZERO};
	/* closed here only when loaded: a failure first asks whether the fd
	 * still was ours */
	lo[2] = (struct hp_rop){.nr = SYS_close,
				.args = {(uint64_t)tfd},
				.flags = HP_OPF_SKIP_UNLESS_PREV_ZERO};
	r = hp_remote_call(&s->rc, ops, *ntls + LOAD_OPS, path, strlen(path) + 1, ret, s->deadline,
			   "dlopen of the patch");
	if (r < 0)
		return r;
	memcpy(tls_ret, ret, *ntls * sizeof(*ret));
	if (!lr[0]) {
		char msg[1024] = "(no message)";
		bool ours = memfd_still_there(s, tfd, &st);

		if (lr[1])
			hp_remote_read_str(&s->rc, lr[1], msg, sizeof(msg));
		if (ours) {
			memset(ops, 0, sizeof(ops));
			ops[0] = (struct hp_rop){.nr = SYS_close, .args = {(uint64_t)tfd}};
			hp_remote_call(&s->rc, ops, 1, NULL, 0, ret, s->deadline,
				       "closing the memfd");
		}
		return ours ? hp_fail(-HP_EDLOPEN, "pid %d could not load the patch %s: %s",
				      s->t.pid, pf->path, msg)
			    : hp_fail(-HP_EINTERFERED,
				      "fd %d of pid %d was no longer the patch's memfd when the "
				      "target loaded it (%s): something in the target replaced it",
				      tfd, s->t.pid, msg);
	}
	rp->handle = lr[0];
	/* glibc's handle is its struct link_map, whose first field is l_addr */
	r = hp_mem_read(&s->t, rp->handle, &rp->base, sizeof(rp->base));
	if (r == 0)
		r = loaded_range(s, pf, &st, rp);
	if (r < 0) {
		/* whatever it loaded, our dlopen's reference goes back */
		memset(ops, 0, sizeof(ops));
		ops[0] = (struct hp_rop){.fn = s->rc.fn_dlclose, .args = {rp->handle}};
		hp_unwind_begin();
		hp_remote_call(&s->rc, ops, 1, NULL, 0, ret, s->deadline, "dlclose");
		hp_unwind_end();
		rp->handle = 0;
		return r;
	}
	return 0;
}

/* Trampoline pages are a named memfd, mapped read+exec (never writable:
 * hotpatch fills them through /proc/PID/mem), so that they show in
 * /proc/PID/maps and a later run can tell them apart. */
static int map_trampolines(struct hp_session *s, struct hp_reg_patch *rp)
{
	struct hp_rop ops[HP_CALL_MAX_OPS];
	uint64_t ret[HP_CALL_MAX_OPS];
	size_t n = rp->ntramps, per = HP_CALL_MAX_OPS / 4;
	int r;

	for (size_t i = 0; i < n; i += per) {
		size_t k = HP_MIN(per, n - i);

		memset(ops, 0, sizeof(ops));
		for (size_t j = 0; j < k; j++) {
			struct hp_rop *o = &ops[4 * j];
			unsigned b = (unsigned)(4 * j);

			o[0] = (struct hp_rop){.nr = SYS_memfd_create,
					       .args = {hp_remote_str(&s->rc, 0), 1 /* CLOEXEC */},
					       .flags = HP_OPF_ABORT_IF_ERR};
			o[1] = (struct hp_rop){.nr = SYS_ftruncate,
					       .args = {0, rp->tramps[i + j].len},
					       .flags =
						       HP_OPF_ABORT_IF_ERR | HP_OPF_ARG_FROM(0, b)};
			o[2] = (struct hp_rop){.nr = SYS_mmap,
					       .args = {rp->tramps[i + j].addr,
							rp->tramps[i + j].len,
							PROT_READ | PROT_EXEC,
							MAP_PRIVATE | MAP_FIXED_NOREPLACE, 0, 0},
					       .flags = HP_OPF_ARG_FROM(4, b)};
			o[3] = (struct hp_rop){.nr = SYS_close,
					       .args = {0},
					       .flags = HP_OPF_ALWAYS | HP_OPF_ARG_FROM(0, b)};
		}
		r = hp_remote_call(&s->rc, ops, 4 * k, HP_TRAMP_NAME, sizeof(HP_TRAMP_NAME), ret,
				   s->deadline, "mapping trampolines");
		if (r < 0)
			return r;
		for (size_t j = 0; j < k; j++) {
			uint64_t got = ret[4 * j + 2], fd = ret[4 * j];

			if (got == rp->tramps[i + j].addr)
				continue;
			/* a mapping that landed elsewhere is not ours to keep */
			if ((int64_t)got > 0 && (int64_t)fd >= 0) {
				struct hp_rop un = {.nr = SYS_munmap,
						    .args = {got, rp->tramps[i + j].len}};
				uint64_t x;

				hp_remote_call(&s->rc, &un, 1, NULL, 0, &x, s->deadline, "munmap");
			}
			uint64_t err = (int64_t)fd < 0 ? fd : got;
			/* the ones before it are mapped; this one and later are not */
			for (size_t q = i + j; q + 1 < rp->ntramps; q++)
				rp->tramps[q] = rp->tramps[q + 1];
			rp->ntramps = i + j;
			return (int64_t)err < 0
				       ? hp_remote_error(s, err, "mapping a trampoline page")
				       : hp_fail(-ENOMEM,
						 "trampoline page landed at the wrong address");
		}
	}
	return 0;
}

static void fill_func_record(struct hp_reg_func *rf, const struct fplan *f, const char *repl_name)
{
	rf->symbol = hp_strdup(f->rec->symbol);
	rf->object = hp_strdup(f->res.obj->path);
	rf->replacement_name = hp_strdup(repl_name);
	rf->entry = f->res.addr;
	rf->pad = f->pro.pad;
	rf->window = f->pro.window;
	rf->body = f->body;
	rf->window_len = f->window_len;
	rf->endbr = f->pro.endbr;
	memcpy(rf->old_pad, f->pro.pad_bytes, HP_PAD_LEN);
	memcpy(rf->old_win, f->pro.win_bytes, HP_WIN_LEN);
	memcpy(rf->new_pad, f->new_pad, HP_PAD_LEN);
	memcpy(rf->new_win, f->new_win, HP_WIN_LEN);
	rf->replacement = f->replacement;
	rf->slot = f->site.slot;
}

static int record_add(struct hp_session *s, struct hp_reg_patch *rp)
{
	struct hp_reg_patch *np = realloc(s->reg.p, (s->reg.n + 1) * sizeof(*np));
	struct hp_ctl_hdr hdr;
	int r;

	if (!np)
		return hp_fail(-ENOMEM, "out of memory");
	s->reg.p = np;
	r = hp_ctl_read(&s->rc, &hdr);
	if (r < 0)
		return r;
	rp->id = (uint32_t)(hdr.next_patch_id ? hdr.next_patch_id : 1);
	hdr.next_patch_id = rp->id + 1;
	r = hp_ctl_write(&s->rc, &hdr);
	if (r < 0)
		return r;
	s->reg.p[s->reg.n++] = *rp;
	r = hp_registry_write(&s->rc, &s->reg);
	if (r < 0) {
		s->reg.n--; /* rp keeps what it owns */
		return r;
	}
	memset(rp, 0, sizeof(*rp)); /* the registry owns it now */
	/* the record knows everything the load made */
	if (hp_ctl_read(&s->rc, &hdr) == 0) {
		hdr.pending_load = 0;
		hp_ctl_write(&s->rc, &hdr);
	}
	return 0;
}

/* A failed apply still says, per function, what happened to it: the one
 * that stopped the patch failed, the others were skipped with it. */
static void report_failure(struct hp_report *rep, const struct hp_patchfile *pf,
			   const struct hp_patch_rec *failed)
{
	struct hp_reg_patch rp = {.path = pf->path};
	struct hp_patch_report *pr;
	size_t k = 0;

	memcpy(rp.sha256, pf->sha256, 32);
	pr = hp_report_patch(rep, &rp, "failed");
	if (!pr)
		return;
	free(pr->funcs);
	pr->funcs = calloc(pf->nreplace ? pf->nreplace : 1, sizeof(*pr->funcs));
	if (!pr->funcs) {
		pr->nfuncs = 0;
		return;
	}
	for (size_t i = 0; i < pf->nrec; i++) {
		const struct hp_patch_rec *rec = &pf->rec[i];
		struct hp_func_report *f;

		if (rec->kind != HOTPATCH_KIND_REPLACE)
			continue;
		f = &pr->funcs[k++];
		f->symbol = hp_strdup(rec->symbol);
		f->object = hp_strdup(rec->object[0] ? rec->object : NULL);
		f->replacement = hp_strdup(rec->replacement_name);
		f->bytes_ok = true;
		if (rec == failed) {
			f->result = "failed";
			f->reason = hp_strdup(hp_err.msg);
		} else {
			f->result = "skipped";
			f->reason = hp_strdup(failed ? "not applied: a patch applies all of its "
						       "functions or none"
						     : "not applied: the patch as a whole failed");
		}
	}
	pr->nfuncs = k;
}

int hp_apply(pid_t pid, struct hp_patchfile *pf, const struct hp_options *o, struct hp_report *rep)
{
	struct hp_session s;
	struct fplan *fp = NULL;
	struct hp_reg_patch rp = {0};
	struct hp_write *w = NULL;
	struct hp_range *forbid = NULL;
	struct hp_tls_plan tp = {0};
	uint64_t tls_ret[HP_CALL_MAX_OPS];
	size_t nfp = 0, nw = 0, nforbid = 0, ntls = 0;
	uint64_t t0 = hp_now_ns(), t1;
	const struct hp_patch_rec *failed = NULL;
	bool loaded = false, recorded = false;
	uint32_t id = 0;
	int r;

	memset(rep, 0, sizeof(*rep));
	for (size_t i = 0; i < pf->nrec; i++)
		if (strchr(object_of(o, &pf->rec[i]), '/'))
			hp_io_prestart(); /* objects named by path are looked up by it */
	r = hp_session_open(&s, pid, "apply", o, rep, true);
	if (r < 0)
		goto out;

	for (size_t i = 0; i < s.reg.n; i++)
		if (!memcmp(s.reg.p[i].sha256, pf->sha256, 32)) {
			if (s.reg.p[i].state == HP_REG_APPLIED) {
				hp_report_patch(rep, &s.reg.p[i], "already-applied");
				r = 0;
				goto out;
			}
			r = hp_fail(-HP_EBUSY,
				    "an earlier apply of this patch (id %u) did not finish; take it out "
				    "first with: hotpatch rollback --pid %d %s",
				    s.reg.p[i].id, pid, pf->path);
			goto out;
		}

	/* resolve: everything is checked before anything is written */
	r = hp_procfs_check(&s.t);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < pf->nrec; i++)
		if (pf->rec[i].kind == HOTPATCH_KIND_BUILD_ID) {
			r = hp_check_build_id(&s.t, &s.m, object_of(o, &pf->rec[i]),
					      pf->rec[i].symbol);
			if (r < 0)
				goto out;
		}
	fp = calloc(pf->nreplace, sizeof(*fp));
	if (!fp) {
		r = hp_fail(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < pf->nrec; i++) {
		if (pf->rec[i].kind != HOTPATCH_KIND_REPLACE)
			continue;
		r = plan_function(&s, o, &pf->rec[i], &fp[nfp]);
		if (r < 0) {
			failed = &pf->rec[i];
			goto out;
		}
		for (size_t k = 0; k < nfp; k++)
			if (fp[k].res.addr == fp[nfp].res.addr) {
				r = hp_fail(-HP_EBADPATCH,
					    "%s and %s are the same function: replace it once",
					    fp[k].rec->symbol, pf->rec[i].symbol);
				goto out;
			}
		nfp++;
	}
	uint64_t *ptrs = calloc(pf->nrec, sizeof(*ptrs));
	if (!ptrs) {
		r = hp_fail(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < pf->nrec && r == 0; i++)
		if (pf->rec[i].kind == HOTPATCH_KIND_ORIGINAL ||
		    pf->rec[i].kind == HOTPATCH_KIND_SYMBOL)
			r = plan_pointer(&s, o, &pf->rec[i], fp, nfp, &ptrs[i]);
		else if (pf->rec[i].kind == HOTPATCH_KIND_TLS)
			r = hp_tls_plan_add(&tp, &s.rc, object_of(o, &pf->rec[i]),
					    pf->rec[i].symbol, pf->rec[i].slot);
	t1 = hp_now_ns();
	rep->resolve_ns = t1 - t0;
	hp_trace("resolved");
	if (r < 0) {
		free(ptrs);
		goto out;
	}

	rp.state = HP_REG_LOADED;
	memcpy(rp.sha256, pf->sha256, 32);
	rp.build_id_len = (uint8_t)HP_MIN(pf->elf.build_id_len, sizeof(rp.build_id));
	memcpy(rp.build_id, pf->elf.build_id, rp.build_id_len);
	rp.path = hp_strdup(pf->path);

	hp_fault_point("apply:resolved");
	if (o->dry_run) {
		/* everything but loading and writing: the threads are stopped
		 * and their windows checked, as the flip would */
		struct hp_range *probe = calloc(nfp ? nfp : 1, sizeof(*probe));

		r = probe ? 0 : hp_fail(-ENOMEM, "out of memory");
		for (size_t i = 0; probe && i < nfp; i++)
			probe[i] = (struct hp_range){fp[i].pro.window + 1,
						     fp[i].pro.window + fp[i].window_len,
						     fp[i].rec->symbol};
		if (r == 0)
			r = hp_remote_probe(&s.rc, s.deadline);
		if (r == 0)
			r = hp_flip_probe(&s.t, probe, nfp, s.deadline, &rep->flip,
					  &rep->in_window);
		free(probe);
		rp.funcs = calloc(nfp ? nfp : 1, sizeof(*rp.funcs));
		for (size_t i = 0; rp.funcs && i < nfp; i++)
			fill_func_record(&rp.funcs[rp.nfuncs++], &fp[i],
					 fp[i].rec->replacement_name);
		if (r == 0)
			hp_report_patch(rep, &rp, "would-apply");
		free(ptrs);
		goto out;
	}

	/* load: one thread at a safe point runs dlopen; the rest run on */
	r = hp_remote_ensure_ctl(&s.rc, s.deadline);
	hp_fault_point("apply:control-mapping");
	if (r == 0)
		r = load_patch(&s, pf, &rp, &tp, tls_ret, &ntls);
	if (r < 0) {
		free(ptrs);
		goto out;
	}
	loaded = true;
	hp_fault_point("apply:loaded");
	r = hp_tls_finish(&tp, &s.rc, tls_ret, ntls, s.deadline);
	if (r < 0) {
		free(ptrs);
		goto undo;
	}

	/* prepare: trampolines, pointers, jump bytes, the record */
	struct hp_tramp_site *sites = calloc(nfp ? nfp : 1, sizeof(*sites));
	if (!sites) {
		free(ptrs);
		r = hp_fail(-ENOMEM, "out of memory");
		goto undo;
	}
	for (size_t i = 0; i < nfp; i++) {
		fp[i].replacement = rp.base + fp[i].rec->replacement;
		sites[i] = (struct hp_tramp_site){.from = fp[i].pro.pad, .to = fp[i].replacement};
	}
	for (int attempt = 0;; attempt++) {
		r = hp_tramp_plan(&s.m.maps, sites, nfp, &rp.tramps, &rp.ntramps);
		if (r == 0)
			r = map_trampolines(&s, &rp);
		if (r != -EEXIST || attempt == 3)
			break;
		/* a gap we chose was taken meanwhile by the target's own mmap:
		 * give back what we made and look again */
		hp_session_unload(&s, &rp, false);
		free(rp.tramps);
		rp.tramps = NULL;
		rp.ntramps = 0;
		hp_maps_free(&s.m.maps);
		r = hp_maps_read(pid, &s.m.maps);
		if (r < 0)
			break;
	}
	for (size_t i = 0; r == 0 && i < rp.ntramps; i++) {
		uint8_t *img;

		r = hp_tramp_image(&rp.tramps[i], sites, nfp, &img);
		if (r < 0) {
			r = hp_fail(r, "out of memory");
			break;
		}
		r = hp_mem_write_verify(&s.t, rp.tramps[i].addr, img, rp.tramps[i].len);
		free(img);
	}
	for (size_t i = 0; i < nfp; i++)
		fp[i].site = sites[i];
	free(sites);
	hp_fault_point("apply:trampolines");
	for (size_t i = 0; r == 0 && i < pf->nrec; i++)
		if (pf->rec[i].kind == HOTPATCH_KIND_ORIGINAL ||
		    pf->rec[i].kind == HOTPATCH_KIND_SYMBOL)
			r = hp_mem_write(&s.t, rp.base + pf->rec[i].slot, &ptrs[i],
					 sizeof(ptrs[i]));
	for (size_t i = 0; r == 0 && i < tp.nvar; i++) {
		uint64_t idx[2];

		hp_tls_index(&tp, i, idx);
		r = hp_mem_write(&s.t, rp.base + tp.var[i].slot, idx, sizeof(idx));
	}
	free(ptrs);
	if (r < 0)
		goto undo;
	for (size_t i = 0; i < nfp; i++) {
		struct fplan *f = &fp[i];

		if (hp_jmp_rel32(f->new_pad, f->pro.pad,
				 f->site.slot ? f->site.slot : f->replacement) < 0 ||
		    hp_jmp_rel8(f->new_win, f->pro.window, f->pro.pad) < 0) {
			r = hp_fail(-ERANGE, "internal: jump to 0x%llx out of reach",
				    (unsigned long long)f->replacement);
			goto undo;
		}
	}
	rp.funcs = calloc(nfp ? nfp : 1, sizeof(*rp.funcs));
	if (!rp.funcs) {
		r = hp_fail(-ENOMEM, "out of memory");
		goto undo;
	}
	for (size_t i = 0; i < nfp; i++)
		fill_func_record(&rp.funcs[rp.nfuncs++], &fp[i], fp[i].rec->replacement_name);
	/* the record comes first: whatever happens next, a later run knows
	 * every byte we are about to change */
	r = record_add(&s, &rp);
	if (r < 0)
		goto undo;
	recorded = true;
	hp_fault_point("apply:recorded");
	id = s.reg.p[s.reg.n - 1].id;
	struct hp_reg_patch *cur = &s.reg.p[s.reg.n - 1];

	/* Pads that no jump reaches yet are written now, while the target
	 * runs: the stop is left with the 2-byte windows only.  The window's
	 * own bytes are written back unchanged too, so that its page is the
	 * process's private copy before the stop: writing it then never has
	 * to read a file (from a slow disk, or a filesystem that stalls). */
	for (size_t i = 0; i < nfp && r == 0; i++) {
		uint8_t now[HP_PAD_LEN], win[HP_WIN_LEN];

		if (fp[i].pad_live)
			continue;
		r = hp_mem_read(&s.t, fp[i].pro.pad, now, HP_PAD_LEN);
		if (r == 0 && memcmp(now, fp[i].pro.pad_bytes, HP_PAD_LEN))
			r = hp_fail(-HP_EMISMATCH, "the pad of %s changed while hotpatch worked",
				    fp[i].rec->symbol);
		if (r == 0)
			r = hp_mem_write_verify(&s.t, fp[i].pro.pad, fp[i].new_pad, HP_PAD_LEN);
		if (r == 0)
			fp[i].pad_written = true;
		hp_fault_point("apply:pad");
		if (r == 0)
			r = hp_mem_read(&s.t, fp[i].pro.window, win, HP_WIN_LEN);
		if (r == 0 && memcmp(win, fp[i].pro.win_bytes, HP_WIN_LEN))
			r = hp_fail(-HP_EMISMATCH, "the entry of %s changed while hotpatch worked",
				    fp[i].rec->symbol);
		if (r == 0)
			r = hp_mem_write(&s.t, fp[i].pro.window, win, HP_WIN_LEN);
	}
	w = calloc(2 * nfp + 1, sizeof(*w));
	forbid = calloc(2 * nfp + 1, sizeof(*forbid));
	if (r == 0 && (!w || !forbid))
		r = hp_fail(-ENOMEM, "out of memory");
	if (r < 0)
		goto undo;
	for (size_t i = 0; i < nfp; i++) {
		struct fplan *f = &fp[i];

		if (f->pad_live) {
			w[nw] = (struct hp_write){.addr = f->pro.pad,
						  .len = HP_PAD_LEN,
						  .phase = 0};
			memcpy(w[nw].old, f->pro.pad_bytes, HP_PAD_LEN);
			memcpy(w[nw++].new, f->new_pad, HP_PAD_LEN);
			forbid[nforbid++] =
				(struct hp_range){f->pro.pad + 1, f->pro.pad + HP_PAD_LEN,
						  f->rec->symbol};
		} else {
			w[nw] = (struct hp_write){.addr = f->pro.window,
						  .len = HP_WIN_LEN,
						  .phase = 1};
			memcpy(w[nw].old, f->pro.win_bytes, HP_WIN_LEN);
			memcpy(w[nw++].new, f->new_win, HP_WIN_LEN);
		}
		forbid[nforbid++] =
			(struct hp_range){f->pro.window + 1, f->pro.window + f->window_len,
					  f->rec->symbol};
	}
	rep->load_ns = hp_now_ns() - t1;

	/* flip: every thread stopped, windows written, threads resumed */
	r = hp_flip(&s.t, w, nw, forbid, nforbid, NULL, NULL, s.deadline, &rep->flip);
	if (r < 0)
		goto undo;
	hp_fault_point("apply:flipped");

	t1 = hp_now_ns();
	cur->state = HP_REG_APPLIED;
	cur->applied_ns = hp_wall_ns();
	r = hp_registry_write(&s.rc, &s.reg);
	hp_fault_point("apply:done");
	rep->record_ns = hp_now_ns() - t1;
	struct hp_patch_report *pr = hp_report_patch(rep, cur, "applied");
	if (pr)
		for (size_t i = 0; i < nfp && i < pr->nfuncs; i++) {
			pr->funcs[i].layout =
				fp[i].pro.state == HP_PRO_PATCHED ? "stacked" : fp[i].pro.layout;
			pr->funcs[i].stacked = fp[i].below != NULL;
		}
	if (r < 0) {
		hp_note("the patch is in effect, but recording it failed: %s", hp_err.msg);
		hp_error_clear();
	}
	r = 0;
	goto out;

undo : {
	/* Put back what the load changed; the flip itself never leaves a
	 * partial write.  The first failure stays the one reported. */
	hp_unwind_begin();
	for (size_t i = 0; i < nfp; i++)
		if (fp[i].pad_written)
			hp_mem_write(&s.t, fp[i].pro.pad, fp[i].pro.pad_bytes, HP_PAD_LEN);
	if (recorded) {
		struct hp_reg_patch *p = NULL;

		for (size_t i = 0; i < s.reg.n; i++)
			if (s.reg.p[i].id == id)
				p = &s.reg.p[i];
		if (p && hp_session_unload(&s, p, false) == 0)
			hp_record_remove(&s, id);
	} else if (loaded) {
		hp_session_unload(&s, &rp, false);
	}
	hp_unwind_end();
}
out:
	if (r < 0 && !rep->npatches)
		report_failure(rep, pf, failed);
	rep->remote_calls = s.rc.calls;
	hp_session_close(&s);
	hp_reg_patch_free(&rp);
	hp_tls_plan_free(&tp);
	free(fp);
	free(w);
	free(forbid);
	rep->total_ns = hp_now_ns() - t0;
	return r;
}
