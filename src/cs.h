/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Capstone, loaded on first use.  Linked in, its tables for every
 * architecture cost each command 2.4 ms of relocations before main(), and
 * most commands never disassemble: the prologues compilers emit are
 * recognised by their bytes.  What is not one of them, and every message
 * that shows bytes disassembled, loads it.
 */
#pragma once

#include <capstone/capstone.h>
#include <stdbool.h>

struct hp_cs {
	csh handle; /* x86-64, with instruction details */
	size_t (*disasm)(csh h, const uint8_t *code, size_t size, uint64_t addr, size_t count,
			 cs_insn **insn);
	void (*free)(cs_insn *insn, size_t count);
	/* For sweeping a whole object: no details, data skipped a byte at a
	 * time (the classifier's code index), one instruction per call into
	 * a buffer from malloc_insn */
	csh fast;
	bool (*disasm_iter)(csh h, const uint8_t **code, size_t *size, uint64_t *addr,
			    cs_insn *insn);
	cs_insn *(*malloc_insn)(csh h);
};

/* 0, or -HP_EUNSUPPORTED when Capstone cannot be loaded (the reason is
 * in the error message). */
int hp_cs_get(const struct hp_cs **ret);
/* Closes the handle and unloads Capstone (at exit; a later hp_cs_get()
 * loads it again). */
void hp_cs_close(void);
