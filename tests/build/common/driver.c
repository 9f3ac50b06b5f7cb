/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The command loop of hotpatch build's synthetic targets.  Commands on
 * stdin, answers on stdout, one line each:
 *   call NAME X  -> the result of the case's function NAME(X)
 *   stats        -> "calls 0 wrong 0" (as tests/targets/worker.c says it)
 *   quit
 * It prints "ready PID" first.  A case may define case_init(), run before
 * that, to start threads of its own; a case with a main of its own
 * (warn_main) is compiled with -DCASE_OWN_MAIN and calls driver_main().
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"

int driver_main(int argc, char **argv)
{
	char line[256];

	(void)argc;
	(void)argv;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (case_init)
		case_init();
	printf("ready %d\n", getpid());
	while (fgets(line, sizeof(line), stdin)) {
		char name[64];
		long x;
		const struct case_fn *f;

		if (sscanf(line, "call %63s %ld", name, &x) == 2) {
			for (f = case_fns; f->name; f++)
				if (!strcmp(f->name, name))
					break;
			if (f->name)
				printf("%ld\n", f->fn(x));
			else
				printf("no such function %s\n", name);
		} else if (!strncmp(line, "stats", 5)) {
			printf("calls 0 wrong 0\n");
		} else if (!strncmp(line, "quit", 4)) {
			break;
		}
	}
	return 0;
}

#ifndef CASE_OWN_MAIN
int main(int argc, char **argv)
{
	return driver_main(argc, argv);
}
#endif
