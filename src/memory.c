/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "memory.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "target.h"
#include "util.h"

int hp_mem_read(struct hp_target *t, uint64_t addr, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(t->mem_fd, (char *)buf + done, len - done, (off_t)(addr + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return hp_fail(n < 0 ? -errno : -EFAULT,
				       "cannot read %zu bytes at 0x%llx in pid %d: %s", len,
				       (unsigned long long)addr, t->pid,
				       n < 0 ? strerror(errno) : "address not mapped");
		done += (size_t)n;
	}
	return 0;
}

int hp_mem_write(struct hp_target *t, uint64_t addr, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(t->mem_fd, (const char *)buf + done, len - done,
				   (off_t)(addr + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return hp_fail(n < 0 ? -errno : -EFAULT,
				       "cannot write %zu bytes at 0x%llx in pid %d: %s", len,
				       (unsigned long long)addr, t->pid,
				       n < 0 ? strerror(errno) : "address not mapped");
		done += (size_t)n;
	}
	return 0;
}

int hp_mem_write_verify(struct hp_target *t, uint64_t addr, const void *buf, size_t len)
{
	uint8_t back[256];
	int r;

	r = hp_mem_write(t, addr, buf, len);
	if (r < 0)
		return r;
	for (size_t off = 0; off < len; off += sizeof(back)) {
		size_t n = HP_MIN(sizeof(back), len - off);

		r = hp_mem_read(t, addr + off, back, n);
		if (r < 0)
			return r;
		if (memcmp(back, (const uint8_t *)buf + off, n))
			return hp_fail(-EIO,
				       "write at 0x%llx in pid %d did not stick (read back differs)",
				       (unsigned long long)(addr + off), t->pid);
	}
	return 0;
}
