/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A replacement that blocks: use_secret(x) with x < 0 says "inside TID" on
 * stdout (the test's pipe) and then waits on the fifo named by
 * $HOTPATCH_TEST_FIFO until the test writes to it, so that a thread the
 * test knows stays inside the patch for as long as the test wants.
 */
#include <fcntl.h>
#include <hotpatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static int use_secret_blocking(int x)
{
	if (x < 0) {
		const char *p = getenv("HOTPATCH_TEST_FIFO");
		char c, line[64];
		int n = snprintf(line, sizeof(line), "inside %ld\n", (long)syscall(SYS_gettid));
		int fd;

		/* from here until the fifo lets it go, this thread is in the patch */
		if (write(STDOUT_FILENO, line, (size_t)n) != n)
			return -1;
		fd = p ? open(p, O_RDONLY) : -1;
		if (fd >= 0) {
			while (read(fd, &c, 1) < 0)
				;
			close(fd);
		}
		return 77;
	}
	return x + 50;
}
HOTPATCH_REPLACE(use_secret, use_secret_blocking);
