/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "patchfile.h"

#include <fcntl.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../include/hotpatch.h"
#include "resolve.h"
#include "util.h"

#define MAX_PATCH_SIZE (512u << 20)

/* The record as it lies in the file (struct hotpatch_record, 64-bit). */
#define TLS_INDEX_SIZE 16
_Static_assert(sizeof(struct hotpatch_tls_index) == TLS_INDEX_SIZE, "tls index layout is ABI");
#define REC_SIZE	    40
#define REC_OFF_OBJECT	    8
#define REC_OFF_SYMBOL	    16
#define REC_OFF_REPLACEMENT 24
#define REC_OFF_SLOT	    32
_Static_assert(sizeof(struct hotpatch_record) == REC_SIZE, "record layout is ABI");

const char *hp_kind_name(int kind)
{
	switch (kind) {
	case HOTPATCH_KIND_REPLACE:
		return "REPLACE";
	case HOTPATCH_KIND_ORIGINAL:
		return "ORIGINAL";
	case HOTPATCH_KIND_SYMBOL:
		return "SYMBOL";
	case HOTPATCH_KIND_BUILD_ID:
		return "BUILD_ID";
	case HOTPATCH_KIND_TLS:
		return "TLS";
	case HOTPATCH_KIND_BIND:
		return "BIND";
	default:
		return "?";
	}
}

/* Do the `len` bytes at `vaddr` lie in one loaded segment with `want_flag`? */
static bool in_segment_len(struct hp_elf *e, uint64_t vaddr, uint64_t len, uint32_t want_flag)
{
	for (size_t i = 0; i < e->phnum; i++) {
		const GElf_Phdr *p = &e->phdr[i];

		if (p->p_type == PT_LOAD && (p->p_flags & want_flag) && vaddr >= p->p_vaddr &&
		    vaddr < p->p_vaddr + p->p_memsz && len <= p->p_vaddr + p->p_memsz - vaddr)
			return true;
	}
	return false;
}

static bool in_segment(struct hp_elf *e, uint64_t vaddr, uint32_t want_flag)
{
	return in_segment_len(e, vaddr, 1, want_flag);
}

/* A record's fixed header: magic, ABI, kind. */
static int record_header(const uint8_t *raw, const char *name, size_t i, uint16_t *ret_kind)
{
	uint32_t magic;
	uint16_t abi, kind;

	memcpy(&magic, raw, 4);
	memcpy(&abi, raw + 4, 2);
	memcpy(&kind, raw + 6, 2);
	if (magic != HOTPATCH_MAGIC)
		return hp_fail(-HP_EBADPATCH, "%s: record %zu has a bad magic number (0x%08x)",
			       name, i, magic);
	if (abi != HOTPATCH_ABI)
		return hp_fail(-HP_EBADPATCH,
			       "%s: record %zu was written for hotpatch ABI %u; this hotpatch reads "
			       "ABI %d: rebuild the patch with this hotpatch.h",
			       name, i, abi, HOTPATCH_ABI);
	if (kind < HOTPATCH_KIND_REPLACE || kind > HOTPATCH_KIND_BIND)
		return hp_fail(-HP_EBADPATCH, "%s: record %zu has unknown kind %u", name, i, kind);
	*ret_kind = kind;
	return 0;
}

/* The object and symbol names the record points at. */
static int record_names(struct hp_elf *e, uint64_t va, const char *name, size_t i,
			struct hp_patch_rec *r)
{
	uint64_t obj_va, sym_va;

	if (hp_elf_read_ptr(e, va + REC_OFF_OBJECT, &obj_va) < 0 ||
	    hp_elf_read_ptr(e, va + REC_OFF_SYMBOL, &sym_va) < 0)
		return hp_fail(-HP_EBADPATCH, "%s: record %zu: cannot resolve its strings", name,
			       i);
	r->object = "";
	if (obj_va && hp_elf_read_str(e, obj_va, &r->object) < 0)
		return hp_fail(-HP_EBADPATCH, "%s: record %zu: object name is not in the file",
			       name, i);
	if (!sym_va || hp_elf_read_str(e, sym_va, &r->symbol) < 0 || !r->symbol[0])
		return hp_fail(-HP_EBADPATCH, "%s: record %zu: symbol name is missing", name, i);
	if (strlen(r->symbol) > 1024 + PATH_MAX || strlen(r->object) > PATH_MAX)
		return hp_fail(-HP_EBADPATCH, "%s: record %zu: name too long", name, i);
	if (r->kind != HOTPATCH_KIND_BUILD_ID) {
		struct hp_symname sn;
		int rr = hp_symname_parse(r->symbol, &sn);

		if (rr < 0)
			return hp_fail_prefix(rr, "%s: record %zu: ", name, i);
	}
	return 0;
}

