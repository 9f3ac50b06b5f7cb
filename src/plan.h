/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan of a flip, as a value: every write, in both directions, and the
 * ranges no thread may be stopped in.  Pure: built from bytes and
 * addresses, no process involved, so that it is unit-tested on buffers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "writes.h"
#include "prologue.h"

/* What a function's pad and window hold, against one record of it. */
enum hp_func_state {
	HP_FUNC_ORIGINAL, /* the bytes before the record's patch */
	HP_FUNC_OURS,	  /* the bytes the record's patch wrote */
	HP_FUNC_HALF,	  /* pad and window each one or the other, not the same one */
	HP_FUNC_FOREIGN,  /* anything else: someone else wrote there */
};

/* One classifier for apply, rollback, recovery and status.  When the
 * record's old and new bytes agree on a part (a stacked patch leaves the
 * window as it found it), "ours" wins. */
enum hp_func_state hp_func_state(const uint8_t old_pad[HP_PAD_LEN],
				 const uint8_t old_win[HP_WIN_LEN],
				 const uint8_t new_pad[HP_PAD_LEN],
				 const uint8_t new_win[HP_WIN_LEN], const uint8_t pad[HP_PAD_LEN],
				 const uint8_t win[HP_WIN_LEN]);

enum hp_plan_dir {
	HP_PLAN_FORWARD, /* apply: pad first, then window */
	HP_PLAN_REVERSE, /* rollback: window first, then pad */
};

/* One function to flip: the bytes there now and the bytes wanted. */
struct hp_plan_func {
	const char *symbol;
	uint64_t pad, window;
	uint8_t window_len;
	bool pad_live;	/* forward: a jump reaches the pad already (stacking) */
	uint8_t method; /* enum hp_method: RELOCATE's pad is the entry itself */
	uint8_t pad_now[HP_PAD_LEN], win_now[HP_WIN_LEN];
	uint8_t pad_want[HP_PAD_LEN], win_want[HP_WIN_LEN];
};

/* A write made while the target runs, before the stop. */
struct hp_plan_pre {
	struct hp_write w;
	size_t func; /* index into the plan's functions */
	bool touch;  /* the same bytes back: makes the page private, changes nothing */
};

struct hp_plan {
	struct hp_plan_pre *pre; /* forward only: pads no jump reaches yet, window touches */
	size_t npre;
	struct hp_write *w; /* in the stop, phase 0 then phase 1 */
	size_t nw;
	struct hp_range *forbid;
	size_t nforbid;
};

/*
 * Forward: a pad no jump reaches yet is written before the stop (and its
 * window touched, so that the stop never reads a file); the stop writes
 * the windows, or the live pads of stacked functions.  Reverse: the stop
 * writes each window, then each pad, that differs from what is wanted.
 * Both forbid the bytes after the first of each rewritten instruction;
 * without a prologue (found padding, relocation) saved pointers too.
 * RELOCATE has no window of its own: its 5-byte jump at the entry is
 * written in the stop, both ways.
 */
int hp_plan_build(enum hp_plan_dir dir, const struct hp_plan_func *f, size_t n,
		  struct hp_plan *ret);
/* The same stop, the other way: what puts the bytes back (pad before window). */
int hp_plan_invert(const struct hp_plan *p, struct hp_plan *ret);
void hp_plan_free(struct hp_plan *p);

/* The flip's order: writes by phase then address, ranges by start. */
void hp_plan_sort(struct hp_write *w, size_t nw, struct hp_range *f, size_t nf);
/* The range of `f` (sorted) that holds ip, or NULL. */
const struct hp_range *hp_plan_forbidden(const struct hp_range *f, size_t n, uint64_t ip);

#define HP_PLAN_PAGE 4096ull
/* Writes in the same page of the same phase go as one span: read it, put
 * every write into it, write it once, read it back once.  A span never
 * crosses a page, so one write is one copy the kernel does whole, and the
 * pad-before-window order holds between phases.  Returns the end of the
 * span that starts at write i of `w` (sorted). */
size_t hp_plan_span_end(const struct hp_write *w, size_t nw, size_t i);
