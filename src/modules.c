/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "modules.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <elf.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "fileio.h"
#include "memory.h"
#include "objcache.h"
#include "target.h"
#include "util.h"

#define PAGE	    4096ull
#define USER_TOP    0x7ffffffff000ull
#define USER_BOTTOM 0x10000ull

static bool parse_hex(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	int n = 0;

	for (; n < 17; s++, n++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		v = v * 16 + (uint64_t)d;
	}
	if (n == 0 || n > 16)
		return false;
	*p = s;
	*ret = v;
	return true;
}

static bool parse_dec(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	int n = 0;

	for (; *s >= '0' && *s <= '9' && n < 20; s++, n++)
		v = v * 10 + (uint64_t)(*s - '0');
	if (!n)
		return false;
	*p = s;
	*ret = v;
	return true;
}

static bool expect(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

static bool skip_spaces(const char **p)
{
	const char *s = *p;

	while (*s == ' ' || *s == '\t')
		s++;
	if (s == *p)
		return false;
	*p = s;
	return true;
}

int hp_maps_parse(const char *text, struct hp_maps *ret)
{
	struct hp_maps m = {0};
	const char *line = text;
	int lineno = 0;

	while (line && *line) {
		const char *p = line, *eol = strchr(line, '\n');
		size_t linelen = eol ? (size_t)(eol - line) : strlen(line);
		struct hp_mapping mp = {0};
		uint64_t maj, min;

		lineno++;
		if (!parse_hex(&p, &mp.start) || !expect(&p, '-') || !parse_hex(&p, &mp.end) ||
		    !skip_spaces(&p) || p + 4 > line + linelen)
			goto bad;
		mp.prot = (p[0] == 'r' ? HP_PROT_R : 0) | (p[1] == 'w' ? HP_PROT_W : 0) |
			  (p[2] == 'x' ? HP_PROT_X : 0) | (p[3] == 's' ? HP_PROT_SHARED : 0);
		p += 4;
		if (!skip_spaces(&p) || !parse_hex(&p, &mp.offset) || !skip_spaces(&p) ||
		    !parse_hex(&p, &maj) || !expect(&p, ':') || !parse_hex(&p, &min) ||
		    !skip_spaces(&p) || !parse_dec(&p, &mp.inode) || mp.end < mp.start)
			goto bad;
		mp.dev_major = (unsigned)maj;
		mp.dev_minor = (unsigned)min;
		while ((*p == ' ' || *p == '\t') && p < line + linelen)
			p++;
		if (p < line + linelen) {
			size_t plen = (size_t)(line + linelen - p);
			static const char del[] = " (deleted)";

			if (plen >= sizeof(del) - 1 &&
			    !memcmp(p + plen - (sizeof(del) - 1), del, sizeof(del) - 1)) {
				mp.deleted = true;
				plen -= sizeof(del) - 1;
			}
			mp.path = strndup(p, plen);
			if (!mp.path)
				goto nomem;
		}
		if (hp_grow((void **)&m.m, &m.cap, m.n, sizeof(*m.m)) < 0) {
			free(mp.path);
			goto nomem;
		}
		m.m[m.n++] = mp;
		line = eol ? eol + 1 : NULL;
	}
	*ret = m;
	return 0;
bad:
	hp_maps_free(&m);
	return hp_fail(-EINVAL, "cannot parse line %d of a maps file", lineno);
nomem:
	hp_maps_free(&m);
	return hp_fail(-ENOMEM, "out of memory");
}

void hp_maps_free(struct hp_maps *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->m[i].path);
	free(m->m);
	memset(m, 0, sizeof(*m));
}

int hp_maps_read(pid_t pid, struct hp_maps *ret)
{
	char path[64], *text = NULL;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	r = hp_read_file(path, &text, NULL);
	if (r < 0)
		return hp_fail(r == -ENOENT ? -ESRCH : r, "cannot read %s: %s", path, strerror(-r));
	r = hp_maps_parse(text, ret);
	free(text);
	return r;
}

