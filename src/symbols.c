/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "symbols.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "util.h"

/* An object bigger than this is not read into memory. */
#define MAX_OBJECT_SIZE (2ull << 30)

static int elf_init(struct hp_elf *e, const char *name)
{
	size_t phnum = 0;

	if (elf_kind(e->elf) != ELF_K_ELF)
		return hp_fail(-HP_EBADPATCH, "%s: not an ELF file", name);
	if (!gelf_getehdr(e->elf, &e->ehdr))
		return hp_fail(-HP_EBADPATCH, "%s: cannot read the ELF header: %s", name,
			       elf_errmsg(-1));
	if (e->ehdr.e_ident[EI_CLASS] != ELFCLASS64 || e->ehdr.e_machine != EM_X86_64)
		return hp_fail(-HP_EBADPATCH, "%s: not an x86-64 ELF object (class %d, machine %d)",
			       name, e->ehdr.e_ident[EI_CLASS], e->ehdr.e_machine);
	/* a file read as needed (e->fd, ELF_C_READ) has no image of itself */
	if (e->fd < 0 || e->debug_mapped) {
		e->image = (const uint8_t *)elf_rawfile(e->elf, &e->size);
		if (!e->image)
			return hp_fail(-HP_EBADPATCH, "%s: cannot map the file: %s", name,
				       elf_errmsg(-1));
	}
	if (elf_getphdrnum(e->elf, &phnum) == 0 && phnum > 0 && phnum < 4096) {
		e->phdr = calloc(phnum, sizeof(*e->phdr));
		if (!e->phdr)
			return hp_fail(-ENOMEM, "out of memory");
		for (size_t i = 0; i < phnum; i++)
			if (gelf_getphdr(e->elf, (int)i, &e->phdr[e->phnum]))
				e->phnum++;
	}
	/* The GNU build-id note, from PT_NOTE segments or note sections. */
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(e->elf, scn)) && !e->build_id_len) {
		GElf_Shdr sh;
		Elf_Data *d;
		GElf_Nhdr nh;
		size_t off = 0, noff, doff;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		while ((off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    !memcmp((char *)d->d_buf + noff, "GNU", 4) && nh.n_descsz > 0 &&
			    nh.n_descsz <= sizeof(e->build_id)) {
				memcpy(e->build_id, (char *)d->d_buf + doff, nh.n_descsz);
				e->build_id_len = nh.n_descsz;
				e->build_id_off = sh.sh_offset + doff;
				break;
			}
		}
	}
	return 0;
}

int hp_elf_open(const char *path, bool slow, uint64_t deadline, struct hp_elf *e)
{
	struct hp_file f;
	struct stat st;
	int r;

	memset(e, 0, sizeof(*e));
	e->fd = -1;
	if (!slow) {
		/* a local file: libelf reads what it is asked for, with pread,
		 * never through a mapping (a truncated file is a read error,
		 * not SIGBUS); of libc that is its symbols, not its 2 MiB */
		elf_version(EV_CURRENT);
		e->fd = hp_file_open_regular(path, &st);
		if (e->fd < 0)
			return e->fd;
		e->path = hp_strdup(path);
		e->dev = st.st_dev;
		e->ino = st.st_ino;
		e->size = (size_t)st.st_size;
		e->elf = elf_begin(e->fd, ELF_C_READ, NULL);
		if (!e->elf)
			return hp_fail(-HP_EBADPATCH, "%s: not an ELF file (%s)", path,
				       elf_errmsg(-1));
		return elf_init(e, path);
	}
	r = hp_file_read(path, MAX_OBJECT_SIZE, slow, deadline, &f);
	if (r < 0)
		return r;
	r = hp_elf_open_mem(f.data, f.len, path, e);
	e->owned = f.data;
	e->dev = f.st.st_dev;
	e->ino = f.st.st_ino;
	return r;
}

/* Debug files live under root's /usr/lib/debug, out of any target's reach:
 * they may be large, and are mapped. */
