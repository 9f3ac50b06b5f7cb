#include "cap.h"

long capped_plus(long x)
{
	return cap(x) + 7;
}
