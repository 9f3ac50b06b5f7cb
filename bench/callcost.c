/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a call costs: through the unpatched prologue (built with and
 * without one), and through the patched path (short jump, pad jump, and a
 * trampoline slot), against a direct call of the replacement.  It patches
 * its own text the way hotpatch would.  Prints "case ns_per_call".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define N 200000000L

__attribute__((noinline)) int target_fn(int x)
{
	return x + 1;
}

__attribute__((noinline, patchable_function_entry(0, 0))) int replacement(int x)
{
	return x + 1;
}

static double per_call(int (*volatile fn)(int))
{
	struct timespec a, b;
	int v = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < N; i++)
		v = fn(v);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (v != (int)N)
		abort();
	return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / N;
}

static void writable(void *p)
{
	uintptr_t page = (uintptr_t)p & ~4095UL;

	mprotect((void *)page, 8192, PROT_READ | PROT_WRITE | PROT_EXEC);
}

static void jmp32(uint8_t *at, const void *to)
{
	int32_t rel = (int32_t)((const uint8_t *)to - (at + 5));

	at[0] = 0xe9;
	memcpy(at + 1, &rel, 4);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "plain";
	uint8_t *entry = (uint8_t *)(uintptr_t)target_fn;

	__asm__("" : "+r"(entry)); /* an address, not an object the compiler knows */

	if (!strcmp(mode, "direct")) {
		printf("direct %.3f\n", per_call(replacement));
		return 0;
	}
	if (!strcmp(mode, "pad") || !strcmp(mode, "trampoline")) {
		/* the flip hotpatch does: pad first, then the 2-byte window */
		uint8_t *pad = entry - 5;

		writable(pad);
		if (!strcmp(mode, "pad")) {
			jmp32(pad, replacement);
		} else {
			/* a slot far away: jmp *0(%rip); .quad replacement */
			uint8_t *slot =
				mmap((void *)(((uintptr_t)entry - (64 << 20)) & ~4095UL), 4096,
				     PROT_READ | PROT_WRITE | PROT_EXEC,
				     MAP_PRIVATE | MAP_ANONYMOUS | 0x100000 /* FIXED_NOREPLACE */,
				     -1, 0);
			void *to = (void *)replacement;

			memcpy(slot, "\xff\x25\x00\x00\x00\x00", 6);
			memcpy(slot + 6, &to, 8);
			jmp32(pad, slot);
		}
		entry[0] = 0xeb;
		entry[1] = 0xf9;
	}
	printf("%s %.3f\n", mode, per_call(target_fn));
	return 0;
}
