/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One hotpatch run per target process at a time. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hp_lock {
	int dir; /* the lock directory, or -1 */
	int fd;	 /* the locked file, or -1 */
	char name[48];
};
#define HP_LOCK_INIT ((struct hp_lock){.dir = -1, .fd = -1})

/*
 * Takes the lock for (pid, start_time), waiting until `deadline`: flock on
 * PID-STARTTIME in /run/hotpatch (as root; a directory of the caller's own
 * otherwise), with who holds it written inside.  `verb` says what for.
 * Fails with -HP_EBUSY, naming the holder, when the deadline passes.
 */
int hp_lock_take(struct hp_lock *ret, pid_t pid, uint64_t start_time, const char *verb,
		 uint64_t deadline);
/* Unlinks and releases; a no-op on HP_LOCK_INIT. */
void hp_lock_release(struct hp_lock *l);

/* Who holds a lock, as its file says; written by another run, so parsed
 * strictly: anything unexpected makes the whole identity unknown. */
struct hp_lock_holder {
	pid_t pid;
	uid_t uid;
	char user[33];	/* [A-Za-z0-9._-] */
	char verb[16];	/* [a-z] */
	uint64_t since; /* seconds since the epoch */
};
#define HP_LOCK_HOLDER_MAX 256 /* bytes of a holder line, at most */
int hp_lock_holder_format(const struct hp_lock_holder *h, char *out, size_t outsz);
int hp_lock_holder_parse(const char *buf, size_t len, struct hp_lock_holder *ret);
