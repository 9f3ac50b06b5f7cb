/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DWARF of a relocatable object.  A .o's .debug_info refers to .debug_str
 * (and, from clang, .debug_str_offsets and .debug_addr) through
 * relocations whose fields hold zero until they are applied: plain
 * dwarf_begin would read every name as the string at offset 0.  libdwfl
 * applies them when the object is reported offline, so that is how the
 * object is opened.
 *
 * Types are compared by name at the unit's top level (where C compilers
 * put them): structs, unions and enums by tag, anonymous ones by the
 * typedef that names them, other typedefs by what they name.  Types are
 * spelled as C declares them, well enough to tell two signatures apart.
 */
#include "dwcheck.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct dwtype {
	char *name; /* "struct client", "enum mode", "point" (a typedef) */
	Dwarf_Die die;
};

struct hp_dwunit {
	Dwfl *dwfl;
	Dwarf_Die cu;
	struct dwtype *types; /* sorted by name */
	size_t ntypes;
};

static const Dwfl_Callbacks offline_cb = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

static bool die_type(Dwarf_Die *d, Dwarf_Die *ret)
{
	Dwarf_Attribute a;

	return dwarf_attr_integrate(d, DW_AT_type, &a) && dwarf_formref_die(&a, ret);
}

static bool is_aggregate(int tag)
{
	return tag == DW_TAG_structure_type || tag == DW_TAG_union_type ||
	       tag == DW_TAG_enumeration_type;
}

static const char *tag_word(int tag)
{
	return tag == DW_TAG_structure_type ? "struct"
	       : tag == DW_TAG_union_type   ? "union"
					    : "enum";
}

static const char *kind_words(int tag)
{
	switch (tag) {
	case DW_TAG_structure_type:
		return "a struct";
	case DW_TAG_union_type:
		return "a union";
	case DW_TAG_enumeration_type:
		return "an enum";
	case DW_TAG_typedef:
		return "a typedef";
	}
	return "another kind of type";
}

/* The name a type goes by in messages, malloc'd; NULL for one without. */
static char *type_key(Dwarf_Die *d)
{
	const char *n = dwarf_diename(d);
	int tag = dwarf_tag(d);
	struct hp_buf b = {0};

	if (!n || dwarf_hasattr(d, DW_AT_declaration))
		return NULL;
	if (is_aggregate(tag))
		hp_buf_printf(&b, "%s %s", tag_word(tag), n);
	else if (tag == DW_TAG_typedef)
		hp_buf_printf(&b, "%s", n);
	else
		return NULL;
	return b.s;
}

static int cmp_type(const void *a, const void *b)
{
	return strcmp(((const struct dwtype *)a)->name, ((const struct dwtype *)b)->name);
}

static int collect_types(struct hp_dwunit *u)
{
	Dwarf_Die c;
	size_t cap = 0;

	if (dwarf_child(&u->cu, &c) != 0)
		return 0;
	do {
		char *k = type_key(&c);
		int r;

		if (!k)
			continue;
		r = hp_grow((void **)&u->types, &cap, u->ntypes, sizeof(*u->types));
		if (r < 0) {
			free(k);
			return r;
		}
		u->types[u->ntypes++] = (struct dwtype){.name = k, .die = c};
	} while (dwarf_siblingof(&c, &c) == 0);
	if (u->ntypes)
		qsort(u->types, u->ntypes, sizeof(*u->types), cmp_type);
	return 0;
}

static int open_dwarf(struct hp_dwunit *u, const char *path)
{
	Dwfl_Module *mod;
	Dwarf_Addr bias;
	Dwarf_Off next;
	size_t hsize;
	Dwarf *dw;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return hp_fail(-errno, "%s: %s", path, strerror(errno));
	u->dwfl = dwfl_begin(&offline_cb);
	if (!u->dwfl) {
		close(fd);
		return -ENOMEM;
	}
	/* dwfl owns fd from here */
	mod = dwfl_report_offline(u->dwfl, path, path, fd);
	dwfl_report_end(u->dwfl, NULL, NULL);
	dw = mod ? dwfl_module_getdwarf(mod, &bias) : NULL;
	if (!dw)
		return hp_fail(-HP_ESOURCE, "%s: no DWARF (build it with -g): %s", path,
			       dwfl_errmsg(-1));
	if (dwarf_nextcu(dw, 0, &next, &hsize, NULL, NULL, NULL) != 0 ||
	    !dwarf_offdie(dw, hsize, &u->cu))
		return hp_fail(-HP_ESOURCE, "%s: no compile unit in its DWARF", path);
	return 0;
}

