/* A library's function and its static state: the patch is for the
 * library, the process is the program that loaded it. */
static long calls;

static long twice(long x)
{
	return 2 * x;
}

long compute(long x)
{
	calls++;
	return twice(x) + 1;
}

long ncalls(long x)
{
	(void)x;
	return calls;
}
