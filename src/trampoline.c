/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "trampoline.h"

#include <string.h>

#include "modules.h"
#include "prologue.h"
#include "util.h"

#define PAGE	   4096ull
#define GROUP_SPAN (1ull << 30)

static int cmp_site_from(const void *a, const void *b)
{
	const struct hp_tramp_site *x = *(struct hp_tramp_site *const *)a;
	const struct hp_tramp_site *y = *(struct hp_tramp_site *const *)b;

	return x->from < y->from ? -1 : x->from > y->from;
}

static bool reachable(uint64_t from, uint64_t to)
{
	uint8_t tmp[5];

	return hp_jmp_rel32(tmp, from, to) == 0;
}

/* A copy of the maps with the regions already chosen added, so that two
 * groups never pick the same gap. */
static int maps_with(const struct hp_maps *maps, const struct hp_reg_range *extra, size_t nextra,
		     struct hp_maps *ret)
{
	size_t n = maps->n + nextra, k = 0;
	struct hp_mapping *m = calloc(n ? n : 1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < maps->n; i++)
		m[k++] = maps->m[i]; /* a borrowed view: freed with free() alone */
	for (size_t i = 0; i < nextra; i++)
		m[k++] = (struct hp_mapping){.start = extra[i].addr,
					     .end = extra[i].addr + extra[i].len};
	/* insertion sort: few extras */
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && m[j].start < m[j - 1].start; j--) {
			struct hp_mapping tmp = m[j];
			m[j] = m[j - 1];
			m[j - 1] = tmp;
		}
	ret->m = m;
	ret->n = k;
	ret->cap = n;
	return 0;
}

int hp_tramp_plan(const struct hp_maps *maps, struct hp_tramp_site *sites, size_t n,
		  struct hp_reg_range **ret, size_t *nret)
{
	struct hp_tramp_site **far = calloc(n ? n : 1, sizeof(*far));
	struct hp_reg_range *regions = NULL;
	size_t nfar = 0, nreg = 0, cap = 0;
	int r = 0;

	if (!far)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		sites[i].slot = 0;
		if (!reachable(sites[i].from, sites[i].to))
			far[nfar++] = &sites[i];
	}
	qsort(far, nfar, sizeof(*far), cmp_site_from);
	for (size_t i = 0; i < nfar;) {
		size_t j = i;
		struct hp_maps view;
		uint64_t lo = far[i]->from, hi, len, addr;

		while (j < nfar && far[j]->from - lo < GROUP_SPAN)
			j++;
		hi = far[j - 1]->from + HP_PAD_LEN;
		len = ((j - i) * HP_SLOT_LEN + PAGE - 1) & ~(PAGE - 1);
		r = maps_with(maps, regions, nreg, &view);
		if (r < 0) {
			r = hp_fail(r, "out of memory");
			goto out;
		}
		addr = hp_maps_find_gap(&view, lo, hi, len, HP_REL32_REACH);
		free(view.m);
		if (!addr) {
			r = hp_fail(-ENOMEM,
				    "no free address range within 2 GiB of 0x%llx for a trampoline page",
				    (unsigned long long)lo);
			goto out;
		}
		if (hp_grow((void **)&regions, &cap, nreg, sizeof(*regions)) < 0) {
			r = hp_fail(-ENOMEM, "out of memory");
			goto out;
		}
		regions[nreg++] = (struct hp_reg_range){addr, len};
		for (size_t k = i; k < j; k++)
			far[k]->slot = addr + (k - i) * HP_SLOT_LEN;
		i = j;
	}
	*ret = regions;
	*nret = nreg;
	regions = NULL;
out:
	free(regions);
	free(far);
	return r;
}

int hp_tramp_image(const struct hp_reg_range *region, const struct hp_tramp_site *sites, size_t n,
		   uint8_t **ret)
{
	uint8_t *img = malloc(region->len);

	if (!img)
		return -ENOMEM;
	memset(img, 0xcc, region->len);
	for (size_t i = 0; i < n; i++)
		if (sites[i].slot >= region->addr &&
		    sites[i].slot + HP_SLOT_LEN <= region->addr + region->len)
			hp_jmp_abs(img + (sites[i].slot - region->addr), sites[i].to);
	*ret = img;
	return 0;
}
