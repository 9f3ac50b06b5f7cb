/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plan of a flip and the classifier of a function's bytes, on
 * buffers: the order of the writes in both directions, what is written
 * before the stop, the forbidden ranges, and the inverse. */
#include "plan.h"
#include "tests.h"

static const uint8_t NOP_PAD[HP_PAD_LEN] = {0x90, 0x90, 0x90, 0x90, 0x90};
static const uint8_t NOP_WIN[HP_WIN_LEN] = {0x66, 0x90};
static const uint8_t JMP_PAD[HP_PAD_LEN] = {0xe9, 0x11, 0x22, 0x33, 0x44};
static const uint8_t JMP_WIN[HP_WIN_LEN] = {0xeb, 0xf9};
static const uint8_t JMP_PAD2[HP_PAD_LEN] = {0xe9, 0x55, 0x66, 0x77, 0x08};
static const uint8_t INT3[HP_PAD_LEN] = {0xcc, 0xcc, 0xcc, 0xcc, 0xcc};

static struct hp_plan_func fresh(uint64_t entry, const char *name)
{
	struct hp_plan_func f = {.symbol = name, .pad = entry - 5, .window = entry, .window_len = 2};

	memcpy(f.pad_now, NOP_PAD, HP_PAD_LEN);
	memcpy(f.win_now, NOP_WIN, HP_WIN_LEN);
	memcpy(f.pad_want, JMP_PAD, HP_PAD_LEN);
	memcpy(f.win_want, JMP_WIN, HP_WIN_LEN);
	return f;
}

/* the patched function on its way back */
static struct hp_plan_func patched(uint64_t entry, const char *name)
{
	struct hp_plan_func f = fresh(entry, name);

	memcpy(f.pad_now, JMP_PAD, HP_PAD_LEN);
	memcpy(f.win_now, JMP_WIN, HP_WIN_LEN);
	memcpy(f.pad_want, NOP_PAD, HP_PAD_LEN);
	memcpy(f.win_want, NOP_WIN, HP_WIN_LEN);
	return f;
}

TEST(state_of_each_combination)
{
	ASSERT_EQ(hp_func_state(NOP_PAD, NOP_WIN, JMP_PAD, JMP_WIN, NOP_PAD, NOP_WIN),
		  HP_FUNC_ORIGINAL);
	ASSERT_EQ(hp_func_state(NOP_PAD, NOP_WIN, JMP_PAD, JMP_WIN, JMP_PAD, JMP_WIN),
		  HP_FUNC_OURS);
	/* the pad written before the stop, the flip not yet */
	ASSERT_EQ(hp_func_state(NOP_PAD, NOP_WIN, JMP_PAD, JMP_WIN, JMP_PAD, NOP_WIN),
		  HP_FUNC_HALF);
	/* a rollback's window went back, its pad not yet */
	ASSERT_EQ(hp_func_state(NOP_PAD, NOP_WIN, JMP_PAD, JMP_WIN, NOP_PAD, JMP_WIN),
		  HP_FUNC_HALF);
	/* a debugger's breakpoint */
	ASSERT_EQ(hp_func_state(NOP_PAD, NOP_WIN, JMP_PAD, JMP_WIN, INT3, JMP_WIN),
		  HP_FUNC_FOREIGN);
	ASSERT_EQ(hp_func_state(NOP_PAD, NOP_WIN, JMP_PAD, JMP_WIN, JMP_PAD, INT3),
		  HP_FUNC_FOREIGN);
}

TEST(state_of_a_stacked_patch)
{
	/* on top of another patch: the window stays the jump to the pad, so
	 * the bytes agree with both; they are ours when the pad is */
	ASSERT_EQ(hp_func_state(JMP_PAD, JMP_WIN, JMP_PAD2, JMP_WIN, JMP_PAD2, JMP_WIN),
		  HP_FUNC_OURS);
	ASSERT_EQ(hp_func_state(JMP_PAD, JMP_WIN, JMP_PAD2, JMP_WIN, JMP_PAD, JMP_WIN),
		  HP_FUNC_ORIGINAL);
	ASSERT_EQ(hp_func_state(JMP_PAD, JMP_WIN, JMP_PAD2, JMP_WIN, NOP_PAD, JMP_WIN),
		  HP_FUNC_FOREIGN);
}

