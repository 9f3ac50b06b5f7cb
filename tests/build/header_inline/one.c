#include "cap.h"

long capped_twice(long x)
{
	return cap(x) * 2;
}
