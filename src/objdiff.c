/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Two builds of one translation unit, compared function by function.  The
 * numbers a compiler hands out (clone suffixes, static locals, string and
 * constant offsets, section symbols) shift when anything else in the file
 * changes, so every reference is first rewritten to what it means: a
 * symbol's key, a string's text, a constant's bytes.
 */
#include "objdiff.h"

#include "cs.h"
#include "util.h"

#include <ctype.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct sec {
	const char *name;
	GElf_Shdr sh;
	Elf_Data *data;
	Elf_Data *rela; /* the .rela section that applies to it, or NULL */
	size_t nrela;
	/* anonymous data: the offsets referred to, each the start of a piece
	 * that runs to the next (a jump table, a constant) */
	uint64_t *offs;
	size_t noffs, capoffs;
	int *members; /* the hp_obj.syms defined in it */
	size_t nmembers, capmembers;
};

struct priv {
	int fd;
	Elf *elf;
	struct sec *secs;
	size_t nsecs;
	int *symmap; /* symbol-table index -> index in hp_obj.syms, or -1 */
	size_t nelfsyms;
	Elf_Data *symdata;
	size_t strndx, strtab;
	int *shndx;	 /* per hp_obj.syms: its section index, or 0 */
	uint64_t *value; /* per hp_obj.syms: its st_value */
	int *bykey;	 /* the defined hp_obj.syms, sorted by key */
	size_t nbykey;
};

/* The instructions of one function: where each starts and ends. */
struct insns {
	uint64_t *start, *end;
	bool *branch;
	size_t n;
};

static const char *const clone_words[] = {"constprop", "isra", "part", "cold", "lto_priv"};

