/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the target has mapped: /proc/PID/maps, loaded objects, load bias. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "symbols.h"

struct hp_target;

enum { HP_PROT_R = 1, HP_PROT_W = 2, HP_PROT_X = 4, HP_PROT_SHARED = 8 };

struct hp_mapping {
	uint64_t start, end, offset;
	unsigned prot;
	unsigned dev_major, dev_minor;
	uint64_t inode;
	char *path; /* NULL for anonymous; "[stack]" etc. kept as is */
	bool deleted;
};

struct hp_maps {
	struct hp_mapping *m;
	size_t n, cap;
};

struct hp_object {
	char *path;	 /* as /proc/PID/maps shows it, without " (deleted)" */
	char *open_path; /* what was opened: /proc/PID/map_files/... or path */
	unsigned dev_major, dev_minor;
	uint64_t inode;
	uint64_t lo, hi;		  /* lowest start and highest end of its mappings */
	uint64_t first_end, first_offset; /* its lowest mapping [lo, first_end) */
	uint64_t bias;			  /* runtime address = bias + ELF vaddr */
	bool is_main;
	bool deleted;
	int order;	  /* link-map position; main executable is 0 */
	uint64_t lm_node; /* its struct link_map in the target (= its dlopen handle), or 0 */
	int elf_error;
	struct hp_elf *elf; /* its file's, shared through objcache.c; NULL until read */
};

struct hp_modules {
	struct hp_maps maps;
	struct hp_object *obj; /* main executable first, then link-map order */
	size_t n, cap;
	char **lm_names; /* l_name of every link-map entry */
	size_t nlm;
	uint64_t rdebug; /* the dynamic loader's struct r_debug in the target */
};

/* Parses the text of a maps file; pure, for tests and fuzzing. */
int hp_maps_parse(const char *text, struct hp_maps *ret);
void hp_maps_free(struct hp_maps *m);
int hp_maps_read(pid_t pid, struct hp_maps *ret);
/* The mapping containing addr, or NULL. */
const struct hp_mapping *hp_maps_find(const struct hp_maps *m, uint64_t addr);
/* A free gap of `len` bytes whose every byte lies within `reach` of
 * [near_lo, near_hi); page aligned; 0 if none. */
uint64_t hp_maps_find_gap(const struct hp_maps *m, uint64_t near_lo, uint64_t near_hi, uint64_t len,
			  uint64_t reach);

int hp_modules_load(struct hp_target *t, struct hp_modules *ret);
void hp_modules_free(struct hp_modules *m);
/* Opens an object's ELF file (through map_files when allowed). */
int hp_object_elf(struct hp_target *t, struct hp_object *o, struct hp_elf **ret);
/*
 * Finds an object by file name or soname ("libc.so.6") or by path.  A path
 * is looked up in the target's root directory, and names the object that
 * is that file (device and inode), however it is spelled (links, "..",
 * "//"); see hp_path_match.  0 and *ret, or -ENOENT with no error
 * recorded and, for a path, what it names in `why` ("; ..." or "");
 * another negative errno (a lookup that timed out) with the reason.
 */
int hp_modules_find(struct hp_target *t, struct hp_modules *m, const char *name,
		    struct hp_object **ret, char *why, size_t whysz);

/* What a path names in some process's view of the file system. */
struct hp_path_id {
	bool found; /* it names a file there; else err says why not */
	int err;
	unsigned dev_major, dev_minor;
	uint64_t inode;
	char *canon; /* that file's path, as /proc/PID/maps shows it to hotpatch */
};
/* Looks `path` up under `root` ("/proc/PID/root", or "/"), within
 * `deadline`; a path that names nothing is not an error (found false). */
int hp_path_lookup(const char *root, const char *path, uint64_t deadline, struct hp_path_id *ret);
void hp_path_id_free(struct hp_path_id *id);
/* How well a mapped file (its path as maps shows it, device, inode)
 * matches the `path` a user wrote, looked up as `id`: */
enum hp_path_match {
	HP_PATH_NONE,
	HP_PATH_TEXT,  /* the maps text equals the path as written */
	HP_PATH_CANON, /* the maps text equals the canonical path (overlayfs) */
	HP_PATH_FILE,  /* the same device and inode */
};
enum hp_path_match hp_path_match(const struct hp_path_id *id, const char *path, const char *mapped,
				 unsigned dev_major, unsigned dev_minor, uint64_t inode);
struct hp_object *hp_modules_at(struct hp_modules *m, uint64_t addr);
struct hp_object *hp_modules_main(struct hp_modules *m);
/* The C library (libc.so.6), whose dlopen hotpatch calls. */
struct hp_object *hp_modules_libc(struct hp_modules *m);
/* Whether link-map entry `node` is loaded now (walking the live list), and
 * its l_addr and l_name; 0 if it is, -ENOENT if not. */
int hp_lm_lookup(struct hp_target *t, const struct hp_modules *m, uint64_t node, uint64_t *ret_addr,
		 char *name, size_t namesz);
/* Every link-map entry (its node address) loaded now. */
int hp_lm_nodes(struct hp_target *t, const struct hp_modules *m, uint64_t **ret, size_t *n);
/* Whether the dynamic loader already has an object loaded under `name`. */
bool hp_modules_lm_has(const struct hp_modules *m, const char *name);
