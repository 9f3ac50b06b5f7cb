/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "tunits.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static int add_unit(struct hp_tunits *t, Dwarf_Die *cu)
{
	Dwarf_Attribute a;
	const char *name = dwarf_diename(cu);
	const char *dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &a));
	const char *prod = dwarf_formstring(dwarf_attr(cu, DW_AT_producer, &a));
	struct hp_tunit *nu;

	if (!name)
		return 0;
	nu = realloc(t->u, (t->n + 1) * sizeof(*nu));
	if (!nu)
		return -ENOMEM;
	t->u = nu;
	nu[t->n].path = hp_path_normalise(dir, name);
	nu[t->n].producer = prod ? strdup(prod) : NULL;
	if (!nu[t->n].path)
		return -ENOMEM;
	t->n++;
	return 0;
}

int hp_tunits_load(const char *path, struct hp_tunits *ret)
{
	struct hp_tunits t = {0};
	Dwarf_Off off = 0, next;
	size_t hsize;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
	Dwarf *dw;

	if (fd < 0)
		return hp_fail(-errno, "cannot open %s: %m", path);
	dw = dwarf_begin(fd, DWARF_C_READ);
	if (dw) {
		while (r == 0 && dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
			Dwarf_Die cu;

			if (dwarf_offdie(dw, off + hsize, &cu))
				r = add_unit(&t, &cu);
			off = next;
		}
		dwarf_end(dw);
	}
	close(fd);
	if (r < 0) {
		hp_tunits_free(&t);
		return r;
	}
	*ret = t;
	return 0;
}

void hp_tunits_free(struct hp_tunits *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->u[i].path);
		free(t->u[i].producer);
	}
	free(t->u);
	*t = (struct hp_tunits){0};
}

const struct hp_tunit *hp_tunits_find(const struct hp_tunits *t, const char *file)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->u[i].path, file))
			return &t->u[i];
	return NULL;
}