TEST(forward_writes_pads_before_the_stop)
{
	struct hp_plan_func f[2] = {fresh(0x1000, "a"), fresh(0x2000, "b")};
	struct hp_plan p;

	ASSERT_EQ(hp_plan_build(HP_PLAN_FORWARD, f, 2, &p), 0);
	/* per function: its pad, then a touch of its window */
	ASSERT_EQ(p.npre, 4);
	ASSERT_EQ(p.pre[0].w.addr, 0x1000 - 5);
	ASSERT_TRUE(!p.pre[0].touch);
	ASSERT_MEMEQ(p.pre[0].w.old, NOP_PAD, HP_PAD_LEN);
	ASSERT_MEMEQ(p.pre[0].w.new, JMP_PAD, HP_PAD_LEN);
	ASSERT_EQ(p.pre[1].w.addr, 0x1000);
	ASSERT_TRUE(p.pre[1].touch);
	ASSERT_MEMEQ(p.pre[1].w.new, NOP_WIN, HP_WIN_LEN);
	ASSERT_EQ(p.pre[2].func, 1);
	ASSERT_EQ(p.pre[2].w.addr, 0x2000 - 5);
	/* the stop has the 2-byte windows only */
	ASSERT_EQ(p.nw, 2);
	for (size_t i = 0; i < p.nw; i++) {
		ASSERT_EQ(p.w[i].len, HP_WIN_LEN);
		ASSERT_EQ(p.w[i].phase, 1);
		ASSERT_MEMEQ(p.w[i].old, NOP_WIN, HP_WIN_LEN);
		ASSERT_MEMEQ(p.w[i].new, JMP_WIN, HP_WIN_LEN);
	}
	ASSERT_EQ(p.w[1].addr, 0x2000);
	ASSERT_EQ(p.nforbid, 2);
	ASSERT_EQ(p.forbid[0].lo, 0x1001);
	ASSERT_EQ(p.forbid[0].hi, 0x1002);
	ASSERT_STREQ(p.forbid[1].what, "b");
	hp_plan_free(&p);
}

TEST(forward_stacked_pad_is_written_in_the_stop)
{
	struct hp_plan_func f = fresh(0x1000, "a");
	struct hp_plan p;

	f.pad_live = true;
	memcpy(f.pad_now, JMP_PAD, HP_PAD_LEN);
	memcpy(f.win_now, JMP_WIN, HP_WIN_LEN);
	memcpy(f.pad_want, JMP_PAD2, HP_PAD_LEN);
	f.window_len = 4; /* an endbr64-less window that covers more */
	ASSERT_EQ(hp_plan_build(HP_PLAN_FORWARD, &f, 1, &p), 0);
	ASSERT_EQ(p.npre, 0);
	ASSERT_EQ(p.nw, 1);
	ASSERT_EQ(p.w[0].addr, 0x1000 - 5);
	ASSERT_EQ(p.w[0].phase, 0);
	ASSERT_MEMEQ(p.w[0].new, JMP_PAD2, HP_PAD_LEN);
	/* a thread may be inside the live pad's jump, or the window */
	ASSERT_EQ(p.nforbid, 2);
	ASSERT_EQ(p.forbid[0].lo, 0x1000 - 4);
	ASSERT_EQ(p.forbid[0].hi, 0x1000);
	ASSERT_EQ(p.forbid[1].lo, 0x1001);
	ASSERT_EQ(p.forbid[1].hi, 0x1004);
	hp_plan_free(&p);
}

