/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Text that hotpatch did not write (a target's comm, paths, symbol names,
 * messages that quote them) made safe to show: on a terminal, in a log
 * line, in JSON.  No byte of it can move the cursor, start a new line or
 * reorder what follows.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hp_buf;

/*
 * Decodes the UTF-8 sequence at s (len > 0 bytes): returns its length and
 * sets *cp, or returns -n when the first n bytes form no character (bad
 * lead byte, truncated sequence, overlong form, surrogate, > U+10FFFF).  n is
 * the maximal ill-formed subpart of Unicode 3.9, so replacing each with one
 * U+FFFD matches what other decoders do.
 */
int hp_utf8_next(const uint8_t *s, size_t len, uint32_t *cp);

/* Characters that move or hide text on a terminal: C0 controls, DEL, C1
 * controls, and the bidi and line-separator controls that reorder or
 * break a line without looking like it. */
bool hp_unsafe_char(uint32_t cp);

#define HP_ESC_QUOTED 1u /* also escape '"', for key="value" */

/*
 * Appends s[0..len) to b as visible text: a backslash as \\, \n \t \r, ESC
 * as \e, other control bytes and DEL as \xNN, each byte of invalid UTF-8 as
 * \xNN, C1 and bidi controls as \u{NNNN}.  Printable UTF-8 passes unchanged.
 * The escaping can be undone: nothing else in the output starts with '\'.
 */
void hp_escape_buf(struct hp_buf *b, const char *s, size_t len, unsigned flags);
