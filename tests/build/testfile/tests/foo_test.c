/* not part of the target: the project's unit test */
#include <assert.h>

long check_len(long x);

int main(void)
{
	assert(check_len(3) == 3);
	return 0;
}
