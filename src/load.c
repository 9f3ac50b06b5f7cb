/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "load.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "batch.h"
#include "memory.h"
#include "modules.h"
#include "patchfile.h"
#include "record.h"
#include "registry.h"
#include "session.h"
#include "tls.h"
#include "trampoline.h"
#include "stub.h"
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

/* The names every run goes by: the memfds it makes are called "hotpatch"
 * something, the patch's "hotpatch:NAME", and the patch is dlopen'd by its
 * fd's /proc/self path. */
#define OUR_MEMFD     "/memfd:hotpatch"
#define PATCH_MEMFD   "hotpatch:"
#define PATCH_MAPPING "/memfd:" PATCH_MEMFD
#define PATCH_LM_NAME "/proc/self/fd/"
#define TRAMP_MAPPING "/memfd:" HP_TRAMP_NAME

static bool starts_with(const char *s, const char *prefix)
{
	return s && !strncmp(s, prefix, strlen(prefix));
}

bool hp_load_is_our_fd(const char *link)
{
	return starts_with(link, OUR_MEMFD);
}

bool hp_load_is_patch_mapping(const struct hp_mapping *mp)
{
	return mp && starts_with(mp->path, PATCH_MAPPING);
}

bool hp_load_is_tramp_mapping(const struct hp_mapping *mp)
{
	return mp && mp->path && !strcmp(mp->path, TRAMP_MAPPING);
}

bool hp_load_is_patch_name(const char *lm_name)
{
	return starts_with(lm_name, PATCH_LM_NAME);
}

/* An error a syscall returned in the target, as our error. */
static int remote_error(struct hp_session *s, uint64_t err, const char *what)
{
	long e = -(long)err;

	return hp_fail(e > 0 && e < 4096 ? (int)-e : -EIO, "%s in pid %d failed: %s", what,
		       s->t.pid, e > 0 && e < 4096 ? strerror((int)e) : "bad result");
}

/* A call made while unwinding: it must not replace the first reason. */
static void cleanup_call(struct hp_session *s, const struct hp_rop *op, const char *what)
{
	uint64_t ret;

	hp_unwind_begin();
	hp_remote_call(&s->rc, op, 1, NULL, 0, &ret, s->deadline, what);
	hp_unwind_end();
}

/* If we die from here until the record is written, the next run finds
 * what this load left in the target and takes it out. */
static int make_memfd(struct hp_session *s, const char *name, int *ret_fd)
{
	struct hp_rop op = {.nr = SYS_memfd_create,
			    .args = {hp_remote_str(&s->rc, 0), MFD_CLOEXEC | MFD_ALLOW_SEALING}};
	uint64_t ret;
	int r;

	hp_record_mark_pending(s, true);
	r = hp_remote_call(&s->rc, &op, 1, name, strlen(name) + 1, &ret, s->deadline,
			   "creating a memfd for the patch");
	if (r < 0)
		return r;
	if ((int64_t)ret < 0)
		return remote_error(s, ret, "memfd_create");
	*ret_fd = (int)ret;
	hp_fault_point("apply:memfd");
	return 0;
}

/* Takes the target's fd over: pidfd_getfd() duplicates the target's file
 * itself, with the target's own access mode, so nothing the target does to
 * its fd table can make root open another file.  It must still be the
 * memfd we asked for: regular, unlinked, empty, sealable and unsealed,
 * with our name. */
static int take_memfd(struct hp_session *s, int tfd, const char *name, int *ret_fd)
{
	char link[128], want[128], fdpath[64];
	struct stat st;
	ssize_t n;
	int fd, seals;

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
	    seals != 0 || (fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR || strcmp(link, want)) {
		close(fd);
		return hp_fail(-HP_EINTERFERED,
			       "fd %d of pid %d is no longer the empty memfd hotpatch made for the "
			       "patch (it is now %s): something in the target replaced it. Nothing "
			       "was written",
			       tfd, s->t.pid, link[0] ? link : "unknown");
	}
	*ret_fd = fd;
	return 0;
}

