/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A shared library of the test target, built with the prologue. */
__attribute__((noinline)) int lib_step(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 10;
}
