/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* From a name in a patch to an address and a checked prologue in the target. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "modules.h"
#include "prologue.h"

struct hp_target;

/* FUNC: a function; ANY: a function or a variable (not a thread-local
 * one, which has no one address); TLS: a thread-local variable. */
enum hp_want { HP_WANT_FUNC, HP_WANT_ANY, HP_WANT_TLS };

struct hp_resolved {
	struct hp_object *obj;
	const struct hp_sym *sym;
	uint64_t addr; /* runtime address; for TLS, the offset in the object's TLS block */
};

/* `object` "" searches the main executable, then the link map in order. */
int hp_resolve(struct hp_target *t, struct hp_modules *m, const char *object, const char *symbol,
	       enum hp_want want, struct hp_resolved *ret);
/* Reads and recognises the prologue at a resolved function; checks that
 * its pad belongs to no other function. */
int hp_resolve_prologue(struct hp_target *t, const struct hp_resolved *f, struct hp_prologue *ret);
/* Checks an object's GNU build-id against a hex string. */
int hp_check_build_id(struct hp_target *t, struct hp_modules *m, const char *object,
		      const char *hex);
