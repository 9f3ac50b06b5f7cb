/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel's floor for a flip: seize every thread, interrupt, wait,
 * resume and detach, with nothing done in between, through the same code
 * and at the same priority as hotpatch's flip.  Prints the pause and the
 * time until the last thread stopped, in us.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flip.h"
#include "target.h"
#include "util.h"

int main(int argc, char **argv)
{
	struct hp_target t;
	struct hp_flip_stats st = {0};
	int r;

	if (argc != 2)
		return 2;
	/* Warm up on a throwaway child: hotpatch is warm when it flips (its
	 * code and data paged in by the work before), so the floor must be. */
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	if (child > 0 && hp_target_open(&t, child) == 0)
		hp_flip(&t, NULL, 0, NULL, 0, NULL, NULL, hp_now_ns() + 10000000000ull, &st);
	hp_target_close(&t);
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	memset(&st, 0, sizeof(st));
	r = hp_target_open(&t, atoi(argv[1]));
	if (r == 0)
		r = hp_flip(&t, NULL, 0, NULL, 0, NULL, NULL, hp_now_ns() + 10000000000ull, &st);
	hp_target_close(&t);
	if (r < 0) {
		fprintf(stderr, "floor: %s\n", hp_err.msg);
		return 1;
	}
	printf("%.1f %.1f\n", (double)st.pause_ns / 1000.0, (double)st.stop_ns / 1000.0);
	return 0;
}
