/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "registry.h"

#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "memory.h"
#include "remote.h"
#include "target.h"
#include "util.h"

#define REG_MAGIC	0x47455248u /* "HREG" */
#define REG_VERSION	2	    /* 1: before methods; still read */
#define REG_SLOT0	0x1000u
#define REG_SLOT_SIZE	((HP_CTL_SIZE - REG_SLOT0) / 2)
#define REG_HDR		32 /* magic, version, gen, len, checksum */
#define REG_MAX_PATCHES 4096
#define REG_MAX_FUNCS	(1u << 20)
_Static_assert(HP_CTL_SCRATCH_OFF + HP_CTL_SCRATCH_LEN <= REG_SLOT0,
	       "the control mapping's scratch area runs into the registry");

/* FNV-1a: catches a torn or foreign write, not an adversary. */
static uint64_t checksum(const uint8_t *b, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

struct writer {
	uint8_t *b;
	size_t len, cap;
	bool oom;
};

static void put(struct writer *w, const void *p, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n > w->cap) {
		size_t ncap = HP_MAX(w->cap * 2, w->len + n + 1024);
		uint8_t *nb = realloc(w->b, ncap);

		if (!nb) {
			w->oom = true;
			return;
		}
		w->b = nb;
		w->cap = ncap;
	}
	memcpy(w->b + w->len, p, n);
	w->len += n;
}

static void put_u8(struct writer *w, uint8_t v)
{
	put(w, &v, 1);
}
static void put_u32(struct writer *w, uint32_t v)
{
	put(w, &v, 4);
}
static void put_u64(struct writer *w, uint64_t v)
{
	put(w, &v, 8);
}
static void put_str(struct writer *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	uint32_t l = (uint32_t)HP_MIN(n, 65535u);

	put_u32(w, l);
	put(w, s ? s : "", l);
}

static void encode(struct writer *w, const struct hp_registry *reg)
{
	put_u32(w, (uint32_t)reg->n);
	for (size_t i = 0; i < reg->n; i++) {
		const struct hp_reg_patch *p = &reg->p[i];

		put_u32(w, p->id);
		put_u32(w, p->state);
		put_u64(w, p->handle);
		put_u64(w, p->base);
		put_u64(w, p->applied_ns);
		put(w, p->sha256, 32);
		put_u8(w, p->build_id_len);
		put(w, p->build_id, p->build_id_len);
		put_str(w, p->path);
		put_u64(w, p->text.addr);
		put_u64(w, p->text.len);
		put_u32(w, (uint32_t)p->ntramps);
		for (size_t k = 0; k < p->ntramps; k++) {
			put_u64(w, p->tramps[k].addr);
			put_u64(w, p->tramps[k].len);
		}
		put_u32(w, (uint32_t)p->nfuncs);
		for (size_t k = 0; k < p->nfuncs; k++) {
			const struct hp_reg_func *f = &p->funcs[k];

			put_str(w, f->symbol);
			put_str(w, f->object);
			put_str(w, f->replacement_name);
			put_u64(w, f->entry);
			put_u64(w, f->pad);
			put_u64(w, f->window);
			put_u64(w, f->body);
			put_u8(w, f->window_len);
			put_u8(w, f->endbr);
			put_u8(w, f->method);
			put_u8(w, f->ninsn);
			put(w, f->old_pad, HP_PAD_LEN);
			put(w, f->old_win, HP_WIN_LEN);
			put(w, f->new_pad, HP_PAD_LEN);
			put(w, f->new_win, HP_WIN_LEN);
			put_u64(w, f->replacement);
			put_u64(w, f->slot);
		}
	}
}

int hp_registry_encode(const struct hp_registry *reg, uint8_t **ret, size_t *len)
{
	struct writer w = {0};

	encode(&w, reg);
	if (w.oom) {
		free(w.b);
		return -ENOMEM;
	}
	*ret = w.b;
	*len = w.len;
	return 0;
}

size_t hp_registry_slot_offset(unsigned which)
{
	return REG_SLOT0 + (which & 1) * REG_SLOT_SIZE;
}

int hp_registry_slot_image(const struct hp_registry *reg, uint64_t gen, uint8_t **ret, size_t *len)
{
	static const uint8_t room[REG_HDR];
	struct writer w = {0};
	uint32_t magic = REG_MAGIC, version = REG_VERSION;
	uint64_t plen, sum;

	put(&w, room, REG_HDR); /* the header, filled in once the payload is known */
	encode(&w, reg);
	if (w.oom) {
		free(w.b);
		return -ENOMEM;
	}
	if (w.len > REG_SLOT_SIZE) {
		free(w.b);
		return -ENOSPC;
	}
	plen = w.len - REG_HDR;
	sum = checksum(w.b + REG_HDR, plen);
	memcpy(w.b, &magic, 4);
	memcpy(w.b + 4, &version, 4);
	memcpy(w.b + 8, &gen, 8);
	memcpy(w.b + 16, &plen, 8);
	memcpy(w.b + 24, &sum, 8);
	*ret = w.b;
	*len = w.len;
	return 0;
}

