/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ELF files of the targets' objects, each read once per command. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "symbols.h"

/*
 * Opens `path` as hp_elf_open() does, or gives the ELF already read from
 * the same file: the same device, inode, size, modification time and
 * build-id (read again from the file), never merely the same path, so
 * that two containers share an entry only when they map the same file.
 * The cache owns *ret until hp_objcache_clear().
 */
int hp_objcache_open(const char *path, bool slow, uint64_t deadline, struct hp_elf **ret);
/* How many opens found their file already read (for tests and --json). */
uint64_t hp_objcache_hits(void);
void hp_objcache_clear(void);
