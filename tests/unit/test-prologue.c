/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prologue recognition on byte buffers, and the jump encodings. */
#include "prologue.h"
#include "tests.h"
#include "util.h"

#define BASE  0x401000ull
#define ENTRY (BASE + HP_PRO_BEFORE)

/* buf = 16 bytes before the entry, then `at` bytes, then int3 */
static int analyze(const char *before5, const uint8_t *at, size_t atlen, struct hp_prologue *p)
{
	uint8_t buf[HP_PRO_BEFORE + HP_PRO_AFTER];

	memset(buf, 0xc3, sizeof(buf));
	memcpy(buf + HP_PRO_BEFORE - 5, before5, 5);
	memcpy(buf + HP_PRO_BEFORE, at, atlen);
	return hp_prologue_analyze(buf, sizeof(buf), BASE, ENTRY, p);
}

TEST(gcc_two_nops)
{
	static const uint8_t at[] = {0x90, 0x90, 0x8d, 0x04, 0x3f, 0xc3};
	struct hp_prologue p;

	ASSERT_EQ(analyze("\x90\x90\x90\x90\x90", at, sizeof(at), &p), 0);
	ASSERT_STREQ(p.layout, "gcc");
	ASSERT_EQ(p.window, ENTRY);
	ASSERT_EQ(p.window_len, 2);
	ASSERT_EQ(p.body, ENTRY + 2);
	ASSERT_EQ(p.pad, ENTRY - 5);
	ASSERT_EQ(p.state, HP_PRO_UNPATCHED);
	ASSERT_TRUE(!p.endbr);
}

TEST(clang_xchg_ax_ax)
{
	static const uint8_t at[] = {0x66, 0x90, 0x8d, 0x04, 0x3f, 0xc3};
	struct hp_prologue p;

	ASSERT_EQ(analyze("\x90\x90\x90\x90\x90", at, sizeof(at), &p), 0);
	ASSERT_STREQ(p.layout, "clang");
	ASSERT_EQ(p.window_len, 2);
}

TEST(endbr64_then_window)
{
	static const uint8_t at[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x66, 0x90, 0xc3};
	struct hp_prologue p;
	uint8_t j[2];

	ASSERT_EQ(analyze("\x90\x90\x90\x90\x90", at, sizeof(at), &p), 0);
	ASSERT_TRUE(p.endbr);
	ASSERT_EQ(p.window, ENTRY + 4);
	ASSERT_EQ(p.body, ENTRY + 6);
	ASSERT_EQ(hp_jmp_rel8(j, p.window, p.pad), 0);
	ASSERT_EQ(j[0], 0xeb);
	ASSERT_EQ(j[1], 0xf5); /* DESIGN.md: eb f5 with endbr64 */
}

TEST(ms_hook_prologue)
{
	static const uint8_t at[] = {0x48, 0x8d, 0xa4, 0x24, 0, 0, 0, 0, 0xc3};
	struct hp_prologue p;

	ASSERT_EQ(analyze("\xcc\xcc\xcc\xcc\xcc", at, sizeof(at), &p), 0);
	ASSERT_STREQ(p.layout, "ms_hook_prologue");
	ASSERT_EQ(p.window_len, 8);
	ASSERT_EQ(p.body, ENTRY + 8);
}

TEST(other_noop_shapes)
{
	/* a 5-byte nopl as pad, mov rdi,rdi as window */
	static const uint8_t at[] = {0x48, 0x89, 0xff, 0xc3};
	struct hp_prologue p;

	ASSERT_EQ(analyze("\x0f\x1f\x44\x00\x00", at, sizeof(at), &p), 0);
	ASSERT_STREQ(p.layout, "nop");
	ASSERT_EQ(p.window_len, 3);
}

