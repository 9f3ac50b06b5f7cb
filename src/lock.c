/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "lock.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "util.h"

/*
 * An abstract unix socket name is the lock: binding it succeeds for one
 * process only, needs no file, and the kernel releases it when the holder
 * dies, SIGKILL included.  The start time in the name keeps a process
 * that reuses the PID from waiting on a stale holder.
 */
int hp_lock_take(pid_t pid, uint64_t start_time, uint64_t deadline)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len;
	unsigned delay = 1000;
	int fd, n;

	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "hotpatch/%d/%llu", pid,
		     (unsigned long long)start_time);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return hp_fail(-errno, "cannot create the lock socket: %m");
	for (;;) {
		if (bind(fd, (struct sockaddr *)&sa, len) == 0)
			return fd;
		if (errno != EADDRINUSE) {
			int e = -errno;

			close(fd);
			return hp_fail(e, "cannot take the lock for pid %d: %s", pid, strerror(-e));
		}
		if (hp_now_ns() >= deadline) {
			close(fd);
			return hp_fail(-HP_EBUSY,
				       "another hotpatch is working on pid %d; it did not finish in "
				       "time (raise --timeout to wait longer)",
				       pid);
		}
		hp_sleep_us(delay);
		if (delay < 50000)
			delay *= 2;
	}
}

void hp_lock_release(int handle)
{
	if (handle >= 0)
		close(handle);
}
