/* A global whose parameter widens; main.c calls it and is not changed. */
#include "driver.h"
#include "scale.h"

NOINLINE long scale(int x)
{
	__asm__ volatile("" ::: "memory");
	return (long)x * 4;
}