const struct hp_mapping *hp_maps_find(const struct hp_maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->m[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->n && m->m[lo].start <= addr && addr < m->m[lo].end)
		return &m->m[lo];
	return NULL;
}

static bool named(const struct hp_mapping *mp, const char *name)
{
	return mp && mp->path && !strcmp(mp->path, name);
}

uint64_t hp_maps_find_gap(const struct hp_maps *m, uint64_t near_lo, uint64_t near_hi, uint64_t len,
			  uint64_t reach)
{
	uint64_t best = 0, best_dist = UINT64_MAX;

	len = (len + PAGE - 1) & ~(PAGE - 1);
	for (size_t i = 0; i <= m->n; i++) {
		const struct hp_mapping *prev = i ? &m->m[i - 1] : NULL,
					*next = i < m->n ? &m->m[i] : NULL;
		uint64_t g0 = prev ? prev->end : USER_BOTTOM, g1 = next ? next->start : USER_TOP;
		uint64_t cand[2];

		if (prev && prev->start >= USER_TOP)
			break;
		if (g1 > USER_TOP)
			g1 = USER_TOP;
		/* The heap grows up into the gap above it; the stack grows down
		 * into the gap below it: keep out of both. */
		if (named(prev, "[heap]"))
			continue;
		if (named(next, "[stack]"))
			g1 = g1 > (64ull << 20) ? g1 - (64ull << 20) : 0;
		if (g1 <= g0 || g1 - g0 < len + 2 * PAGE)
			continue;
		/* one guard page on each side */
		g0 += PAGE;
		g1 -= PAGE;
		/* highest spot below the object, lowest spot above it */
		cand[0] = (HP_MIN(g1, near_lo) - len) & ~(PAGE - 1);
		cand[1] = (HP_MAX(g0, near_hi) + PAGE - 1) & ~(PAGE - 1);
		for (int c = 0; c < 2; c++) {
			uint64_t a = cand[c], dist;

			if (HP_MIN(g1, near_lo) < len + g0 && c == 0)
				continue;
			if (a < g0 || a + len > g1)
				continue;
			if (a + len > near_lo && a < near_hi)
				continue;
			/* farthest pair of bytes must be within reach */
			uint64_t span_lo = HP_MIN(a, near_lo), span_hi = HP_MAX(a + len, near_hi);
			if (span_hi - span_lo > reach)
				continue;
			dist = a < near_lo ? near_lo - a : a - near_hi;
			if (dist < best_dist) {
				best = a;
				best_dist = dist;
			}
		}
	}
	return best;
}

static void object_free(struct hp_object *o)
{
	free(o->path);
	free(o->open_path);
}

void hp_modules_free(struct hp_modules *m)
{
	for (size_t i = 0; i < m->n; i++)
		object_free(&m->obj[i]);
	free(m->obj);
	for (size_t i = 0; i < m->nlm; i++)
		free(m->lm_names[i]);
	free(m->lm_names);
	hp_maps_free(&m->maps);
	memset(m, 0, sizeof(*m));
}

static bool same_file(const struct hp_mapping *mp, const struct hp_object *o)
{
	return mp->inode == o->inode && mp->dev_major == o->dev_major &&
	       mp->dev_minor == o->dev_minor && !strcmp(mp->path, o->path);
}

