/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The target as a file.  Its .symtab is read in order: the linker keeps
 * each input object's local symbols together after that object's STT_FILE
 * symbol, so the locals of one translation unit form a block, and a
 * rebuilt object is placed by its file name and the set of locals it
 * defines (two sds.c in one binary are told apart by their statics).
 *
 * Verification reads the target's bytes of a function from the file and
 * compares them with the rebuilt object's, every relocated field masked.
 * GOTPCRELX and REX_GOTPCRELX fields also mask the instruction bytes in
 * front of them, which ld rewrites when it relaxes a GOT load into a lea
 * or a mov of an immediate (REX, opcode, ModRM: three bytes before the
 * field for REX_GOTPCRELX), `call *f@GOTPCREL` into `addr32 call f`, or
 * `jmp *f@GOTPCREL` into `jmp f; nop` (whose rel32 starts a byte early and
 * whose nop fills the field's last byte: both inside the masked span).
 */
#include "tfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbols.h"
#include "util.h"

struct tpriv {
	struct hp_elf e;
	bool no_code; /* .text is NOBITS: a separate debug file */
};

/* The symbol table; whether the code is in the file too, in *no_code. */
static Elf_Scn *find_symtab(Elf *elf, GElf_Shdr *sh, bool *no_code)
{
	Elf_Scn *scn = NULL, *found = NULL;
	size_t shstrndx = 0;
	GElf_Shdr x;

	elf_getshdrstrndx(elf, &shstrndx);
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, &x))
			continue;
		name = elf_strptr(elf, shstrndx, x.sh_name);
		if (x.sh_type == SHT_SYMTAB && !found) {
			found = scn;
			*sh = x;
		}
		if (name && !strcmp(name, ".text") && x.sh_type == SHT_NOBITS)
			*no_code = true;
	}
	return found;
}

/* Starts a block for an STT_FILE symbol; the locals after it join it. */
static int add_block(struct hp_tfile *t, size_t *cap, const char *file)
{
	int r = hp_grow((void **)&t->blocks, cap, t->nblocks, sizeof(*t->blocks));

	if (r < 0)
		return r;
	t->blocks[t->nblocks++] = (struct hp_tblock){.file = file, .first = t->nsyms};
	return 0;
}

/* One symbol-table entry: a new block, a symbol kept, or one skipped
 * (sections, undefined symbols, names the linker leaves empty). */
static int add_sym(struct hp_tfile *t, size_t *cap, size_t *bcap, Elf *elf, GElf_Shdr *sh,
		   const GElf_Sym *s)
{
	const char *name = elf_strptr(elf, sh->sh_link, s->st_name);
	uint8_t type = GELF_ST_TYPE(s->st_info), bind = GELF_ST_BIND(s->st_info);
	bool local = bind == STB_LOCAL;
	int r;

	if (!name)
		return 0;
	if (type == STT_FILE)
		return add_block(t, bcap, name);
	if (type == STT_SECTION || s->st_shndx == SHN_UNDEF || !*name)
		return 0;
	r = hp_grow((void **)&t->syms, cap, t->nsyms, sizeof(*t->syms));
	if (r < 0)
		return r;
	t->syms[t->nsyms++] = (struct hp_tsym){
		.name = name,
		.addr = s->st_value,
		.size = s->st_size,
		.type = type,
		.bind = bind,
		.block = local && t->nblocks ? (int)t->nblocks - 1 : -1,
	};
	if (local && t->nblocks)
		t->blocks[t->nblocks - 1].n++;
	return 0;
}

