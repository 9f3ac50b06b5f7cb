/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "stackcheck.h"

#include <libunwind-ptrace.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct hp_unwinder {
	unw_addr_space_t as;
};

int hp_unwinder_new(struct hp_unwinder **ret)
{
	struct hp_unwinder *u = calloc(1, sizeof(*u));

	if (!u)
		return hp_fail(-ENOMEM, "out of memory");
	u->as = unw_create_addr_space(&_UPT_accessors, 0);
	if (!u->as) {
		free(u);
		return hp_fail(-ENOMEM, "libunwind: cannot create an address space");
	}
	/* every thread of the target shares its unwind tables */
	unw_set_caching_policy(u->as, UNW_CACHE_GLOBAL);
	*ret = u;
	return 0;
}

void hp_unwinder_free(struct hp_unwinder *u)
{
	if (!u)
		return;
	unw_destroy_addr_space(u->as);
	free(u);
}

int hp_stack_walk(struct hp_unwinder *u, pid_t tid, struct hp_stack *st)
{
	unw_cursor_t c;
	void *upt;
	int r;

	memset(st, 0, sizeof(*st));
	upt = _UPT_create(tid);
	if (!upt)
		return hp_fail(-ENOMEM, "libunwind: cannot walk thread %d", tid);
	r = unw_init_remote(&c, u->as, upt);
	if (r < 0) {
		_UPT_destroy(upt);
		return hp_fail(-EIO, "libunwind: cannot start walking thread %d (error %d)", tid,
			       r);
	}
	for (;;) {
		unw_word_t ip = 0;

		if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || st->n >= HP_MAX_FRAMES)
			break;
		st->ip[st->n++] = ip;
		r = unw_step(&c);
		if (r == 0) {
			st->complete = true;
			break;
		}
		if (r < 0)
			break;
	}
	_UPT_destroy(upt);
	return 0;
}
