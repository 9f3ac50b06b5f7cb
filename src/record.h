/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The record of a session's patches, kept in the target: adding, finding,
 * marking and removing them, and the control header's fields that belong
 * to the record (the next patch id, the pending-load mark), read and
 * written here only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct hp_session;
struct hp_reg_patch;

/* Marks a load as begun (or, with false, as recorded): a run killed
 * between the two finds the mark and takes out what the load left.
 * Best effort: without a control header there is nothing to mark. */
void hp_record_mark_pending(struct hp_session *s, bool pending);
bool hp_record_pending(struct hp_session *s);
/* Appends `rp` under a new id; on success the registry owns what rp held
 * and rp is zeroed; on failure rp keeps it. */
int hp_record_add(struct hp_session *s, struct hp_reg_patch *rp);
struct hp_reg_patch *hp_record_find(struct hp_session *s, uint32_t id);
/* Records `p` as in effect, now. */
int hp_record_mark_applied(struct hp_session *s, struct hp_reg_patch *p);
int hp_record_remove(struct hp_session *s, uint32_t id);