static int open_debug_file(const char *path, struct hp_elf *e)
{
	memset(e, 0, sizeof(*e));
	elf_version(EV_CURRENT);
	e->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (e->fd < 0)
		return hp_fail(-errno, "cannot open %s: %m", path);
	e->path = hp_strdup(path);
	e->debug_mapped = true;
	e->elf = elf_begin(e->fd, ELF_C_READ_MMAP, NULL);
	if (!e->elf)
		return hp_fail(-HP_EBADPATCH, "%s: not an ELF file (%s)", path, elf_errmsg(-1));
	return elf_init(e, path);
}

int hp_elf_open_mem(const void *buf, size_t len, const char *name, struct hp_elf *e)
{
	memset(e, 0, sizeof(*e));
	elf_version(EV_CURRENT);
	e->fd = -1;
	e->path = hp_strdup(name);
	e->elf = elf_memory((char *)buf, len);
	if (!e->elf)
		return hp_fail(-HP_EBADPATCH, "%s: not an ELF file (%s)", name, elf_errmsg(-1));
	return elf_init(e, name);
}

void hp_elf_close(struct hp_elf *e)
{
	if (e->codeix && e->codeix_free)
		e->codeix_free(e->codeix);
	if (e->debug) {
		hp_elf_close(e->debug);
		free(e->debug);
	}
	if (e->elf)
		elf_end(e->elf);
	if (e->fd >= 0)
		close(e->fd);
	free(e->phdr);
	free(e->syms);
	for (size_t i = 0; i < e->nnames; i++)
		free(e->names[i]);
	free(e->names);
	free(e->by_addr);
	free(e->relocs);
	free(e->dynsyms);
	free(e->path);
	free(e->symtab_source);
	free(e->owned);
	memset(e, 0, sizeof(*e));
	e->fd = -1;
}

/* FNV-1a: sorting and searching by it first compares integers, not strings */
static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static int cmp_sym_name(const void *a, const void *b)
{
	const struct hp_sym *x = a, *y = b;
	int c;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->value < y->value ? -1 : x->value > y->value;
}

static int cmp_sym_addr(const void *a, const void *b)
{
	const struct hp_sym *x = *(struct hp_sym *const *)a, *y = *(struct hp_sym *const *)b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	/* globals first, so an alias prints under its public name */
	return (int)(x->bind == STB_LOCAL) - (int)(y->bind == STB_LOCAL);
}

/* Appends the symbols of one table; versym hides non-default versions. */
static int add_symtab(struct hp_elf *e, Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, size_t *cap)
{
	Elf_Data *d = elf_getdata(scn, NULL), *vd = NULL, *sd;
	Elf_Scn *strscn = elf_getscn(elf, sh->sh_link);
	size_t n;
	const char *file = NULL;

	if (!d || !sh->sh_entsize || !strscn)
		return 0;
	/* the string table once, rather than elf_strptr()'s lookup per name */
	sd = elf_getdata(strscn, NULL);
	if (!sd || !sd->d_buf || !sd->d_size || ((const char *)sd->d_buf)[sd->d_size - 1])
		return 0;
	n = sh->sh_size / sh->sh_entsize;
	if (sh->sh_type == SHT_DYNSYM) {
		Elf_Scn *s = NULL;
		GElf_Shdr vs;

		while ((s = elf_nextscn(elf, s)))
			if (gelf_getshdr(s, &vs) && vs.sh_type == SHT_GNU_versym) {
				vd = elf_getdata(s, NULL);
				break;
			}
	}
	for (size_t i = 1; i < n; i++) {
		GElf_Sym s;
		const char *name;
		struct hp_sym *o;

		if (!gelf_getsym(d, (int)i, &s))
			continue;
		name = s.st_name < sd->d_size ? (const char *)sd->d_buf + s.st_name : NULL;
		if (GELF_ST_TYPE(s.st_info) == STT_FILE) {
			file = name;
			continue;
		}
		if (!name || !*name || s.st_shndx == SHN_UNDEF)
			continue;
		if (GELF_ST_TYPE(s.st_info) == STT_SECTION)
			continue;
		if (vd && vd->d_size >= (i + 1) * 2 && (((uint16_t *)vd->d_buf)[i] & 0x8000))
			continue; /* a hidden, non-default version */
		const char *at = sh->sh_type == SHT_SYMTAB ? strchr(name, '@') : NULL;
		if (at) {
			/* a .symtab spells versions out: "dlopen@@GLIBC_2.34" is the
			 * default, "dlopen@GLIBC_2.2.5" a compatibility alias */
			char **nn;

			if (at[1] != '@')
				continue;
			nn = realloc(e->names, (e->nnames + 1) * sizeof(*nn));
			if (!nn)
				return hp_fail(-ENOMEM, "out of memory");
			e->names = nn;
			e->names[e->nnames] = strndup(name, (size_t)(at - name));
			if (!e->names[e->nnames])
				return hp_fail(-ENOMEM, "out of memory");
			name = e->names[e->nnames++];
		}
		if (hp_grow((void **)&e->syms, cap, e->nsyms, sizeof(*e->syms)) < 0)
			return hp_fail(-ENOMEM, "out of memory");
		o = &e->syms[e->nsyms++];
		o->name = name;
		o->hash = name_hash(name);
		o->value = s.st_value;
		o->size = s.st_size;
		o->type = (uint8_t)GELF_ST_TYPE(s.st_info);
		o->bind = (uint8_t)GELF_ST_BIND(s.st_info);
		o->shndx = s.st_shndx;
		o->file = o->bind == STB_LOCAL ? file : NULL;
	}
	return 0;
}

