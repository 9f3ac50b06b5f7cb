/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The registry's encoding: a round trip, and garbage refused. */
#include "registry.h"
#include "tests.h"
#include "util.h"

TEST(round_trip)
{
	struct hp_registry reg = {0}, back;
	struct hp_reg_patch p[2] = {0};
	struct hp_reg_func f[3] = {0};
	uint8_t *buf;
	size_t len;

	f[0] = (struct hp_reg_func){.symbol = "compute",
				    .object = "/usr/bin/x",
				    .entry = 0x1000,
				    .pad = 0xffb,
				    .window = 0x1000,
				    .body = 0x1002,
				    .window_len = 2,
				    .replacement = 0x7f00,
				    .slot = 0x5000,
				    .replacement_name = "c2"};
	memcpy(f[0].new_pad, "\xe9\x01\x02\x03\x04", 5);
	memcpy(f[0].new_win, "\xeb\xf9", 2);
	memcpy(f[0].old_pad, "\x90\x90\x90\x90\x90", 5);
	memcpy(f[0].old_win, "\x90\x90", 2);
	f[1] = f[0];
	f[1].symbol = "other";
	f[2] = f[0];
	p[0] = (struct hp_reg_patch){.id = 1,
				     .state = HP_REG_APPLIED,
				     .handle = 0x1234,
				     .path = "/tmp/a.so",
				     .funcs = f,
				     .nfuncs = 2};
	p[1] = (struct hp_reg_patch){.id = 2,
				     .state = HP_REG_LOADED,
				     .path = "/tmp/b.so",
				     .funcs = f + 2,
				     .nfuncs = 1};
	struct hp_reg_range tr = {0x5000, 4096};
	p[0].tramps = &tr;
	p[0].ntramps = 1;
	memset(p[0].sha256, 0xab, 32);
	p[0].build_id_len = 20;
	reg.p = p;
	reg.n = 2;
	ASSERT_EQ(hp_registry_encode(&reg, &buf, &len), 0);
	ASSERT_EQ(hp_registry_decode(buf, len, &back), 0);
	ASSERT_EQ(back.n, 2);
	ASSERT_EQ(back.p[0].id, 1);
	ASSERT_EQ(back.p[0].handle, 0x1234);
	ASSERT_STREQ(back.p[0].path, "/tmp/a.so");
	ASSERT_EQ(back.p[0].nfuncs, 2);
	ASSERT_STREQ(back.p[0].funcs[1].symbol, "other");
	ASSERT_MEMEQ(back.p[0].funcs[0].new_pad, f[0].new_pad, 5);
	ASSERT_EQ(back.p[0].ntramps, 1);
	ASSERT_EQ(back.p[0].tramps[0].len, 4096);
	ASSERT_EQ(back.p[1].state, HP_REG_LOADED);
	ASSERT_MEMEQ(back.p[0].sha256, p[0].sha256, 32);
	ASSERT_TRUE(hp_registry_top(&back, 0x1000, NULL) == &back.p[1].funcs[0]);

	/* every truncation is refused, none crashes */
	for (size_t cut = 0; cut < len; cut++) {
		struct hp_registry bad;

		ASSERT_EQ(hp_registry_decode(buf, cut, &bad), -EINVAL);
	}
	hp_registry_free(&back);
	free(buf);
}

TEST(garbage)
{
	uint8_t junk[256];
	struct hp_registry bad;

	memset(junk, 0xff, sizeof(junk));
	ASSERT_EQ(hp_registry_decode(junk, sizeof(junk), &bad), -EINVAL);
}

/* What hp_registry_write puts in a slot, and what a forger must produce:
 * a header that vouches for the payload, then the payload. */
TEST(slot_image)
{
	struct hp_reg_func f = {.symbol = "sym\nhotpatch[1]:", .object = "", .replacement_name = ""};
	struct hp_reg_patch p = {.id = 7,
				 .state = HP_REG_APPLIED,
				 .path = "/x.so",
				 .funcs = &f,
				 .nfuncs = 1};
	struct hp_registry reg = {.p = &p, .n = 1}, back;
	uint8_t *img, *payload;
	size_t len, plen;
	uint64_t gen, hlen;

	ASSERT_EQ(hp_registry_slot_image(&reg, 42, &img, &len), 0);
	ASSERT_EQ(hp_registry_encode(&reg, &payload, &plen), 0);
	ASSERT_EQ(len, plen + 32);
	ASSERT_MEMEQ(img, "HREG", 4);
	memcpy(&gen, img + 8, 8);
	memcpy(&hlen, img + 16, 8);
	ASSERT_EQ(gen, 42);
	ASSERT_EQ(hlen, plen);
	ASSERT_MEMEQ(img + 32, payload, plen);
	ASSERT_EQ(hp_registry_decode(img + 32, plen, &back), 0);
	ASSERT_STREQ(back.p[0].funcs[0].symbol, "sym\nhotpatch[1]:");
	hp_registry_free(&back);
	ASSERT_EQ(hp_registry_slot_offset(0), 0x1000);
	ASSERT_TRUE(hp_registry_slot_offset(1) > hp_registry_slot_offset(0));
	free(img);
	free(payload);
}

TEST_MAIN()
