/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A leaf that clobbers %eax only, hidden so that callers in other
 * translation units of the same object call it directly, not through the
 * PLT (tests/unit/test-classify.c). */
#include "classify-x.h"

HP_X_LEAF int ipa_xleaf(int x)
{
	return x * 3 + 1;
}
