/* A header's static inline function, inlined into every unit that uses it:
 * a change to the header changes each of them. */
#pragma once

static inline long cap(long x)
{
	return x > 100 ? 100 : x;
}
