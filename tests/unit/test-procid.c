/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Telling an exit or an exec from a failure; one read of each object file. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "objcache.h"
#include "procid.h"
#include "tests.h"
#include "util.h"

/* proc(5)'s layout: a name with spaces and a ')' of its own */
static const char stat_line[] =
	"4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 2 0 "
	"987654 10000000 300 18446744073709551615 94000000000000 94000000100000 "
	"140730000000000 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94000000200000 94000000210000 "
	"94000001000000 140730000100000 140730000100050 140730000100050 140730000200000 0\n";

TEST(parse)
{
	struct hp_proc_id id;
	char zombie[sizeof(stat_line)];

	ASSERT_EQ(hp_proc_id_parse(stat_line, &id), 0);
	ASSERT_TRUE(id.valid);
	ASSERT_STREQ(id.comm, "my (odd) name");
	ASSERT_EQ(id.start, 987654);
	ASSERT_EQ(id.startcode, 94000000000000ull);
	ASSERT_EQ(id.endcode, 94000000100000ull);
	ASSERT_EQ(id.startstack, 140730000000000ull);
	ASSERT_EQ(id.argstart, 140730000100000ull);
	snprintf(zombie, sizeof(zombie), "%s", stat_line);
	strstr(zombie, ") S ")[2] = 'Z';
	ASSERT_EQ(hp_proc_id_parse(zombie, &id), -ESRCH);
	ASSERT_EQ(hp_proc_id_parse("garbage", &id), -EINVAL);
}

TEST(live_and_exited)
{
	struct hp_proc_id me, child;
	pid_t pid;

	ASSERT_EQ(hp_proc_id_read(getpid(), &me), 0);
	ASSERT_EQ(hp_proc_id_changed(getpid(), &me), HP_PROC_SAME);
	pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	ASSERT_EQ(hp_proc_id_read(pid, &child), 0);
	ASSERT_EQ(hp_proc_id_changed(pid, &child), HP_PROC_SAME);
	kill(pid, SIGKILL);
	/* a zombie has exited, reaped or not */
	while (hp_proc_id_changed(pid, &child) == HP_PROC_SAME)
		usleep(1000);
	ASSERT_EQ(hp_proc_id_changed(pid, &child), HP_PROC_EXITED);
	waitpid(pid, NULL, 0);
	ASSERT_EQ(hp_proc_id_changed(pid, &child), HP_PROC_EXITED);
	/* an id never read (a pid gone before selection) changes nothing */
	struct hp_proc_id none = {0};
	ASSERT_EQ(hp_proc_id_changed(pid, &none), HP_PROC_SAME);
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0700);
	ssize_t n;

	ASSERT_TRUE(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ASSERT_EQ(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

TEST(objcache_by_file_not_path)
{
	struct hp_elf *a, *b, *c;
	char tmp[] = "/tmp/hp-objcache-XXXXXX", path[64];
	uint64_t hits = hp_objcache_hits();

	ASSERT_EQ(hp_objcache_open("/proc/self/exe", false, 0, &a), 0);
	ASSERT_EQ(hp_objcache_open("/proc/self/exe", false, 0, &b), 0);
	ASSERT_TRUE(a == b); /* the same file: read once */
	ASSERT_EQ(hp_objcache_hits(), hits + 1);
	ASSERT_TRUE(mkdtemp(tmp) != NULL);
	snprintf(path, sizeof(path), "%s/copy", tmp);
	copy_file("/proc/self/exe", path);
	/* the same bytes and build-id in another file: not the same entry */
	ASSERT_EQ(hp_objcache_open(path, false, 0, &c), 0);
	ASSERT_TRUE(c != a);
	ASSERT_EQ(c->build_id_len, a->build_id_len);
	/* rewritten in place with other bytes: read again */
	struct hp_elf *d;
	char other[4096];

	snprintf(other, sizeof(other), "%s/fix_compute.so", getenv("HP_TESTS_BUILD"));
	copy_file(other, path);
	ASSERT_EQ(hp_objcache_open(path, false, 0, &d), 0);
	ASSERT_TRUE(d != c);
	unlink(path);
	rmdir(tmp);
	hp_objcache_clear();
}

TEST_MAIN()
