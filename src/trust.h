/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whether a patch file may be trusted with root's power over a process. */
#pragma once

#include <stdbool.h>

struct hp_patchfile;

/*
 * Opens the patch file at `path` for reading, once: its bytes are then
 * read from the fd returned.  As root (unless `insecure`), the path is
 * walked from "/" one name at a time, each opened with O_NOFOLLOW and
 * checked on the fd that was opened, and the patch is refused if anyone
 * but root or the invoking user (SUDO_UID) owns or could have written it,
 * any directory walked through (after ".." and symlinks too), or any
 * symlink on the way, as sudo and cron do with their files.  Sticky
 * directories (/tmp) are fine: nobody else can replace what they hold.
 * Anything in /proc is refused.  *ret_real gets the absolute path of the
 * file opened (malloc'd).  Returns the fd or a negative errno.
 */
int hp_trust_open(const char *path, bool insecure, char **ret_real);
/* Refuses a patch whose SHA-256 (of the bytes read) is not `pin`, an
 * expected SHA-256 in hex; NULL pins nothing. */
int hp_trust_pin(const char *path, const struct hp_patchfile *pf, const char *pin);
