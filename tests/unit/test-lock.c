/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The lock file's holder line: a round trip, and anything odd refused. */
#include "lock.h"
#include "tests.h"
#include "util.h"

static int parse(const char *s, struct hp_lock_holder *h)
{
	return hp_lock_holder_parse(s, strlen(s), h);
}

TEST(round_trip)
{
	struct hp_lock_holder h = {.pid = 1234, .uid = 1000, .since = 1700000000}, back;
	char line[HP_LOCK_HOLDER_MAX + 1];
	int n;

	snprintf(h.user, sizeof(h.user), "al.ice_b-2");
	snprintf(h.verb, sizeof(h.verb), "rollback");
	n = hp_lock_holder_format(&h, line, sizeof(line));
	ASSERT_TRUE(n > 0);
	ASSERT_STREQ(line, "hotpatch pid=1234 uid=1000 user=al.ice_b-2 verb=rollback "
			   "since=1700000000\n");
	ASSERT_EQ(hp_lock_holder_parse(line, (size_t)n, &back), 0);
	ASSERT_EQ(back.pid, 1234);
	ASSERT_EQ(back.uid, 1000);
	ASSERT_STREQ(back.user, "al.ice_b-2");
	ASSERT_STREQ(back.verb, "rollback");
	ASSERT_EQ(back.since, 1700000000);
}

TEST(odd_lines_refused)
{
	static const char *const bad[] = {
		"",
		"\n",
		"hotpatch pid=1 uid=0 user=root verb=apply since=1",	 /* no newline */
		"hotpatch pid=1 uid=0 user=root verb=apply since=1\n\n", /* two lines */
		"hotpatch pid=0 uid=0 user=root verb=apply since=1\n",	 /* pid 0 */
		"hotpatch pid=-1 uid=0 user=root verb=apply since=1\n",
		"hotpatch pid=2147483648 uid=0 user=root verb=apply since=1\n",
		"hotpatch pid=1 uid=4294967295 user=root verb=apply since=1\n",
		"hotpatch pid=1 uid=0 user=root verb=apply since=18446744073709551616\n",
		"hotpatch pid=1 uid=0 user= verb=apply since=1\n",
		"hotpatch pid=1 uid=0 user=ro\033[2Jot verb=apply since=1\n",
		"hotpatch pid=1 uid=0 user=root verb=Apply since=1\n",
		"hotpatch pid=1 uid=0 user=root verb=apply since=1 extra=2\n",
		"hotpatch pid=1 uid=0 user=root since=1 verb=apply\n", /* order */
		"hotpatch pid=1  uid=0 user=root verb=apply since=1\n",
		"hotpatch pid=1 uid=0 user=root verb=apply since=1 \n",
		"hotpatch pid=1 uid=0 user=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa verb=apply since=1\n",
		"HOTPATCH pid=1 uid=0 user=root verb=apply since=1\n",
		"hotpatch pid=1 uid=0 user=root verb=apply since=\n",
		"hotpatch pid=1 uid=0 user=root verb=apply\n",
		"hotpatch pid=01 uid=0 user=root verb=apply since=1\n", /* not canonical */
	};
	struct hp_lock_holder h = {.pid = 77};

	for (size_t i = 0; i < HP_ARRAY_SIZE(bad); i++)
		if (parse(bad[i], &h) != -EINVAL)
			FAILX("accepted bad line %zu: %s", i, bad[i]);
	ASSERT_EQ(h.pid, 77); /* untouched on failure */
	/* a NUL inside */
	ASSERT_EQ(hp_lock_holder_parse("hotpatch pid=1 uid=0 user=ro\0t verb=apply since=1\n", 50,
				       &h),
		  -EINVAL);
	ASSERT_EQ(parse("hotpatch pid=2147483647 uid=4294967294 user=0 verb=x "
			"since=18446744073709551615\n",
			&h),
		  0);
	ASSERT_EQ(h.since, UINT64_MAX);
}

TEST_MAIN()
