/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The translation units an executable or library was linked from, by
 * their DWARF: each one's source file (absolute) and producer. */
#pragma once

#include <stddef.h>

struct hp_tunit {
	char *path;	/* DW_AT_name joined to DW_AT_comp_dir, normalised */
	char *producer; /* DW_AT_producer: compiler, version, flags; or NULL */
};

struct hp_tunits {
	struct hp_tunit *u;
	size_t n;
};

/* 0 with n == 0 when the file has no DWARF. */
int hp_tunits_load(const char *path, struct hp_tunits *ret);
void hp_tunits_free(struct hp_tunits *t);
/* The unit whose source is `file` (absolute), or NULL. */
const struct hp_tunit *hp_tunits_find(const struct hp_tunits *t, const char *file);