static int read_symtab(struct hp_tfile *t, Elf *elf, bool *no_code)
{
	size_t cap = 0, bcap = 0, n;
	GElf_Shdr sh;
	Elf_Scn *scn = find_symtab(elf, &sh, no_code);
	Elf_Data *d;

	if (!scn)
		return hp_fail(-HP_EUNSUPPORTED,
			       "%s has no symbol table (.symtab): it was stripped; build it "
			       "unstripped, or pass its separate debug file as the target",
			       t->path);
	t->has_symtab = true;
	d = elf_getdata(scn, NULL);
	n = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
	for (size_t i = 1; d && i < n; i++) {
		GElf_Sym s;
		int r;

		if (!gelf_getsym(d, (int)i, &s))
			continue;
		r = add_sym(t, &cap, &bcap, elf, &sh, &s);
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_func_addr(const void *a, const void *b, void *arg)
{
	const struct hp_tfile *t = arg;
	uint64_t x = t->syms[*(const size_t *)a].addr, y = t->syms[*(const size_t *)b].addr;

	return x < y ? -1 : x > y;
}

/*
 * An entry of __patchable_function_entries is where the pad starts: with
 * -fpatchable-function-entry=N,M, M bytes before the function.  As list.c
 * does, the entry belongs to the first function at or after it, when that
 * is close (M is small); every symbol at that address is the function.
 */
static void mark_patchable(struct hp_tfile *t, struct hp_elf *e)
{
	uint64_t *ent = NULL;
	size_t n = 0, nf = 0, *fx = calloc(t->nsyms + 1, sizeof(*fx));

	if (!fx || hp_elf_patchable_entries(e, &ent, &n) < 0)
		goto out;
	for (size_t i = 0; i < t->nsyms; i++)
		if (t->syms[i].type == STT_FUNC)
			fx[nf++] = i;
	qsort_r(fx, nf, sizeof(*fx), cmp_func_addr, (void *)t);
	for (size_t k = 0, lo = 0; k < n; k++) {
		while (lo < nf && t->syms[fx[lo]].addr < ent[k])
			lo++;
		for (size_t m = lo; m < nf && t->syms[fx[m]].addr == t->syms[fx[lo]].addr; m++)
			if (t->syms[fx[m]].addr - ent[k] <= 64)
				t->syms[fx[m]].patchable = true;
	}
out:
	free(ent);
	free(fx);
}

int hp_tfile_open(const char *path, struct hp_tfile *ret)
{
	struct hp_tfile t = {0};
	struct tpriv *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	t.priv = p;
	r = hp_elf_open(path, false, 0, &p->e);
	if (r < 0)
		goto fail;
	t.path = hp_strdup(path);
	if (!t.path) {
		r = -ENOMEM;
		goto fail;
	}
	r = read_symtab(&t, p->e.elf, &p->no_code);
	if (r < 0)
		goto fail;
	hp_build_id_hex(p->e.build_id, p->e.build_id_len, t.build_id, sizeof(t.build_id));
	t.pie = p->e.ehdr.e_type == ET_DYN;
	mark_patchable(&t, &p->e);
	*ret = t;
	return 0;
fail:
	hp_unwind_begin();
	hp_tfile_close(&t);
	hp_unwind_end();
	return r;
}

void hp_tfile_close(struct hp_tfile *t)
{
	struct tpriv *p = t->priv;

	if (p) {
		hp_elf_close(&p->e);
		free(p);
	}
	free(t->syms);
	free(t->blocks);
	free(t->path);
	memset(t, 0, sizeof(*t));
}

static bool placed_kind(const struct hp_osym *s)
{
	return s->local && s->defined && (s->type == HP_OSYM_FUNC || s->type == HP_OSYM_DATA);
}

static bool tsym_kind(const struct hp_tsym *s)
{
	return s->type == STT_FUNC || s->type == STT_OBJECT;
}

static const struct hp_tsym *block_find(const struct hp_tfile *t, int block, const char *name)
{
	const struct hp_tblock *b = &t->blocks[block];

	for (size_t k = b->first; k < b->first + b->n; k++)
		if (!strcmp(t->syms[k].name, name))
			return &t->syms[k];
	return NULL;
}

/* How many of o's locals block `b` lacks, the first of them in *first;
 * how many of the block's functions and variables o lacks in *extra. */
static size_t block_missing(const struct hp_tfile *t, int b, const struct hp_obj *o,
			    const char **first, size_t *extra)
{
	size_t miss = 0, have = 0, mine = 0;

	*first = NULL;
	for (size_t i = 0; i < o->nsyms; i++) {
		if (!placed_kind(&o->syms[i]))
			continue;
		mine++;
		if (block_find(t, b, o->syms[i].name))
			continue;
		if (!miss++)
			*first = o->syms[i].name;
	}
	for (size_t k = t->blocks[b].first; k < t->blocks[b].first + t->blocks[b].n; k++)
		have += tsym_kind(&t->syms[k]);
	*extra = have > mine - miss ? have - (mine - miss) : 0;
	return miss;
}

struct placement {
	int best, nbest; /* blocks holding every local: the fewest extras */
	size_t best_extra;
	int named;	      /* blocks of that file name */
	size_t least_miss;    /* over the named blocks that lack some */
	const char *miss_one; /* the first local that block lacks */
};

static void place_scan(const struct hp_tfile *t, const struct hp_obj *o, const char *base,
		       struct placement *pl)
{
	*pl = (struct placement){.best = -1, .least_miss = SIZE_MAX};
	for (size_t b = 0; b < t->nblocks; b++) {
		const char *first;
		size_t extra, miss;

		if (strcmp(hp_basename(t->blocks[b].file), base))
			continue;
		pl->named++;
		miss = block_missing(t, (int)b, o, &first, &extra);
		if (miss) {
			if (miss < pl->least_miss) {
				pl->least_miss = miss;
				pl->miss_one = first;
			}
			continue;
		}
		if (pl->best < 0 || extra < pl->best_extra) {
			pl->best = (int)b;
			pl->best_extra = extra;
			pl->nbest = 1;
		} else if (extra == pl->best_extra) {
			pl->nbest++;
		}
	}
}

int hp_tfile_place(const struct hp_tfile *t, const struct hp_obj *o, int *ret_block)
{
	const char *tname = hp_basename(t->path), *base;
	struct placement pl;

	if (!o->file)
		return hp_fail(-HP_ESOURCE,
			       "%s has no file symbol (STT_FILE): cannot place it in %s", o->path,
			       tname);
	base = hp_basename(o->file);
	place_scan(t, o, base, &pl);
	if (!pl.named)
		return hp_fail(-HP_ESOURCE, "%s has no symbols from a file named %s", tname, base);
	if (pl.best < 0)
		return hp_fail(-HP_ESOURCE,
			       "no %s in %s defines what the rebuilt %s does: %zu of its local "
			       "functions and variables missing, %s the first",
			       base, tname, base, pl.least_miss, pl.miss_one);
	if (pl.nbest > 1)
		return hp_fail(-HP_ESOURCE,
			       "%d files named %s in %s define the same local functions and "
			       "variables: cannot tell which one was rebuilt",
			       pl.nbest, base, tname);
	*ret_block = pl.best;
	return 0;
}

const struct hp_tsym *hp_tfile_sym(const struct hp_tfile *t, int block, const struct hp_obj *o,
				   size_t i)
{
	const struct hp_osym *os = &o->syms[i];
	const struct hp_tsym *weak = NULL;

	if (os->local)
		return block >= 0 && (size_t)block < t->nblocks ? block_find(t, block, os->name)
								: NULL;
	for (size_t k = 0; k < t->nsyms; k++) {
		const struct hp_tsym *s = &t->syms[k];

		if (s->block >= 0 || s->bind == STB_LOCAL || strcmp(s->name, os->name))
			continue;
		if (s->bind == STB_GLOBAL)
			return s;
		if (!weak)
			weak = s;
	}
	return weak;
}

/* How many bytes at and before a relocated field the linker may change. */
static void field_span(uint32_t type, uint64_t *before, uint64_t *len)
{
	*before = 0;
	switch (type) {
	case R_X86_64_64:
	case R_X86_64_PC64:
	case R_X86_64_GOTOFF64:
	case R_X86_64_GOTPC64:
	case R_X86_64_GOTPCREL64:
	case R_X86_64_GOT64:
	case R_X86_64_PLTOFF64:
	case R_X86_64_SIZE64:
		*len = 8;
		break;
	case R_X86_64_GOTPCRELX:
		*before = 2;
		*len = 4;
		break;
	case R_X86_64_REX_GOTPCRELX:
		*before = 3;
		*len = 4;
		break;
	case R_X86_64_16:
	case R_X86_64_PC16:
		*len = 2;
		break;
	case R_X86_64_8:
	case R_X86_64_PC8:
		*len = 1;
		break;
	default:
		*len = 4;
	}
}

/* Which bytes of o->syms[i] relocations (and relaxation) may change. */
static uint8_t *reloc_mask(const struct hp_osym *os)
{
	uint8_t *m = calloc(os->size + 1, 1);

	if (!m)
		return NULL;
	for (size_t k = 0; k < os->nrefs; k++) {
		uint64_t before, len, off = os->refs[k].offset;

		field_span(os->refs[k].type, &before, &len);
		for (uint64_t b = off >= before ? off - before : 0; b < off + len && b < os->size;
		     b++)
			m[b] = 1;
	}
	return m;
}

/* The rebuilt object's file name, as the messages give it. */
static const char *obj_name(const struct hp_obj *o)
{
	return hp_basename(o->file ? o->file : o->path);
}

static int differs(const struct hp_tfile *t, const struct hp_obj *o, const char *fn,
		   const char *what)
{
	return hp_fail(-HP_ESOURCE,
		       "rebuilding %s does not reproduce %s in %s (%s): wrong source version, "
		       "compiler or flags",
		       obj_name(o), fn, hp_basename(t->path), what);
}

/* Compares one function (or a .cold fragment of it) with the target's. */
static int compare_one(const struct hp_tfile *t, const struct hp_tsym *s, const struct hp_obj *o,
		       size_t i)
{
	const struct hp_osym *os = &o->syms[i];
	struct tpriv *p = t->priv;
	uint64_t n = HP_MIN(s->size, os->size);
	_cleanup_free_ uint8_t *buf = malloc(n + 1), *mask = reloc_mask(os);
	char what[160];

	if (!buf || !mask)
		return -ENOMEM;
	if (p->no_code)
		return hp_fail(-HP_EUSAGE,
			       "%s is a separate debug file, without the code of %s: verifying "
			       "needs the executable or library itself",
			       t->path, s->name);
	if (n && hp_elf_vaddr_read(&p->e, s->addr, buf, n) < 0)
		return hp_fail(-HP_ESOURCE, "%s: cannot read %s (0x%llx, %llu bytes) from the file",
			       t->path, s->name, (unsigned long long)s->addr,
			       (unsigned long long)n);
	for (uint64_t k = 0; k < n; k++) {
		uint8_t mine = os->bytes ? os->bytes[k] : 0;

		if (mask[k] || buf[k] == mine)
			continue;
		snprintf(what, sizeof(what),
			 "first difference at +0x%llx: 0x%02x in the target, 0x%02x rebuilt",
			 (unsigned long long)k, buf[k], mine);
		return differs(t, o, os->name, what);
	}
	if (s->size != os->size) {
		snprintf(what, sizeof(what),
			 "first difference at +0x%llx: %llu bytes in the target, %llu rebuilt",
			 (unsigned long long)n, (unsigned long long)s->size,
			 (unsigned long long)os->size);
		return differs(t, o, os->name, what);
	}
	return 0;
}

int hp_tfile_verify(const struct hp_tfile *t, int block, const struct hp_obj *o, size_t i)
{
	const struct hp_tsym *s = hp_tfile_sym(t, block, o, i);
	int r;

	if (!s)
		return hp_fail(-HP_ENOSYM, "%s has no function %s (from %s)", hp_basename(t->path),
			       o->syms[i].name, obj_name(o));
	r = compare_one(t, s, o, i);
	if (r < 0)
		return r;
	for (size_t j = 0; j < o->nsyms; j++) {
		if (o->syms[j].parent != (int)i || !o->syms[j].defined)
			continue;
		s = hp_tfile_sym(t, block, o, j);
		if (!s) {
			char what[160];

			snprintf(what, sizeof(what), "the target has no %s", o->syms[j].name);
			return differs(t, o, o->syms[i].name, what);
		}
		r = compare_one(t, s, o, j);
		if (r < 0)
			return r;
	}
	return 0;
}

/* GCC's "f.localalias" (made for -fPIC calls that must not be interposed)
 * is f itself, not a second function folded into it. */
static bool same_function(const struct hp_tsym *a, const struct hp_tsym *b)
{
	size_t la = strlen(a->name), lb = strlen(b->name);
	const char *sfx = ".localalias";

	if (la > lb)
		return same_function(b, a);
	return lb == la + strlen(sfx) && !strncmp(a->name, b->name, la) &&
	       !strcmp(b->name + la, sfx);
}

size_t hp_tfile_aliases(const struct hp_tfile *t, const struct hp_tsym *s,
			const struct hp_tsym **ret, size_t max)
{
	size_t n = 0;

	for (size_t k = 0; k < t->nsyms; k++) {
		const struct hp_tsym *x = &t->syms[k];

		if (x == s || x->type != STT_FUNC || x->addr != s->addr || same_function(s, x))
			continue;
		if (n < max)
			ret[n] = x;
		n++;
	}
	return n;
}
