/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The direct caller of ipa_xleaf: IPA-RA lets it keep values in
 * caller-saved registers across the calls when ipa_xleaf was compiled in
 * its own translation unit before it (classify-xboth.c), and not when it
 * was not (tests/unit/test-classify.c). */
#include "classify-x.h"

int ipa_xcaller(int a, int b, int c, int d)
{
	int s = 0;

	for (int i = 0; i < a; i++)
		s += ipa_xleaf(i + b) ^ (c + d * i);
	return s + b * c + d;
}
