/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Finishing what an interrupted hotpatch left in the target. */
#pragma once

struct hp_session;
struct hp_options;

/* An apply whose flip happened is recorded as applied; anything else half
 * done is taken back out, and what a load killed before its record was
 * written left is removed.  Run explicitly by apply and rollback (not by
 * dry runs or status) right after opening the session. */
int hp_recover(struct hp_session *s, const struct hp_options *o);