int hp_dw_open(const char *path, struct hp_dwunit **ret)
{
	struct hp_dwunit *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return -ENOMEM;
	r = open_dwarf(u, path);
	if (r < 0)
		goto fail;
	r = collect_types(u);
	if (r < 0)
		goto fail;
	*ret = u;
	return 0;
fail:
	hp_dw_close(u);
	return r;
}

void hp_dw_close(struct hp_dwunit *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->ntypes; i++)
		free(u->types[i].name);
	free(u->types);
	if (u->dwfl)
		dwfl_end(u->dwfl);
	free(u);
}

/* ---- spelling types as C declares them ---- */

static void spell(Dwarf_Die *t, const char *inner, struct hp_buf *out, int depth);

/* `name`, then the declarator around it ("char" and "*" make "char *"). */
static void spell_named(const char *name, const char *inner, struct hp_buf *out)
{
	hp_buf_printf(out, "%s%s%s", name, *inner ? " " : "", inner);
}

/* The parameter list of a function or function type: "(const char *, int)". */
static void spell_params(Dwarf_Die *d, struct hp_buf *out, int depth)
{
	Dwarf_Die c, t;
	bool any = false;

	hp_buf_add(out, "(", 1);
	if (dwarf_child(d, &c) == 0) {
		do {
			int tag = dwarf_tag(&c);

			if (tag != DW_TAG_formal_parameter && tag != DW_TAG_unspecified_parameters)
				continue;
			if (any)
				hp_buf_add(out, ", ", 2);
			any = true;
			if (tag == DW_TAG_unspecified_parameters)
				hp_buf_add(out, "...", 3);
			else
				spell(die_type(&c, &t) ? &t : NULL, "", out, depth + 1);
		} while (dwarf_siblingof(&c, &c) == 0);
	}
	if (!any && dwarf_hasattr_integrate(d, DW_AT_prototyped))
		hp_buf_add(out, "void", 4);
	hp_buf_add(out, ")", 1);
}

static void spell_dims(Dwarf_Die *d, struct hp_buf *out)
{
	Dwarf_Die c;

	if (dwarf_child(d, &c) != 0)
		return;
	do {
		Dwarf_Attribute a;
		Dwarf_Word n;

		if (dwarf_tag(&c) != DW_TAG_subrange_type)
			continue;
		if (dwarf_attr(&c, DW_AT_count, &a) && dwarf_formudata(&a, &n) == 0)
			hp_buf_printf(out, "[%" PRIu64 "]", (uint64_t)n);
		else if (dwarf_attr(&c, DW_AT_upper_bound, &a) && dwarf_formudata(&a, &n) == 0)
			hp_buf_printf(out, "[%" PRIu64 "]", (uint64_t)n + 1);
		else
			hp_buf_add(out, "[]", 2);
	} while (dwarf_siblingof(&c, &c) == 0);
}

static const char *qualifier(int tag)
{
	switch (tag) {
	case DW_TAG_const_type:
		return "const";
	case DW_TAG_volatile_type:
		return "volatile";
	case DW_TAG_restrict_type:
		return "restrict";
	case DW_TAG_atomic_type:
		return "_Atomic";
	}
	return NULL;
}

/* A qualifier binds to a pointer after its star ("char *const"), to
 * anything else before its name ("const char"). */
static void spell_qualified(Dwarf_Die *t, const char *q, const char *inner, struct hp_buf *out,
			    int depth)
{
	Dwarf_Die u;
	bool has = die_type(t, &u);
	struct hp_buf b = {0};

	if (has && dwarf_tag(&u) == DW_TAG_pointer_type) {
		hp_buf_printf(&b, "%s%s%s", q, *inner ? " " : "", inner);
		spell(&u, b.s ? b.s : "", out, depth + 1);
	} else {
		hp_buf_printf(out, "%s ", q);
		spell(has ? &u : NULL, inner, out, depth + 1);
	}
	hp_buf_free(&b);
}

