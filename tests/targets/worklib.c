/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A shared library of the test target, built with the prologue. */
__attribute__((noinline)) int lib_step(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 10;
}

/* A thread-local variable of the library, and a function that a patch
 * replaces to read it through HOTPATCH_TLS_IN. */
__thread long lib_tls;

__attribute__((noinline)) long lib_tls_probe(int x)
{
	__asm__ volatile("" ::: "memory");
	(void)x;
	return 0;
}

void lib_tls_set(long v)
{
	lib_tls = v;
}

long lib_tls_get(void)
{
	return lib_tls;
}