TEST(reverse_window_before_pad)
{
	struct hp_plan_func f = patched(0x1000, "a");
	struct hp_plan p;

	ASSERT_EQ(hp_plan_build(HP_PLAN_REVERSE, &f, 1, &p), 0);
	ASSERT_EQ(p.npre, 0);
	ASSERT_EQ(p.nw, 2);
	ASSERT_EQ(p.w[0].addr, 0x1000);
	ASSERT_EQ(p.w[0].phase, 0);
	ASSERT_MEMEQ(p.w[0].old, JMP_WIN, HP_WIN_LEN);
	ASSERT_MEMEQ(p.w[0].new, NOP_WIN, HP_WIN_LEN);
	ASSERT_EQ(p.w[1].addr, 0x1000 - 5);
	ASSERT_EQ(p.w[1].phase, 1);
	ASSERT_MEMEQ(p.w[1].new, NOP_PAD, HP_PAD_LEN);
	ASSERT_EQ(p.nforbid, 2);
	ASSERT_EQ(p.forbid[0].lo, 0x1001);
	ASSERT_EQ(p.forbid[0].hi, 0x1002);
	ASSERT_EQ(p.forbid[1].lo, 0x1000 - 4);
	ASSERT_EQ(p.forbid[1].hi, 0x1000);
	hp_plan_free(&p);
}

TEST(reverse_skips_what_is_already_back)
{
	/* an interrupted rollback put the window back already */
	struct hp_plan_func f = patched(0x1000, "a");
	struct hp_plan p;

	memcpy(f.win_now, NOP_WIN, HP_WIN_LEN);
	ASSERT_EQ(hp_plan_build(HP_PLAN_REVERSE, &f, 1, &p), 0);
	ASSERT_EQ(p.nw, 1);
	ASSERT_EQ(p.w[0].addr, 0x1000 - 5);
	/* still no thread may stop in either */
	ASSERT_EQ(p.nforbid, 2);
	hp_plan_free(&p);
}

TEST(reverse_forbids_at_least_the_window)
{
	struct hp_plan_func f = patched(0x1000, "a");
	struct hp_plan p;

	f.window_len = 0; /* a damaged record */
	ASSERT_EQ(hp_plan_build(HP_PLAN_REVERSE, &f, 1, &p), 0);
	ASSERT_EQ(p.forbid[0].hi, 0x1002);
	hp_plan_free(&p);
}

TEST(invert_puts_back_pad_before_window)
{
	struct hp_plan_func f[2] = {patched(0x1000, "a"), patched(0x3000, "b")};
	struct hp_plan p, q;

	ASSERT_EQ(hp_plan_build(HP_PLAN_REVERSE, f, 2, &p), 0);
	ASSERT_EQ(hp_plan_invert(&p, &q), 0);
	ASSERT_EQ(q.nw, 4);
	for (size_t i = 0; i < q.nw; i++) {
		ASSERT_EQ(q.w[i].addr, p.w[i].addr);
		ASSERT_EQ(q.w[i].phase, !p.w[i].phase);
		ASSERT_MEMEQ(q.w[i].old, p.w[i].new, p.w[i].len);
		ASSERT_MEMEQ(q.w[i].new, p.w[i].old, p.w[i].len);
		/* pads (len 5) in phase 0: the window jumps to a pad that is there */
		ASSERT_EQ(q.w[i].phase, q.w[i].len == HP_PAD_LEN ? 0 : 1);
	}
	ASSERT_EQ(q.nforbid, p.nforbid);
	ASSERT_EQ(q.forbid[3].lo, p.forbid[3].lo);
	hp_plan_free(&p);
	hp_plan_free(&q);
}

TEST(empty_plan)
{
	struct hp_plan p;

	ASSERT_EQ(hp_plan_build(HP_PLAN_FORWARD, NULL, 0, &p), 0);
	ASSERT_EQ(p.nw + p.npre + p.nforbid, 0);
	hp_plan_free(&p);
}

