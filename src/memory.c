/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "memory.h"

#include <string.h>

#include "target.h"
#include "util.h"

int hp_mem_pread(struct hp_target *t, uint64_t addr, void *buf, size_t len)
{
	return hp_target_transfer(t, addr, buf, len, false);
}

static int failed(struct hp_target *t, int r, const char *what, uint64_t addr, size_t len)
{
	if (r == -HP_ETIMEOUT)
		return hp_fail(r,
			       "%s %zu bytes at 0x%llx in pid %d did not finish in time: the "
			       "memory is backed by %s, whose filesystem does not answer",
			       what, len, (unsigned long long)addr, t->pid,
			       t->slow_what[0] ? t->slow_what : "a file");
	return hp_fail(r, "cannot %s %zu bytes at 0x%llx in pid %d: %s", what, len,
		       (unsigned long long)addr, t->pid,
		       r == -EFAULT ? "address not mapped" : strerror(-r));
}

int hp_mem_read(struct hp_target *t, uint64_t addr, void *buf, size_t len)
{
	int r = hp_target_transfer(t, addr, buf, len, false);

	return r < 0 ? failed(t, r, "read", addr, len) : 0;
}

int hp_mem_write(struct hp_target *t, uint64_t addr, const void *buf, size_t len)
{
	int r = hp_target_transfer(t, addr, (void *)buf, len, true);

	return r < 0 ? failed(t, r, "write", addr, len) : 0;
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
