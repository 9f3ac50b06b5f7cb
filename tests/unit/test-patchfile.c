/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading a patch's records from files built by the test suite, and
 * refusing damaged ones. */
#include <fcntl.h>
#include <unistd.h>

#include "../../include/hotpatch.h"
#include "patchfile.h"
#include "resolve.h"
#include "tests.h"
#include "util.h"

static const char *dir(void)
{
	const char *d = getenv("HP_TESTS_BUILD");

	return d ? d : ".";
}

static int load(const char *name, struct hp_patchfile *pf)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s.so", dir(), name);
	return hp_patchfile_load(path, pf);
}

TEST(replace_record)
{
	struct hp_patchfile pf;

	ASSERT_EQ(load("fix_compute", &pf), 0);
	ASSERT_EQ(pf.nrec, 1);
	ASSERT_EQ(pf.nreplace, 1);
	ASSERT_EQ(pf.rec[0].kind, HOTPATCH_KIND_REPLACE);
	ASSERT_STREQ(pf.rec[0].symbol, "compute");
	ASSERT_STREQ(pf.rec[0].object, "");
	ASSERT_STREQ(pf.rec[0].replacement_name, "compute_fixed");
	ASSERT_TRUE(pf.rec[0].replacement != 0);
	ASSERT_EQ(strlen(pf.sha256_hex), 64);
	hp_patchfile_free(&pf);
}

TEST(original_symbol_and_object_records)
{
	struct hp_patchfile pf;
	int replace = 0, symbol = 0;

	ASSERT_EQ(load("fix_static", &pf), 0);
	for (size_t i = 0; i < pf.nrec; i++) {
		if (pf.rec[i].kind == HOTPATCH_KIND_REPLACE)
			replace++;
		if (pf.rec[i].kind == HOTPATCH_KIND_SYMBOL) {
			symbol++;
			ASSERT_STREQ(pf.rec[i].symbol, "counter");
			ASSERT_TRUE(pf.rec[i].slot != 0);
		}
	}
	ASSERT_EQ(replace, 1);
	ASSERT_EQ(symbol, 1);
	hp_patchfile_free(&pf);

	ASSERT_EQ(load("fix_lib", &pf), 0);
	ASSERT_STREQ(pf.rec[0].object, "libworklib.so");
	hp_patchfile_free(&pf);

	ASSERT_EQ(load("fix_original", &pf), 0);
	ASSERT_EQ(pf.nrec, 2);
	hp_patchfile_free(&pf);
}

TEST(tls_records)
{
	struct hp_patchfile pf;
	const char *want[][2] = {{"tls_exe", ""}, {"tls_hidden", ""}, {"lib_tls", "libworklib.so"}};
	size_t ntls = 0, seen = 0;

	ASSERT_EQ(load("fix_tls", &pf), 0);
	ASSERT_EQ(pf.nreplace, 2);
	for (size_t i = 0; i < pf.nrec; i++) {
		if (pf.rec[i].kind != HOTPATCH_KIND_TLS)
			continue;
		ntls++;
		ASSERT_TRUE(pf.rec[i].slot != 0 && pf.rec[i].slot % 8 == 0);
		for (size_t k = 0; k < 3; k++)
			if (!strcmp(pf.rec[i].symbol, want[k][0]) &&
			    !strcmp(pf.rec[i].object, want[k][1]))
				seen |= 1u << k;
	}
	ASSERT_EQ(ntls, 3);
	ASSERT_EQ(seen, 7);
	ASSERT_STREQ(hp_kind_name(HOTPATCH_KIND_TLS), "TLS");
	hp_patchfile_free(&pf);
}

TEST(no_records)
{
	struct hp_patchfile pf;

	ASSERT_EQ(load("bad_norecords", &pf), -HP_EBADPATCH);
	ASSERT_CONTAINS(hp_err.msg, "HOTPATCH_REPLACE");
	hp_patchfile_free(&pf);
}

static uint8_t *copy_of(const char *name, size_t *len)
{
	char path[4096], *buf = NULL;

	snprintf(path, sizeof(path), "%s/%s.so", dir(), name);
	if (hp_read_file(path, &buf, len) < 0)
		return NULL;
	return (uint8_t *)buf;
}

