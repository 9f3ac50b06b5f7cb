/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "batch.h"

#include <string.h>

void hp_batch_init(struct hp_batch *b, struct hp_remote *rc, uint64_t deadline, const char *what)
{
	memset(b, 0, sizeof(*b));
	b->rc = rc;
	b->deadline = deadline;
	b->what = what;
}

int hp_batch_flush(struct hp_batch *b)
{
	uint64_t ret[HP_CALL_MAX_OPS];
	int r;

	if (!b->n)
		return 0;
	r = hp_remote_call(b->rc, b->ops, b->n, NULL, 0, ret, b->deadline, b->what);
	b->n = 0;
	memset(b->ops, 0, sizeof(b->ops));
	return r;
}

int hp_batch_add(struct hp_batch *b, const struct hp_rop *op)
{
	b->ops[b->n++] = *op;
	return b->n == HP_CALL_MAX_OPS ? hp_batch_flush(b) : 0;
}