int hp_object_elf(struct hp_target *t, struct hp_object *o, struct hp_elf **ret)
{
	struct hp_elf *e;
	char path[128];
	int r;

	if (o->elf) {
		*ret = o->elf;
		return 0;
	}
	if (o->elf_error)
		return o->elf_error;
	/* map_files gives the file as mapped, even when the file on disk was
	 * replaced or deleted since. */
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", t->pid,
		 (unsigned long long)o->lo, (unsigned long long)o->first_end);
	bool slow = false;
	for (size_t i = 0; i < t->nslow_devs; i++)
		slow |= t->slow_devs[i].major == o->dev_major &&
			t->slow_devs[i].minor == o->dev_minor;
	r = hp_objcache_open(path, slow, t->deadline, &e);
	if (r == -HP_ETIMEOUT)
		r = hp_fail(r,
			    "reading %s, which pid %d maps, did not finish in time: its filesystem "
			    "does not answer (a stalled network or FUSE mount?)",
			    o->path, t->pid);
	if (r == -EACCES || r == -EPERM || r == -ENOENT) {
		/* map_files is root's: without root, the file by its path */
		if (o->deleted) {
			o->elf_error =
				hp_fail(-EACCES,
					"%s was deleted after pid %d loaded it, and "
					"/proc/%d/map_files is not readable: run hotpatch as root",
					o->path, t->pid, t->pid);
			return o->elf_error;
		}
		r = hp_objcache_open(o->path, slow, t->deadline, &e);
		if (r == 0 && (e->ino != o->inode || major(e->dev) != o->dev_major ||
			       minor(e->dev) != o->dev_minor))
			r = hp_fail(-ESTALE,
				    "%s on disk is not the file pid %d has loaded (it "
				    "was replaced); run hotpatch as root to read the loaded "
				    "copy through /proc/%d/map_files",
				    o->path, t->pid, t->pid);
		if (r == 0) {
			free(o->open_path);
			o->open_path = hp_strdup(o->path);
		}
	} else if (r == 0) {
		free(o->open_path);
		o->open_path = hp_strdup(path);
	}
	if (r < 0) {
		o->elf_error = r;
		return r;
	}
	o->elf = e;
	/* bias: the mapping at file offset X holds the PT_LOAD whose page
	 * aligned offset is X */
	for (size_t i = 0; i < e->phnum; i++) {
		const GElf_Phdr *p = &e->phdr[i];

		if (p->p_type == PT_LOAD && (p->p_offset & ~(PAGE - 1)) == o->first_offset) {
			o->bias = o->lo - (p->p_vaddr & ~(PAGE - 1));
			break;
		}
	}
	*ret = e;
	return 0;
}

static int read_ptr(struct hp_target *t, uint64_t addr, uint64_t *v)
{
	return hp_mem_read(t, addr, v, sizeof(*v));
}

/* Orders objects as the dynamic loader's link map does (r_debug.r_map),
 * starting from the executable's dynamic section at `dyn`. */
static void order_by_link_map(struct hp_target *t, struct hp_modules *m, uint64_t dyn)
{
	uint64_t rdebug = 0, lm;
	int pos = 1;

	if (!dyn)
		return;
	for (int i = 0; i < 512; i++) {
		uint64_t d[2];

		if (hp_mem_read(t, dyn + (uint64_t)i * 16, d, sizeof(d)) < 0 || d[0] == DT_NULL)
			break;
		if (d[0] == DT_DEBUG)
			rdebug = d[1];
	}
	if (!rdebug || read_ptr(t, rdebug + 8, &lm) < 0)
		return;
	m->rdebug = rdebug;
	for (int guard = 0; lm && guard < 4096; guard++) {
		uint64_t ld, next, name;
		char buf[4096];

		if (read_ptr(t, lm + 16, &ld) < 0 || read_ptr(t, lm + 24, &next) < 0 ||
		    read_ptr(t, lm + 8, &name) < 0)
			break;
		buf[0] = 0;
		for (size_t k = 0; name && k < sizeof(buf) - 1; k += 64) {
			size_t chunk = HP_MIN((size_t)64, sizeof(buf) - 1 - k);

			if (hp_mem_read(t, name + k, buf + k, chunk) < 0) {
				buf[k] = 0;
				break;
			}
			buf[k + chunk] = 0;
			if (memchr(buf + k, 0, chunk))
				break;
		}
		char **nn = realloc(m->lm_names, (m->nlm + 1) * sizeof(char *));

		if (nn) {
			m->lm_names = nn;
			m->lm_names[m->nlm] = hp_strdup(buf);
			if (m->lm_names[m->nlm])
				m->nlm++;
		}
		for (size_t i = 0; i < m->n; i++)
			if (!m->obj[i].is_main && ld >= m->obj[i].lo && ld < m->obj[i].hi &&
			    m->obj[i].order > 10000) {
				m->obj[i].order = pos++;
				break;
			}
		/* the entry whose dynamic section lies in an object is its own */
		for (size_t i = 0; i < m->n; i++)
			if (ld >= m->obj[i].lo && ld < m->obj[i].hi) {
				if (!m->obj[i].lm_node)
					m->obj[i].lm_node = lm;
				break;
			}
		lm = next;
	}
}

