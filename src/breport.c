/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "breport.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int hp_bnote_add(struct hp_bnote **arr, size_t *n, const char *subject, const char *fmt, ...)
{
	struct hp_bnote *na = realloc(*arr, (*n + 1) * sizeof(*na));
	va_list ap;
	int r;

	if (!na)
		return -ENOMEM;
	*arr = na;
	va_start(ap, fmt);
	r = vasprintf(&na[*n].message, fmt, ap);
	va_end(ap);
	if (r < 0 || !(na[*n].subject = strdup(subject)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

static void free_notes(struct hp_bnote *n, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(n[i].subject);
		free(n[i].message);
	}
	free(n);
}

void hp_build_report_free(struct hp_build_report *rep)
{
	for (size_t i = 0; i < rep->nfuncs; i++) {
		free(rep->funcs[i].name);
		free(rep->funcs[i].unit);
		free(rep->funcs[i].why);
	}
	free(rep->funcs);
	free_notes(rep->warnings, rep->nwarnings);
	free_notes(rep->refusals, rep->nrefusals);
	for (size_t i = 0; i < rep->nunits; i++)
		free(rep->units[i]);
	for (size_t i = 0; i < rep->nignored; i++)
		free(rep->ignored[i]);
	free(rep->units);
	free(rep->ignored);
	free(rep->target);
	free(rep->output);
	free(rep->keep);
	*rep = (struct hp_build_report){0};
}
