/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hot-patch prologues: recognising them (Capstone) and the jumps we write. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HP_PAD_LEN  5
#define HP_WIN_LEN  2
#define HP_SLOT_LEN 16
/* How much to read around an entry to analyse it. */
#define HP_PRO_BEFORE 16
#define HP_PRO_AFTER  24

enum hp_pro_state {
	HP_PRO_UNPATCHED = 0, /* pad and window hold no-ops */
	HP_PRO_PATCHED = 1,   /* window jumps to the pad, the pad jumps on */
};

struct hp_prologue {
	uint64_t entry;
	uint64_t pad;	     /* the 5 bytes right before the entry */
	uint64_t window;     /* where the 2-byte jump goes */
	unsigned window_len; /* bytes of the no-op instruction(s) covering it */
	uint64_t body;	     /* window + window_len: the original body */
	bool endbr;
	const char *layout; /* "gcc", "clang", "ms_hook_prologue", "nop" */
	int state;
	uint64_t dest; /* PATCHED: where the pad jumps */
	uint8_t pad_bytes[HP_PAD_LEN];
	uint8_t win_bytes[HP_WIN_LEN];
};

/*
 * Analyses the prologue at `entry`, given bytes [buf_addr, buf_addr + len)
 * that cover at least HP_PRO_BEFORE bytes before and HP_PRO_AFTER after.
 * Returns 0, or -HP_ENOTPATCHABLE with the reason (bytes, disassembled) in
 * the error message.
 */
int hp_prologue_analyze(const uint8_t *buf, size_t len, uint64_t buf_addr, uint64_t entry,
			struct hp_prologue *ret);

/* Disassembles up to `max` instructions as "f3 0f 1e fa (endbr64); ...". */
void hp_disasm(const uint8_t *buf, size_t len, uint64_t addr, int max, char *out, size_t outsz);

/* Jump encodings; rel32 returns -ERANGE when `to` is out of reach. */
int hp_jmp_rel32(uint8_t out[5], uint64_t at, uint64_t to);
int hp_jmp_rel8(uint8_t out[2], uint64_t at, uint64_t to);
void hp_jmp_abs(uint8_t out[HP_SLOT_LEN], uint64_t to);
/* Where a rel32 jmp at `at` goes, if the bytes are one. */
bool hp_decode_jmp(const uint8_t *b, size_t len, uint64_t at, uint64_t *ret);
