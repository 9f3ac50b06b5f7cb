/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Replaces compute() of the twofiles target with a body that uses the
 * target's statics by name through HOTPATCH_BIND: twofiles_b.c's counter
 * (a GOT slot), twofiles_a.c's bump() (a PLT slot), and the global total.
 * test_bind builds it again with each qualifier's addr= from the target's
 * symbol table (-DB_COUNTER=..., -DA_BUMP=...); -DUNQUALIFIED names the
 * statics without qualifiers.
 */
#include <hotpatch.h>

#ifdef UNQUALIFIED
#define B_COUNTER "counter"
#define A_BUMP	  "bump"
#endif
#ifndef B_COUNTER
#define B_COUNTER "counter;file=twofiles_b.c"
#endif
#ifndef A_BUMP
#define A_BUMP "bump;file=twofiles_a.c"
#endif

/* local names of their own, as hotpatch build makes them */
extern int b_counter_ref __asm__("__hp_b1") __attribute__((weak));
extern int a_bump_ref(int) __asm__("__hp_b2") __attribute__((weak));
extern long total __attribute__((weak));

static int compute_fixed(int x)
{
	b_counter_ref += 1;
	a_bump_ref(x);
	return 2000 + (int)total;
}
HOTPATCH_REPLACE(compute, compute_fixed);
HOTPATCH_BIND_NAMED("", B_COUNTER, "__hp_b1");
HOTPATCH_BIND_NAMED("", A_BUMP, "__hp_b2");
HOTPATCH_BIND(total, total);
