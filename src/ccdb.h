/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* compile_commands.json (CMake, meson, bear): how each file of a tree was
 * compiled, and that command run again with changes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct hp_ccmd {
	char *directory; /* absolute */
	char *file;	 /* absolute, normalised */
	char **argv;	 /* NULL-terminated; argv[0] the compiler */
	size_t argc;
	size_t src_arg; /* index of the argument naming the source file */
	bool known_cc;	/* argv[0] is a C compiler hotpatch build knows */
};

struct hp_ccdb {
	char *path;
	struct hp_ccmd *cmds;
	size_t ncmds;
};

int hp_ccdb_load(const char *path, struct hp_ccdb *ret);
void hp_ccdb_free(struct hp_ccdb *db);
/* The command compiling `file` (absolute); NULL when none.  Several
 * commands for one file (a file built twice): the last one. */
const struct hp_ccmd *hp_ccdb_find(const struct hp_ccdb *db, const char *file);

/* 0 when `c` runs a C compiler hotpatch build knows (gcc, clang, cc, a
 * cross or versioned name of them, behind ccache); otherwise an error
 * saying that it will not run it: the database is the tree's, and a
 * command in it could be anything. */
int hp_ccmd_check_compiler(const struct hp_ccmd *c);

/* What a recompile changes in a command. */
struct hp_recompile {
	const char *source; /* the file to compile instead (NULL: the same) */
	const char *output; /* -o */
	char *const *pre;   /* arguments put first, after the compiler */
	size_t npre;
	char *const *post; /* arguments put last */
	size_t npost;
};

/* The command's arguments changed as `rc` says, with what would write
 * outside `output` (-MD, -MF FILE and the other dependency options)
 * dropped; NULL-terminated, malloc'd (free with hp_ccmd_argv_free). */
char **hp_ccmd_argv(const struct hp_ccmd *c, const struct hp_recompile *rc);
/* The arguments a parser needs (no compiler, source, -c, -o FILE). */
char **hp_ccmd_parse_args(const struct hp_ccmd *c, size_t *ret_n);
void hp_ccmd_argv_free(char **argv);
/* One command to run: its directory, arguments and what messages call it;
 * its exit status and standard error (up to 16 KiB) come back. */
struct hp_job {
	const char *dir;
	char *const *argv;
	const char *what; /* "compiling src/util.c (patched)" */
	int status;	  /* as waitpid gives it */
	char *err;	  /* malloc'd */
};

/* Runs the jobs, up to `parallel` at once; 0 when all exit 0, else
 * -HP_ESOURCE naming the first that failed with its messages. */
int hp_run_jobs(struct hp_job *jobs, size_t n, unsigned parallel);
void hp_jobs_free(struct hp_job *jobs, size_t n);