/* The declarator of a derived type wrapped around `inner`, then its base. */
static void spell_derived(Dwarf_Die *t, int tag, const char *inner, struct hp_buf *out, int depth)
{
	struct hp_buf b = {0};
	Dwarf_Die u;
	bool has = die_type(t, &u);

	if (tag == DW_TAG_pointer_type) {
		int ut = has ? dwarf_tag(&u) : 0;

		if (ut == DW_TAG_array_type || ut == DW_TAG_subroutine_type)
			hp_buf_printf(&b, "(*%s)", inner);
		else
			hp_buf_printf(&b, "*%s", inner);
	} else if (tag == DW_TAG_array_type) {
		hp_buf_printf(&b, "%s", inner);
		spell_dims(t, &b);
	} else {
		hp_buf_printf(&b, "%s", inner);
		spell_params(t, &b, depth);
	}
	spell(has ? &u : NULL, b.s ? b.s : "", out, depth + 1);
	hp_buf_free(&b);
}

static void spell(Dwarf_Die *t, const char *inner, struct hp_buf *out, int depth)
{
	const char *n = t ? dwarf_diename(t) : NULL;
	int tag = t ? dwarf_tag(t) : 0;

	if (depth > 32) {
		hp_buf_add(out, "...", 3);
		return;
	}
	if (!t) {
		spell_named("void", inner, out);
	} else if (tag == DW_TAG_base_type || tag == DW_TAG_typedef) {
		spell_named(n ? n : "?", inner, out);
	} else if (is_aggregate(tag)) {
		hp_buf_printf(out, "%s %s%s%s", tag_word(tag), n ? n : "<anonymous>",
			      *inner ? " " : "", inner);
	} else if (qualifier(tag)) {
		spell_qualified(t, qualifier(tag), inner, out, depth);
	} else if (tag == DW_TAG_pointer_type || tag == DW_TAG_array_type ||
		   tag == DW_TAG_subroutine_type) {
		spell_derived(t, tag, inner, out, depth);
	} else {
		spell_named("?", inner, out);
	}
}

/* malloc'd spelling of `t` (NULL: void) */
static char *spelled(Dwarf_Die *t)
{
	struct hp_buf b = {0};

	spell(t, "", &b, 0);
	return b.oom ? (hp_buf_free(&b), NULL) : b.s;
}

/* ---- layouts ---- */

static long long attr_sdata(Dwarf_Die *d, unsigned name, long long dflt)
{
	Dwarf_Attribute a;
	Dwarf_Sword v;

	if (!dwarf_attr(d, name, &a) || dwarf_formsdata(&a, &v) != 0)
		return dflt;
	return (long long)v;
}

static bool anonymous_aggregate(Dwarf_Die *d)
{
	return is_aggregate(dwarf_tag(d)) && !dwarf_diename(d);
}

/* The next child of `d` with `tag` after *c (first: c NULL-ish via *first). */
static bool next_child(Dwarf_Die *d, Dwarf_Die *c, bool *first, int tag)
{
	int r = *first ? dwarf_child(d, c) : dwarf_siblingof(c, c);

	*first = false;
	for (; r == 0; r = dwarf_siblingof(c, c))
		if (dwarf_tag(c) == tag)
			return true;
	return false;
}

static bool find_enumerator(Dwarf_Die *e, const char *name, long long *ret)
{
	Dwarf_Die c;
	bool first = true;

	while (next_child(e, &c, &first, DW_TAG_enumerator))
		if (dwarf_diename(&c) && !strcmp(dwarf_diename(&c), name)) {
			*ret = attr_sdata(&c, DW_AT_const_value, 0);
			return true;
		}
	return false;
}

/* An enumerator that changed value or went away; new ones change no
 * value already in memory. */
static bool diff_enum(Dwarf_Die *a, Dwarf_Die *b, const char *label, struct hp_buf *msg)
{
	Dwarf_Die c;
	bool first = true;

	while (next_child(a, &c, &first, DW_TAG_enumerator)) {
		const char *n = dwarf_diename(&c);
		long long va = attr_sdata(&c, DW_AT_const_value, 0), vb;

		if (!n)
			continue;
		if (!find_enumerator(b, n, &vb)) {
			hp_buf_printf(msg, "%s: %s is removed", label, n);
			return true;
		}
		if (va != vb) {
			hp_buf_printf(msg, "%s: %s changes from %lld to %lld", label, n, va, vb);
			return true;
		}
	}
	return false;
}