static int load_table(struct hp_elf *e, Elf *elf, Elf32_Word want, size_t *cap)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int found = 0;

	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == want) {
			int r = add_symtab(e, elf, scn, &sh, cap);

			if (r < 0)
				return r;
			found = 1;
		}
	return found;
}

/*
 * Orders the symbols as cmp_sym_name does: a radix sort on the hash (libc
 * alone has thousands; a sort by strcmp was most of a command's own time),
 * then the few symbols that share a hash by name and address.
 */
static int sort_by_name(struct hp_elf *e)
{
	size_t n = e->nsyms, count[256];
	uint64_t *a = malloc((n ? n : 1) * sizeof(*a)), *b = malloc((n ? n : 1) * sizeof(*b));
	struct hp_sym *sorted = malloc((n ? n : 1) * sizeof(*sorted));
	int r = 0;

	if (!a || !b || !sorted) {
		r = hp_fail(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		a[i] = (uint64_t)e->syms[i].hash << 32 | i;
	for (int shift = 32; shift < 64; shift += 8) {
		uint64_t *t;

		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < n; i++)
			count[(a[i] >> shift) & 255]++;
		for (size_t k = 0, sum = 0; k < 256; k++) {
			size_t c = count[k];

			count[k] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			b[count[(a[i] >> shift) & 255]++] = a[i];
		t = a;
		a = b;
		b = t;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = e->syms[(uint32_t)a[i]];
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && sorted[j].hash == sorted[i].hash)
			j++;
		if (j - i > 1)
			qsort(sorted + i, j - i, sizeof(*sorted), cmp_sym_name);
		i = j;
	}
	free(e->syms);
	e->syms = sorted;
	sorted = NULL;
out:
	free(a);
	free(b);
	free(sorted);
	return r;
}

/* The debug file of `e` by build-id, root's and not writable by others,
 * opened; NULL when there is none (no error left set). */
static struct hp_elf *find_debug_file(struct hp_elf *e)
{
	char path[4096], hex[160];
	struct stat st;
	struct hp_elf *dbg;

	if (e->build_id_len < 2)
		return NULL;
	hp_build_id_hex(e->build_id, e->build_id_len, hex, sizeof(hex));
	snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%.2s/%s.debug", hex, hex + 2);
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)))
		return NULL;
	dbg = calloc(1, sizeof(*dbg));
	if (dbg && open_debug_file(path, dbg) == 0)
		return dbg;
	if (dbg) {
		hp_elf_close(dbg);
		free(dbg);
	}
	hp_error_clear();
	return NULL;
}

struct hp_elf *hp_elf_debug_file(struct hp_elf *e)
{
	if (!e->debug)
		e->debug = find_debug_file(e);
	return e->debug;
}

