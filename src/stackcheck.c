/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Stack walks of stopped threads, with libunwind's DWARF unwinder and
 * accessors of our own.  libunwind's ptrace accessors find unwind tables by
 * opening and mapping each object's file by the path /proc/PID/maps shows:
 * a path the target's owner controls (a FIFO there hangs the walk, a file
 * truncated under the mapping kills hotpatch with SIGBUS).  The tables are
 * in the target's memory anyway: the object's ELF header and program
 * headers lie in its first mapping, and PT_GNU_EH_FRAME points at the
 * binary search table.  So every byte comes from /proc/PID/mem, the
 * registers from the ones hotpatch already read, and no file is opened.
 */
#include "stackcheck.h"

#include <elf.h>
#include <libunwind.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memory.h"
#include "modules.h"
#include "target.h"
#include "util.h"

/* libunwind exports its search of a remote .eh_frame_hdr table, but does
 * not declare it (perf declares it the same way). */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip,
					      unw_dyn_info_t *di, unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);
#define dwarf_search_unwind_table UNW_OBJ(dwarf_search_unwind_table)

#define PAGE	    4096ull
#define CACHE_PAGES 64
/* words one walk may read: a crafted unwind table must not keep us busy */
#define WALK_BUDGET (1u << 18)

#define DW_EH_PE_omit	 0xff
#define DW_EH_PE_udata4	 0x03
#define DW_EH_PE_sdata4	 0x0b
#define DW_EH_PE_udata8	 0x04
#define DW_EH_PE_sdata8	 0x0c
#define DW_EH_PE_pcrel	 0x10
#define DW_EH_PE_datarel 0x30

/* Where one object's unwind table is (or that it has none). */
struct table {
	uint64_t lo, hi; /* the object's loaded range */
	uint64_t hdr;	 /* .eh_frame_hdr, 0 if none */
	uint64_t data;	 /* its binary search table */
	uint64_t count;	 /* entries in it */
};

struct page {
	uint64_t addr; /* page address + 1, 0 when empty */
	uint8_t b[PAGE];
};

struct hp_unwinder {
	unw_addr_space_t as;
	struct hp_target *t;
	struct table *tables;
	size_t ntables;
	struct hp_maps maps; /* read on the first walk, again for an address it lacks */
	bool have_maps;
	/* for the walk under way */
	const struct user_regs_struct *regs;
	struct page *cache;
	unsigned budget;
};

/* ---------------------------------------------------------------- memory */

static int read_mem(struct hp_unwinder *u, uint64_t addr, void *out, size_t len)
{
	uint8_t *o = out;

	while (len) {
		uint64_t pa = addr & ~(PAGE - 1), off = addr - pa;
		struct page *p = &u->cache[(pa / PAGE) % CACHE_PAGES];
		size_t n = (size_t)HP_MIN((uint64_t)len, PAGE - off);

		if (p->addr != pa + 1) {
			if (hp_mem_pread(u->t, pa, p->b, PAGE) < 0) {
				p->addr = 0;
				return -1;
			}
			p->addr = pa + 1;
		}
		memcpy(o, p->b + off, n);
		o += n;
		addr += n;
		len -= n;
	}
	return 0;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
	struct hp_unwinder *u = arg;

	(void)as;
	if (write || !u->budget)
		return -UNW_EINVAL;
	u->budget--;
	return read_mem(u, addr, val, sizeof(*val)) < 0 ? -UNW_EINVAL : 0;
}

/* ------------------------------------------------------------- registers */

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write, void *arg)
{
	const struct user_regs_struct *r = ((struct hp_unwinder *)arg)->regs;

	(void)as;
	if (write)
		return -UNW_EREADONLYREG;
	switch (reg) {
	case UNW_X86_64_RAX:
		*val = r->rax;
		break;
	case UNW_X86_64_RDX:
		*val = r->rdx;
		break;
	case UNW_X86_64_RCX:
		*val = r->rcx;
		break;
	case UNW_X86_64_RBX:
		*val = r->rbx;
		break;
	case UNW_X86_64_RSI:
		*val = r->rsi;
		break;
	case UNW_X86_64_RDI:
		*val = r->rdi;
		break;
	case UNW_X86_64_RBP:
		*val = r->rbp;
		break;
	case UNW_X86_64_RSP:
		*val = r->rsp;
		break;
	case UNW_X86_64_R8:
		*val = r->r8;
		break;
	case UNW_X86_64_R9:
		*val = r->r9;
		break;
	case UNW_X86_64_R10:
		*val = r->r10;
		break;
	case UNW_X86_64_R11:
		*val = r->r11;
		break;
	case UNW_X86_64_R12:
		*val = r->r12;
		break;
	case UNW_X86_64_R13:
		*val = r->r13;
		break;
	case UNW_X86_64_R14:
		*val = r->r14;
		break;
	case UNW_X86_64_R15:
		*val = r->r15;
		break;
	case UNW_X86_64_RIP:
		*val = r->rip;
		break;
	default:
		return -UNW_EBADREG;
	}
	return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			void *arg)
{
	(void)as, (void)reg, (void)val, (void)write, (void)arg;
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	(void)as, (void)c, (void)arg;
	return -UNW_EINVAL; /* we only look */
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
			 unw_word_t *off, void *arg)
{
	(void)as, (void)addr, (void)buf, (void)len, (void)off, (void)arg;
	return -UNW_ENOINFO;
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr, void *arg)
{
	(void)as, (void)addr, (void)arg;
	return -UNW_ENOINFO;
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	/* libunwind frees what its table search allocated itself */
	(void)as, (void)pi, (void)arg;
}