TEST(refuses_ordinary_code)
{
	static const uint8_t at[] = {0x55, 0x48, 0x89, 0xe5, 0xc3}; /* push rbp; mov rbp,rsp */
	struct hp_prologue p;

	ASSERT_EQ(analyze("\x90\x90\x90\x90\x90", at, sizeof(at), &p), -HP_ENOTPATCHABLE);
	ASSERT_CONTAINS(hp_err.msg, "push rbp");
	ASSERT_CONTAINS(hp_err.msg, "55 (push");
	ASSERT_CONTAINS(hp_err.msg, "-fpatchable-function-entry");
}

TEST(refuses_mov_edi_edi)
{
	/* Windows' mov edi,edi zero-extends rdi on x86-64: not a no-op */
	static const uint8_t at[] = {0x8b, 0xff, 0xc3};
	struct hp_prologue p;

	ASSERT_EQ(analyze("\x90\x90\x90\x90\x90", at, sizeof(at), &p), -HP_ENOTPATCHABLE);
}

TEST(refuses_one_byte_window)
{
	static const uint8_t at[] = {0x90, 0xc3};
	struct hp_prologue p;

	ASSERT_EQ(analyze("\x90\x90\x90\x90\x90", at, sizeof(at), &p), -HP_ENOTPATCHABLE);
	ASSERT_CONTAINS(hp_err.msg, "only 1 byte");
}

TEST(refuses_missing_pad)
{
	static const uint8_t at[] = {0x90, 0x90, 0xc3};
	struct hp_prologue p;

	/* the tail of the previous function: ...; ret */
	ASSERT_EQ(analyze("\x48\x89\xc7\x5d\xc3", at, sizeof(at), &p), -HP_ENOTPATCHABLE);
	ASSERT_CONTAINS(hp_err.msg, "5 spare bytes");
}

TEST(recognises_patched)
{
	uint8_t at[] = {0xeb, 0xf9, 0x8d, 0x04, 0x3f, 0xc3};
	uint8_t pad[5];
	struct hp_prologue p;

	ASSERT_EQ(hp_jmp_rel32(pad, ENTRY - 5, 0x500000ull), 0);
	ASSERT_EQ(analyze((const char *)pad, at, sizeof(at), &p), 0);
	ASSERT_EQ(p.state, HP_PRO_PATCHED);
	ASSERT_EQ(p.dest, 0x500000ull);
}

TEST(jump_encodings)
{
	uint8_t b[16];
	uint64_t dest;

	ASSERT_EQ(hp_jmp_rel8(b, 0x1005, 0x1000), 0);
	ASSERT_EQ(b[0], 0xeb);
	ASSERT_EQ(b[1], 0xf9); /* the plain layouts */
	ASSERT_EQ(hp_jmp_rel32(b, 0x1000, 0x2000), 0);
	ASSERT_EQ(b[0], 0xe9);
	ASSERT_TRUE(hp_decode_jmp(b, 5, 0x1000, &dest));
	ASSERT_EQ(dest, 0x2000);
	ASSERT_EQ(hp_jmp_rel32(b, 0x1000, 0x1000 + 5 + 0x7fffffffull), 0);
	ASSERT_EQ(hp_jmp_rel32(b, 0x1000, 0x1000 + 5 + 0x80000000ull), -ERANGE);
	ASSERT_EQ(hp_jmp_rel32(b, 0x80001000ull, 0x1005), 0); /* -2 GiB exactly */
	ASSERT_EQ(hp_jmp_rel8(b, 0x1000, 0x2000), -ERANGE);
	hp_jmp_abs(b, 0x1122334455667788ull);
	ASSERT_MEMEQ(b, "\xff\x25\x00\x00\x00\x00\x88\x77\x66\x55\x44\x33\x22\x11", 14);
}

TEST(disassembly_text)
{
	static const uint8_t code[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x90};
	char out[256];

	hp_disasm(code, sizeof(code), 0x1000, 2, out, sizeof(out));
	ASSERT_CONTAINS(out, "f3 0f 1e fa (endbr64)");
	ASSERT_CONTAINS(out, "90 (nop)");
}

TEST_MAIN()