int hp_elf_load_symbols(struct hp_elf *e)
{
	size_t cap = 0;
	int r;

	if (e->syms_loaded)
		return 0;
	e->syms_loaded = true;
	r = load_table(e, e->elf, SHT_SYMTAB, &cap);
	if (r < 0)
		return r;
	if (r > 0) {
		e->has_symtab = true;
	} else {
		/* A stripped object may have its .symtab in a debug package. */
		struct hp_elf *dbg = find_debug_file(e);

		if (dbg && load_table(e, dbg->elf, SHT_SYMTAB, &cap) > 0) {
			e->debug = dbg;
			e->has_symtab = true;
			e->symtab_source = hp_strdup(dbg->path);
		} else if (dbg) {
			hp_elf_close(dbg);
			free(dbg);
		}
	}
	if (!e->has_symtab) {
		r = load_table(e, e->elf, SHT_DYNSYM, &cap);
		if (r < 0)
			return r;
	}
	r = sort_by_name(e);
	if (r < 0)
		return r;
	/* Drop exact duplicates (same name and address, as aliases in both
	 * tables would give). */
	size_t w = 0;
	for (size_t i = 0; i < e->nsyms; i++) {
		if (w && e->syms[w - 1].hash == e->syms[i].hash &&
		    e->syms[w - 1].value == e->syms[i].value &&
		    !strcmp(e->syms[w - 1].name, e->syms[i].name))
			continue;
		e->syms[w++] = e->syms[i];
	}
	e->nsyms = w;
	return 0;
}

/* Functions by address, for the few questions that need them. */
static int make_by_addr(struct hp_elf *e)
{
	if (e->by_addr_made)
		return 0;
	e->by_addr = calloc(e->nsyms ? e->nsyms : 1, sizeof(*e->by_addr));
	if (!e->by_addr)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < e->nsyms; i++)
		if (e->syms[i].type == STT_FUNC || e->syms[i].type == STT_GNU_IFUNC)
			e->by_addr[e->nfuncs++] = &e->syms[i];
	if (e->nfuncs)
		qsort(e->by_addr, e->nfuncs, sizeof(*e->by_addr), cmp_sym_addr);
	e->by_addr_made = true;
	return 0;
}

size_t hp_elf_funcs(struct hp_elf *e, struct hp_sym *const **ret)
{
	*ret = NULL;
	if (hp_elf_load_symbols(e) < 0 || make_by_addr(e) < 0)
		return 0;
	*ret = e->by_addr;
	return e->nfuncs;
}

size_t hp_elf_lookup(struct hp_elf *e, const char *name, const struct hp_sym **ret)
{
	struct hp_sym key = {.name = name, .hash = name_hash(name)};
	size_t lo = 0, hi, n = 0;

	*ret = NULL;
	if (hp_elf_load_symbols(e) < 0)
		return 0;
	hi = e->nsyms;
	while (lo < hi) { /* the first one not below the name */
		size_t mid = (lo + hi) / 2;

		if (cmp_sym_name(&e->syms[mid], &key) < 0) /* key.value 0 sorts first */
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo + n < e->nsyms && e->syms[lo + n].hash == key.hash &&
	       !strcmp(e->syms[lo + n].name, name))
		n++;
	*ret = n ? &e->syms[lo] : NULL;
	return n;
}

size_t hp_elf_clones(struct hp_elf *e, const char *name, const struct hp_sym **ret_first)
{
	size_t len = strlen(name), n = 0;

	*ret_first = NULL;
	if (hp_elf_load_symbols(e) < 0)
		return 0;
	/* clones are not near their original in hash order: look at all */
	for (size_t i = 0; i < e->nsyms; i++)
		if (!strncmp(e->syms[i].name, name, len) && e->syms[i].name[len] == '.') {
			if (!n++)
				*ret_first = &e->syms[i];
		}
	return n;
}