TEST(sort_orders_phase_then_address)
{
	struct hp_write w[4] = {{.addr = 0x3000, .phase = 1},
				{.addr = 0x2000, .phase = 0},
				{.addr = 0x1000, .phase = 1},
				{.addr = 0x4000, .phase = 0}};
	struct hp_range f[3] = {{0x30, 0x40, "c", false},
				{0x10, 0x20, "a", false},
				{0x20, 0x30, "b", false}};

	hp_plan_sort(w, 4, f, 3);
	/* every pad (phase 0) before any window (phase 1) */
	ASSERT_EQ(w[0].addr, 0x2000);
	ASSERT_EQ(w[1].addr, 0x4000);
	ASSERT_EQ(w[2].addr, 0x1000);
	ASSERT_EQ(w[3].addr, 0x3000);
	ASSERT_STREQ(f[0].what, "a");
	ASSERT_STREQ(f[2].what, "c");
}

TEST(forbidden_finds_the_range_of_a_pc)
{
	/* two functions 7 bytes apart: A's 6-byte window overlaps B's pad */
	struct hp_range f[4] = {{0x0ffc, 0x1000, "A pad", false},
				{0x1001, 0x1006, "A window", false},
				{0x1003, 0x1007, "B pad", false},
				{0x1008, 0x100a, "B window", false}};

	hp_plan_sort(NULL, 0, f, 4);
	ASSERT_TRUE(hp_plan_forbidden(f, 4, 0x0ffb) == NULL);
	ASSERT_STREQ(hp_plan_forbidden(f, 4, 0x0ffc)->what, "A pad");
	ASSERT_STREQ(hp_plan_forbidden(f, 4, 0x0fff)->what, "A pad");
	/* the first byte of an instruction is where a thread may stand */
	ASSERT_TRUE(hp_plan_forbidden(f, 4, 0x1000) == NULL);
	ASSERT_STREQ(hp_plan_forbidden(f, 4, 0x1002)->what, "A window");
	ASSERT_TRUE(hp_plan_forbidden(f, 4, 0x1004) != NULL); /* both hold it */
	ASSERT_STREQ(hp_plan_forbidden(f, 4, 0x1006)->what, "B pad");
	ASSERT_TRUE(hp_plan_forbidden(f, 4, 0x1007) == NULL);
	ASSERT_STREQ(hp_plan_forbidden(f, 4, 0x1009)->what, "B window");
	ASSERT_TRUE(hp_plan_forbidden(f, 4, 0x100a) == NULL);
	ASSERT_TRUE(hp_plan_forbidden(NULL, 0, 0x1000) == NULL);
}

TEST(forbidden_among_many)
{
	static struct hp_range f[1000];

	for (size_t i = 0; i < 1000; i++)
		f[i] = (struct hp_range){0x10000 + 16 * i + 1, 0x10000 + 16 * i + 2, "w", false};
	for (size_t i = 0; i < 1000; i += 37) {
		ASSERT_TRUE(hp_plan_forbidden(f, 1000, 0x10000 + 16 * i + 1) == &f[i]);
		ASSERT_TRUE(hp_plan_forbidden(f, 1000, 0x10000 + 16 * i) == NULL);
		ASSERT_TRUE(hp_plan_forbidden(f, 1000, 0x10000 + 16 * i + 2) == NULL);
	}
}

TEST(spans_group_one_page_of_one_phase)
{
	struct hp_write w[6] = {{.addr = 0x1010, .len = 5, .phase = 0},
				{.addr = 0x1ff0, .len = 5, .phase = 0},
				{.addr = 0x2000, .len = 5, .phase = 0}, /* the next page */
				{.addr = 0x2ffe, .len = 5, .phase = 0}, /* crosses into 0x3000 */
				{.addr = 0x1015, .len = 2, .phase = 1}, /* same page, next phase */
				{.addr = 0x1ff5, .len = 2, .phase = 1}};

	ASSERT_EQ(hp_plan_span_end(w, 6, 0), 2);
	ASSERT_EQ(hp_plan_span_end(w, 6, 2), 3);
	ASSERT_EQ(hp_plan_span_end(w, 6, 3), 4);
	ASSERT_EQ(hp_plan_span_end(w, 6, 4), 6);
}

TEST_MAIN()
