/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The record of applied patches, kept inside the target (in the control
 * mapping) so that status and rollback work from any later run, survive the
 * death of the tool that applied a patch, and vanish with the process.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "prologue.h"

struct hp_remote;

enum hp_reg_state {
	HP_REG_LOADED = 1,	 /* loaded and prepared; the flip may not have happened */
	HP_REG_APPLIED = 2,	 /* flipped */
	HP_REG_ROLLING_BACK = 3, /* a rollback started; its flip may have happened */
};

struct hp_reg_func {
	char *symbol;
	char *object; /* path of the object the function lives in */
	uint64_t entry, pad, window, body;
	uint8_t window_len; /* bytes displaced: the window's instructions */
	uint8_t endbr;
	uint8_t method; /* enum hp_method (classify.h): how it was patched */
	uint8_t ninsn;	/* instructions displaced (relocated into the trampoline) */
	uint8_t old_pad[HP_PAD_LEN], old_win[HP_WIN_LEN]; /* before this patch */
	uint8_t new_pad[HP_PAD_LEN], new_win[HP_WIN_LEN]; /* what this patch wrote */
	uint64_t replacement;				  /* runtime address of the new function */
	uint64_t slot; /* trampoline slot, or 0 for a direct jump */
	char *replacement_name;
};

struct hp_reg_range {
	uint64_t addr, len;
};

struct hp_reg_patch {
	uint32_t id;
	uint32_t state;
	uint64_t handle;     /* dlopen's handle in the target */
	uint64_t base;	     /* load bias of the patch object */
	uint64_t applied_ns; /* CLOCK_REALTIME */
	uint8_t sha256[32];
	uint8_t build_id[64];
	uint8_t build_id_len;
	char *path;
	struct hp_reg_range text; /* the patch object's mapped range */
	struct hp_reg_range *tramps;
	size_t ntramps;
	struct hp_reg_func *funcs;
	size_t nfuncs;
};

struct hp_registry {
	struct hp_reg_patch *p; /* oldest first */
	size_t n;
	uint64_t gen;
};

/* Reads the registry (empty when there is no control mapping yet). */
int hp_registry_read(struct hp_remote *rc, struct hp_registry *ret);
/* Writes it to the spare slot, then switches to it with one write. */
int hp_registry_write(struct hp_remote *rc, struct hp_registry *reg);
void hp_registry_free(struct hp_registry *reg);
void hp_reg_patch_free(struct hp_reg_patch *p);

/* Serialisation, pure, for tests and fuzzing. */
int hp_registry_encode(const struct hp_registry *reg, uint8_t **ret, size_t *len);
int hp_registry_decode(const uint8_t *buf, size_t len, struct hp_registry *ret);
/* Where slot `which` (0 or 1) lies in the control mapping. */
size_t hp_registry_slot_offset(unsigned which);
/* What slot holds for `reg` as generation `gen`: header (magic, version,
 * gen, length, checksum) and payload.  -ENOSPC when it does not fit. */
int hp_registry_slot_image(const struct hp_registry *reg, uint64_t gen, uint8_t **ret, size_t *len);

/* The topmost applied record for the function at `entry`, or NULL. */
struct hp_reg_func *hp_registry_top(struct hp_registry *reg, uint64_t entry,
				    struct hp_reg_patch **ret_patch);
