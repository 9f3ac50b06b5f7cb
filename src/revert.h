/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Taking one recorded patch back out; rollback's and recovery's step. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct hp_session;
struct hp_options;
struct hp_report;

/*
 * Checks (stacking, bytes against the record and the file on disk), flips
 * back once no thread is inside the patch (window first, then pad), drops
 * the record and unloads.  With `above_gone` the records above this one
 * count as rolled back already (--all, newest first: a dry run judges each
 * as the ones before it would leave it).  A refusal leaves the target as
 * it was.
 */
int hp_revert(struct hp_session *s, size_t idx, const struct hp_options *o, bool above_gone,
	      struct hp_report *rep);