/* The patch's .dynsym: the index of `sym` there and whether it is the
 * weak undefined symbol a binding needs. */
static int bind_symbol(struct hp_elf *e, const char *name, const char *shown, const char *sym,
		       uint32_t *ret)
{
	const struct hp_elf_rel *rel;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	(void)hp_elf_relocs(e, &rel); /* loads e->dynsyms */
	while ((scn = elf_nextscn(e->elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_DYNSYM)
			break;
	for (size_t i = 1; scn && i < e->ndynsyms; i++) {
		const GElf_Sym *d = &e->dynsyms[i];
		const char *n = elf_strptr(e->elf, sh.sh_link, d->st_name);

		if (!n || strcmp(n, sym))
			continue;
		if (d->st_shndx != SHN_UNDEF)
			return hp_fail(-HP_EBADPATCH,
				       "%s: HOTPATCH_BIND of %s: the patch defines %s itself; bind "
				       "a name it only declares (extern ... __attribute__((weak)))",
				       name, shown, sym);
		if (GELF_ST_BIND(d->st_info) != STB_WEAK)
			return hp_fail(-HP_EBADPATCH,
				       "%s: the patch's reference to %s must be weak (extern ... "
				       "__attribute__((weak))), or the dynamic loader refuses to load "
				       "the patch before hotpatch can bind it to %s",
				       name, sym, shown);
		*ret = (uint32_t)i;
		return 0;
	}
	return hp_fail(-HP_EBADPATCH,
		       "%s: HOTPATCH_BIND of %s: the patch has no undefined dynamic symbol %s: "
		       "declare it extern with __attribute__((weak)) (and default visibility), use "
		       "it, and build the patch with -shared -fPIC",
		       name, shown, sym);
}

/* Every relocation against the bound symbol must be one hotpatch can
 * write: a GOT or PLT slot, or a 64-bit pointer. */
static int bind_relocs(struct hp_elf *e, const char *name, const char *shown,
		       struct hp_patch_rec *r)
{
	const struct hp_elf_rel *rel;
	size_t n = hp_elf_relocs(e, &rel);

	r->nbind_slots = 0;
	for (size_t i = 0; i < n; i++) {
		if (rel[i].sym != r->bind_sym)
			continue;
		switch (rel[i].type) {
		case R_X86_64_GLOB_DAT:
		case R_X86_64_JUMP_SLOT:
		case R_X86_64_64:
			r->nbind_slots++;
			continue;
		case R_X86_64_DTPMOD64:
		case R_X86_64_DTPOFF64:
		case R_X86_64_TPOFF64:
			return hp_fail(-HP_EBADPATCH,
				       "%s: %s is thread-local in the patch: a TLS variable cannot be "
				       "bound this way; reach %s with HOTPATCH_TLS",
				       name, r->bind_name, shown);
		default:
			return hp_fail(-HP_EBADPATCH,
				       "%s: the patch refers to %s by a relocation of type %u, which "
				       "hotpatch cannot bind (only GOT, PLT and 64-bit pointers): "
				       "build the patch with -shared -fPIC",
				       name, r->bind_name, rel[i].type);
		}
	}
	if (!r->nbind_slots)
		return hp_fail(-HP_EBADPATCH,
			       "%s: HOTPATCH_BIND of %s: the patch never uses %s (no GOT, PLT or "
			       "pointer relocation against it)",
			       name, shown, r->bind_name);
	return 0;
}

/* BIND: the local name, a weak undefined symbol the patch uses. */
static int record_bind(struct hp_patchfile *pf, uint64_t va, const char *name,
		       struct hp_patch_rec *r)
{
	struct hp_elf *e = &pf->elf;
	char shown[1100 + PATH_MAX];
	uint64_t str_va;
	int rr;

	hp_symname_show(r->symbol, shown, sizeof(shown));
	if (hp_elf_read_ptr(e, va + REC_OFF_REPLACEMENT, &str_va) < 0 || !str_va ||
	    hp_elf_read_str(e, str_va, &r->bind_name) < 0 || !r->bind_name[0] ||
	    strlen(r->bind_name) > 1024)
		return hp_fail(-HP_EBADPATCH,
			       "%s: HOTPATCH_BIND of %s: the local name is not a string of the "
			       "patch",
			       name, shown);
	rr = bind_symbol(e, name, shown, r->bind_name, &r->bind_sym);
	if (rr == 0)
		rr = bind_relocs(e, name, shown, r);
	return rr;
}

/* What each kind points at must be there, of the right sort. */
static int record_body(struct hp_patchfile *pf, uint64_t va, const char *name,
		       struct hp_patch_rec *r)
{
	struct hp_elf *e = &pf->elf;
	char shown[1100 + PATH_MAX];

	hp_symname_show(r->symbol, shown, sizeof(shown));

	if (r->kind == HOTPATCH_KIND_REPLACE) {
		const struct hp_sym *fs;

		if (hp_elf_read_ptr(e, va + REC_OFF_REPLACEMENT, &r->replacement) < 0 ||
		    !r->replacement || !in_segment(e, r->replacement, PF_X))
			return hp_fail(-HP_EBADPATCH,
				       "%s: the replacement for %s is not a function defined in the "
				       "patch",
				       name, shown);
		fs = hp_elf_func_at(e, r->replacement);
		r->replacement_name = fs && fs->value == r->replacement ? fs->name : NULL;
		pf->nreplace++;
	} else if (r->kind == HOTPATCH_KIND_ORIGINAL || r->kind == HOTPATCH_KIND_SYMBOL) {
		if (hp_elf_read_ptr(e, va + REC_OFF_SLOT, &r->slot) < 0 || !r->slot ||
		    !in_segment(e, r->slot, PF_W))
			return hp_fail(-HP_EBADPATCH,
				       "%s: the pointer to fill for %s is not a writable variable of "
				       "the patch",
				       name, shown);
	} else if (r->kind == HOTPATCH_KIND_TLS) {
		if (hp_elf_read_ptr(e, va + REC_OFF_SLOT, &r->slot) < 0 || !r->slot ||
		    r->slot % 8 || !in_segment_len(e, r->slot, TLS_INDEX_SIZE, PF_W))
			return hp_fail(-HP_EBADPATCH,
				       "%s: the index to fill for %s is not a writable struct "
				       "hotpatch_tls_index (%d bytes) of the patch",
				       name, shown, TLS_INDEX_SIZE);
	} else if (r->kind == HOTPATCH_KIND_BIND) {
		return record_bind(pf, va, name, r);
	} else if (r->kind == HOTPATCH_KIND_BUILD_ID) {
		size_t l = strlen(r->symbol);

		if (l < 2 || l > 128 || l % 2 || strspn(r->symbol, "0123456789abcdefABCDEF") != l)
			return hp_fail(-HP_EBADPATCH,
				       "%s: HOTPATCH_BUILD_ID(\"%s\", \"%s\"): not a hex build-id",
				       name, r->object, r->symbol);
	}
	return 0;
}

/* Pointers may be named by several records; a function, a build-id or a
 * TLS variable only once. */
static int record_unique(const struct hp_patchfile *pf, const char *name,
			 const struct hp_patch_rec *r)
{
	if (r->kind == HOTPATCH_KIND_ORIGINAL || r->kind == HOTPATCH_KIND_SYMBOL ||
	    r->kind == HOTPATCH_KIND_TLS)
		return 0;
	/* one local name has one address; one target symbol may have many names */
	for (size_t j = 0; r->kind == HOTPATCH_KIND_BIND && j < pf->nrec; j++)
		if (pf->rec[j].kind == r->kind && !strcmp(pf->rec[j].bind_name, r->bind_name))
			return hp_fail(-HP_EBADPATCH, "%s: %s is bound twice, to %s and to %s",
				       name, r->bind_name, pf->rec[j].symbol, r->symbol);
	if (r->kind == HOTPATCH_KIND_BIND)
		return 0;
	for (size_t j = 0; j < pf->nrec; j++)
		if (pf->rec[j].kind == r->kind && !strcmp(pf->rec[j].symbol, r->symbol) &&
		    !strcmp(pf->rec[j].object, r->object))
			return hp_fail(-HP_EBADPATCH, "%s: %s is named twice by %s records", name,
				       r->symbol, hp_kind_name(r->kind));
	return 0;
}

static int parse_records(struct hp_patchfile *pf, const char *name)
{
	struct hp_elf *e = &pf->elf;
	GElf_Shdr sh;
	const uint8_t *sec = hp_elf_section(e, HOTPATCH_SECTION, &sh);
	size_t n;

	if (!sec)
		return hp_fail(-HP_EBADPATCH,
			       "%s has no \"" HOTPATCH_SECTION "\" section: the patch must include "
			       "<hotpatch.h> and name what it replaces with HOTPATCH_REPLACE()",
			       name);
	if (sh.sh_size % REC_SIZE)
		return hp_fail(-HP_EBADPATCH,
			       "%s: the \"" HOTPATCH_SECTION "\" section is %llu bytes, not a "
			       "multiple of %d: it was not written by <hotpatch.h> of this version",
			       name, (unsigned long long)sh.sh_size, REC_SIZE);
	n = sh.sh_size / REC_SIZE;
	pf->rec = calloc(n ? n : 1, sizeof(*pf->rec));
	if (!pf->rec)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		uint64_t va = sh.sh_addr + i * REC_SIZE;
		struct hp_patch_rec *r = &pf->rec[pf->nrec];
		uint16_t kind = 0;
		int rr;

		rr = record_header(sec + i * REC_SIZE, name, i, &kind);
		if (rr < 0)
			return rr;
		r->kind = kind;
		if ((rr = record_names(e, va, name, i, r)) < 0 ||
		    (rr = record_body(pf, va, name, r)) < 0 ||
		    (rr = record_unique(pf, name, r)) < 0)
			return rr;
		pf->nrec++;
	}
	if (!pf->nreplace)
		return hp_fail(-HP_EBADPATCH,
			       "%s replaces nothing: add a HOTPATCH_REPLACE(function, replacement)",
			       name);
	return 0;
}

int hp_patchfile_parse(uint8_t *data, size_t len, const char *name, struct hp_patchfile *pf)
{
	struct sha256_ctx ctx;
	int r;

	memset(pf, 0, sizeof(*pf));
	pf->elf.fd = -1;
	pf->data = data;
	pf->len = len;
	pf->path = hp_strdup(name);
	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, sizeof(pf->sha256), pf->sha256);
	for (size_t i = 0; i < sizeof(pf->sha256); i++)
		snprintf(pf->sha256_hex + 2 * i, 3, "%02x", pf->sha256[i]);
	if (len < 4 || memcmp(data, "\177ELF", 4))
		return hp_fail(-HP_EBADPATCH,
			       "%s is not an ELF file: a patch is a shared object built with "
			       "cc -shared -fPIC",
			       name);
	r = hp_elf_open_mem(data, len, name, &pf->elf);
	if (r < 0)
		return r;
	if (pf->elf.ehdr.e_type != ET_DYN)
		return hp_fail(-HP_EBADPATCH,
			       "%s is not a shared object (ELF type %d): build the patch with "
			       "cc -shared -fPIC",
			       name, pf->elf.ehdr.e_type);
	if (pf->elf.ehdr.e_entry && hp_elf_section(&pf->elf, ".interp", NULL))
		return hp_fail(-HP_EBADPATCH,
			       "%s is an executable, not a patch: build it with cc -shared -fPIC",
			       name);
	r = hp_elf_load_symbols(&pf->elf);
	if (r < 0)
		return r;
	return parse_records(pf, name);
}