static bool diff_aggregate(Dwarf_Die *a, Dwarf_Die *b, const char *label, struct hp_buf *msg,
			   int depth);

static long long member_offset(Dwarf_Die *m)
{
	return attr_sdata(m, DW_AT_data_member_location, 0);
}

static long long member_bit(Dwarf_Die *m)
{
	long long v = attr_sdata(m, DW_AT_data_bit_offset, -1);

	return v >= 0 ? v : attr_sdata(m, DW_AT_bit_offset, -1);
}

/* The first difference of two members in the same place. */
static bool diff_member(Dwarf_Die *ma, Dwarf_Die *mb, const char *label, struct hp_buf *msg,
			int depth)
{
	const char *na = dwarf_diename(ma) ?: "<anonymous>",
		   *nb = dwarf_diename(mb) ?: "<anonymous>";
	Dwarf_Die ta, tb;
	bool hta = die_type(ma, &ta), htb = die_type(mb, &tb), d = true;
	_cleanup_free_ char *sa = NULL, *sb = NULL, *sub = NULL;

	if (strcmp(na, nb))
		hp_buf_printf(msg, "%s: member %s becomes %s", label, na, nb);
	else if (member_offset(ma) != member_offset(mb))
		hp_buf_printf(msg, "%s: member %s moves from offset %lld to %lld", label, na,
			      member_offset(ma), member_offset(mb));
	else if (attr_sdata(ma, DW_AT_bit_size, 0) != attr_sdata(mb, DW_AT_bit_size, 0))
		hp_buf_printf(msg, "%s: member %s changes from %lld to %lld bits", label, na,
			      attr_sdata(ma, DW_AT_bit_size, 0), attr_sdata(mb, DW_AT_bit_size, 0));
	else if (member_bit(ma) != member_bit(mb))
		hp_buf_printf(msg, "%s: member %s moves from bit %lld to %lld", label, na,
			      member_bit(ma), member_bit(mb));
	else if (strcmp((sa = spelled(hta ? &ta : NULL)) ?: "",
			(sb = spelled(htb ? &tb : NULL)) ?: ""))
		hp_buf_printf(msg, "%s: member %s changes type from %s to %s", label, na, sa, sb);
	else if (hta && htb && anonymous_aggregate(&ta) && anonymous_aggregate(&tb) &&
		 asprintf(&sub, "%s: member %s", label, na) >= 0)
		d = diff_aggregate(&ta, &tb, sub, msg, depth + 1);
	else
		d = false;
	return d;
}

static bool diff_members(Dwarf_Die *a, Dwarf_Die *b, const char *label, struct hp_buf *msg,
			 int depth)
{
	Dwarf_Die ma, mb;
	bool fa = true, fb = true;

	for (;;) {
		bool ha = next_child(a, &ma, &fa, DW_TAG_member);
		bool hb = next_child(b, &mb, &fb, DW_TAG_member);

		if (!ha && !hb)
			return false;
		if (!hb) {
			hp_buf_printf(msg, "%s: member %s is removed", label,
				      dwarf_diename(&ma) ?: "<anonymous>");
			return true;
		}
		if (!ha) {
			hp_buf_printf(msg, "%s: member %s is added", label,
				      dwarf_diename(&mb) ?: "<anonymous>");
			return true;
		}
		if (diff_member(&ma, &mb, label, msg, depth))
			return true;
	}
}

static bool diff_aggregate(Dwarf_Die *a, Dwarf_Die *b, const char *label, struct hp_buf *msg,
			   int depth)
{
	int sa = dwarf_bytesize(a), sb = dwarf_bytesize(b);

	if (depth > 8)
		return false;
	if (dwarf_tag(a) != dwarf_tag(b)) {
		hp_buf_printf(msg, "%s changes from %s to %s", label, kind_words(dwarf_tag(a)),
			      kind_words(dwarf_tag(b)));
		return true;
	}
	if (sa != sb) {
		hp_buf_printf(msg, "%s %s from %d to %d bytes", label,
			      sb > sa ? "grows" : "shrinks", sa, sb);
		return true;
	}
	if (dwarf_tag(a) == DW_TAG_enumeration_type)
		return diff_enum(a, b, label, msg);
	return diff_members(a, b, label, msg, depth);
}

