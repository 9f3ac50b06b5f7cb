/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "trust.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "patchfile.h"
#include "util.h"

static uid_t invoking_uid(void)
{
	const char *s = getenv("SUDO_UID");

	return s && *s ? (uid_t)strtoul(s, NULL, 10) : getuid();
}

static int check_one(const char *path, const struct stat *st, bool dir)
{
	uid_t me = invoking_uid();

	if (st->st_uid != 0 && st->st_uid != me)
		return hp_fail(-EPERM,
			       "refusing %s %s: it is owned by uid %u, neither root nor you; another "
			       "user could have put anything in it (--insecure overrides)",
			       dir ? "a patch under" : "the patch", path, (unsigned)st->st_uid);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(dir && (st->st_mode & S_ISVTX)))
		return hp_fail(-EPERM,
			       "refusing %s %s: it is writable by %s, so someone else could have "
			       "changed the patch (chmod go-w it; --insecure overrides)",
			       dir ? "a patch under" : "the patch", path,
			       (st->st_mode & S_IWOTH) ? "everyone" : "its group");
	return 0;
}

int hp_trust_check(const char *path, const struct hp_patchfile *pf, bool insecure, const char *pin)
{
	char real[PATH_MAX];
	struct stat st;
	int r;

	if (pin && strcasecmp(pin, pf->sha256_hex))
		return hp_fail(-HP_EBADPATCH,
			       "%s has SHA-256 %s, not the %s that --sha256 pins: not applying it",
			       path, pf->sha256_hex, pin);
	if (insecure || geteuid() != 0)
		return 0; /* without root, the kernel's own checks are the limit */
	if (!realpath(path, real))
		return hp_fail(-errno, "cannot resolve %s: %m", path);
	if (stat(real, &st) < 0)
		return hp_fail(-errno, "cannot stat %s: %m", real);
	r = check_one(real, &st, false);
	/* every directory above it, up to / */
	for (char *slash = strrchr(real, '/'); r == 0 && slash; slash = strrchr(real, '/')) {
		*slash = 0;
		const char *dir = real[0] ? real : "/";

		if (stat(dir, &st) < 0)
			return hp_fail(-errno, "cannot stat %s: %m", dir);
		r = check_one(dir, &st, true);
		if (!real[0])
			break;
	}
	return r;
}
