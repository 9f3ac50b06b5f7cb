/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* From a name in a patch to an address and a checked prologue in the target. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
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

/* A target symbol as a record names it: "name;file=FILE;addr=0xHEX", each
 * qualifier optional, in any order.  file= is the STT_FILE name of a
 * static's block, addr= its link-time address (st_value). */
struct hp_symname {
	char name[1025];
	char file[4096]; /* "" = any */
	uint64_t addr;
	bool has_addr;
};

/* Parses a qualified name; pure, for unit tests.  -HP_EBADPATCH (with the
 * reason) when it is not one. */
int hp_symname_parse(const char *qualified, struct hp_symname *ret);
/* "name", or "name (in FILE)", for messages: written to `buf`. */
const char *hp_symname_show(const char *qualified, char *buf, size_t size);

/* `object` "" searches the main executable, then the link map in order;
 * `qname` may be qualified (struct hp_symname). */
int hp_resolve(struct hp_target *t, struct hp_modules *m, const char *object, const char *qname,
	       enum hp_want want, struct hp_resolved *ret);
/* Reads and recognises the prologue at a resolved function; checks that
 * its pad belongs to no other function. */
int hp_resolve_prologue(struct hp_target *t, const struct hp_resolved *f, struct hp_prologue *ret);
/* Checks an object's GNU build-id against a hex string. */
int hp_check_build_id(struct hp_target *t, struct hp_modules *m, const char *object,
		      const char *hex);
