/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* status and list: read-only looks at a target; no thread is stopped. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hp_options;
struct hp_report;

int hp_status(pid_t pid, const struct hp_options *o, struct hp_report *rep);

/* list: functions that can be patched, per object */
struct hp_listed_func {
	char *name;
	uint64_t addr;
	const char *layout; /* or "patched" */
};
struct hp_listed_object {
	char *path;
	struct hp_listed_func *funcs;
	size_t nfuncs;
};
struct hp_listing {
	pid_t pid;
	char comm[64];
	struct hp_listed_object *objs;
	size_t nobjs;
};
int hp_list(pid_t pid, const struct hp_options *o, struct hp_listing *ret);
void hp_listing_free(struct hp_listing *l);