static int cmp_order(const void *a, const void *b)
{
	const struct hp_object *x = a, *y = b;

	return x->order - y->order;
}

/*
 * The main executable's program headers, from the auxiliary vector the
 * kernel gave the process (AT_PHDR, AT_PHNUM): the mapping around them is
 * the main executable, and they say where its dynamic section is.  Kernel
 * data and the target's memory, where a stat() of /proc/PID/exe or a read
 * of the file would ask the executable's filesystem, which the target's
 * owner may control.
 */
static void main_phdr(pid_t pid, uint64_t *ret_phdr, uint64_t *ret_phnum)
{
	char path[64], *buf = NULL;
	size_t len = 0;

	*ret_phdr = *ret_phnum = 0;
	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	if (hp_read_file(path, &buf, &len) < 0)
		return;
	for (size_t i = 0; i + 16 <= len; i += 16) {
		uint64_t kv[2];

		memcpy(kv, buf + i, sizeof(kv));
		if (kv[0] == AT_PHDR)
			*ret_phdr = kv[1];
		else if (kv[0] == AT_PHNUM)
			*ret_phnum = kv[1];
	}
	free(buf);
}

/* The executable's dynamic section, from its program headers in memory. */
static uint64_t main_dynamic(struct hp_target *t, uint64_t phdr, uint64_t phnum)
{
	Elf64_Phdr ph[64];
	uint64_t bias = 0, dyn = 0;
	bool have_bias = false;

	if (!phdr || !phnum || phnum > HP_ARRAY_SIZE(ph) ||
	    hp_mem_pread(t, phdr, ph, phnum * sizeof(ph[0])) < 0)
		return 0;
	for (size_t i = 0; i < phnum; i++)
		if (ph[i].p_type == PT_PHDR) {
			bias = phdr - ph[i].p_vaddr;
			have_bias = true;
		}
	for (size_t i = 0; i < phnum; i++)
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = ph[i].p_vaddr;
	/* without PT_PHDR, only a fixed-address executable is understood */
	return dyn && (have_bias || dyn < phdr) ? bias + dyn : 0;
}

/* Filesystems whose server may take forever to answer a read. */
static bool slow_fstype(const char *type)
{
	static const char *const slow[] = {"fuse", "fuseblk",  "nfs",	   "nfs4", "cifs",
					   "smb3", "9p",       "ceph",	   "afs",  "lustre",
					   "coda", "virtiofs", "orangefs", "gfs2", "ocfs2"};

	if (!strncmp(type, "fuse.", 5))
		return true;
	for (size_t i = 0; i < HP_ARRAY_SIZE(slow); i++)
		if (!strcmp(type, slow[i]))
			return true;
	return false;
}

/*
 * Does any file the target maps live on such a filesystem?  Its mount
 * table (kernel data, in the target's own mount namespace) gives each
 * device's filesystem type; /proc/PID/maps the device of each mapping.
 */
/* One mount namespace's devices on slow filesystems, and their types. */
struct slow_ns {
	char ns[64]; /* the readlink of /proc/PID/ns/mnt */
	struct hp_dev *devs;
	char (*types)[64];
	size_t n;
};

