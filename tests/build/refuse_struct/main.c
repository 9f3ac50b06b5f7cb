/* A member added to a struct the target's data already uses: objects in
 * memory have the old layout. */
#include "driver.h"
#include "item.h"

static struct item items[4] = {{1, 10}, {2, 20}, {3, 30}, {4, 40}};

long price_of(long i)
{
	return items[i & 3].price;
}

const struct case_fn case_fns[] = {
	{"price_of", price_of}, {0, 0},
};
