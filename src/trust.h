/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whether a patch file may be trusted with root's power over a process. */
#pragma once

#include <stdbool.h>

struct hp_patchfile;

/*
 * As root, refuses a patch file that anyone but root or the invoking user
 * (SUDO_UID) owns or could have written, or that lies under such a
 * directory, as sudo and cron do with their files.  Sticky directories
 * (/tmp) are fine: nobody else can replace what they hold.  `pin` is an
 * expected SHA-256 in hex, or NULL.
 */
int hp_trust_check(const char *path, const struct hp_patchfile *pf, bool insecure, const char *pin);
