/* An IFUNC whose resolver changes (it picks a new implementation): the
 * resolver ran once, when the target was relocated. */
#include "driver.h"

NOINLINE static long mix_plain(long x)
{
	__asm__ volatile("" ::: "memory");
	return x ^ 0x55;
}

static long (*resolve_mix(void))(long)
{
	return mix_plain;
}

long mix(long x) __attribute__((ifunc("resolve_mix")));

long use_mix(long x)
{
	return mix(x) + 1;
}

const struct case_fn case_fns[] = {
	{"mix", mix}, {"use_mix", use_mix}, {0, 0},
};