/* A typedef of an anonymous aggregate is that aggregate; any other names
 * a type, and differs when that type is spelled differently. */
static bool diff_type(Dwarf_Die *a, Dwarf_Die *b, const char *label, struct hp_buf *msg)
{
	Dwarf_Die ua, ub;
	bool ha, hb;
	_cleanup_free_ char *sa = NULL, *sb = NULL;

	if (dwarf_tag(a) != DW_TAG_typedef || dwarf_tag(b) != DW_TAG_typedef)
		return diff_aggregate(a, b, label, msg, 0);
	ha = die_type(a, &ua);
	hb = die_type(b, &ub);
	if (ha && hb && anonymous_aggregate(&ua) && anonymous_aggregate(&ub))
		return diff_aggregate(&ua, &ub, label, msg, 0);
	sa = spelled(ha ? &ua : NULL);
	sb = spelled(hb ? &ub : NULL);
	if (!strcmp(sa ?: "", sb ?: ""))
		return false;
	hp_buf_printf(msg, "%s changes from %s to %s", label, sa, sb);
	return true;
}

int hp_dw_layout_diff(const struct hp_dwunit *a, const struct hp_dwunit *b, char ***ret,
		      size_t *ret_n)
{
	char **msgs = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < a->ntypes; i++) {
		struct dwtype *ta = &a->types[i], *tb;
		struct hp_buf m = {0};

		tb = b->ntypes ? bsearch(ta, b->types, b->ntypes, sizeof(*tb), cmp_type) : NULL;
		if (!tb || !diff_type(&ta->die, &tb->die, ta->name, &m))
			continue;
		if (m.oom || hp_grow((void **)&msgs, &cap, n, sizeof(*msgs)) < 0) {
			hp_buf_free(&m);
			hp_dw_free_msgs(msgs, n);
			return -ENOMEM;
		}
		msgs[n++] = m.s;
	}
	*ret = msgs;
	*ret_n = n;
	return 0;
}

void hp_dw_free_msgs(char **msgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(msgs[i]);
	free(msgs);
}

/* ---- signatures ---- */

static bool has_body(Dwarf_Die *d)
{
	return dwarf_hasattr(d, DW_AT_low_pc) || dwarf_hasattr(d, DW_AT_ranges);
}

static bool has_params(Dwarf_Die *d)
{
	Dwarf_Die c;
	bool first = true;

	return next_child(d, &c, &first, DW_TAG_formal_parameter);
}

/* The DIE declaring the parameters: the definition's own, else the one
 * its abstract origin or specification points to. */
static Dwarf_Die *param_die(Dwarf_Die *d, Dwarf_Die *buf)
{
	Dwarf_Attribute a;

	if (has_params(d))
		return d;
	for (int k = 0; k < 2; k++) {
		unsigned at = k ? DW_AT_specification : DW_AT_abstract_origin;

		if (dwarf_attr(d, at, &a) && dwarf_formref_die(&a, buf))
			return param_die(buf, buf);
	}
	return d;
}

int hp_dw_signature(const struct hp_dwunit *u, const char *name, char **ret)
{
	Dwarf_Die cu = u->cu, t, pbuf, rt;
	bool first = true;

	*ret = NULL;
	while (next_child(&cu, &t, &first, DW_TAG_subprogram)) {
		struct hp_buf params = {0}, b = {0};
		const char *n = dwarf_diename(&t);

		if (!n || strcmp(n, name) || !has_body(&t))
			continue;
		/* the parameter list is the declarator: "int" around
		 * "(const char *)", "char *" around "(int)" */
		spell_params(param_die(&t, &pbuf), &params, 0);
		if (!params.oom)
			spell(die_type(&t, &rt) ? &rt : NULL, params.s, &b, 0);
		hp_buf_free(&params);
		if (params.oom || b.oom) {
			hp_buf_free(&b);
			return -ENOMEM;
		}
		*ret = b.s;
		return 0;
	}
	return 0;
}
