/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The DWARF of two builds of one translation unit (objects built with -g),
 * read with libdw: what the layouts of its types and the signatures of its
 * functions are, and which of them a change altered. */
#pragma once

#include <stddef.h>

struct hp_dwunit;

int hp_dw_open(const char *path, struct hp_dwunit **ret);
void hp_dw_close(struct hp_dwunit *u);
/*
 * Every struct, union, enum and typedef that both objects define by name
 * (anonymous ones by the typedef that names them) and whose layout
 * differs: byte size, a member's name, offset, bit field or type name, an
 * enumerator's value.  One message per type, naming it and the first
 * difference ("struct client grows from 2000 to 2008 bytes").  *ret is an
 * array of malloc'd strings; the caller frees it (hp_dw_free_msgs).
 */
int hp_dw_layout_diff(const struct hp_dwunit *a, const struct hp_dwunit *b, char ***ret,
		      size_t *ret_n);
void hp_dw_free_msgs(char **msgs, size_t n);
/* The signature of the function `name` defined in the unit (its
 * out-of-line DIE), spelled "int (const char *, int)"; *ret NULL when the
 * unit has no such function. */
int hp_dw_signature(const struct hp_dwunit *u, const char *name, char **ret);