TEST(damaged_records)
{
	struct hp_patchfile pf, good;
	size_t len;
	uint8_t *data;
	GElf_Shdr sh;

	ASSERT_EQ(load("fix_compute", &good), 0);
	ASSERT_TRUE(hp_elf_section(&good.elf, "hotpatch", &sh) != NULL);

	/* bad magic */
	data = copy_of("fix_compute", &len);
	ASSERT_TRUE(data);
	data[sh.sh_offset] ^= 0xff;
	ASSERT_EQ(hp_patchfile_parse(data, len, "x.so", &pf), -HP_EBADPATCH);
	ASSERT_CONTAINS(hp_err.msg, "magic");
	hp_patchfile_free(&pf);

	/* a newer ABI */
	data = copy_of("fix_compute", &len);
	data[sh.sh_offset + 4] = 9;
	ASSERT_EQ(hp_patchfile_parse(data, len, "x.so", &pf), -HP_EBADPATCH);
	ASSERT_CONTAINS(hp_err.msg, "ABI 9");
	hp_patchfile_free(&pf);

	/* unknown kind */
	data = copy_of("fix_compute", &len);
	data[sh.sh_offset + 6] = 99;
	ASSERT_EQ(hp_patchfile_parse(data, len, "x.so", &pf), -HP_EBADPATCH);
	hp_patchfile_free(&pf);

	/* a TLS record whose index is no variable of the patch */
	struct hp_patchfile tls;
	ASSERT_EQ(load("fix_tls", &tls), 0);
	ASSERT_TRUE(hp_elf_section(&tls.elf, "hotpatch", &sh) != NULL);
	data = copy_of("fix_tls", &len);
	for (size_t i = 0; i < sh.sh_size / 40; i++)
		if (data[sh.sh_offset + i * 40 + 6] == HOTPATCH_KIND_REPLACE) {
			data[sh.sh_offset + i * 40 + 6] = HOTPATCH_KIND_TLS;
			break;
		}
	ASSERT_EQ(hp_patchfile_parse(data, len, "x.so", &pf), -HP_EBADPATCH);
	ASSERT_CONTAINS(hp_err.msg, "struct hotpatch_tls_index");
	hp_patchfile_free(&pf);
	hp_patchfile_free(&tls);
	ASSERT_TRUE(hp_elf_section(&good.elf, "hotpatch", &sh) != NULL);

	/* not an ELF file, truncated file */
	data = copy_of("fix_compute", &len);
	ASSERT_EQ(hp_patchfile_parse(data, 100, "x.so", &pf), -HP_EBADPATCH);
	hp_patchfile_free(&pf);
	data = malloc(64);
	memset(data, 'A', 64);
	ASSERT_EQ(hp_patchfile_parse(data, 64, "x.so", &pf), -HP_EBADPATCH);
	ASSERT_CONTAINS(hp_err.msg, "not an ELF");
	hp_patchfile_free(&pf);
	hp_patchfile_free(&good);
}

