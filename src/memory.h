/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading and writing the target's memory through /proc/PID/mem. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct hp_target;

/* Both return 0 or a negative errno; a short transfer is -EFAULT. */
int hp_mem_read(struct hp_target *t, uint64_t addr, void *buf, size_t len);
/* The same, recording no error: for probes that expect to fail. */
int hp_mem_pread(struct hp_target *t, uint64_t addr, void *buf, size_t len);
/* pwrite bypasses page protections, so text can be written; one call per
 * contiguous region. */
int hp_mem_write(struct hp_target *t, uint64_t addr, const void *buf, size_t len);
/* Writes, reads back and compares. */
int hp_mem_write_verify(struct hp_target *t, uint64_t addr, const void *buf, size_t len);