struct reader {
	const uint8_t *b;
	size_t len, off;
	bool bad;
	uint32_t version; /* of the slot: 1 has no method per function */
};

static void get(struct reader *r, void *p, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		memset(p, 0, n);
		return;
	}
	memcpy(p, r->b + r->off, n);
	r->off += n;
}

static uint8_t get_u8(struct reader *r)
{
	uint8_t v;
	get(r, &v, 1);
	return v;
}
static uint32_t get_u32(struct reader *r)
{
	uint32_t v;
	get(r, &v, 4);
	return v;
}
static uint64_t get_u64(struct reader *r)
{
	uint64_t v;
	get(r, &v, 8);
	return v;
}
static char *get_str(struct reader *r)
{
	uint32_t l = get_u32(r);
	char *s;

	if (r->bad || l > 65535 || r->len - r->off < l || memchr(r->b + r->off, 0, l)) {
		r->bad = true;
		return NULL;
	}
	s = strndup((const char *)r->b + r->off, l);
	if (!s)
		r->bad = true;
	r->off += l;
	return s;
}

static void decode_func(struct reader *r, struct hp_reg_func *f)
{
	f->symbol = get_str(r);
	f->object = get_str(r);
	f->replacement_name = get_str(r);
	f->entry = get_u64(r);
	f->pad = get_u64(r);
	f->window = get_u64(r);
	f->body = get_u64(r);
	f->window_len = get_u8(r);
	f->endbr = get_u8(r);
	f->method = r->version >= 2 ? get_u8(r) : HP_METHOD_PROLOGUE;
	f->ninsn = r->version >= 2 ? get_u8(r) : 0;
	get(r, f->old_pad, HP_PAD_LEN);
	get(r, f->old_win, HP_WIN_LEN);
	get(r, f->new_pad, HP_PAD_LEN);
	get(r, f->new_win, HP_WIN_LEN);
	f->replacement = get_u64(r);
	f->slot = get_u64(r);
}

/* A count of `size`-byte items that the rest of the buffer must hold. */
static bool count_fits(struct reader *r, uint32_t cnt, uint32_t max, unsigned size)
{
	if (r->bad || cnt > max || cnt * (unsigned long long)size > r->len - r->off)
		r->bad = true;
	return !r->bad;
}

/* The patch's lists, trampolines then functions; r->bad on damage. */
static void decode_lists(struct reader *r, struct hp_reg_patch *p)
{
	uint32_t cnt = get_u32(r);

	if (!count_fits(r, cnt, 4096, 16))
		return;
	p->tramps = calloc(cnt ? cnt : 1, sizeof(*p->tramps));
	if (!p->tramps) {
		r->bad = true;
		return;
	}
	for (uint32_t k = 0; k < cnt; k++) {
		p->tramps[k].addr = get_u64(r);
		p->tramps[k].len = get_u64(r);
	}
	p->ntramps = cnt;
	cnt = get_u32(r);
	if (!count_fits(r, cnt, REG_MAX_FUNCS, 60))
		return;
	p->funcs = calloc(cnt ? cnt : 1, sizeof(*p->funcs));
	if (!p->funcs) {
		r->bad = true;
		return;
	}
	for (uint32_t k = 0; k < cnt && !r->bad; k++)
		decode_func(r, &p->funcs[p->nfuncs++]);
}

static void decode_patch(struct reader *r, struct hp_reg_patch *p)
{
	p->id = get_u32(r);
	p->state = get_u32(r);
	p->handle = get_u64(r);
	p->base = get_u64(r);
	p->applied_ns = get_u64(r);
	get(r, p->sha256, 32);
	p->build_id_len = get_u8(r);
	if (p->build_id_len > sizeof(p->build_id)) {
		r->bad = true;
		return;
	}
	get(r, p->build_id, p->build_id_len);
	p->path = get_str(r);
	p->text.addr = get_u64(r);
	p->text.len = get_u64(r);
	decode_lists(r, p);
}

static int decode_version(const uint8_t *buf, size_t len, uint32_t version, struct hp_registry *reg)
{
	struct reader r = {.b = buf, .len = len, .version = version};
	uint32_t n;

	memset(reg, 0, sizeof(*reg));
	n = get_u32(&r);
	if (r.bad || n > REG_MAX_PATCHES)
		return -EINVAL;
	reg->p = calloc(n ? n : 1, sizeof(*reg->p));
	if (!reg->p)
		return -ENOMEM;
	for (uint32_t i = 0; i < n && !r.bad; i++)
		decode_patch(&r, &reg->p[reg->n++]);
	if (!r.bad && r.off != len)
		r.bad = true; /* the length is exact: more bytes mean damage */
	if (r.bad) {
		hp_registry_free(reg);
		return -EINVAL;
	}
	return 0;
}

