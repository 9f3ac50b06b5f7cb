/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* list: how each function of a target can be patched, per object; read
 * only, no thread is stopped. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hp_options;

struct hp_listed_func {
	char *name;
	uint64_t addr;
	const char *layout; /* the prologue's, or "patched" */
	/* --relocate: every function, with how or why not (classify.h) */
	uint8_t method;
	bool global;
	uint8_t displaced, ninsn;
	const char *code; /* refused: the tag */
	char *reason;
};
struct hp_listed_object {
	char *path;
	struct hp_listed_func *funcs;
	size_t nfuncs;
};
struct hp_listing {
	pid_t pid;
	char comm[64];
	bool relocate; /* every function listed, not only those with a prologue */
	struct hp_listed_object *objs;
	size_t nobjs;
};
int hp_list(pid_t pid, const struct hp_options *o, struct hp_listing *ret);
void hp_listing_free(struct hp_listing *l);
