/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GCC's -fipa-ra at work: ipa_leaf clobbers %eax only, and ipa_caller, in
 * the same translation unit, may keep values in other caller-saved
 * registers across its calls (tests/unit/test-classify.c). */
__attribute__((noinline)) static int ipa_leaf(int x)
{
	return x * 3 + 1;
}

int ipa_caller(int a, int b, int c, int d)
{
	int s = 0;

	for (int i = 0; i < a; i++)
		s += ipa_leaf(i + b) ^ (c + d * i);
	return s + b * c + d;
}
