/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "util.h"

enum hp_func_state hp_func_state(const uint8_t old_pad[HP_PAD_LEN],
				 const uint8_t old_win[HP_WIN_LEN],
				 const uint8_t new_pad[HP_PAD_LEN],
				 const uint8_t new_win[HP_WIN_LEN], const uint8_t pad[HP_PAD_LEN],
				 const uint8_t win[HP_WIN_LEN])
{
	bool pad_new = !memcmp(pad, new_pad, HP_PAD_LEN),
	     pad_old = !memcmp(pad, old_pad, HP_PAD_LEN);
	bool win_new = !memcmp(win, new_win, HP_WIN_LEN),
	     win_old = !memcmp(win, old_win, HP_WIN_LEN);

	if (pad_new && win_new)
		return HP_FUNC_OURS;
	if (pad_old && win_old)
		return HP_FUNC_ORIGINAL;
	if ((pad_new || pad_old) && (win_new || win_old))
		return HP_FUNC_HALF;
	return HP_FUNC_FOREIGN;
}

static struct hp_write write_of(uint64_t addr, uint8_t len, uint8_t phase, const uint8_t *old,
				const uint8_t *new)
{
	struct hp_write w = {.addr = addr, .len = len, .phase = phase};

	memcpy(w.old, old, len);
	memcpy(w.new, new, len);
	return w;
}

/* The bytes after the first of the instructions the window's jump
 * displaces; a saved pointer there matters only without a prologue (a
 * prologue's no-op after the first byte is harmless to land in). */
static struct hp_range window_range(const struct hp_plan_func *f, unsigned len)
{
	return (struct hp_range){f->window + 1, f->window + len, f->symbol,
				 f->method != HP_METHOD_PROLOGUE};
}

static void plan_forward(struct hp_plan *p, const struct hp_plan_func *f, size_t i)
{
	if (f->pad_live || f->method == HP_METHOD_RELOCATE) {
		if (!f->pad_live) /* make the page private before the stop */
			p->pre[p->npre++] = (struct hp_plan_pre){write_of(f->pad, HP_PAD_LEN, 0,
									  f->pad_now, f->pad_now),
								 i, true};
		p->w[p->nw++] = write_of(f->pad, HP_PAD_LEN, 0, f->pad_now, f->pad_want);
		p->forbid[p->nforbid++] =
			(struct hp_range){f->pad + 1, f->pad + HP_PAD_LEN, f->symbol, false};
	} else {
		p->pre[p->npre++] = (struct hp_plan_pre){write_of(f->pad, HP_PAD_LEN, 0, f->pad_now,
								  f->pad_want),
							 i, false};
		p->pre[p->npre++] = (struct hp_plan_pre){write_of(f->window, HP_WIN_LEN, 0,
								  f->win_now, f->win_now),
							 i, true};
		p->w[p->nw++] = write_of(f->window, HP_WIN_LEN, 1, f->win_now, f->win_want);
	}
	p->forbid[p->nforbid++] = window_range(f, f->window_len);
}

static void plan_reverse(struct hp_plan *p, const struct hp_plan_func *f)
{
	/* a relocation's window lies inside its pad: the pad's write is all */
	if (f->method != HP_METHOD_RELOCATE && memcmp(f->win_now, f->win_want, HP_WIN_LEN))
		p->w[p->nw++] = write_of(f->window, HP_WIN_LEN, 0, f->win_now, f->win_want);
	if (memcmp(f->pad_now, f->pad_want, HP_PAD_LEN))
		p->w[p->nw++] = write_of(f->pad, HP_PAD_LEN, 1, f->pad_now, f->pad_want);
	/* no saved pc can point into displaced bytes once they jump away:
	 * threads ran the copy since */
	p->forbid[p->nforbid] = window_range(f, HP_MAX(f->window_len, HP_WIN_LEN));
	p->forbid[p->nforbid++].saved = false;
	p->forbid[p->nforbid++] =
		(struct hp_range){f->pad + 1, f->pad + HP_PAD_LEN, f->symbol, false};
}

int hp_plan_build(enum hp_plan_dir dir, const struct hp_plan_func *f, size_t n, struct hp_plan *ret)
{
	struct hp_plan p = {0};

	p.pre = calloc(2 * n + 1, sizeof(*p.pre));
	p.w = calloc(2 * n + 1, sizeof(*p.w));
	p.forbid = calloc(2 * n + 1, sizeof(*p.forbid));
	if (!p.pre || !p.w || !p.forbid) {
		hp_plan_free(&p);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (dir == HP_PLAN_FORWARD)
			plan_forward(&p, &f[i], i);
		else
			plan_reverse(&p, &f[i]);
	*ret = p;
	return 0;
}

int hp_plan_invert(const struct hp_plan *p, struct hp_plan *ret)
{
	struct hp_plan q = {0};

	q.w = calloc(p->nw + 1, sizeof(*q.w));
	q.forbid = calloc(p->nforbid + 1, sizeof(*q.forbid));
	if (!q.w || !q.forbid) {
		hp_plan_free(&q);
		return -ENOMEM;
	}
	for (size_t i = 0; i < p->nw; i++) {
		const struct hp_write *w = &p->w[i];

		q.w[q.nw++] = write_of(w->addr, w->len, !w->phase, w->new, w->old);
	}
	memcpy(q.forbid, p->forbid, p->nforbid * sizeof(*q.forbid));
	q.nforbid = p->nforbid;
	*ret = q;
	return 0;
}

void hp_plan_free(struct hp_plan *p)
{
	free(p->pre);
	free(p->w);
	free(p->forbid);
	memset(p, 0, sizeof(*p));
}

static int cmp_range(const void *a, const void *b)
{
	const struct hp_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int cmp_write(const void *a, const void *b)
{
	const struct hp_write *x = a, *y = b;

	if (x->phase != y->phase)
		return x->phase - y->phase;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

void hp_plan_sort(struct hp_write *w, size_t nw, struct hp_range *f, size_t nf)
{
	if (nf)
		qsort(f, nf, sizeof(*f), cmp_range);
	if (nw)
		qsort(w, nw, sizeof(*w), cmp_write);
}

/*
 * Binary search for the first range that starts after ip, then a look at
 * the few before it.  Four is enough: a range is a pad's last 4 bytes or a
 * window's (or displaced instructions') bytes after the first, two per
 * function, and no function starts inside another's (the classifier
 * refuses that), so a range overlaps at most its neighbours.
 */
const struct hp_range *hp_plan_forbidden(const struct hp_range *f, size_t n, uint64_t ip)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (f[mid].lo <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i-- > 0 && lo - i <= 4;)
		if (ip >= f[i].lo && ip < f[i].hi)
			return &f[i];
	return NULL;
}

size_t hp_plan_span_end(const struct hp_write *w, size_t nw, size_t i)
{
	uint64_t page = w[i].addr & ~(HP_PLAN_PAGE - 1);
	size_t j = i + 1;

	while (j < nw && w[j].phase == w[i].phase && (w[j].addr & ~(HP_PLAN_PAGE - 1)) == page &&
	       ((w[j].addr + w[j].len - 1) & ~(HP_PLAN_PAGE - 1)) == page)
		j++;
	return j;
}
