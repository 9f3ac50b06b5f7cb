/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ELF files through libelf: symbols, build-ids, relocated pointers. */
#pragma once

#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hp_sym {
	const char *name;
	uint64_t value;
	uint64_t size;
	uint8_t type; /* STT_* */
	uint8_t bind; /* STB_* */
	uint16_t shndx;
	const char *file; /* the STT_FILE a local symbol follows, or NULL */
	uint32_t hash;	  /* of the name: lookups compare it before the name */
};

/* A dynamic relocation (named apart from relocate.h's hp_reloc). */
struct hp_elf_rel {
	uint64_t offset;
	uint32_t type;
	uint32_t sym;
	int64_t addend;
};

struct hp_elf {
	char *path;
	int fd;
	uint8_t *owned;	   /* the file's bytes, when it was read rather than mapped */
	uint64_t dev, ino; /* of the file read */
	bool debug_mapped; /* a debug file of root's, mapped */
	Elf *elf;
	const uint8_t *image; /* the whole file, if it is in memory */
	size_t size;
	GElf_Ehdr ehdr;
	GElf_Phdr *phdr;
	size_t phnum;
	uint8_t build_id[64];
	size_t build_id_len;
	uint64_t build_id_off; /* where the build-id lies in the file */

	bool syms_loaded;
	bool has_symtab;      /* symbols came from a .symtab */
	char *symtab_source;  /* the separate debug file used, if any */
	struct hp_elf *debug; /* that file, kept open for its strings */
	struct hp_sym *syms;  /* sorted by (hash of the name, name) */
	size_t nsyms;
	char **names; /* names we had to copy (versions stripped) */
	size_t nnames;
	struct hp_sym **by_addr; /* functions sorted by address, made on first use */
	size_t nfuncs;
	bool by_addr_made;

	struct hp_elf_rel *relocs; /* dynamic relocations, sorted by offset */
	size_t nrelocs;
	bool relocs_loaded;
	GElf_Sym *dynsyms; /* the dynamic symbols relocations refer to */
	size_t ndynsyms;

	/* What a module above built from this file and keeps with it (the
	 * classifier's code index), freed by hp_elf_close through codeix_free:
	 * symbols.c knows neither its type nor its module. */
	void *codeix;
	void (*codeix_free)(void *codeix);
};

/* Opens a file someone else may control: read, never mapped; `slow` and
 * `deadline` as for hp_file_read (fileio.h). */
int hp_elf_open(const char *path, bool slow, uint64_t deadline, struct hp_elf *e);
/* Opens an in-memory image; `buf` must outlive `e`. */
int hp_elf_open_mem(const void *buf, size_t len, const char *name, struct hp_elf *e);
void hp_elf_close(struct hp_elf *e);

/* Reads .symtab (or a debug file's, found by build-id) or else .dynsym. */
int hp_elf_load_symbols(struct hp_elf *e);
/* The separate debug file of `e` (by build-id, under root's
 * /usr/lib/debug/.build-id), opened on first use and kept as e->debug;
 * NULL when there is none. */
struct hp_elf *hp_elf_debug_file(struct hp_elf *e);
/* All symbols named `name`; *ret points into e->syms. */
size_t hp_elf_lookup(struct hp_elf *e, const char *name, const struct hp_sym **ret);
/* How many symbols are called "name.<something>" (compiler-made clones);
 * *ret_first is one of them. */
size_t hp_elf_clones(struct hp_elf *e, const char *name, const struct hp_sym **ret_first);
/* Every function, sorted by address (*ret points into e). */
size_t hp_elf_funcs(struct hp_elf *e, struct hp_sym *const **ret);
/* The function containing `vaddr`, or NULL. */
const struct hp_sym *hp_elf_func_at(struct hp_elf *e, uint64_t vaddr);
/* The first function starting after `vaddr`, or NULL. */
const struct hp_sym *hp_elf_func_after(struct hp_elf *e, uint64_t vaddr);

/* File bytes backing a virtual address (0 on success): a pointer into an
 * ELF held in memory (a patch), or a copy read from the file. */
int hp_elf_vaddr_bytes(struct hp_elf *e, uint64_t vaddr, const uint8_t **ret, size_t len);
int hp_elf_vaddr_read(struct hp_elf *e, uint64_t vaddr, void *buf, size_t len);
/* The value a pointer at `vaddr` gets at load time, relative to the load
 * base: RELATIVE and 64-bit relocations against defined symbols applied. */
int hp_elf_read_ptr(struct hp_elf *e, uint64_t vaddr, uint64_t *ret);
/* The dynamic relocations, sorted by offset (*ret points into e). */
size_t hp_elf_relocs(struct hp_elf *e, const struct hp_elf_rel **ret);
/* A NUL-terminated string at `vaddr` in the file. */
int hp_elf_read_str(struct hp_elf *e, uint64_t vaddr, const char **ret);
/* Section data by name, or NULL. */
const uint8_t *hp_elf_section(struct hp_elf *e, const char *name, GElf_Shdr *ret_shdr);

/* Addresses (entries) listed in __patchable_function_entries, sorted. */
int hp_elf_patchable_entries(struct hp_elf *e, uint64_t **ret, size_t *n);

void hp_build_id_hex(const uint8_t *id, size_t len, char *out, size_t outsz);
