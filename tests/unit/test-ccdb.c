/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* compile_commands.json as CMake, meson and bear write it, and the
 * commands `hotpatch build` makes of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ccdb.h"
#include "tests.h"
#include "util.h"

static char *write_db(const char *text)
{
	static char path[] = "/tmp/hp-test-ccdb.XXXXXX";
	char *p = strdup(path);
	int fd = mkstemp(p);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
	return p;
}

TEST(arguments_and_command_forms)
{
	char *p = write_db(
		"[{\"directory\": \"/src/proj/build\", \"file\": \"../src/util.c\",\n"
		"  \"arguments\": [\"gcc\", \"-O2\", \"-MD\", \"-MF\", \"util.d\", \"-c\", \"-o\", "
		"\"util.o\", \"../src/util.c\"]},\n"
		" {\"directory\": \"/src/proj\", \"file\": \"/src/proj/a b.c\",\n"
		"  \"command\": \"cc -DNAME=\\\"x y\\\" -I 'inc dir' -c 'a b.c' -o a.o\"}]");
	struct hp_ccdb db = {0};
	const struct hp_ccmd *c;
	char **v;

	ASSERT_EQ(hp_ccdb_load(p, &db), 0);
	unlink(p);
	free(p);
	ASSERT_EQ(db.ncmds, 2u);
	c = hp_ccdb_find(&db, "/src/proj/src/util.c");
	ASSERT_TRUE(c != NULL);
	ASSERT_STREQ(c->argv[c->src_arg], "../src/util.c");
	struct hp_recompile rc = {.source = "/tmp/x/util.c", .output = "/tmp/x/u.o"};

	v = hp_ccmd_argv(c, &rc);
	/* the dependency options and the old output go; the source is replaced */
	ASSERT_STREQ(v[0], "gcc");
	ASSERT_STREQ(v[1], "-O2");
	ASSERT_STREQ(v[2], "-c");
	ASSERT_STREQ(v[3], "/tmp/x/util.c");
	ASSERT_STREQ(v[4], "-o");
	ASSERT_STREQ(v[5], "/tmp/x/u.o");
	ASSERT_TRUE(v[6] == NULL);
	hp_ccmd_argv_free(v);
	c = hp_ccdb_find(&db, "/src/proj/a b.c");
	ASSERT_TRUE(c != NULL);
	ASSERT_STREQ(c->argv[1], "-DNAME=x y"); /* the shell took the quotes */
	ASSERT_STREQ(c->argv[3], "inc dir");
	size_t n = 0;

	v = hp_ccmd_parse_args(c, &n);
	ASSERT_EQ(n, 3u); /* -DNAME=.., -I, inc dir: no compiler, -c, source, -o */
	hp_ccmd_argv_free(v);
	hp_ccdb_free(&db);
}

TEST(not_a_database)
{
	char *p = write_db("{\"directory\": 1}");
	struct hp_ccdb db = {0};

	ASSERT_TRUE(hp_ccdb_load(p, &db) < 0);
	ASSERT_CONTAINS(hp_err.msg, "not a compilation database");
	unlink(p);
	free(p);
	ASSERT_TRUE(hp_ccdb_load("/nonexistent/compile_commands.json", &db) < 0);
	ASSERT_CONTAINS(hp_err.msg, "bear -- make");
}

TEST(jobs_report_the_failure)
{
	char *ok[] = {"true", NULL}, *bad[] = {"sh", "-c", "echo oops >&2; exit 3", NULL};
	struct hp_job j[2] = {{.dir = "/", .argv = ok, .what = "first"},
			      {.dir = "/", .argv = bad, .what = "second"}};

	ASSERT_EQ(hp_run_jobs(j, 2, 2), -HP_ESOURCE);
	ASSERT_CONTAINS(hp_err.msg, "second failed (exit 3)");
	ASSERT_CONTAINS(hp_err.msg, "oops");
	hp_jobs_free(j, 2);
}

TEST(only_compilers_run)
{
	static const struct {
		const char *command;
		bool ok;
	} cases[] = {
		{"gcc -c a.c", true},	     {"/usr/bin/cc -c a.c", true},
		{"clang-14 -c a.c", true},   {"x86_64-linux-gnu-gcc-12 -c a.c", true},
		{"ccache gcc -c a.c", true}, {"sh -c 'rm -rf ~' a.c", false},
		{"ccache sh a.c", false},    {"gccx -c a.c", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		struct hp_ccdb db = {0};
		char *p;

		snprintf(text, sizeof(text),
			 "[{\"directory\": \"/src\", \"file\": \"a.c\", \"command\": \"%s\"}]",
			 cases[i].command);
		p = write_db(text);
		ASSERT_EQ(hp_ccdb_load(p, &db), 0);
		unlink(p);
		free(p);
		if (cases[i].ok) {
			ASSERT_EQ(hp_ccmd_check_compiler(&db.cmds[0]), 0);
		} else {
			ASSERT_EQ(hp_ccmd_check_compiler(&db.cmds[0]), -HP_ESOURCE);
			ASSERT_CONTAINS(hp_err.msg, "not a C compiler");
		}
		hp_ccdb_free(&db);
	}
}

TEST_MAIN()