int hp_patchfile_open(const char *path, char **ret_real)
{
	char abs[PATH_MAX];
	char *real;
	int fd;

	/* O_NONBLOCK: a FIFO named as the patch must not hang us */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return hp_fail(errno == ENOENT ? -HP_EBADPATCH : -errno, "cannot open patch %s: %m",
			       path);
	real = hp_fd_path(fd);
	if (!real)
		real = hp_strdup(realpath(path, abs) ? abs : path);
	if (!real) {
		close(fd);
		return hp_fail(-ENOMEM, "out of memory");
	}
	*ret_real = real;
	return fd;
}

int hp_patchfile_load_fd(int fd, const char *name, const char *real, struct hp_patchfile *pf)
{
	struct stat st;
	uint8_t *data;
	size_t done = 0;
	int r;

	memset(pf, 0, sizeof(*pf));
	pf->elf.fd = -1;
	if (fstat(fd, &st) < 0)
		return hp_fail(-errno, "cannot stat patch %s: %m", name);
	if (!S_ISREG(st.st_mode))
		return hp_fail(-HP_EBADPATCH, "patch %s is not a regular file", name);
	if ((uint64_t)st.st_size > MAX_PATCH_SIZE || st.st_size < 64)
		return hp_fail(-HP_EBADPATCH, "patch %s has an implausible size (%lld bytes)", name,
			       (long long)st.st_size);
	data = malloc((size_t)st.st_size);
	if (!data)
		return hp_fail(-ENOMEM, "out of memory");
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, data + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(data);
			return hp_fail(n < 0 ? -errno : -EIO, "cannot read patch %s: %s", name,
				       n < 0 ? strerror(errno) : "file shrank while being read");
		}
		done += (size_t)n;
	}
	r = hp_patchfile_parse(data, done, name, pf);
	if (real) {
		char *p = hp_strdup(real);

		if (p) {
			free(pf->path);
			pf->path = p;
		}
	}
	return r;
}

int hp_patchfile_load(const char *path, struct hp_patchfile *pf)
{
	_cleanup_free_ char *real = NULL;
	_cleanup_close_ int fd = -1;

	memset(pf, 0, sizeof(*pf));
	pf->elf.fd = -1;
	fd = hp_patchfile_open(path, &real);
	if (fd < 0)
		return fd;
	return hp_patchfile_load_fd(fd, path, real, pf);
}

void hp_patchfile_free(struct hp_patchfile *pf)
{
	hp_elf_close(&pf->elf);
	free(pf->rec);
	free(pf->data);
	free(pf->path);
	memset(pf, 0, sizeof(*pf));
	pf->elf.fd = -1;
}