static bool is_number(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool is_clone_word(const char *s, size_t n)
{
	for (size_t i = 0; i < HP_ARRAY_SIZE(clone_words); i++)
		if (strlen(clone_words[i]) == n && !strncmp(s, clone_words[i], n))
			return true;
	return false;
}

/* "f.constprop.0.isra.1" -> "f.constprop.isra": the numbers are the
 * compiler's count, not part of what the clone is. */
static char *strip_clones(const char *name)
{
	char *out = malloc(strlen(name) + 1);
	const char *p = name, *prev = NULL;
	size_t prevn = 0, len = 0;

	if (!out)
		return NULL;
	while (*p) {
		const char *dot = strchr(p + 1, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		bool drop = prev && p[0] == '.' && is_number(p + 1, n - 1) &&
			    is_clone_word(prev + 1, prevn - 1);

		if (!drop) {
			memcpy(out + len, p, n);
			len += n;
		}
		prev = p;
		prevn = n;
		p += n;
	}
	out[len] = 0;
	return out;
}

/* Names GCC gives to what it makes itself: never paired by name, compared
 * by content (kpatch's is_special_static). */
static bool is_special_static(const char *name)
{
	static const char *const pfx[] = {"CSWTCH.", "__func__.", "__FUNCTION__.",
					  "__PRETTY_FUNCTION__.", ".L"};

	for (size_t i = 0; i < HP_ARRAY_SIZE(pfx); i++)
		if (!strncmp(name, pfx[i], strlen(pfx[i])))
			return true;
	return false;
}

static uint64_t fnv(uint64_t h, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

static bool ignored_section(const char *name)
{
	return !strcmp(name, "__patchable_function_entries") || !strncmp(name, ".note", 5) ||
	       !strncmp(name, ".debug", 6) || !strcmp(name, ".comment") ||
	       !strcmp(name, ".eh_frame") || !strcmp(name, "__mcount_loc");
}

/* Width of the field a relocation writes. */
static unsigned field_size(uint32_t type)
{
	switch (type) {
	case R_X86_64_64:
	case R_X86_64_PC64:
	case R_X86_64_GOTOFF64:
	case R_X86_64_DTPOFF64:
	case R_X86_64_TPOFF64:
	case R_X86_64_DTPMOD64:
	case R_X86_64_SIZE64:
	case R_X86_64_GOTPC64:
	case R_X86_64_GOT64:
	case R_X86_64_GOTPCREL64:
	case R_X86_64_PLTOFF64:
		return 8;
	case R_X86_64_16:
	case R_X86_64_PC16:
		return 2;
	case R_X86_64_8:
	case R_X86_64_PC8:
		return 1;
	case R_X86_64_NONE:
		return 0;
	default:
		return 4;
	}
}

static bool pc_relative(uint32_t type)
{
	return type == R_X86_64_PC32 || type == R_X86_64_PLT32 || type == R_X86_64_GOTPCREL ||
	       type == R_X86_64_GOTPCRELX || type == R_X86_64_REX_GOTPCRELX ||
	       type == R_X86_64_GOTPC32 || type == R_X86_64_TLSGD || type == R_X86_64_TLSLD ||
	       type == R_X86_64_GOTTPOFF || type == R_X86_64_GOTPC32_TLSDESC;
}

static int read_sections(struct hp_obj *o, struct priv *p)
{
	Elf_Scn *scn = NULL;

	if (elf_getshdrnum(p->elf, &p->nsecs) < 0 || elf_getshdrstrndx(p->elf, &p->strndx) < 0)
		return hp_fail(-HP_EBADPATCH, "%s: no section headers (%s)", o->path,
			       elf_errmsg(-1));
	p->secs = calloc(p->nsecs, sizeof(*p->secs));
	if (!p->secs)
		return -ENOMEM;
	while ((scn = elf_nextscn(p->elf, scn))) {
		size_t i = elf_ndxscn(scn);
		struct sec *s = &p->secs[i];

		if (i >= p->nsecs || !gelf_getshdr(scn, &s->sh))
			return hp_fail(-HP_EBADPATCH, "%s: bad section %zu", o->path, i);
		s->name = elf_strptr(p->elf, p->strndx, s->sh.sh_name);
		if (!s->name)
			s->name = "";
		s->data = elf_getdata(scn, NULL);
		if (!strncmp(s->name, ".gnu.lto_", 9))
			o->lto = true;
		if (s->sh.sh_type == SHT_SYMTAB) {
			p->symdata = s->data;
			p->nelfsyms = s->sh.sh_entsize ? s->sh.sh_size / s->sh.sh_entsize : 0;
		}
	}
	for (size_t i = 1; i < p->nsecs; i++) {
		struct sec *s = &p->secs[i];

		if (s->sh.sh_type != SHT_RELA || s->sh.sh_info >= p->nsecs || !s->sh.sh_entsize)
			continue;
		p->secs[s->sh.sh_info].rela = s->data;
		p->secs[s->sh.sh_info].nrela = s->sh.sh_size / s->sh.sh_entsize;
	}
	if (!p->symdata)
		return hp_fail(-HP_EBADPATCH, "%s: no symbol table", o->path);
	return 0;
}

static bool wanted_symbol(const GElf_Sym *s, const char *name)
{
	int t = GELF_ST_TYPE(s->st_info);

	if (!*name)
		return false;
	if (t == STT_NOTYPE)
		return s->st_shndx == SHN_UNDEF;
	return t == STT_FUNC || t == STT_OBJECT || t == STT_TLS || t == STT_GNU_IFUNC;
}

static enum hp_osym_type osym_type(int t)
{
	switch (t) {
	case STT_FUNC:
		return HP_OSYM_FUNC;
	case STT_TLS:
		return HP_OSYM_TLS;
	case STT_GNU_IFUNC:
		return HP_OSYM_IFUNC;
	default:
		return HP_OSYM_DATA;
	}
}

static int fill_symbol(struct hp_obj *o, struct priv *p, const GElf_Sym *s, const char *name)
{
	struct hp_osym *y = &o->syms[o->nsyms];
	size_t shn = s->st_shndx;

	memset(y, 0, sizeof(*y));
	y->parent = -1;
	y->type = osym_type(GELF_ST_TYPE(s->st_info));
	y->local = GELF_ST_BIND(s->st_info) == STB_LOCAL;
	y->weak = GELF_ST_BIND(s->st_info) == STB_WEAK;
	y->defined = shn != SHN_UNDEF;
	y->size = s->st_size;
	y->name = hp_strdup(name);
	y->key = strip_clones(name);
	if (!y->name || !y->key)
		return -ENOMEM;
	p->shndx[o->nsyms] = 0;
	p->value[o->nsyms] = s->st_value;
	if (shn == SHN_COMMON) {
		y->section = hp_strdup("COMMON");
	} else if (y->defined && shn < p->nsecs) {
		const struct sec *sec = &p->secs[shn];

		p->shndx[o->nsyms] = (int)shn;
		y->section = hp_strdup(sec->name);
		y->readonly = !(sec->sh.sh_flags & SHF_WRITE);
		if (sec->sh.sh_type != SHT_NOBITS && sec->data &&
		    s->st_value + s->st_size <= sec->data->d_size)
			y->bytes = (const uint8_t *)sec->data->d_buf + s->st_value;
	}
	if (y->defined && !y->section)
		y->section = hp_strdup(shn == SHN_ABS ? "ABS" : "?");
	if (y->defined && !y->section)
		return -ENOMEM;
	return 0;
}

/* Debug and note sections hold no code; what lies in a mergeable section
 * (clang's .L.str) is a constant known by its content, not a variable. */
static bool skipped_section(const struct priv *p, size_t shn)
{
	if (shn == SHN_UNDEF || shn >= p->nsecs)
		return false;
	return ignored_section(p->secs[shn].name) || (p->secs[shn].sh.sh_flags & SHF_MERGE);
}

static int read_symbols(struct hp_obj *o, struct priv *p)
{
	for (size_t i = 1; i < p->nsecs; i++)
		if (p->secs[i].sh.sh_type == SHT_SYMTAB)
			p->strtab = p->secs[i].sh.sh_link;
	p->symmap = malloc(p->nelfsyms * sizeof(*p->symmap) + 1);
	o->syms = calloc(p->nelfsyms + 1, sizeof(*o->syms));
	p->shndx = calloc(p->nelfsyms + 1, sizeof(*p->shndx));
	p->value = calloc(p->nelfsyms + 1, sizeof(*p->value));
	if (!p->symmap || !o->syms || !p->shndx || !p->value)
		return -ENOMEM;
	for (size_t i = 0; i < p->nelfsyms; i++) {
		GElf_Sym s;
		const char *name;
		int r;

		p->symmap[i] = -1;
		if (!gelf_getsym(p->symdata, (int)i, &s))
			return hp_fail(-HP_EBADPATCH, "%s: bad symbol %zu", o->path, i);
		name = elf_strptr(p->elf, p->strtab, s.st_name);
		if (!name)
			name = "";
		if (GELF_ST_TYPE(s.st_info) == STT_FILE && !o->file && *name) {
			o->file = hp_strdup(name);
			if (!o->file)
				return -ENOMEM;
		}
		if (!wanted_symbol(&s, name) || skipped_section(p, s.st_shndx))
			continue;
		r = fill_symbol(o, p, &s, name);
		if (r < 0) {
			o->nsyms++;
			return r;
		}
		if (p->shndx[o->nsyms] > 0) {
			struct sec *sec = &p->secs[p->shndx[o->nsyms]];

			if (hp_grow((void **)&sec->members, &sec->capmembers, sec->nmembers,
				    sizeof(*sec->members)) < 0)
				return -ENOMEM;
			sec->members[sec->nmembers++] = (int)o->nsyms;
		}
		p->symmap[i] = (int)o->nsyms++;
	}
	return 0;
}

/* The defined function or variable of section shn that holds offset off:
 * inside it first, else just past its end (a pointer to an array's end). */
static int covering(const struct hp_obj *o, const struct priv *p, size_t shn, uint64_t off)
{
	const struct sec *s = &p->secs[shn];
	int end = -1;

	for (size_t m = 0; m < s->nmembers; m++) {
		int i = s->members[m];
		uint64_t v = p->value[i], size = o->syms[i].size;

		if (off >= v && (off < v + size || (off == v && !size)))
			return i;
		if (off == v + size && end < 0)
			end = i;
	}
	return end;
}

static int load_insns(const struct hp_osym *y, struct insns *in)
{
	const struct hp_cs *cs;
	cs_insn *insn = NULL;
	size_t n;

	memset(in, 0, sizeof(*in));
	if (!y->bytes || hp_cs_get(&cs) < 0)
		return 0; /* the field's own size is the fallback */
	n = cs->disasm(cs->handle, y->bytes, y->size, 0, 0, &insn);
	in->start = calloc(n + 1, sizeof(*in->start));
	in->end = calloc(n + 1, sizeof(*in->end));
	in->branch = calloc(n + 1, sizeof(*in->branch));
	if (!in->start || !in->end || !in->branch) {
		if (insn)
			cs->free(insn, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const cs_detail *d = insn[i].detail;

		in->start[i] = insn[i].address;
		in->end[i] = insn[i].address + insn[i].size;
		for (int g = 0; d && g < d->groups_count; g++)
			if (d->groups[g] == CS_GRP_CALL || d->groups[g] == CS_GRP_JUMP)
				in->branch[i] = true;
	}
	in->n = n;
	if (insn)
		cs->free(insn, n);
	return 0;
}

static void free_insns(struct insns *in)
{
	free(in->start);
	free(in->end);
	free(in->branch);
	memset(in, 0, sizeof(*in));
}

/* How far the end of the instruction lies past the start of the field: the
 * CPU adds the displacement to the next instruction's address, so the
 * assembler folds that distance into the addend (-4 for a call, -5 for
 * `cmpb $5, x(%rip)`). */
static int64_t insn_adjust(const struct insns *in, uint64_t field, uint32_t type, bool *branch)
{
	*branch = false;
	for (size_t i = 0; i < in->n; i++)
		if (in->start[i] <= field && field < in->end[i]) {
			*branch = in->branch[i];
			return (int64_t)(in->end[i] - field);
		}
	return field_size(type);
}

static char *hexstr(const char *prefix, const uint8_t *b, size_t n)
{
	size_t pl = strlen(prefix);
	char *s = malloc(pl + 2 * n + 1);

	if (!s)
		return NULL;
	memcpy(s, prefix, pl);
	for (size_t i = 0; i < n; i++)
		sprintf(s + pl + 2 * i, "%02x", b ? b[i] : 0);
	s[pl + 2 * n] = 0;
	return s;
}

/* "str:" and the text, escaped so that it reads on one line */
static char *string_to(const uint8_t *b, size_t n)
{
	char *s = malloc(4 * n + 5), *o = s;

	if (!s)
		return NULL;
	o += sprintf(o, "str:");
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '\\' || b[i] == '"')
			o += sprintf(o, "\\%c", b[i]);
		else if (b[i] == '\n')
			o += sprintf(o, "\\n");
		else if (b[i] < 0x20 || b[i] >= 0x7f)
			o += sprintf(o, "\\x%02x", b[i]);
		else
			*o++ = (char)b[i];
	}
	*o = 0;
	return s;
}

/* ".rodata.__func__.1" -> ".rodata.__func__": a section named after a
 * symbol carries its number, which other changes shift. */
static char *anon_name(const char *secname)
{
	char *s = strip_clones(secname), *dot;

	while (s && (dot = strrchr(s, '.')) && dot != s && is_number(dot + 1, strlen(dot + 1)))
		*dot = 0;
	return s;
}

/* Anonymous data referred to as section + offset, described once every
 * reference is known (resolve_anon) */
#define ANON_PENDING(shn) (-2 - (int)(shn))

/* A string's text, a constant's bytes, or for other anonymous data (a jump
 * table) a mark for resolve_anon. */
static int section_target(struct priv *p, size_t shn, uint64_t off, struct hp_oref *ref)
{
	struct sec *s = &p->secs[shn];
	const uint8_t *b = s->data && s->sh.sh_type != SHT_NOBITS ? s->data->d_buf : NULL;
	size_t sz = b ? s->data->d_size : 0, es = s->sh.sh_entsize ? s->sh.sh_entsize : 1;
	char buf[512];

	ref->addend = 0;
	if ((s->sh.sh_flags & SHF_MERGE) && b && off < sz && (s->sh.sh_flags & SHF_STRINGS)) {
		size_t n = 0;

		while (off + n + es <= sz && memcmp(b + off + n, "\0\0\0\0\0\0\0\0", HP_MIN(es, 8)))
			n += es;
		if (es == 1) {
			ref->to = string_to(b + off, n);
		} else {
			ref->to = hexstr("wstr:", b + off, n);
		}
	} else if ((s->sh.sh_flags & SHF_MERGE) && b && off < sz) {
		uint64_t at = off / es * es;
		size_t k = 0;

		for (const char *c = s->name; *c && k < sizeof(buf) - 2; c++)
			if (!isdigit((unsigned char)*c))
				buf[k++] = *c;
		buf[k++] = ':';
		buf[k] = 0;
		ref->to = hexstr(buf, b + at, HP_MIN(es, sz - at));
		ref->addend = (int64_t)(off - at);
	} else {
		ref->to = NULL;
		ref->sym = ANON_PENDING(shn);
		ref->addend = (int64_t)off;
		return 0;
	}
	return ref->to ? 0 : -ENOMEM;
}

/* The last symbol of section shn that starts at or before off: a jump
 * table's entry (label + 4 * index) may point past its function's end */
static int preceding(const struct priv *p, size_t shn, uint64_t off)
{
	const struct sec *s = &p->secs[shn];
	int best = -1;

	for (size_t m = 0; m < s->nmembers; m++) {
		int i = s->members[m];

		if (p->value[i] <= off && (best < 0 || p->value[i] > p->value[best]))
			best = i;
	}
	return best;
}

/* What a relocation in anonymous data refers to, in words that do not
 * depend on where the compiler placed things: a symbol's name and offset,
 * a string's text. */
static uint64_t hash_rela(const struct hp_obj *o, struct priv *p, const GElf_Rela *r, uint64_t base,
			  uint64_t h)
{
	GElf_Sym es;
	struct hp_oref tmp = {0};
	const char *name = NULL;
	uint32_t type = GELF_R_TYPE(r->r_info);
	int64_t addend = r->r_addend;
	uint64_t at = r->r_offset - base;
	char *key = NULL;

	if (gelf_getsym(p->symdata, (int)GELF_R_SYM(r->r_info), &es)) {
		bool local = GELF_ST_BIND(es.st_info) == STB_LOCAL && es.st_shndx != SHN_UNDEF &&
			     es.st_shndx < p->nsecs;
		int c = -1;

		if (local && GELF_ST_TYPE(es.st_info) != STT_SECTION)
			addend += (int64_t)es.st_value;
		if (local && !(p->secs[es.st_shndx].sh.sh_flags & SHF_MERGE))
			c = preceding(p, es.st_shndx, (uint64_t)addend);
		if (c >= 0) {
			key = anon_name(o->syms[c].name);
			addend -= (int64_t)p->value[c];
		} else if (local && (p->secs[es.st_shndx].sh.sh_flags & SHF_MERGE) &&
			   section_target(p, es.st_shndx, (uint64_t)addend, &tmp) == 0) {
			key = tmp.to;
			addend = tmp.addend;
		} else {
			name = local ? p->secs[es.st_shndx].name
				     : elf_strptr(p->elf, p->strtab, es.st_name);
		}
	}
	if (!key)
		key = anon_name(name ? name : "");
	h = fnv(h, &at, sizeof(at));
	h = fnv(h, &type, sizeof(type));
	h = fnv(h, &addend, sizeof(addend));
	if (key)
		h = fnv(h, key, strlen(key) + 1);
	free(key);
	return h;
}

/* The bytes of [off, end) of section shn and the relocations in it */
/* The end of the piece [off, end) without the zeros that align what
 * follows it: a piece before it that grows changes them. */
static uint64_t unpadded_end(const struct sec *s, const uint8_t *b, uint64_t off, uint64_t end)
{
	uint64_t align = s->sh.sh_addralign > 1 ? s->sh.sh_addralign : 1, lim;

	lim = end - off >= align - 1 ? end - (align - 1) : off;
	for (size_t i = 0; i < s->nrela; i++) {
		GElf_Rela r;

		if (gelf_getrela(s->rela, (int)i, &r) && r.r_offset >= off && r.r_offset < end)
			lim = HP_MAX(lim,
				     HP_MIN(end, r.r_offset + field_size(GELF_R_TYPE(r.r_info))));
	}
	while (end > lim && !b[end - 1])
		end--;
	return end;
}

/* The bytes of [off, end) of section shn and the relocations in it */
static uint64_t piece_hash(const struct hp_obj *o, struct priv *p, size_t shn, uint64_t off,
			   uint64_t end)
{
	const struct sec *s = &p->secs[shn];
	const uint8_t *b =
		s->data && s->data->d_buf && s->sh.sh_type != SHT_NOBITS && end <= s->data->d_size
			? s->data->d_buf
			: NULL;
	uint64_t n, h;

	if (b)
		end = unpadded_end(s, b, off, end);
	n = end - off;
	h = fnv(FNV_INIT, &n, sizeof(n));
	if (b)
		h = fnv(h, b + off, n);
	for (size_t i = 0; i < s->nrela; i++) {
		GElf_Rela r;

		if (gelf_getrela(s->rela, (int)i, &r) && r.r_offset >= off && r.r_offset < end)
			h = hash_rela(o, p, &r, off, h);
	}
	return h;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Where a reference into anonymous data points, by what lies there: the
 * piece from its offset to the next offset referred to, so that a table
 * added before it (which shifts it) or after it leaves it the same. */
static int describe_anon(const struct hp_obj *o, struct priv *p, struct hp_oref *r)
{
	size_t shn = (size_t)(-2 - r->sym);
	const struct sec *s = &p->secs[shn];
	uint64_t off = (uint64_t)r->addend, end = s->sh.sh_size;
	char *name = anon_name(s->name);
	int n;

	for (size_t k = 0; k < s->noffs; k++)
		if (s->offs[k] > off) {
			end = s->offs[k];
			break;
		}
	if (!name)
		return -ENOMEM;
	if (off < s->sh.sh_size)
		n = asprintf(&r->to, "%s:%016" PRIx64, name, piece_hash(o, p, shn, off, end));
	else
		n = asprintf(&r->to, "%s+%" PRIu64, name, off);
	free(name);
	r->sym = -1;
	r->addend = 0;
	return n < 0 ? -ENOMEM : 0;
}

static int resolve_anon(struct hp_obj *o, struct priv *p)
{
	for (size_t i = 0; i < o->nsyms; i++)
		for (size_t k = 0; k < o->syms[i].nrefs; k++) {
			const struct hp_oref *r = &o->syms[i].refs[k];
			struct sec *s;

			if (r->sym > -2)
				continue;
			s = &p->secs[-2 - r->sym];
			if (hp_grow((void **)&s->offs, &s->capoffs, s->noffs, sizeof(*s->offs)) < 0)
				return -ENOMEM;
			s->offs[s->noffs++] = (uint64_t)r->addend;
		}
	for (size_t shn = 0; shn < p->nsecs; shn++)
		if (p->secs[shn].noffs > 1)
			qsort(p->secs[shn].offs, p->secs[shn].noffs, sizeof(uint64_t), cmp_u64);
	for (size_t i = 0; i < o->nsyms; i++)
		for (size_t k = 0; k < o->syms[i].nrefs; k++)
			if (o->syms[i].refs[k].sym <= -2 &&
			    describe_anon(o, p, &o->syms[i].refs[k]) < 0)
				return -ENOMEM;
	return 0;
}

/* Rewrites the target of relocation r (in function or variable `in`) into
 * a symbol index plus offset from it, or a content description in `to`. */
static int norm_target(struct hp_obj *o, struct priv *p, const GElf_Rela *r, int64_t adj,
		       struct hp_oref *ref)
{
	size_t idx = GELF_R_SYM(r->r_info);
	GElf_Sym es;
	const char *name;

	ref->sym = -1;
	ref->addend = r->r_addend + adj;
	if (idx == 0 || !gelf_getsym(p->symdata, (int)idx, &es)) {
		ref->to = hp_strdup("");
		return ref->to ? 0 : -ENOMEM;
	}
	if (idx < p->nelfsyms && p->symmap[idx] >= 0) {
		ref->sym = p->symmap[idx];
		return 0;
	}
	/* a section symbol, or a label the assembler kept because it points
	 * into a mergeable section (.LC0, .L.str, .LCPI0_0) */
	if (es.st_shndx != SHN_UNDEF && es.st_shndx < p->nsecs) {
		uint64_t off = (uint64_t)ref->addend;
		int c;

		if (GELF_ST_TYPE(es.st_info) != STT_SECTION)
			off += es.st_value;
		c = covering(o, p, es.st_shndx, off);
		if (c >= 0) {
			ref->sym = c;
			ref->addend = (int64_t)(off - p->value[c]);
			return 0;
		}
		return section_target(p, es.st_shndx, off, ref);
	}
	name = elf_strptr(p->elf, p->strtab, es.st_name);
	ref->to = strip_clones(name ? name : "");
	return ref->to ? 0 : -ENOMEM;
}

static int cmp_ref(const void *a, const void *b)
{
	const struct hp_oref *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int load_sym_refs(struct hp_obj *o, struct priv *p, size_t i)
{
	struct hp_osym *y = &o->syms[i];
	const struct sec *s = &p->secs[p->shndx[i]];
	bool code = s->sh.sh_flags & SHF_EXECINSTR;
	struct insns in = {0};
	size_t cap = 0;
	int r = 0;

	if (code && s->nrela)
		r = load_insns(y, &in);
	for (size_t k = 0; r == 0 && k < s->nrela; k++) {
		GElf_Rela rl;
		struct hp_oref *ref;
		int64_t adj = 0;
		bool branch = false;

		if (!gelf_getrela(s->rela, (int)k, &rl) || rl.r_offset < p->value[i] ||
		    rl.r_offset >= p->value[i] + y->size)
			continue;
		r = hp_grow((void **)&y->refs, &cap, y->nrefs, sizeof(*y->refs));
		if (r < 0)
			break;
		ref = &y->refs[y->nrefs++];
		memset(ref, 0, sizeof(*ref));
		ref->offset = rl.r_offset - p->value[i];
		ref->type = GELF_R_TYPE(rl.r_info);
		if (code && pc_relative(ref->type))
			adj = insn_adjust(&in, ref->offset, ref->type, &branch);
		/* -fno-plt calls through the GOT: `call *f@GOTPCREL(%rip)` */
		ref->call = branch &&
			    (ref->type == R_X86_64_PLT32 || ref->type == R_X86_64_PC32 ||
			     ref->type == R_X86_64_GOTPCRELX || ref->type == R_X86_64_GOTPCREL);
		r = norm_target(o, p, &rl, adj, ref);
	}
	free_insns(&in);
	if (r == 0 && y->nrefs > 1)
		qsort(y->refs, y->nrefs, sizeof(*y->refs), cmp_ref);
	return r;
}

/* GCC's "counter.3": a local variable whose name ends in a number that is
 * no clone suffix; returns the length of the name without it, or 0. */
static size_t static_local_base(const struct hp_osym *y)
{
	const char *dot = strrchr(y->name, '.'), *prev;

	if (!y->local || !y->defined || (y->type != HP_OSYM_DATA && y->type != HP_OSYM_TLS) ||
	    !dot || dot == y->name || !is_number(dot + 1, strlen(dot + 1)) ||
	    is_special_static(y->name))
		return 0;
	for (prev = dot - 1; prev > y->name && *prev != '.'; prev--)
		;
	if (*prev == '.' && is_clone_word(prev + 1, (size_t)(dot - prev - 1)))
		return 0;
	return (size_t)(dot - y->name);
}

/* A static local is known by the function that uses it: its number counts
 * the static locals before it in the file, which other changes shift. */
static int static_local_keys(struct hp_obj *o)
{
	_cleanup_free_ int *user = malloc((o->nsyms + 1) * sizeof(*user));

	if (!user)
		return -ENOMEM;
	for (size_t i = 0; i < o->nsyms; i++)
		user[i] = -1;
	for (size_t f = 0; f < o->nsyms; f++)
		for (size_t k = 0; o->syms[f].type == HP_OSYM_FUNC && k < o->syms[f].nrefs; k++) {
			int t = o->syms[f].refs[k].sym;

			if (t >= 0 && user[t] < 0)
				user[t] = (int)f;
		}
	for (size_t i = 0; i < o->nsyms; i++) {
		struct hp_osym *y = &o->syms[i];
		size_t base = static_local_base(y), fnlen;
		const char *fn = user[i] >= 0 ? o->syms[user[i]].key : "";
		char *key;

		if (!base)
			continue;
		/* the .cold part of f often comes first, being local */
		fnlen = strlen(fn);
		if (fnlen > 5 && !strcmp(fn + fnlen - 5, ".cold"))
			fnlen -= 5;
		if (asprintf(&key, "%.*s/%.*s", (int)fnlen, fn, (int)base, y->name) < 0)
			return -ENOMEM;
		free(y->key);
		y->key = key;
	}
	return 0;
}

static const char *ref_to(const struct hp_obj *o, const struct hp_oref *r)
{
	return r->sym >= 0 ? o->syms[r->sym].key : r->to ? r->to : "";
}

/* CSWTCH.N, __func__.N: what they hold is what they are. */
static int special_keys(struct hp_obj *o)
{
	for (size_t i = 0; i < o->nsyms; i++) {
		struct hp_osym *y = &o->syms[i];
		uint64_t h = fnv(FNV_INIT, &y->size, sizeof(y->size));
		const char *dot;
		char *key;

		if (!y->defined || !y->local || !is_special_static(y->name))
			continue;
		if (y->bytes)
			h = fnv(h, y->bytes, y->size);
		for (size_t k = 0; k < y->nrefs; k++) {
			const struct hp_oref *r = &y->refs[k];
			const char *to = ref_to(o, r);

			h = fnv(h, &r->offset, sizeof(r->offset));
			h = fnv(h, &r->type, sizeof(r->type));
			h = fnv(h, &r->addend, sizeof(r->addend));
			h = fnv(h, to, strlen(to) + 1);
		}
		dot = strchr(y->name + 1, '.');
		if (asprintf(&key, "%.*s#%016" PRIx64,
			     dot ? (int)(dot - y->name) : (int)strlen(y->name), y->name, h) < 0)
			return -ENOMEM;
		free(y->key);
		y->key = key;
	}
	return 0;
}

static int cmp_by_key(const void *a, const void *b, void *arg)
{
	const struct hp_obj *o = arg;
	int x = *(const int *)a, y = *(const int *)b, c = strcmp(o->syms[x].key, o->syms[y].key);

	return c ? c : (x > y) - (x < y);
}

/* The defined symbols sorted by key (then index), for hp_obj_find. */
static int index_keys(struct hp_obj *o, struct priv *p)
{
	free(p->bykey);
	p->bykey = malloc((o->nsyms + 1) * sizeof(*p->bykey));
	p->nbykey = 0;
	if (!p->bykey)
		return -ENOMEM;
	for (size_t i = 0; i < o->nsyms; i++)
		if (o->syms[i].defined)
			p->bykey[p->nbykey++] = (int)i;
	qsort_r(p->bykey, p->nbykey, sizeof(*p->bykey), cmp_by_key, o);
	return 0;
}

/* Two definitions with one key (two `counter`s in one function): the
 * second and later get "#2", "#3" in symbol order. */
static int unique_keys(struct hp_obj *o, struct priv *p)
{
	int r = index_keys(o, p);
	size_t first = 0;

	for (size_t k = 1; r == 0 && k < p->nbykey; k++) {
		struct hp_osym *y = &o->syms[p->bykey[k]];
		char *key;

		if (strcmp(o->syms[p->bykey[first]].key, y->key)) {
			first = k;
			continue;
		}
		if (asprintf(&key, "%s#%zu", y->key, k - first + 1) < 0)
			return -ENOMEM;
		free(y->key);
		y->key = key;
	}
	return r < 0 ? r : index_keys(o, p);
}

static int fill_to(struct hp_obj *o)
{
	for (size_t i = 0; i < o->nsyms; i++)
		for (size_t k = 0; k < o->syms[i].nrefs; k++) {
			struct hp_oref *r = &o->syms[i].refs[k];

			if (r->sym < 0)
				continue;
			free(r->to);
			r->to = hp_strdup(o->syms[r->sym].key);
			if (!r->to)
				return -ENOMEM;
		}
	return 0;
}

static bool ctor_section(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (!strncmp(name, *list, strlen(*list)))
			return true;
	return false;
}

/* Functions run at load or exit: the references from .init_array and the
 * like (against a section symbol, since they are usually static). */
static void mark_ctors(struct hp_obj *o, const struct priv *p)
{
	static const char *const ctors[] = {".init_array", ".preinit_array", ".ctors", NULL};
	static const char *const dtors[] = {".fini_array", ".dtors", NULL};

	for (size_t shn = 1; shn < p->nsecs; shn++) {
		const struct sec *s = &p->secs[shn];
		bool c = ctor_section(s->name, ctors), d = ctor_section(s->name, dtors);

		for (size_t k = 0; (c || d) && k < s->nrela; k++) {
			GElf_Rela r;
			GElf_Sym es;
			size_t idx;
			int t = -1;

			if (!gelf_getrela(s->rela, (int)k, &r))
				continue;
			idx = GELF_R_SYM(r.r_info);
			if (!gelf_getsym(p->symdata, (int)idx, &es))
				continue;
			if (GELF_ST_TYPE(es.st_info) == STT_SECTION)
				t = covering(o, p, es.st_shndx, (uint64_t)r.r_addend);
			else if (idx < p->nelfsyms)
				t = p->symmap[idx];
			if (t >= 0 && c)
				o->syms[t].in_ctors = true;
			if (t >= 0 && d)
				o->syms[t].in_dtors = true;
		}
	}
}

static void mark_parents(struct hp_obj *o)
{
	for (size_t i = 0; i < o->nsyms; i++) {
		struct hp_osym *y = &o->syms[i];
		size_t n = strlen(y->key);

		if (y->type != HP_OSYM_FUNC || !y->defined || n < 6 ||
		    strcmp(y->key + n - 5, ".cold"))
			continue;
		for (size_t k = 0; k < o->nsyms; k++)
			if (k != i && o->syms[k].type == HP_OSYM_FUNC && o->syms[k].defined &&
			    strlen(o->syms[k].key) == n - 5 &&
			    !strncmp(o->syms[k].key, y->key, n - 5))
				y->parent = (int)k;
	}
}

static void free_priv(struct priv *p)
{
	if (!p)
		return;
	if (p->elf)
		elf_end(p->elf);
	if (p->fd >= 0)
		close(p->fd);
	for (size_t i = 0; p->secs && i < p->nsecs; i++) {
		free(p->secs[i].offs);
		free(p->secs[i].members);
	}
	free(p->secs);
	free(p->symmap);
	free(p->shndx);
	free(p->value);
	free(p->bykey);
	free(p);
}

static int analyse(struct hp_obj *o, struct priv *p)
{
	int r = read_sections(o, p);

	if (r == 0)
		r = read_symbols(o, p);
	for (size_t i = 0; r == 0 && i < o->nsyms; i++)
		if (o->syms[i].defined && p->shndx[i] > 0)
			r = load_sym_refs(o, p, i);
	if (r == 0)
		r = resolve_anon(o, p);
	if (r == 0)
		r = static_local_keys(o);
	if (r == 0)
		r = special_keys(o);
	if (r == 0)
		r = unique_keys(o, p);
	if (r == 0)
		r = fill_to(o);
	if (r == 0) {
		mark_ctors(o, p);
		mark_parents(o);
	}
	if (r == -ENOMEM)
		hp_fail(r, "%s: out of memory", o->path);
	return r;
}

static bool is_bitcode(int fd)
{
	uint8_t m[4];

	return pread(fd, m, sizeof(m), 0) == sizeof(m) && !memcmp(m, "BC\xc0\xde", 4);
}

int hp_obj_load(const char *path, struct hp_obj *ret)
{
	struct hp_obj o = {0};
	struct priv *p = calloc(1, sizeof(*p));
	GElf_Ehdr eh;
	int r;

	o.path = hp_strdup(path);
	if (!p || !o.path) {
		r = hp_fail(-ENOMEM, "%s: out of memory", path);
		goto cleanup;
	}
	o.priv = p;
	p->fd = -1;
	elf_version(EV_CURRENT);
	p->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->fd < 0) {
		r = hp_fail(-errno, "cannot open %s: %m", path);
		goto cleanup;
	}
	p->elf = elf_begin(p->fd, ELF_C_READ, NULL);
	if (p->elf && elf_kind(p->elf) != ELF_K_ELF && is_bitcode(p->fd)) {
		r = hp_fail(-HP_EBADPATCH, "%s: LLVM bitcode, not an object (built with -flto)",
			    path);
		goto cleanup;
	}
	if (!p->elf || !gelf_getehdr(p->elf, &eh) || eh.e_type != ET_REL ||
	    eh.e_machine != EM_X86_64 || gelf_getclass(p->elf) != ELFCLASS64) {
		r = hp_fail(-HP_EBADPATCH, "%s: not an x86-64 relocatable object", path);
		goto cleanup;
	}
	r = analyse(&o, p);
	if (r == 0) {
		*ret = o;
		return 0;
	}
cleanup:
	if (!o.priv)
		free(p);
	hp_obj_free(&o);
	return r;
}

void hp_obj_free(struct hp_obj *o)
{
	for (size_t i = 0; i < o->nsyms; i++) {
		struct hp_osym *y = &o->syms[i];

		for (size_t k = 0; k < y->nrefs; k++)
			free(y->refs[k].to);
		free(y->refs);
		free(y->name);
		free(y->key);
		free(y->section);
	}
	free(o->syms);
	free(o->path);
	free(o->file);
	free_priv(o->priv);
	memset(o, 0, sizeof(*o));
}

int hp_obj_find(const struct hp_obj *o, const char *key)
{
	const struct priv *p = o->priv;
	size_t lo = 0, hi = p ? p->nbykey : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(o->syms[p->bykey[mid]].key, key);

		if (c == 0)
			return p->bykey[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Whether byte `at` of y is written by one of its relocations. */
static bool relocated(const struct hp_osym *y, uint64_t at)
{
	for (size_t k = 0; k < y->nrefs; k++)
		if (at >= y->refs[k].offset && at < y->refs[k].offset + field_size(y->refs[k].type))
			return true;
	return false;
}

/* The first byte that differs outside relocated fields, or UINT64_MAX. */
static uint64_t first_byte_diff(const struct hp_osym *a, const struct hp_osym *b)
{
	for (uint64_t i = 0; i < a->size && i < b->size; i++) {
		uint8_t x = a->bytes ? a->bytes[i] : 0, y = b->bytes ? b->bytes[i] : 0;

		if (x != y && !relocated(a, i) && !relocated(b, i))
			return i;
	}
	return UINT64_MAX;
}

static bool ref_equal(const struct hp_obj *oa, const struct hp_oref *a, const struct hp_obj *ob,
		      const struct hp_oref *b)
{
	return a->offset == b->offset && a->type == b->type && a->addend == b->addend &&
	       !strcmp(ref_to(oa, a), ref_to(ob, b));
}

static void describe_ref(char *out, size_t n, const struct hp_obj *o, const struct hp_oref *r,
			 const char *verb)
{
	const char *to = ref_to(o, r);

	if (r->call)
		snprintf(out, n, "the call at +0x%" PRIx64 " %s %.120s", r->offset, verb, to);
	else if (r->addend)
		snprintf(out, n, "the reference at +0x%" PRIx64 " %s %.120s%+" PRId64, r->offset,
			 verb, to, r->addend);
	else
		snprintf(out, n, "the reference at +0x%" PRIx64 " %s %.120s", r->offset, verb, to);
}

/* The first reference that differs, by offset: its offset, or UINT64_MAX. */
static uint64_t first_ref_diff(const struct hp_obj *oa, const struct hp_osym *a,
			       const struct hp_obj *ob, const struct hp_osym *b, char *why,
			       size_t n)
{
	size_t i = 0;

	for (; i < a->nrefs && i < b->nrefs; i++)
		if (!ref_equal(oa, &a->refs[i], ob, &b->refs[i]))
			break;
	if (i < a->nrefs && i < b->nrefs) {
		if (a->refs[i].offset != b->refs[i].offset || a->refs[i].type != b->refs[i].type) {
			uint64_t at = HP_MIN(a->refs[i].offset, b->refs[i].offset);

			snprintf(why, n, "the relocations differ at +0x%" PRIx64, at);
			return at;
		}
		describe_ref(why, n, ob, &b->refs[i], "now goes to");
		return b->refs[i].offset;
	}
	if (i < b->nrefs) {
		describe_ref(why, n, ob, &b->refs[i], "is new, to");
		return b->refs[i].offset;
	}
	if (i < a->nrefs) {
		describe_ref(why, n, oa, &a->refs[i], "is gone, was to");
		return a->refs[i].offset;
	}
	return UINT64_MAX;
}

static bool compare_syms(const struct hp_obj *oa, const struct hp_osym *a, const struct hp_obj *ob,
			 const struct hp_osym *b, char *why, size_t n)
{
	char rwhy[200];
	uint64_t bd, rd;

	if (a->type != b->type) {
		snprintf(why, n, "its kind changed (function, variable, TLS)");
		return false;
	}
	if (a->size != b->size) {
		snprintf(why, n, "size %" PRIu64 " -> %" PRIu64, a->size, b->size);
		return false;
	}
	if (a->readonly != b->readonly || a->local != b->local || a->weak != b->weak) {
		snprintf(why, n, "%s changed",
			 a->readonly != b->readonly ? "its writability" : "its binding");
		return false;
	}
	bd = first_byte_diff(a, b);
	rd = first_ref_diff(oa, a, ob, b, rwhy, sizeof(rwhy));
	if (bd == UINT64_MAX && rd == UINT64_MAX)
		return true;
	if (bd < rd)
		snprintf(why, n, "bytes differ at +0x%" PRIx64, bd);
	else
		snprintf(why, n, "%s", rwhy);
	return false;
}

static bool comparable(const struct hp_osym *y)
{
	return y->defined;
}

static int add_change(struct hp_objdiff *d, size_t *cap, int orig, int patched, enum hp_change c)
{
	struct hp_objchange *e;

	if (hp_grow((void **)&d->ent, cap, d->n, sizeof(*d->ent)) < 0)
		return hp_fail(-ENOMEM, "out of memory comparing objects");
	e = &d->ent[d->n++];
	memset(e, 0, sizeof(*e));
	e->orig = orig;
	e->patched = patched;
	e->change = c;
	return 0;
}

/* A changed, new or removed .cold fragment changes its function. */
static void propagate_cold(const struct hp_obj *a, const struct hp_obj *b, struct hp_objdiff *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct hp_objchange *e = &d->ent[i];
		const struct hp_osym *y =
			e->patched >= 0 ? &b->syms[e->patched] : &a->syms[e->orig];
		int parent = y->parent;
		bool in_b = e->patched >= 0;

		if (e->change == HP_SAME || parent < 0)
			continue;
		for (size_t k = 0; k < d->n; k++) {
			struct hp_objchange *f = &d->ent[k];

			if ((in_b ? f->patched : f->orig) != parent || f->change != HP_SAME)
				continue;
			f->change = HP_CHANGED;
			snprintf(f->why, sizeof(f->why), "its part %.60s: %.120s", y->name,
				 e->change == HP_CHANGED ? e->why
				 : e->change == HP_NEW	 ? "is new"
							 : "is gone");
		}
	}
}

int hp_obj_diff(const struct hp_obj *orig, const struct hp_obj *patched, struct hp_objdiff *ret)
{
	struct hp_objdiff d = {0};
	size_t cap = 0;
	int r = 0;

	for (size_t i = 0; r == 0 && i < orig->nsyms; i++) {
		const struct hp_osym *a = &orig->syms[i];
		int j;

		if (!comparable(a))
			continue;
		j = hp_obj_find(patched, a->key);
		r = add_change(&d, &cap, (int)i, j, j < 0 ? HP_REMOVED : HP_SAME);
		if (r == 0 && j >= 0 &&
		    !compare_syms(orig, a, patched, &patched->syms[j], d.ent[d.n - 1].why,
				  sizeof(d.ent[d.n - 1].why)))
			d.ent[d.n - 1].change = HP_CHANGED;
	}
	for (size_t j = 0; r == 0 && j < patched->nsyms; j++)
		if (comparable(&patched->syms[j]) && hp_obj_find(orig, patched->syms[j].key) < 0)
			r = add_change(&d, &cap, -1, (int)j, HP_NEW);
	if (r < 0) {
		free(d.ent);
		return r;
	}
	propagate_cold(orig, patched, &d);
	*ret = d;
	return 0;
}

void hp_objdiff_free(struct hp_objdiff *d)
{
	free(d->ent);
	d->ent = NULL;
	d->n = 0;
}