/* Every process of a pre-forking server shares one mount namespace: its
 * mount table is read once per command, not once per process. */
static struct slow_ns slow_cache[8];
static size_t slow_cached;

static void slow_ns_read(pid_t pid, struct slow_ns *sn)
{
	char path[64], *buf = NULL;

	snprintf(path, sizeof(path), "/proc/%d/mountinfo", pid);
	if (hp_read_file(path, &buf, NULL) < 0)
		return;
	for (char *line = buf, *eol; line && *line; line = eol ? eol + 1 : NULL) {
		unsigned maj, min;
		char *sep, type[64];

		eol = strchr(line, '\n');
		if (eol)
			*eol = 0;
		sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*u %*u %u:%u", &maj, &min) != 2 ||
		    sscanf(sep + 3, "%63s", type) != 1 || !slow_fstype(type))
			continue;
		struct hp_dev *nd = realloc(sn->devs, (sn->n + 1) * sizeof(*nd));
		if (!nd)
			break;
		sn->devs = nd;
		char(*nt)[64] = realloc(sn->types, (sn->n + 1) * sizeof(*nt));
		if (!nt)
			break;
		sn->types = nt;
		sn->devs[sn->n] = (struct hp_dev){maj, min};
		snprintf(sn->types[sn->n++], sizeof(*nt), "%s", type);
	}
	free(buf);
}

static const struct slow_ns *slow_ns_of(pid_t pid, struct slow_ns *uncached)
{
	char link[64], ns[64];
	ssize_t l;

	snprintf(link, sizeof(link), "/proc/%d/ns/mnt", pid);
	l = readlink(link, ns, sizeof(ns) - 1);
	ns[l > 0 ? l : 0] = 0;
	for (size_t i = 0; l > 0 && i < slow_cached; i++)
		if (!strcmp(slow_cache[i].ns, ns))
			return &slow_cache[i];
	struct slow_ns *sn = l > 0 && slow_cached < HP_ARRAY_SIZE(slow_cache)
				     ? &slow_cache[slow_cached++]
				     : uncached;
	snprintf(sn->ns, sizeof(sn->ns), "%s", ns);
	slow_ns_read(pid, sn);
	return sn;
}

static void mark_slow_files(struct hp_target *t, const struct hp_maps *maps)
{
	struct slow_ns uncached = {0};
	const struct slow_ns *sn = slow_ns_of(t->pid, &uncached);

	free(t->slow_devs);
	t->slow_devs = sn->n ? calloc(sn->n, sizeof(*t->slow_devs)) : NULL;
	t->nslow_devs = t->slow_devs ? sn->n : 0;
	for (size_t k = 0; k < t->nslow_devs; k++) {
		unsigned maj = sn->devs[k].major, min = sn->devs[k].minor;

		t->slow_devs[k] = sn->devs[k];
		for (size_t i = 0; i < maps->n; i++)
			if (maps->m[i].path && maps->m[i].inode && maps->m[i].dev_major == maj &&
			    maps->m[i].dev_minor == min) {
				t->slow_fs = true;
				snprintf(t->slow_what, sizeof(t->slow_what), "%s (on %s)",
					 maps->m[i].path, sn->types[k]);
				break;
			}
	}
	free(uncached.devs);
	free(uncached.types);
}

