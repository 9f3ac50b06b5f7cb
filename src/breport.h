/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What `hotpatch build` reports: the functions it patches, its warnings and
 * refusals, the files it ignored, the time each phase took. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum hp_bfunc_action { HP_BF_REPLACE, HP_BF_PRIVATE, HP_BF_NEW };

struct hp_bfunc {
	char *name, *unit;
	enum hp_bfunc_action action;
	char *why;
};

/* A warning or a refusal, about one function, variable, type or file. */
struct hp_bnote {
	char *subject, *message;
};

struct hp_build_report {
	char build_id[129];
	char *target, *output, *keep;
	char **units; /* the translation units rebuilt */
	size_t nunits;
	char **ignored; /* files of the diff not compiled into the target */
	size_t nignored;
	struct hp_bfunc *funcs;
	size_t nfuncs;
	struct hp_bnote *warnings, *refusals;
	size_t nwarnings, nrefusals;
	/* wall time of each phase, ns */
	uint64_t t_prepare, t_compile, t_compare, t_generate, t_total;
};

/* Adds a warning or refusal to the report. */
int hp_bnote_add(struct hp_bnote **arr, size_t *n, const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void hp_build_report_free(struct hp_build_report *rep);
