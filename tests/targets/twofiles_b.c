/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The second file of the twofiles target (see twofiles_a.c): a static
 * `counter` and a static `bump` of the same names as the first file's. */
#define NOINLINE __attribute__((noinline, noclone))

extern long total;

static int counter;

NOINLINE static int bump(int x)
{
	__asm__ volatile("" ::: "memory");
	counter += 100 * x;
	total += 100 * x;
	return counter;
}

NOINLINE int b_bump(int x)
{
	return bump(x);
}

NOINLINE int b_counter(int x)
{
	(void)x;
	return counter;
}