/* ---------------------------------------------------------- unwind tables */

/* Reads a pointer of DWARF encoding `enc` at *addr and advances it. */
static int read_encoded(struct hp_unwinder *u, uint64_t *addr, uint8_t enc, uint64_t *val)
{
	uint64_t base = (enc & 0x70) == DW_EH_PE_pcrel ? *addr : 0;
	uint32_t v4;
	uint64_t v8;

	if ((enc & 0x70) != 0 && (enc & 0x70) != DW_EH_PE_pcrel)
		return -1;
	switch (enc & 0x0f) {
	case DW_EH_PE_udata4:
		if (read_mem(u, *addr, &v4, 4) < 0)
			return -1;
		*val = base + v4;
		*addr += 4;
		return 0;
	case DW_EH_PE_sdata4:
		if (read_mem(u, *addr, &v4, 4) < 0)
			return -1;
		*val = base + (uint64_t)(int64_t)(int32_t)v4;
		*addr += 4;
		return 0;
	case DW_EH_PE_udata8:
	case DW_EH_PE_sdata8:
	case 0: /* absptr */
		if (read_mem(u, *addr, &v8, 8) < 0)
			return -1;
		*val = base + v8;
		*addr += 8;
		return 0;
	default:
		return -1;
	}
}

/*
 * The object around `ip`, from the target's memory: its first mapping holds
 * the ELF header and the program headers.  Fills `tb` (hdr 0: no table).
 */
static int find_table(struct hp_unwinder *u, uint64_t ip, struct table *tb)
{
	const struct hp_mapping *mp, *first = NULL;
	Elf64_Ehdr eh;
	Elf64_Phdr ph[64];
	uint64_t bias, lo = UINT64_MAX, hi = 0, ehf = 0, a;
	uint8_t h[4];
	int r = -1;

	/* an object loaded since the maps were read is not in them */
	if (!u->have_maps || !hp_maps_find(&u->maps, ip)) {
		hp_maps_free(&u->maps);
		u->have_maps = false;
		if (hp_maps_read(u->t->pid, &u->maps) < 0)
			return -1; /* the process is gone: the walk ends here */
		u->have_maps = true;
	}
	const struct hp_maps maps = u->maps;
	mp = hp_maps_find(&maps, ip);
	if (!mp || !mp->path)
		goto out;
	for (size_t i = 0; i < maps.n; i++) {
		const struct hp_mapping *m = &maps.m[i];

		if (m->path && !strcmp(m->path, mp->path) && m->inode == mp->inode &&
		    m->dev_major == mp->dev_major && m->dev_minor == mp->dev_minor &&
		    m->offset == 0 && m->start <= mp->start && (!first || m->start > first->start))
			first = m;
	}
	if (!first || read_mem(u, first->start, &eh, sizeof(eh)) < 0 ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum > HP_ARRAY_SIZE(ph) || eh.e_phoff > first->end - first->start ||
	    read_mem(u, first->start + eh.e_phoff, ph, eh.e_phnum * sizeof(ph[0])) < 0)
		goto out;
	for (size_t i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0)
			lo = HP_MIN(lo, ph[i].p_vaddr & ~(PAGE - 1));
	if (lo == UINT64_MAX)
		goto out;
	bias = first->start - lo;
	lo = UINT64_MAX;
	for (size_t i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD) {
			lo = HP_MIN(lo, bias + ph[i].p_vaddr);
			hi = HP_MAX(hi, bias + ph[i].p_vaddr + ph[i].p_memsz);
		}
		if (ph[i].p_type == PT_GNU_EH_FRAME)
			ehf = bias + ph[i].p_vaddr;
	}
	if (ip < lo || ip >= hi)
		goto out;
	*tb = (struct table){.lo = lo, .hi = hi};
	r = 0;
	/* version 1; the table must be datarel sdata4 for a binary search */
	a = ehf + 4;
	uint64_t eh_frame, count;
	if (!ehf || read_mem(u, ehf, h, 4) < 0 || h[0] != 1 ||
	    h[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4) || h[2] == DW_EH_PE_omit ||
	    (h[1] != DW_EH_PE_omit && read_encoded(u, &a, h[1], &eh_frame) < 0) ||
	    read_encoded(u, &a, h[2], &count) < 0 || count > (1u << 26))
		goto out;
	tb->hdr = ehf;
	tb->data = a;
	tb->count = count;
