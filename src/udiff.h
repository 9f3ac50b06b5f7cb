/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A unified diff as git, quilt and diff -u write it: which files it
 * changes, and each file's new text, applied exactly (a hunk may have moved,
 * as patch(1) allows, but its context must match: no fuzz). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct hp_hunk {
	long old_start, old_len; /* as the @@ header says (1-based) */
	long new_start, new_len;
	char **lines; /* each with its ' ', '-' or '+' prefix, no newline */
	size_t nlines;
	bool new_noeol; /* "\ No newline at end of file" after its last new line */
	/* Set by hp_diff_apply: the 1-based line of the old text the hunk
	 * matched at, and the lines of the output text (physical lines, #line
	 * directives counted) from the hunk's first to its last line. */
	long applied_old;
	long out_first, out_last;
};

struct hp_file_diff {
	char *old_path; /* as written, prefix kept; NULL for /dev/null */
	char *new_path;
	char *path; /* the file it changes, relative to the tree (after -p) */
	bool creates, deletes;
	struct hp_hunk *hunks;
	size_t nhunks;
};

struct hp_diff {
	struct hp_file_diff *files;
	size_t nfiles;
	int strip; /* the -p level hp_diff_locate chose */
};

/* Parses a unified diff (the text before the first "diff --git" or "---"
 * line, a mail header or a description, is skipped); `name` is what
 * messages call it. */
int hp_diff_parse(const char *text, size_t len, const char *name, struct hp_diff *ret);
/* Chooses the -p level (0..3): the smallest with which every file the
 * diff changes (files it creates aside) exists under `root`; sets each
 * file's `path`. */
int hp_diff_locate(struct hp_diff *d, const char *root);
/*
 * Applies `f` to `old` (the file's text, `oldlen` bytes) and returns the
 * new text in *ret (malloc'd, NUL-terminated, length in *retlen).  With
 * `line_marks`, a directive `#line N "spelling"` follows each hunk, at the
 * first line boundary after it that is not inside a comment, a string or a
 * backslash-continued line, N being the line of the old text that comes
 * next: every line below keeps its old number, so __LINE__ and assert()
 * below a hunk do not change.  Fills the hunks' applied_old, out_first and
 * out_last.  Fails naming the hunk whose context does not match.
 */
int hp_diff_apply(struct hp_file_diff *f, const char *old, size_t oldlen, const char *spelling,
		  bool line_marks, char **ret, size_t *retlen);
void hp_diff_free(struct hp_diff *d);
