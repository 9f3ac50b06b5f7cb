/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A tiny test harness: TEST() registers, ASSERT_*() report file:line. */
#pragma once

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hp_test {
	const char *name;
	void (*fn)(void);
};

#define HP_MAX_TESTS 128
extern struct hp_test hp_tests[HP_MAX_TESTS];
extern int hp_ntests, hp_failed;

#define TEST(name)                                                             \
	static void test_##name(void);                                         \
	__attribute__((constructor)) static void register_##name(void)         \
	{                                                                      \
		if (hp_ntests == HP_MAX_TESTS) {                               \
			fprintf(stderr, "raise HP_MAX_TESTS for %s\n", #name); \
			abort();                                               \
		}                                                              \
		hp_tests[hp_ntests++] = (struct hp_test){#name, test_##name};  \
	}                                                                      \
	static void test_##name(void)

#define FAILX(...)                                              \
	do {                                                    \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__);                   \
		fputc('\n', stderr);                            \
		hp_failed++;                                    \
		return;                                         \
	} while (0)

#define ASSERT_TRUE(c)                                  \
	do {                                            \
		if (!(c))                               \
			FAILX("expected true: %s", #c); \
	} while (0)
#define ASSERT_EQ(a, b)                                                                    \
	do {                                                                               \
		long long a_ = (long long)(a), b_ = (long long)(b);                        \
		if (a_ != b_)                                                              \
			FAILX("%s == %s: %lld != %lld (0x%llx != 0x%llx)", #a, #b, a_, b_, \
			      (unsigned long long)a_, (unsigned long long)b_);             \
	} while (0)
#define ASSERT_STREQ(a, b)                                                              \
	do {                                                                            \
		const char *a_ = (a), *b_ = (b);                                        \
		if (!a_ || !b_ || strcmp(a_, b_))                                       \
			FAILX("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", \
			      b_ ? b_ : "(null)");                                      \
	} while (0)
#define ASSERT_MEMEQ(a, b, n)                              \
	do {                                               \
		if (memcmp((a), (b), (n)))                 \
			FAILX("%s and %s differ", #a, #b); \
	} while (0)
#define ASSERT_CONTAINS(hay, needle)                                                     \
	do {                                                                             \
		const char *h_ = (hay);                                                  \
		if (!h_ || !strstr(h_, (needle)))                                        \
			FAILX("\"%s\" does not contain \"%s\"", h_ ? h_ : "", (needle)); \
	} while (0)

/* Runs every registered test (or those named on the command line). */
#define TEST_MAIN()                                                              \
	struct hp_test hp_tests[HP_MAX_TESTS];                                   \
	int hp_ntests, hp_failed;                                                \
	char **hp_test_argv;                                                     \
	int main(int argc, char **argv)                                          \
	{                                                                        \
		hp_test_argv = argv;                                             \
		for (int i = 0; i < hp_ntests; i++) {                            \
			int before = hp_failed;                                  \
			hp_tests[i].fn();                                        \
			printf("%s %s\n", hp_failed == before ? "ok  " : "FAIL", \
			       hp_tests[i].name);                                \
		}                                                                \
		(void)argc;                                                      \
		return hp_failed ? 1 : 0;                                        \
	}
extern char **hp_test_argv;
