/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "record.h"

#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "remote.h"
#include "session.h"
#include "util.h"

void hp_record_mark_pending(struct hp_session *s, bool pending)
{
	struct hp_ctl_hdr hdr;

	if (hp_ctl_read(&s->rc, &hdr) == 0) {
		hdr.pending_load = pending;
		hp_ctl_write(&s->rc, &hdr);
	}
}

bool hp_record_pending(struct hp_session *s)
{
	struct hp_ctl_hdr hdr;

	return s->rc.ctl && hp_ctl_read(&s->rc, &hdr) == 0 && hdr.pending_load;
}

static int take_patch_id(struct hp_session *s, uint32_t *ret)
{
	struct hp_ctl_hdr hdr;
	uint32_t id;
	int r;

	r = hp_ctl_read(&s->rc, &hdr);
	if (r < 0)
		return r;
	id = (uint32_t)(hdr.next_patch_id ? hdr.next_patch_id : 1);
	hdr.next_patch_id = id + 1;
	r = hp_ctl_write(&s->rc, &hdr);
	if (r < 0)
		return r;
	*ret = id;
	return 0;
}

int hp_record_add(struct hp_session *s, struct hp_reg_patch *rp)
{
	struct hp_reg_patch *np = realloc(s->reg.p, (s->reg.n + 1) * sizeof(*np));
	int r;

	if (!np)
		return hp_fail(-ENOMEM, "out of memory");
	s->reg.p = np;
	r = take_patch_id(s, &rp->id);
	if (r < 0)
		return r;
	s->reg.p[s->reg.n++] = *rp;
	r = hp_registry_write(&s->rc, &s->reg);
	if (r < 0) {
		s->reg.n--; /* rp keeps what it owns */
		return r;
	}
	memset(rp, 0, sizeof(*rp)); /* the registry owns it now */
	/* the record knows everything the load made */
	hp_record_mark_pending(s, false);
	return 0;
}

struct hp_reg_patch *hp_record_find(struct hp_session *s, uint32_t id)
{
	for (size_t i = 0; i < s->reg.n; i++)
		if (s->reg.p[i].id == id)
			return &s->reg.p[i];
	return NULL;
}

int hp_record_mark_applied(struct hp_session *s, struct hp_reg_patch *p)
{
	p->state = HP_REG_APPLIED;
	p->applied_ns = hp_wall_ns();
	return hp_registry_write(&s->rc, &s->reg);
}

int hp_record_remove(struct hp_session *s, uint32_t id)
{
	for (size_t i = 0; i < s->reg.n; i++)
		if (s->reg.p[i].id == id) {
			hp_reg_patch_free(&s->reg.p[i]);
			memmove(&s->reg.p[i], &s->reg.p[i + 1],
				(s->reg.n - i - 1) * sizeof(*s->reg.p));
			s->reg.n--;
			return hp_registry_write(&s->rc, &s->reg);
		}
	return 0;
}
