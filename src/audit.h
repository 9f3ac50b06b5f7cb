/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An audit line in syslog for every apply and rollback. */
#pragma once

struct hp_report;
struct hp_patchfile;

/* Logs who did what to which process and how it ended (result < 0: failed). */
void hp_audit(const char *verb, const struct hp_report *rep, const char *patch_path,
	      const char *sha256, int result);
