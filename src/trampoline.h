/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Far jumps: pages of absolute-jump slots within rel32 reach of the pads. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

struct hp_maps;

struct hp_reloc;

struct hp_tramp_site {
	uint64_t from; /* where the 5-byte jump sits (the pad) */
	uint64_t to;   /* where it must end up */
	/* the instructions a relocation displaced, to be copied near `from`
	 * (and near their own targets), or NULL */
	const struct hp_reloc *copy;
	uint64_t slot;	  /* out: the slot to jump to, or 0 when `to` is in reach */
	uint64_t copy_at; /* out: where the copy went */
};

/* rel32 reaches +-2 GiB; keep a margin for the slot's own length. */
#define HP_REL32_REACH 0x7fff0000ull

/*
 * Assigns slots to the sites that cannot reach their destination, and
 * room to the copies, in as few regions as possible, each in a free gap of
 * `maps` within reach of its sites and of every target of their copies.
 * *ret gets the regions to map.
 */
int hp_tramp_plan(const struct hp_maps *maps, struct hp_tramp_site *sites, size_t n,
		  struct hp_reg_range **ret, size_t *nret);
/* The bytes of one region: its slots and copies, int3 elsewhere; -ERANGE
 * (with the reason) when a copy cannot reach a target from there. */
int hp_tramp_image(const struct hp_reg_range *region, const struct hp_tramp_site *sites, size_t n,
		   uint8_t **ret);