static int write_all(int fd, const uint8_t *data, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(fd, data + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Does the sealed memfd hold exactly these bytes? */
static bool holds(int fd, const uint8_t *data, size_t len, struct stat *st)
{
	_cleanup_free_ uint8_t *back = malloc(len ? len : 1);

	if (!back)
		return false;
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(fd, back + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return fstat(fd, st) == 0 && (size_t)st->st_size == len && !memcmp(back, data, len);
}

/* The bytes go in, the memfd is sealed against any change, and read back:
 * what the target loads is what was checked and logged, even against the
 * target itself. */
static int fill_memfd(struct hp_session *s, int tfd, const char *name,
		      const struct hp_patchfile *pf, struct stat *ret_st)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	r = take_memfd(s, tfd, name, &fd);
	if (r < 0)
		return r;
	r = write_all(fd, pf->data, pf->len);
	if (r < 0)
		return hp_fail(r, "cannot copy the patch into pid %d: %s", s->t.pid,
			       r == -EIO ? "short write" : strerror(-r));
	hp_fault_point("apply:memfd-written");
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		return hp_fail(errno == EBUSY ? -HP_EINTERFERED : -errno,
			       "cannot seal the patch's memfd in pid %d: %m%s", s->t.pid,
			       errno == EBUSY ? " (the target mapped it writable)" : "");
	if (!holds(fd, pf->data, pf->len, &st))
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

/* glibc reuses a loaded object of the same name, and every patch's memfd
 * tends to get the same fd number: spell the same file differently
 * ("/proc/self/fd/./3") until the name is new, as long as it fits the
 * call's strings (about 50 patches loaded at once per fd number). */
static int unique_path(struct hp_session *s, int tfd, char *path, size_t size)
{
	for (size_t k = 0;; k++) {
		int o = snprintf(path, size, PATCH_LM_NAME);

		for (size_t i = 0; i < k && o + 2 < (int)size; i++)
			o += snprintf(path + o, size - (size_t)o, "./");
		if (snprintf(path + o, size - (size_t)o, "%d", tfd) >= (int)size - o)
			break;
		if (!hp_modules_lm_has(&s->m, path))
			return 0;
	}
	return hp_fail(-HP_EBUSY,
		       "pid %d has too many patches loaded to name one more for dlopen; roll "
		       "some back first (hotpatch rollback --all)",
		       s->t.pid);
}

/* A failed dlopen: was it our file that failed to load, or did the
 * target put another under the number? */
static int dlopen_failed(struct hp_session *s, const struct hp_patchfile *pf, int tfd,
			 const struct stat *st, uint64_t dlerror)
{
	char msg[1024] = "(no message)";
	bool ours = memfd_still_there(s, tfd, st);

	if (dlerror)
		hp_remote_read_str(&s->rc, dlerror, msg, sizeof(msg));
	if (ours) {
		struct hp_rop op = {.nr = SYS_close, .args = {(uint64_t)tfd}};
		uint64_t ret;

		hp_remote_call(&s->rc, &op, 1, NULL, 0, &ret, s->deadline, "closing the memfd");
	}
	return ours ? hp_fail(-HP_EDLOPEN, "pid %d could not load the patch %s: %s", s->t.pid,
			      pf->path, msg)
		    : hp_fail(-HP_EINTERFERED,
			      "fd %d of pid %d was no longer the patch's memfd when the target "
			      "loaded it (%s): something in the target replaced it",
			      tfd, s->t.pid, msg);
}

#define LOAD_OPS 3

/* The TLS lookups go first: a dl* call after dlerror() would free the
 * message it returned.  The memfd is closed only when loaded: a failure
 * first asks whether the fd still was ours. */
static int open_memfd(struct hp_session *s, const struct hp_patchfile *pf, int tfd,
		      const struct stat *st, const struct hp_rop *extra, size_t nextra,
		      uint64_t *tls_ret, uint64_t *ret_handle)
{
	struct hp_rop ops[HP_CALL_MAX_OPS];
	uint64_t ret[HP_CALL_MAX_OPS];
	char path[HP_CALL_STRINGS_LEN];
	int r;

	r = unique_path(s, tfd, path, sizeof(path));
	if (r < 0) {
		struct hp_rop op = {.nr = SYS_close, .args = {(uint64_t)tfd}};

		cleanup_call(s, &op, "closing the memfd");
		return r;
	}
	memset(ops, 0, sizeof(ops));
	memcpy(ops, extra, nextra * sizeof(*extra));
	struct hp_rop *lo = ops + nextra;
	uint64_t *lr = ret + nextra;
	lo[0] = (struct hp_rop){.fn = s->rc.fn_dlopen,
				.args = {hp_remote_str(&s->rc, 0), RTLD_NOW_}};
	lo[1] = (struct hp_rop){.fn = s->rc.fn_dlerror, .flags = HP_OPF_SKIP_UNLESS_PREV_ZERO};
	lo[2] = (struct hp_rop){.nr = SYS_close,
				.args = {(uint64_t)tfd},
				.flags = HP_OPF_SKIP_UNLESS_PREV_ZERO};
	r = hp_remote_call(&s->rc, ops, nextra + LOAD_OPS, path, strlen(path) + 1, ret, s->deadline,
			   "dlopen of the patch");
	if (r < 0)
		return r;
	memcpy(tls_ret, ret, nextra * sizeof(*ret));
	if (!lr[0])
		return dlopen_failed(s, pf, tfd, st, lr[1]);
	*ret_handle = lr[0];
	return 0;
}

int hp_load_patch(struct hp_session *s, const struct hp_patchfile *pf, struct hp_reg_patch *rp,
		  struct hp_tls_plan *tp, uint64_t *tls_ret, size_t *ntls)
{
	struct hp_rop extra[HP_CALL_MAX_OPS - LOAD_OPS];
	struct stat st = {0};
	char name[64];
	int tfd = -1, r;

	memset(extra, 0, sizeof(extra));
	r = hp_tls_ride_along(tp, &s->rc, extra, HP_ARRAY_SIZE(extra), ntls);
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), PATCH_MEMFD "%.40s", hp_basename(pf->path));
	r = make_memfd(s, name, &tfd);
	if (r < 0)
		return r;
	r = fill_memfd(s, tfd, name, pf, &st);
	if (r < 0) {
		struct hp_rop op = {.nr = SYS_close, .args = {(uint64_t)tfd}};

		/* a number that is no longer our memfd is the target's own now */
		if (r != -HP_EINTERFERED)
			cleanup_call(s, &op, "closing the memfd");
		return r;
	}
	r = open_memfd(s, pf, tfd, &st, extra, *ntls, tls_ret, &rp->handle);
	if (r < 0)
		return r;
	/* glibc's handle is its struct link_map, whose first field is l_addr */
	r = hp_mem_read(&s->t, rp->handle, &rp->base, sizeof(rp->base));
	if (r == 0)
		r = loaded_range(s, pf, &st, rp);
	if (r < 0) {
		/* whatever it loaded, our dlopen's reference goes back */
		struct hp_rop op = {.fn = s->rc.fn_dlclose, .args = {rp->handle}};

		cleanup_call(s, &op, "dlclose");
		rp->handle = 0;
		return r;
	}
	return 0;
}

/* One page's four operations: a memfd named for trampolines, sized, mapped
 * read+exec where the plan says (never writable: hotpatch fills them
 * through /proc/PID/mem), and closed; so that they show in /proc/PID/maps
 * and a later run can tell them apart. */
static void tramp_ops(struct hp_session *s, struct hp_rop *o, unsigned b,
		      const struct hp_reg_range *page)
{
	o[0] = (struct hp_rop){.nr = SYS_memfd_create,
			       .args = {hp_remote_str(&s->rc, 0), 1 /* CLOEXEC */},
			       .flags = HP_OPF_ABORT_IF_ERR};
	o[1] = (struct hp_rop){.nr = SYS_ftruncate,
			       .args = {0, page->len},
			       .flags = HP_OPF_ABORT_IF_ERR | HP_OPF_ARG_FROM(0, b)};
	o[2] = (struct hp_rop){.nr = SYS_mmap,
			       .args = {page->addr, page->len, PROT_READ | PROT_EXEC,
					MAP_PRIVATE | MAP_FIXED_NOREPLACE, 0, 0},
			       .flags = HP_OPF_ARG_FROM(4, b)};
	o[3] = (struct hp_rop){.nr = SYS_close,
			       .args = {0},
			       .flags = HP_OPF_ALWAYS | HP_OPF_ARG_FROM(0, b)};
}

/* Page `q` did not land where asked: what landed elsewhere is not ours to
 * keep; it and the pages after it are not mapped. */
static int tramp_missed(struct hp_session *s, struct hp_reg_patch *rp, size_t q, uint64_t fd,
			uint64_t got)
{
	uint64_t err = (int64_t)fd < 0 ? fd : got;

	if ((int64_t)got > 0 && (int64_t)fd >= 0) {
		struct hp_rop un = {.nr = SYS_munmap, .args = {got, rp->tramps[q].len}};
		uint64_t x;

		hp_remote_call(&s->rc, &un, 1, NULL, 0, &x, s->deadline, "munmap");
	}
	for (size_t i = q; i + 1 < rp->ntramps; i++)
		rp->tramps[i] = rp->tramps[i + 1];
	rp->ntramps = q;
	return (int64_t)err < 0 ? remote_error(s, err, "mapping a trampoline page")
				: hp_fail(-ENOMEM, "trampoline page landed at the wrong address");
}

static int map_trampolines(struct hp_session *s, struct hp_reg_patch *rp)
{
	struct hp_rop ops[HP_CALL_MAX_OPS];
	uint64_t ret[HP_CALL_MAX_OPS];
	size_t n = rp->ntramps, per = HP_CALL_MAX_OPS / 4;
	int r;

	for (size_t i = 0; i < n; i += per) {
		size_t k = HP_MIN(per, n - i);

		memset(ops, 0, sizeof(ops));
		for (size_t j = 0; j < k; j++)
			tramp_ops(s, &ops[4 * j], (unsigned)(4 * j), &rp->tramps[i + j]);
		r = hp_remote_call(&s->rc, ops, 4 * k, HP_TRAMP_NAME, sizeof(HP_TRAMP_NAME), ret,
				   s->deadline, "mapping trampolines");
		if (r < 0)
			return r;
		for (size_t j = 0; j < k; j++)
			if (ret[4 * j + 2] != rp->tramps[i + j].addr)
				return tramp_missed(s, rp, i + j, ret[4 * j], ret[4 * j + 2]);
	}
	return 0;
}

/* A gap we chose was taken meanwhile by the target's own mmap: give back
 * the pages we mapped (only those: the patch stays loaded) and look again. */
static int unmap_trampolines(struct hp_session *s, struct hp_reg_patch *rp)
{
	struct hp_reg_patch pages = {.tramps = rp->tramps, .ntramps = rp->ntramps};
	int r;

	r = hp_load_unload(s, &pages);
	free(rp->tramps);
	rp->tramps = NULL;
	rp->ntramps = 0;
	if (r == 0) {
		hp_maps_free(&s->m.maps);
		r = hp_maps_read(s->t.pid, &s->m.maps);
	}
	return r;
}

static int fill_trampolines(struct hp_session *s, const struct hp_tramp_site *sites, size_t n,
			    const struct hp_reg_patch *rp)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < rp->ntramps; i++) {
		uint8_t *img;

		r = hp_tramp_image(&rp->tramps[i], sites, n, &img);
		if (r < 0)
			return r;
		r = hp_mem_write_verify(&s->t, rp->tramps[i].addr, img, rp->tramps[i].len);
		free(img);
	}
	return r;
}