TEST(qualified_names)
{
	struct hp_symname sn;
	char buf[256];

	ASSERT_EQ(hp_symname_parse("counter", &sn), 0);
	ASSERT_STREQ(sn.name, "counter");
	ASSERT_STREQ(sn.file, "");
	ASSERT_TRUE(!sn.has_addr);
	ASSERT_EQ(hp_symname_parse("counter;file=twofiles_b.c;addr=0x40bc", &sn), 0);
	ASSERT_STREQ(sn.name, "counter");
	ASSERT_STREQ(sn.file, "twofiles_b.c");
	ASSERT_TRUE(sn.has_addr);
	ASSERT_EQ(sn.addr, 0x40bc);
	/* any order, either alone, upper-case hex */
	ASSERT_EQ(hp_symname_parse("_ZN1a1bEv;addr=0XFFFFFFFFFFFFFFFF;file=src/a.cc", &sn), 0);
	ASSERT_STREQ(sn.name, "_ZN1a1bEv");
	ASSERT_STREQ(sn.file, "src/a.cc");
	ASSERT_EQ(sn.addr, UINT64_MAX);
	ASSERT_EQ(hp_symname_parse("bump;addr=0x0", &sn), 0);
	ASSERT_TRUE(sn.has_addr && sn.addr == 0 && !sn.file[0]);

	static const char *const bad[] = {
		"",
		";file=a.c",
		"x;",
		"x;file=",
		"x;addr=",
		"x;addr=0x",
		"x;addr=4010",
		"x;addr=0x4g",
		"x;addr=0x1;",
		"x;file=a;file=b",
		"x;addr=0x1;addr=0x1",
		"x;colour=red",
		"x;addr=0x10000000000000000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(hp_symname_parse(bad[i], &sn), -HP_EBADPATCH);
		ASSERT_CONTAINS(hp_err.msg, "symbol \"");
	}
	ASSERT_EQ(hp_symname_parse("x;colour=red", &sn), -HP_EBADPATCH);
	ASSERT_CONTAINS(hp_err.msg, "\"colour=red\" is not a qualifier");

	ASSERT_STREQ(hp_symname_show("x;file=a.c;addr=0x1", buf, sizeof(buf)), "x (in a.c)");
	ASSERT_STREQ(hp_symname_show("x;addr=0x1", buf, sizeof(buf)), "x");
	ASSERT_STREQ(hp_symname_show("plain", buf, sizeof(buf)), "plain");
	ASSERT_STREQ(hp_symname_show("x;bad", buf, sizeof(buf)), "x;bad");
}

TEST(bind_records)
{
	struct hp_patchfile pf;
	int nbind = 0, seen = 0;

	ASSERT_EQ(load("bind_twofiles", &pf), 0);
	ASSERT_EQ(pf.nreplace, 1);
	for (size_t i = 0; i < pf.nrec; i++) {
		const struct hp_patch_rec *r = &pf.rec[i];

		if (r->kind != HOTPATCH_KIND_BIND)
			continue;
		nbind++;
		ASSERT_TRUE(r->bind_sym != 0);
		ASSERT_EQ(r->nbind_slots, 1);
		if (!strcmp(r->bind_name, "__hp_b1")) {
			ASSERT_STREQ(r->symbol, "counter;file=twofiles_b.c");
			seen |= 1;
		} else if (!strcmp(r->bind_name, "__hp_b2")) {
			ASSERT_STREQ(r->symbol, "bump;file=twofiles_a.c");
			seen |= 2;
		} else if (!strcmp(r->bind_name, "total")) {
			ASSERT_STREQ(r->symbol, "total");
			seen |= 4;
		}
	}
	ASSERT_EQ(nbind, 3);
	ASSERT_EQ(seen, 7);
	ASSERT_STREQ(hp_kind_name(HOTPATCH_KIND_BIND), "BIND");
	hp_patchfile_free(&pf);

	ASSERT_EQ(load("bad_bind_strong", &pf), -HP_EBADPATCH);
	ASSERT_CONTAINS(hp_err.msg, "reference to total must be weak");
	hp_patchfile_free(&pf);
	ASSERT_EQ(load("bad_bind_tls", &pf), -HP_EBADPATCH);
	ASSERT_CONTAINS(hp_err.msg, "TLS variable cannot be bound");
	hp_patchfile_free(&pf);
}

/* A BIND record whose local name is no symbol the patch leaves undefined:
 * a REPLACE record of fix_compute turned into one points at code. */
TEST(damaged_bind_records)
{
	struct hp_patchfile pf, good;
	size_t len;
	uint8_t *data;
	GElf_Shdr sh;

	ASSERT_EQ(load("fix_compute", &good), 0);
	ASSERT_TRUE(hp_elf_section(&good.elf, "hotpatch", &sh) != NULL);
	data = copy_of("fix_compute", &len);
	ASSERT_TRUE(data);
	data[sh.sh_offset + 6] = HOTPATCH_KIND_BIND;
	ASSERT_EQ(hp_patchfile_parse(data, len, "x.so", &pf), -HP_EBADPATCH);
	ASSERT_CONTAINS(hp_err.msg, "HOTPATCH_BIND of compute");
	hp_patchfile_free(&pf);
	hp_patchfile_free(&good);
}

TEST_MAIN()
