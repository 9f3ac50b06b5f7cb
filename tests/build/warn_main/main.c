/* The diff changes main(), which runs once: the change takes effect only
 * in a new process (warned, built), and a function that can be checked. */
#include <stdlib.h>

#include "driver.h"

static long mode;

long get_mode(long x)
{
	return x + mode;
}

int main(int argc, char **argv)
{
	mode = getenv("CASE_MODE") ? 1 : 10;
	return driver_main(argc, argv);
}

long greet(long x)
{
	return x + 1;
}

const struct case_fn case_fns[] = {
	{"get_mode", get_mode}, {"greet", greet}, {0, 0},
};