int hp_modules_load(struct hp_target *t, struct hp_modules *ret)
{
	struct hp_modules m = {0};
	const struct hp_mapping *exe;
	uint64_t phdr, phnum;
	int r;

	r = hp_maps_read(t->pid, &m.maps);
	if (r < 0)
		return r;
	mark_slow_files(t, &m.maps);
	main_phdr(t->pid, &phdr, &phnum);
	exe = phdr ? hp_maps_find(&m.maps, phdr) : NULL;
	if (exe && (!exe->path || exe->path[0] != '/' || !exe->inode))
		exe = NULL;
	for (size_t i = 0; i < m.maps.n; i++) {
		const struct hp_mapping *mp = &m.maps.m[i];
		struct hp_object *o = NULL;

		if (!mp->path || mp->path[0] != '/' || !mp->inode)
			continue;
		for (size_t j = 0; j < m.n; j++)
			if (same_file(mp, &m.obj[j])) {
				o = &m.obj[j];
				break;
			}
		if (!o) {
			if (hp_grow((void **)&m.obj, &m.cap, m.n, sizeof(*m.obj)) < 0) {
				hp_modules_free(&m);
				return hp_fail(-ENOMEM, "out of memory");
			}
			o = &m.obj[m.n++];
			memset(o, 0, sizeof(*o));
			o->path = hp_strdup(mp->path);
			o->dev_major = mp->dev_major;
			o->dev_minor = mp->dev_minor;
			o->inode = mp->inode;
			o->deleted = mp->deleted;
			o->lo = mp->start;
			o->first_end = mp->end;
			o->first_offset = mp->offset;
			o->order = 10001 + (int)m.n;
			o->is_main = exe && same_file(exe, o);
			if (o->is_main)
				o->order = 0;
		}
		o->hi = mp->end;
	}
	if (exe)
		order_by_link_map(t, &m, main_dynamic(t, phdr, phnum));
	qsort(m.obj, m.n, sizeof(*m.obj), cmp_order);
	*ret = m;
	hp_error_clear();
	return 0;
}

int hp_path_lookup(const char *root, const char *path, uint64_t deadline, struct hp_path_id *ret)
{
	struct stat st;
	char *canon = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = hp_file_lookup_in(root, path, deadline, &st, &canon, &ret->err);
	if (r < 0)
		return r;
	if (!canon)
		return 0; /* names nothing there: only no match by file */
	ret->found = true;
	ret->dev_major = major(st.st_dev);
	ret->dev_minor = minor(st.st_dev);
	ret->inode = st.st_ino;
	ret->canon = canon;
	return 0;
}

void hp_path_id_free(struct hp_path_id *id)
{
	free(id->canon);
	memset(id, 0, sizeof(*id));
}

enum hp_path_match hp_path_match(const struct hp_path_id *id, const char *path, const char *mapped,
				 unsigned dev_major, unsigned dev_minor, uint64_t inode)
{
	if (id->found && id->inode == inode && id->dev_major == dev_major &&
	    id->dev_minor == dev_minor)
		return HP_PATH_FILE;
	/*
	 * On overlayfs, /proc/PID/maps shows the overlay's path but (on
	 * kernels before the backing-file rework, 6.x) the device and inode
	 * of the file underneath, in the upper or lower layer, while a lookup
	 * through the path gives the overlay's own: the same file, told by
	 * its canonical path instead.  Both paths come from the kernel,
	 * rendered for hotpatch's root, so they compare as text.
	 */
	if (id->found && id->canon && !strcmp(id->canon, mapped))
		return HP_PATH_CANON;
	/* the path exactly as maps shows it: an object deleted or replaced
	 * on disk since it was loaded, or one named as hotpatch sees it */
	if (!strcmp(path, mapped))
		return HP_PATH_TEXT;
	return HP_PATH_NONE;
}

int hp_modules_find(struct hp_target *t, struct hp_modules *m, const char *name,
		    struct hp_object **ret, char *why, size_t whysz)
{
	struct hp_object *best = NULL;
	enum hp_path_match rank = HP_PATH_NONE;
	struct hp_path_id id;
	char root[64];
	int r;

