/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The shared driver of hotpatch build's synthetic targets (tests/build):
 * each case lists the functions the test may call, by name.
 */
#pragma once

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

struct case_fn {
	const char *name;
	long (*fn)(long);
};

/* defined by the case, ended by {0} */
extern const struct case_fn case_fns[];

/* run before "ready" when the case defines it (weak: no definition is
 * needed, and none is duplicated) */
extern void case_init(void) __attribute__((weak));

/* the command loop; main() calls it unless the case has a main of its own */
int driver_main(int argc, char **argv);