/* Where they go, for a test to race hotpatch for the gap. */
static void trace_pages(const struct hp_reg_patch *rp)
{
	char what[64];

	for (size_t i = 0; i < rp->ntramps; i++) {
		snprintf(what, sizeof(what), "trampoline page 0x%llx",
			 (unsigned long long)rp->tramps[i].addr);
		hp_trace(what);
	}
	hp_fault_point("apply:trampolines-chosen");
}

int hp_load_trampolines(struct hp_session *s, struct hp_tramp_site *sites, size_t n,
			struct hp_reg_patch *rp)
{
	int r;

	for (int attempt = 0;; attempt++) {
		r = hp_tramp_plan(&s->m.maps, sites, n, &rp->tramps, &rp->ntramps);
		if (r == 0)
			trace_pages(rp);
		if (r == 0)
			r = map_trampolines(s, rp);
		if (r != -EEXIST || attempt == 3)
			break;
		hp_trace("apply: a trampoline gap was taken; choosing again");
		hp_error_clear();
		r = unmap_trampolines(s, rp);
		if (r < 0)
			break;
	}
	if (r == 0)
		r = fill_trampolines(s, sites, n, rp);
	hp_fault_point("apply:trampolines");
	return r;
}

static bool still_ours(const struct hp_maps *maps, const struct hp_reg_range *page)
{
	const struct hp_mapping *mp = hp_maps_find(maps, page->addr);

	return mp && mp->start == page->addr && mp->end == page->addr + page->len &&
	       hp_load_is_tramp_mapping(mp) && mp->prot == (HP_PROT_R | HP_PROT_X);
}

