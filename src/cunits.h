/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An object's compile units, from its DWARF or its debug file's (libdw):
 * which translation unit holds an address, and whether the callers in a
 * unit may rely on GCC's -fipa-ra, from the unit's DW_AT_producer.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hp_elf;

#define HP_CU_UNKNOWN UINT32_MAX

struct hp_cu_range {
	uint64_t lo, hi;
	uint32_t cu;
};

struct hp_cunits {
	bool dwarf;		    /* compile units were read */
	bool lto;		    /* an LTO build: units say nothing of where IPA-RA reaches */
	struct hp_cu_range *ranges; /* sorted by lo, not overlapping */
	size_t nranges, cap;
	bool *ipa_ra; /* per unit: its callers may rely on IPA-RA */
	size_t ncus, cucap;
	size_t ngcc, non; /* GCC's units; the units with IPA-RA (of any producer) */
};

/* Reads the units of `e` (0 without DWARF too, u->dwarf false; a negative
 * errno when out of memory). */
int hp_cunits_load(struct hp_elf *e, struct hp_cunits *u);
void hp_cunits_free(struct hp_cunits *u);
/* The unit whose code holds `a`, or HP_CU_UNKNOWN. */
uint32_t hp_cunits_at(const struct hp_cunits *u, uint64_t a);
/* Whether GCC may have applied -fipa-ra to calls made by a producer's
 * code ("GNU C17 12.2.0 -mtune=generic -O2 ..."); NULL is taken as yes. */
bool hp_cunits_producer_ipa_ra(const char *producer, bool *lto);
