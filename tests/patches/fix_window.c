/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replaces window_spin, whose thread loops inside the window. */
#include <hotpatch.h>

static void window_spin_replacement(void)
{
	for (;;)
		__asm__ volatile("pause");
}
HOTPATCH_REPLACE(window_spin, window_spin_replacement);
