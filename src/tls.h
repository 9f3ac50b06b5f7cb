/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Thread-local variables of the target, for HOTPATCH_TLS records: a
 * variable is its object's TLS module id and its offset in that module's
 * block, which is what __tls_get_addr() takes to find the calling thread's
 * instance.  The offset is in the object's file; the module id only the
 * target's dynamic loader knows, and dlinfo() tells.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "remote.h"

struct hp_target;
struct hp_modules;
struct hp_object;

struct hp_tls_var {
	size_t obj;	 /* index into the plan's objects */
	uint64_t offset; /* in its module's TLS block */
	uint64_t slot;	 /* the patch's struct hotpatch_tls_index (its vaddr) */
};

struct hp_tls_plan {
	struct hp_tls_var *var;
	size_t nvar;
	struct hp_object **obj; /* each object once */
	uint64_t *module;	/* its module id, once found */
	size_t nobj;
};

/* Resolves thread-local `symbol` (in `object`, "" = search order) and adds
 * it to the plan; refuses what could not work, before anything is
 * written: a variable that is not thread-local, an object with no TLS
 * segment or not in the dynamic loader's list, a C library without
 * dlinfo. */
int hp_tls_plan_add(struct hp_tls_plan *p, struct hp_remote *rc, const char *object,
		    const char *symbol, uint64_t slot);
/* Up to `room` operations (dlinfo, one per object) that can ride along in
 * another remote call; clears the scratch area they write to.  *n gets
 * how many were written to `ops`. */
int hp_tls_ride_along(struct hp_tls_plan *p, struct hp_remote *rc, struct hp_rop *ops, size_t room,
		      size_t *n);
/* Reads what the `n` ride-along operations found (their results in
 * `ret`), finds the module ids of the other objects with as few calls of
 * its own as it can, and checks that every object is still loaded. */
int hp_tls_finish(struct hp_tls_plan *p, struct hp_remote *rc, const uint64_t *ret, size_t n,
		  uint64_t deadline);
/* The 16 bytes of variable i's struct hotpatch_tls_index. */
void hp_tls_index(const struct hp_tls_plan *p, size_t i, uint64_t out[2]);
void hp_tls_plan_free(struct hp_tls_plan *p);
