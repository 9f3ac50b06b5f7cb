/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "trampoline.h"

#include <string.h>

#include "modules.h"
#include "prologue.h"
#include "relocate.h"
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

/* Room a site takes in a region: a far jump's slot, then its copy. */
static uint64_t site_len(const struct hp_tramp_site *s)
{
	uint64_t len = s->slot ? HP_SLOT_LEN : 0;

	if (s->copy)
		len += (s->copy->size + HP_SLOT_LEN - 1) & ~(uint64_t)(HP_SLOT_LEN - 1);
	return len;
}

/* What every byte of the group's region must reach. */
static void group_bounds(struct hp_tramp_site *const *g, size_t n, uint64_t *lo, uint64_t *hi,
			 uint64_t *len)
{
	*lo = g[0]->from;
	*hi = g[n - 1]->from + HP_PAD_LEN;
	*len = 0;
	for (size_t k = 0; k < n; k++) {
		if (g[k]->copy) {
			*lo = HP_MIN(*lo, g[k]->copy->reach_lo);
			*hi = HP_MAX(*hi, g[k]->copy->reach_hi + 1);
		}
		*len += site_len(g[k]);
	}
	*len = (*len + PAGE - 1) & ~(PAGE - 1);
}

static void place_group(struct hp_tramp_site *const *g, size_t n, uint64_t addr)
{
	for (size_t k = 0; k < n; k++) {
		uint64_t at = addr;

		if (g[k]->slot) {
			g[k]->slot = at;
			at += HP_SLOT_LEN;
		}
		if (g[k]->copy)
			g[k]->copy_at = at;
		addr += site_len(g[k]);
	}
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
		/* nonzero until placed: "needs a slot" */
		sites[i].slot = !reachable(sites[i].from, sites[i].to);
		sites[i].copy_at = 0;
		if (sites[i].slot || sites[i].copy)
			far[nfar++] = &sites[i];
	}
	qsort(far, nfar, sizeof(*far), cmp_site_from);
	for (size_t i = 0; i < nfar;) {
		size_t j = i;
		struct hp_maps view;
		uint64_t lo, hi, len, addr;

		while (j < nfar && far[j]->from - far[i]->from < GROUP_SPAN)
			j++;
		group_bounds(far + i, j - i, &lo, &hi, &len);
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
		place_group(far + i, j - i, addr);
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

static bool inside(const struct hp_reg_range *region, uint64_t at, uint64_t len)
{
	return at >= region->addr && at + len <= region->addr + region->len;
}

int hp_tramp_image(const struct hp_reg_range *region, const struct hp_tramp_site *sites, size_t n,
		   uint8_t **ret)
{
	uint8_t *img = malloc(region->len);

	if (!img)
		return hp_fail(-ENOMEM, "out of memory");
	memset(img, 0xcc, region->len);
	for (size_t i = 0; i < n; i++) {
		const struct hp_tramp_site *s = &sites[i];

		if (s->slot && inside(region, s->slot, HP_SLOT_LEN))
			hp_jmp_abs(img + (s->slot - region->addr), s->to);
		if (s->copy && s->copy_at && inside(region, s->copy_at, s->copy->size) &&
		    hp_reloc_emit(s->copy, s->copy_at, img + (s->copy_at - region->addr)) < 0) {
			free(img);
			return hp_fail(-ERANGE,
				       "the instructions displaced at 0x%llx cannot reach their "
				       "targets from a trampoline at 0x%llx",
				       (unsigned long long)s->copy->addr,
				       (unsigned long long)s->copy_at);
		}
	}
	*ret = img;
	return 0;
}
