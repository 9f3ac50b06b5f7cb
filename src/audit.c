/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "audit.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "patch.h"
#include "util.h"

void hp_audit(const char *verb, const struct hp_report *rep, const char *patch_path,
	      const char *sha256, int result)
{
	struct passwd *pw = getpwuid(getuid());
	const char *sudo = getenv("SUDO_USER");
	struct hp_buf funcs = {0};
	const char *outcome = result < 0 ? "failed" : rep->npatches ? rep->patches[0].action : "ok";

	for (size_t i = 0; i < rep->npatches; i++)
		for (size_t k = 0; k < rep->patches[i].nfuncs; k++)
			hp_buf_printf(&funcs, "%s%s", funcs.len ? "," : "",
				      rep->patches[i].funcs[k].symbol);
	openlog("hotpatch", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
	/* key=value for machines, in an order people can read */
	syslog(result < 0 ? LOG_WARNING : LOG_NOTICE,
	       "%s %s: pid=%d exe=%s patch=%s sha256=%s functions=%s user=%s uid=%u%s%s%s%s", verb,
	       outcome, rep->pid, rep->exe[0] ? rep->exe : "?", patch_path ? patch_path : "-",
	       sha256 && *sha256 ? sha256 : "-", funcs.len ? funcs.s : "-", pw ? pw->pw_name : "?",
	       (unsigned)getuid(), sudo ? " sudo_user=" : "", sudo ? sudo : "",
	       result < 0 ? " error=" : "", result < 0 ? hp_err.msg : "");
	closelog();
	hp_buf_free(&funcs);
}