const struct hp_sym *hp_elf_func_at(struct hp_elf *e, uint64_t vaddr)
{
	size_t lo = 0, hi;
	const struct hp_sym *s;

	if (hp_elf_load_symbols(e) < 0 || make_by_addr(e) < 0 || !e->nfuncs)
		return NULL;
	hi = e->nfuncs;
	while (lo < hi) { /* first symbol with value > vaddr */
		size_t mid = (lo + hi) / 2;

		if (e->by_addr[mid]->value <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	s = e->by_addr[lo - 1];
	/* step back over aliases to the first at this address */
	while (lo >= 2 && e->by_addr[lo - 2]->value == s->value) {
		lo--;
		s = e->by_addr[lo - 1];
	}
	if (vaddr < s->value + (s->size ? s->size : 1))
		return s;
	return NULL;
}

const struct hp_sym *hp_elf_func_after(struct hp_elf *e, uint64_t vaddr)
{
	size_t lo = 0, hi;

	if (hp_elf_load_symbols(e) < 0 || make_by_addr(e) < 0 || !e->nfuncs)
		return NULL;
	hi = e->nfuncs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (e->by_addr[mid]->value <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < e->nfuncs ? e->by_addr[lo] : NULL;
}

/* The file offset of `len` bytes at `vaddr` (0 on success). */
static int vaddr_offset(struct hp_elf *e, uint64_t vaddr, size_t len, uint64_t *ret)
{
	for (size_t i = 0; i < e->phnum; i++) {
		const GElf_Phdr *p = &e->phdr[i];

		if (p->p_type != PT_LOAD)
			continue;
		if (vaddr >= p->p_vaddr && vaddr + len <= p->p_vaddr + p->p_filesz &&
		    vaddr + len >= vaddr) {
			uint64_t off = p->p_offset + (vaddr - p->p_vaddr);

			if (off + len > e->size || off + len < off)
				return -EFAULT;
			*ret = off;
			return 0;
		}
	}
	/* An object without program headers (a relocatable file): sections. */
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	while ((scn = elf_nextscn(e->elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type != SHT_NOBITS &&
		    (sh.sh_flags & SHF_ALLOC) && vaddr >= sh.sh_addr &&
		    vaddr + len <= sh.sh_addr + sh.sh_size && !e->phnum) {
			uint64_t off = sh.sh_offset + (vaddr - sh.sh_addr);

			if (off + len > e->size)
				return -EFAULT;
			*ret = off;
			return 0;
		}
	return -EFAULT;
}

int hp_elf_vaddr_bytes(struct hp_elf *e, uint64_t vaddr, const uint8_t **ret, size_t len)
{
	uint64_t off;

	if (!e->image || vaddr_offset(e, vaddr, len, &off) < 0)
		return -EFAULT;
	*ret = e->image + off;
	return 0;
}

int hp_elf_vaddr_read(struct hp_elf *e, uint64_t vaddr, void *buf, size_t len)
{
	uint64_t off;

	if (vaddr_offset(e, vaddr, len, &off) < 0)
		return -EFAULT;
	if (e->image) {
		memcpy(buf, e->image + off, len);
		return 0;
	}
	/* a file someone else may truncate meanwhile: a short read is an error */
	return pread(e->fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -EFAULT;
}

static int cmp_reloc(const void *a, const void *b)
{
	const struct hp_elf_rel *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int load_relocs(struct hp_elf *e)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t cap = 0;

	if (e->relocs_loaded)
		return 0;
	e->relocs_loaded = true;
	while ((scn = elf_nextscn(e->elf, scn))) {
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_DYNSYM && !e->dynsyms && sh.sh_entsize) {
			d = elf_getdata(scn, NULL);
			size_t n = d ? sh.sh_size / sh.sh_entsize : 0;

			if (n && n < (1u << 24)) {
				e->dynsyms = calloc(n, sizeof(*e->dynsyms));
				if (!e->dynsyms)
					return -ENOMEM;
				for (size_t i = 0; i < n; i++)
					if (gelf_getsym(d, (int)i, &e->dynsyms[i]))
						e->ndynsyms = i + 1;
			}
			continue;
		}
		if (sh.sh_type != SHT_RELA || !(sh.sh_flags & SHF_ALLOC) || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Rela ra;

			if (!gelf_getrela(d, (int)i, &ra))
				continue;
			if (hp_grow((void **)&e->relocs, &cap, e->nrelocs, sizeof(*e->relocs)) < 0)
				return -ENOMEM;
			e->relocs[e->nrelocs++] = (struct hp_elf_rel){
				.offset = ra.r_offset,
				.type = (uint32_t)GELF_R_TYPE(ra.r_info),
				.sym = (uint32_t)GELF_R_SYM(ra.r_info),
				.addend = ra.r_addend,
			};
		}
	}
	if (e->nrelocs)
		qsort(e->relocs, e->nrelocs, sizeof(*e->relocs), cmp_reloc);
	return 0;
}

int hp_elf_read_ptr(struct hp_elf *e, uint64_t vaddr, uint64_t *ret)
{
	const uint8_t *p;
	size_t lo = 0, hi;
	int r;

	r = load_relocs(e);
	if (r < 0)
		return r;
	hi = e->nrelocs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (e->relocs[mid].offset < vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < e->nrelocs && e->relocs[lo].offset == vaddr) {
		const struct hp_elf_rel *rl = &e->relocs[lo];

		switch (rl->type) {
		case R_X86_64_RELATIVE:
			*ret = (uint64_t)rl->addend;
			return 0;
		case R_X86_64_64:
		case R_X86_64_GLOB_DAT:
			if (rl->sym < e->ndynsyms && e->dynsyms[rl->sym].st_shndx != SHN_UNDEF) {
				*ret = e->dynsyms[rl->sym].st_value + (uint64_t)rl->addend;
				return 0;
			}
			return -ENOENT; /* refers to another object */
		default:
			return -ENOTSUP;
		}
	}
	(void)p;
	return hp_elf_vaddr_read(e, vaddr, ret, 8);
}

size_t hp_elf_relocs(struct hp_elf *e, const struct hp_elf_rel **ret)
{
	*ret = NULL;
	if (load_relocs(e) < 0)
		return 0;
	*ret = e->relocs;
	return e->nrelocs;
}

int hp_elf_read_str(struct hp_elf *e, uint64_t vaddr, const char **ret)
{
	const uint8_t *p;

	if (hp_elf_vaddr_bytes(e, vaddr, &p, 1) < 0)
		return -EFAULT;
	/* must end inside the file */
	if (!memchr(p, 0, e->size - (size_t)(p - e->image)))
		return -EFAULT;
	*ret = (const char *)p;
	return 0;
}

const uint8_t *hp_elf_section(struct hp_elf *e, const char *name, GElf_Shdr *ret_shdr)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;

	if (elf_getshdrstrndx(e->elf, &shstrndx) != 0)
		return NULL;
	while ((scn = elf_nextscn(e->elf, scn))) {
		const char *n;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh))
			continue;
		n = elf_strptr(e->elf, shstrndx, sh.sh_name);
		if (!n || strcmp(n, name))
			continue;
		if (sh.sh_type == SHT_NOBITS || sh.sh_offset > e->size ||
		    sh.sh_size > e->size - sh.sh_offset)
			return NULL;
		/* libelf reads it (a file read as needed) or points into the image */
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf || d->d_size != sh.sh_size)
			return NULL;
		if (ret_shdr)
			*ret_shdr = sh;
		return d->d_buf;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int hp_elf_patchable_entries(struct hp_elf *e, uint64_t **ret, size_t *n)
{
	GElf_Shdr sh;
	const uint8_t *d = hp_elf_section(e, "__patchable_function_entries", &sh);
	uint64_t *out;
	size_t cnt = 0;

	*ret = NULL;
	*n = 0;
	if (!d)
		return 0;
	out = calloc(sh.sh_size / 8 + 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i + 8 <= sh.sh_size; i += 8) {
		uint64_t v;

		if (hp_elf_read_ptr(e, sh.sh_addr + i, &v) < 0)
			memcpy(&v, d + i, 8);
		if (v)
			out[cnt++] = v;
	}
	qsort(out, cnt, sizeof(*out), cmp_u64);
	*ret = out;
	*n = cnt;
	return 0;
}

void hp_build_id_hex(const uint8_t *id, size_t len, char *out, size_t outsz)
{
	size_t o = 0;

	if (outsz)
		out[0] = 0;
	for (size_t i = 0; i < len && o + 3 <= outsz; i++)
		o += (size_t)snprintf(out + o, outsz - o, "%02x", id[i]);
}
