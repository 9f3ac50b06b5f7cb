/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A patch file: its bytes, its hash and the records of its "hotpatch"
 * section, read with libelf before anything touches the target. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "symbols.h"

struct hp_patch_rec {
	int kind;	    /* HOTPATCH_KIND_* */
	const char *object; /* "" = main executable first, then link-map order */
	const char *symbol;
	uint64_t replacement; /* REPLACE: vaddr of the new function in the patch */
	const char *replacement_name;
	uint64_t slot; /* ORIGINAL, SYMBOL: vaddr of the pointer to fill; TLS: of the index */
	const char *bind_name; /* BIND: the patch's weak undefined symbol */
	uint32_t bind_sym;     /* BIND: its index in the patch's .dynsym */
	size_t nbind_slots;    /* BIND: relocations against it (GOT, PLT, 64-bit) */
};

struct hp_patchfile {
	char *path;    /* absolute */
	uint8_t *data; /* the file's bytes: what is checked is what is loaded */
	size_t len;
	uint8_t sha256[32];
	char sha256_hex[65];
	struct hp_elf elf;
	struct hp_patch_rec *rec;
	size_t nrec, nreplace;
};

/* Opens `path` for reading as anyone would, with no checks of who could
 * have written it; *ret_real gets the absolute path of the file opened
 * (malloc'd).  Returns the fd or a negative errno. */
int hp_patchfile_open(const char *path, char **ret_real);
/* Reads and checks the patch open at `fd` (the bytes checked are the bytes
 * loaded); messages name it `name`, ret->path is `real` when given. */
int hp_patchfile_load_fd(int fd, const char *name, const char *real, struct hp_patchfile *ret);
/* hp_patchfile_open, then hp_patchfile_load_fd. */
int hp_patchfile_load(const char *path, struct hp_patchfile *ret);
/* Checks an in-memory image (takes ownership of `data`, which must come
 * from malloc); pure, for unit tests and fuzzing. */
int hp_patchfile_parse(uint8_t *data, size_t len, const char *name, struct hp_patchfile *ret);
void hp_patchfile_free(struct hp_patchfile *pf);
const char *hp_kind_name(int kind);
