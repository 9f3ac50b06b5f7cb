/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A test target: worker threads call compute() non-stop and count every
 * answer that is neither the original nor a patched one.  Commands on
 * stdin, answers on stdout, one line each:
 *   call NAME X    -> the result of function NAME(X)
 *   stats          -> "calls N wrong W"
 *   quit
 * It prints "ready PID" once its threads run.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))

int lib_step(int x); /* in libworklib.so */

static long counter; /* a variable the target does not export */
static atomic_long calls, wrong;
static atomic_int stop;

/* Patches return x + k * 1000 for a k of their own: any other answer means a
 * thread ran a half-written function. */
NOINLINE int compute(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1000;
}

NOINLINE static int secret(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3;
}

NOINLINE int use_secret(int x)
{
	return secret(x) + (int)counter;
}

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((ms_hook_prologue)) NOINLINE int ms_func(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 7;
}
#else
NOINLINE int ms_func(int x)
{
	return x + 7;
}
#endif

/* built without the prologue on purpose */
__attribute__((patchable_function_entry(0, 0))) NOINLINE int unpatchable(int x)
{
	__asm__ volatile("" ::: "memory");
	return x - 1;
}

NOINLINE long get_counter(int x)
{
	(void)x;
	return counter;
}

NOINLINE long set_counter(int x)
{
	counter = x;
	return counter;
}

/*
 * A function whose thread never leaves the hot-patch window: after the first
 * nop it loops on the second one, so it sits at entry+1, where the 2-byte
 * jump would split an instruction, half of the time.  Laid out as GCC does:
 * 5 spare nops, then nop; nop.
 */
__asm__(".text\n"
	".globl window_spin\n"
	".type window_spin, @function\n"
	".byte 0x90, 0x90, 0x90, 0x90, 0x90\n"
	"window_spin:\n"
	"	nop\n"
	"1:	nop\n"
	"	jmp 1b\n"
	".size window_spin, . - window_spin\n");
void window_spin(void);

static void *spin_in_window(void *arg)
{
	(void)arg;
	window_spin();
	return NULL;
}

static void *worker(void *arg)
{
	int base = (int)(long)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int i = 0; i < 1000; i++) {
			int x = base + i, r = compute(x), d = r - x;

			if (d < 1000 || d > 9000 || d % 1000)
				atomic_fetch_add(&wrong, 1);
		}
		atomic_fetch_add(&calls, 1000);
	}
	return NULL;
}

static const struct {
	const char *name;
	long (*fn)(int);
} table[] = {
	{"compute", (long (*)(int))compute},   {"use_secret", (long (*)(int))use_secret},
	{"ms_func", (long (*)(int))ms_func},   {"unpatchable", (long (*)(int))unpatchable},
	{"lib_step", (long (*)(int))lib_step}, {"get_counter", get_counter},
	{"set_counter", set_counter},
};

int main(int argc, char **argv)
{
	int nthreads = argc > 1 ? atoi(argv[1]) : 8;
	pthread_t *th = calloc((size_t)nthreads, sizeof(*th));
	char line[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(long)(i * 100000));
	printf("ready %d\n", getpid());
	while (fgets(line, sizeof(line), stdin)) {
		char name[64];
		int x;

		if (sscanf(line, "call %63s %d", name, &x) == 2) {
			long r = -1;
			int found = 0;

			for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
				if (!strcmp(table[i].name, name)) {
					r = table[i].fn(x);
					found = 1;
				}
			if (found)
				printf("%ld\n", r);
			else
				printf("no such function %s\n", name);
		} else if (!strncmp(line, "spinwindow", 10)) {
			pthread_t t;

			pthread_create(&t, NULL, spin_in_window, NULL);
			printf("spinning\n");
		} else if (!strncmp(line, "stats", 5)) {
			printf("calls %ld wrong %ld\n", atomic_load(&calls), atomic_load(&wrong));
		} else if (!strncmp(line, "quit", 4)) {
			break;
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	printf("bye calls %ld wrong %ld\n", atomic_load(&calls), atomic_load(&wrong));
	return atomic_load(&wrong) ? 3 : 0;
}
