/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A test target of two files that each have a static `counter` and a
 * static `bump` of their own (this one and twofiles_b.c), and one global
 * `total`, none exported: only qualified names tell the statics apart.
 * bump() here adds x to this file's counter; twofiles_b.c's adds 100 * x
 * to its own.  Both add to total.  Commands on stdin, one line each:
 *   call NAME X -> the result of NAME(X), NAME one of compute, a_bump,
 *                  b_bump, a_counter, b_counter, total
 *   quit
 * It prints "ready PID" first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))

int b_bump(int x); /* in twofiles_b.c */
int b_counter(int x);

static int counter;
long total;

NOINLINE static int bump(int x)
{
	__asm__ volatile("" ::: "memory");
	counter += x;
	total += x;
	return counter;
}

NOINLINE int a_bump(int x)
{
	return bump(x);
}

NOINLINE int a_counter(int x)
{
	(void)x;
	return counter;
}

NOINLINE int total_now(int x)
{
	(void)x;
	return (int)total;
}

/* the function the patch replaces */
NOINLINE int compute(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1000;
}

static const struct {
	const char *name;
	int (*fn)(int);
} calls[] = {
	{"compute", compute},	  {"a_bump", a_bump},	    {"b_bump", b_bump},
	{"a_counter", a_counter}, {"b_counter", b_counter}, {"total", total_now},
};

static void answer(const char *name, int x)
{
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		if (!strcmp(calls[i].name, name)) {
			printf("%d\n", calls[i].fn(x));
			return;
		}
	printf("unknown %s\n", name);
}

int main(void)
{
	char line[256], name[64];
	int x;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "quit", 4))
			break;
		if (sscanf(line, "call %63s %d", name, &x) == 2)
			answer(name, x);
		else
			printf("bad command\n");
	}
	return 0;
}