out:
	return r;
}

static const struct table *table_for(struct hp_unwinder *u, uint64_t ip)
{
	struct table tb, *nt;

	for (size_t i = 0; i < u->ntables; i++)
		if (ip >= u->tables[i].lo && ip < u->tables[i].hi)
			return &u->tables[i];
	if (find_table(u, ip, &tb) < 0)
		return NULL;
	nt = realloc(u->tables, (u->ntables + 1) * sizeof(*nt));
	if (!nt)
		return NULL;
	u->tables = nt;
	u->tables[u->ntables] = tb;
	return &u->tables[u->ntables++];
}

static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
			  int need_unwind_info, void *arg)
{
	struct hp_unwinder *u = arg;
	const struct table *tb = table_for(u, ip);
	unw_dyn_info_t di;

	if (!tb || !tb->hdr)
		return -UNW_ENOINFO;
	memset(&di, 0, sizeof(di));
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.start_ip = tb->lo;
	di.end_ip = tb->hi;
	di.u.rti.segbase = tb->hdr;
	di.u.rti.table_data = tb->data;
	di.u.rti.table_len = tb->count * 8 / sizeof(unw_word_t);
	return dwarf_search_unwind_table(as, ip, &di, pi, need_unwind_info, u);
}

static unw_accessors_t accessors = {
	.find_proc_info = find_proc_info,
	.put_unwind_info = put_unwind_info,
	.get_dyn_info_list_addr = get_dyn_info_list_addr,
	.access_mem = access_mem,
	.access_reg = access_reg,
	.access_fpreg = access_fpreg,
	.resume = resume,
	.get_proc_name = get_proc_name,
};

/* ------------------------------------------------------------------ walks */

int hp_unwinder_new(struct hp_target *t, struct hp_unwinder **ret)
{
	struct hp_unwinder *u = calloc(1, sizeof(*u));

	if (!u)
		return hp_fail(-ENOMEM, "out of memory");
	u->t = t;
	u->cache = calloc(CACHE_PAGES, sizeof(*u->cache));
	u->as = unw_create_addr_space(&accessors, 0);
	if (!u->cache || !u->as) {
		hp_unwinder_free(u);
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
	if (u->as)
		unw_destroy_addr_space(u->as);
	free(u->tables);
	hp_maps_free(&u->maps);
	free(u->cache);
	free(u);
}

static bool read_only_file(const struct hp_unwinder *u, uint64_t page)
{
	const struct hp_mapping *mp = u->have_maps ? hp_maps_find(&u->maps, page) : NULL;

	/* not a memfd: hotpatch's own patch may be unloaded and another
	 * loaded in its place while the unwinder lives */
	return mp && mp->path && mp->path[0] == '/' && strncmp(mp->path, "/memfd:", 7) &&
	       mp->inode && !(mp->prot & (HP_PROT_W | HP_PROT_SHARED));
}

int hp_stack_walk(struct hp_unwinder *u, const struct hp_thread *th, struct hp_stack *st)
{
	unw_cursor_t c;
	int r;

	memset(st, 0, sizeof(*st));
	if (!th->regs_valid)
		return hp_fail(-EINVAL, "internal: the registers of thread %d were not read",
			       th->tid);
	/* the thread ran since the last walk: what it can write (its stacks,
	 * its data) may have changed; the unwind tables of its objects, in
	 * read-only file mappings, are kept (a walk reads the same ones
	 * again, thread after thread, call after call) */
	for (size_t i = 0; i < CACHE_PAGES; i++)
		if (u->cache[i].addr && !read_only_file(u, u->cache[i].addr - 1))
			u->cache[i].addr = 0;
	u->regs = &th->regs;
	u->budget = WALK_BUDGET;
	r = unw_init_remote(&c, u->as, u);
	if (r < 0)
		return hp_fail(-EIO, "libunwind: cannot start walking thread %d (error %d)",
			       th->tid, r);
	for (;;) {
		unw_word_t ip = 0;

		if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || st->n >= HP_MAX_FRAMES)
			break;
		/* libunwind says "signal frame" of the frame whose registers came
		 * from a signal context: it was interrupted, not calling, and its
		 * pc is exact (checked against gdb's backtrace) */
		st->exact[st->n] = st->n == 0 || unw_is_signal_frame(&c) > 0;
		st->ip[st->n++] = ip;
		r = unw_step(&c);
		if (r == 0) {
			st->complete = true;
			break;
		}
		if (r < 0)
			break;
	}
	u->regs = NULL;
	return 0;
}
