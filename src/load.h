/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a patch puts into the target besides bytes in its functions: the
 * patch object (a sealed memfd, dlopen'd) and its trampoline pages; taking
 * them out again; and telling them apart from everything else the target
 * has, by name.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hp_session;
struct hp_patchfile;
struct hp_reg_patch;
struct hp_tls_plan;
struct hp_tramp_site;
struct hp_mapping;

/*
 * Copies the checked bytes into a sealed memfd of the target and dlopens
 * that: the target loads exactly what was checked, whatever happens to the
 * file or to the target's fd table.  Fills rp's handle, base and text.
 * The TLS lookups of `tp` ride along in the dlopen's call: tls_ret[] gets
 * their *ntls results.  On failure nothing it made stays loaded.
 */
int hp_load_patch(struct hp_session *s, const struct hp_patchfile *pf, struct hp_reg_patch *rp,
		  struct hp_tls_plan *tp, uint64_t *tls_ret, size_t *ntls);
/* Chooses, maps and fills the trampoline pages the `n` sites need (their
 * slots filled in); rp->tramps gets the pages that are mapped, also on
 * failure. */
int hp_load_trampolines(struct hp_session *s, struct hp_tramp_site *sites, size_t n,
			struct hp_reg_patch *rp);
/* dlclose and munmap, of what is still ours only; the pads and windows
 * must be as before already. */
int hp_load_unload(struct hp_session *s, const struct hp_reg_patch *rp);

/* Is this what a load made?  A readlink of the target's fd (any memfd of
 * ours), a mapping's path (the patch object, a trampoline page), a link
 * map entry's name (the patch object as dlopen named it). */
bool hp_load_is_our_fd(const char *link);
bool hp_load_is_patch_mapping(const struct hp_mapping *mp);
bool hp_load_is_tramp_mapping(const struct hp_mapping *mp);
bool hp_load_is_patch_name(const char *lm_name);