/* After a crash the handle may already be closed (and its memory reused by
 * another object), and a trampoline range may already be unmapped (and
 * reused by the target): only what is still ours goes. */
int hp_load_unload(struct hp_session *s, const struct hp_reg_patch *rp)
{
	struct hp_batch b;
	struct hp_maps maps = {0};
	uint64_t base;
	char name[256];
	int r = 0;

	hp_batch_init(&b, &s->rc, s->deadline, "unloading the patch");
	if (rp->handle && hp_lm_lookup(&s->t, &s->m, rp->handle, &base, name, sizeof(name)) == 0 &&
	    base == rp->base && hp_load_is_patch_name(name))
		hp_batch_add(&b, &(struct hp_rop){.fn = s->rc.fn_dlclose, .args = {rp->handle}});
	if (rp->ntramps && hp_maps_read(s->t.pid, &maps) < 0)
		return hp_err.code;
	for (size_t i = 0; i < rp->ntramps && r == 0; i++)
		if (still_ours(&maps, &rp->tramps[i]))
			r = hp_batch_add(&b, &(struct hp_rop){.nr = SYS_munmap,
							      .args = {rp->tramps[i].addr,
								       rp->tramps[i].len}});
	if (r == 0)
		r = hp_batch_flush(&b);
	hp_maps_free(&maps);
	return r;
}