int hp_registry_decode(const uint8_t *buf, size_t len, struct hp_registry *reg)
{
	return decode_version(buf, len, REG_VERSION, reg);
}

void hp_reg_patch_free(struct hp_reg_patch *p)
{
	for (size_t k = 0; k < p->nfuncs; k++) {
		free(p->funcs[k].symbol);
		free(p->funcs[k].object);
		free(p->funcs[k].replacement_name);
	}
	free(p->funcs);
	free(p->tramps);
	free(p->path);
	memset(p, 0, sizeof(*p));
}

void hp_registry_free(struct hp_registry *reg)
{
	for (size_t i = 0; i < reg->n; i++)
		hp_reg_patch_free(&reg->p[i]);
	free(reg->p);
	memset(reg, 0, sizeof(*reg));
}

int hp_registry_read(struct hp_remote *rc, struct hp_registry *reg)
{
	struct hp_ctl_hdr hdr;
	uint8_t head[REG_HDR];
	uint32_t magic, version;
	uint64_t gen, len, sum, slot;
	uint8_t *buf;
	int r;

	memset(reg, 0, sizeof(*reg));
	if (!rc->ctl || rc->ctl_headless)
		return 0;
	r = hp_ctl_read(rc, &hdr);
	if (r < 0)
		return r;
	if (!hdr.reg_gen)
		return 0; /* nothing recorded yet */
	slot = rc->ctl + hp_registry_slot_offset((unsigned)hdr.reg_active);
	r = hp_mem_read(rc->t, slot, head, sizeof(head));
	if (r < 0)
		return r;
	memcpy(&magic, head, 4);
	memcpy(&version, head + 4, 4);
	memcpy(&gen, head + 8, 8);
	memcpy(&len, head + 16, 8);
	memcpy(&sum, head + 24, 8);
	if (magic != REG_MAGIC || version < 1 || version > REG_VERSION || gen != hdr.reg_gen ||
	    len > REG_SLOT_SIZE - REG_HDR)
		return hp_fail(-HP_ECORRUPT,
			       "the patch registry in pid %d is damaged (slot header); status and "
			       "rollback cannot trust it",
			       rc->t->pid);
	buf = malloc(len ? len : 1);
	if (!buf)
		return hp_fail(-ENOMEM, "out of memory");
	r = hp_mem_read(rc->t, slot + REG_HDR, buf, len);
	if (r == 0 && checksum(buf, len) != sum)
		r = hp_fail(-HP_ECORRUPT, "the patch registry in pid %d is damaged (checksum)",
			    rc->t->pid);
	if (r == 0) {
		r = decode_version(buf, len, version, reg);
		if (r < 0)
			r = hp_fail(-HP_ECORRUPT, "the patch registry in pid %d cannot be decoded",
				    rc->t->pid);
	}
	reg->gen = gen;
	free(buf);
	return r;
}

int hp_registry_write(struct hp_remote *rc, struct hp_registry *reg)
{
	struct hp_ctl_hdr hdr;
	uint8_t *img = NULL;
	size_t len = 0;
	uint64_t slot, gen;
	unsigned next;
	int r;

	r = hp_ctl_read(rc, &hdr);
	if (r < 0)
		return r;
	next = hdr.reg_gen ? !(hdr.reg_active & 1) : 0;
	gen = hdr.reg_gen + 1;
	r = hp_registry_slot_image(reg, gen, &img, &len);
	if (r == -ENOSPC)
		return hp_fail(r, "the patch registry of pid %d is full", rc->t->pid);
	if (r < 0)
		return hp_fail(r, "out of memory");
	slot = rc->ctl + hp_registry_slot_offset(next);
	/* payload, then the header that vouches for it */
	r = hp_mem_write(rc->t, slot + REG_HDR, img + REG_HDR, len - REG_HDR);
	if (r == 0)
		r = hp_mem_write(rc->t, slot, img, REG_HDR);
	free(img);
	if (r < 0)
		return r;
	/* the commit: one write of the header switches slots */
	hdr.reg_active = next;
	hdr.reg_gen = gen;
	r = hp_ctl_write(rc, &hdr);
	if (r == 0)
		reg->gen = gen;
	return r;
}

struct hp_reg_func *hp_registry_top(struct hp_registry *reg, uint64_t entry,
				    struct hp_reg_patch **ret_patch)
{
	for (size_t i = reg->n; i-- > 0;)
		for (size_t k = 0; k < reg->p[i].nfuncs; k++)
			if (reg->p[i].funcs[k].entry == entry) {
				if (ret_patch)
					*ret_patch = &reg->p[i];
				return &reg->p[i].funcs[k];
			}
	return NULL;
}