	if (whysz)
		why[0] = 0;
	if (!strchr(name, '/')) {
		size_t nlen = strlen(name);

		for (size_t i = 0; i < m->n; i++)
			if (!strcmp(hp_basename(m->obj[i].path), name)) {
				*ret = &m->obj[i];
				return 0;
			}
		/* A soname ("libfoo.so.1") names a file called libfoo.so.1.2.3. */
		for (size_t i = 0; i < m->n; i++) {
			const char *b = hp_basename(m->obj[i].path);

			if (!strncmp(b, name, nlen) && b[nlen] == '.') {
				*ret = &m->obj[i];
				return 0;
			}
		}
		return -ENOENT;
	}
	/* the path as the target would open it: from its own root */
	snprintf(root, sizeof(root), "/proc/%d/root", t->pid);
	r = hp_path_lookup(root, name, t->deadline, &id);
	if (r < 0)
		return r;
	for (size_t i = 0; i < m->n; i++) {
		struct hp_object *o = &m->obj[i];
		enum hp_path_match k =
			hp_path_match(&id, name, o->path, o->dev_major, o->dev_minor, o->inode);

		if (k > rank) {
			best = o;
			rank = k;
		}
	}
	if (!best && whysz) {
		if (id.found)
			snprintf(why, whysz,
				 "; in its root that path names %s, which it has not loaded",
				 id.canon);
		else
			snprintf(why, whysz, "; in its root that path names nothing (%s)",
				 strerror(-id.err));
	}
	hp_path_id_free(&id);
	if (!best)
		return -ENOENT;
	*ret = best;
	return 0;
}

struct hp_object *hp_modules_at(struct hp_modules *m, uint64_t addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (addr >= m->obj[i].lo && addr < m->obj[i].hi)
			return &m->obj[i];
	return NULL;
}

struct hp_object *hp_modules_main(struct hp_modules *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->obj[i].is_main)
			return &m->obj[i];
	return NULL;
}

struct hp_object *hp_modules_libc(struct hp_modules *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strncmp(hp_basename(m->obj[i].path), "libc.so.", 8) ||
		    !strncmp(hp_basename(m->obj[i].path), "libc-2.", 7))
			return &m->obj[i];
	return NULL;
}

bool hp_modules_lm_has(const struct hp_modules *m, const char *name)
{
	for (size_t i = 0; i < m->nlm; i++)
		if (!strcmp(m->lm_names[i], name))
			return true;
	return false;
}

int hp_lm_lookup(struct hp_target *t, const struct hp_modules *m, uint64_t node, uint64_t *ret_addr,
		 char *name, size_t namesz)
{
	uint64_t lm;

	if (!m->rdebug || read_ptr(t, m->rdebug + 8, &lm) < 0)
		return -ENOENT;
	for (int guard = 0; lm && guard < 4096; guard++) {
		uint64_t next, nameaddr;

		if (lm == node) {
			if (read_ptr(t, lm, ret_addr) < 0 || read_ptr(t, lm + 8, &nameaddr) < 0)
				return -ENOENT;
			name[0] = 0;
			for (size_t k = 0; nameaddr && k + 1 < namesz; k++)
				if (hp_mem_read(t, nameaddr + k, name + k, 1) < 0 || !name[k]) {
					name[k] = 0;
					break;
				}
			name[namesz - 1] = 0;
			return 0;
		}
		if (read_ptr(t, lm + 24, &next) < 0)
			break;
		lm = next;
	}
	hp_error_clear();
	return -ENOENT;
}

int hp_lm_nodes(struct hp_target *t, const struct hp_modules *m, uint64_t **ret, size_t *n)
{
	uint64_t lm, *out = NULL;
	size_t cnt = 0, cap = 0;

	*ret = NULL;
	*n = 0;
	if (!m->rdebug || read_ptr(t, m->rdebug + 8, &lm) < 0)
		return -ENOENT;
	for (int guard = 0; lm && guard < 4096; guard++) {
		if (hp_grow((void **)&out, &cap, cnt, sizeof(*out)) < 0) {
			free(out);
			return -ENOMEM;
		}
		out[cnt++] = lm;
		if (read_ptr(t, lm + 24, &lm) < 0)
			break;
	}
	*ret = out;
	*n = cnt;
	return 0;
}
