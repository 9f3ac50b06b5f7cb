/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An audit record for every apply and rollback: in the journal, or a line in syslog. */
#pragma once

struct hp_report;
struct hp_patchfile;

/* Logs who did what to which process and how it ended (result < 0: failed). */
void hp_audit(const char *verb, const struct hp_report *rep, const char *patch_path,
	      const char *sha256, int result);
