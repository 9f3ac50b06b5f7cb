/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /proc/PID/maps parsing, free gaps, trampoline planning, and naming a
 * mapped file by a path. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "modules.h"
#include "prologue.h"
#include "tests.h"
#include "trampoline.h"
#include "util.h"

static const char maps_text[] =
	"555555554000-555555556000 r--p 00000000 fe:01 1234                       /usr/bin/my prog\n"
	"555555556000-555555558000 r-xp 00002000 fe:01 1234                       /usr/bin/my prog\n"
	"555555558000-55555555a000 rw-p 00004000 fe:01 1234                       /usr/bin/my prog\n"
	"55555555a000-55555557b000 rw-p 00000000 00:00 0                          [heap]\n"
	"7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7ffff7da6000-7ffff7f00000 r-xp 00026000 fe:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7ffff7fc0000-7ffff7fc1000 rw-s 00000000 00:01 77 /memfd:hotpatch-ctl (deleted)\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

TEST(parse)
{
	struct hp_maps m;

	ASSERT_EQ(hp_maps_parse(maps_text, &m), 0);
	ASSERT_EQ(m.n, 9);
	ASSERT_STREQ(m.m[0].path, "/usr/bin/my prog"); /* spaces kept */
	ASSERT_EQ(m.m[1].prot, HP_PROT_R | HP_PROT_X);
	ASSERT_EQ(m.m[1].offset, 0x2000);
	ASSERT_EQ(m.m[1].inode, 1234);
	ASSERT_EQ(m.m[1].dev_major, 0xfe);
	ASSERT_STREQ(m.m[6].path, "/memfd:hotpatch-ctl");
	ASSERT_TRUE(m.m[6].deleted);
	ASSERT_TRUE(m.m[6].prot & HP_PROT_SHARED);
	ASSERT_TRUE(m.m[3].path && !strcmp(m.m[3].path, "[heap]"));
	ASSERT_TRUE(hp_maps_find(&m, 0x555555556010ull) == &m.m[1]);
	ASSERT_TRUE(hp_maps_find(&m, 0x600000000000ull) == NULL);
	hp_maps_free(&m);
}

TEST(parse_errors)
{
	struct hp_maps m;

	ASSERT_EQ(hp_maps_parse("nonsense\n", &m), -EINVAL);
	ASSERT_EQ(hp_maps_parse("1000-0800 r-xp 0 00:00 0\n", &m), -EINVAL);
	ASSERT_EQ(hp_maps_parse("1000-2000 r-xp 0 00:00\n", &m), -EINVAL);
	ASSERT_EQ(hp_maps_parse("", &m), 0);
	ASSERT_EQ(m.n, 0);
	hp_maps_free(&m);
}

TEST(gaps_stay_within_reach_and_off_the_heap)
{
	struct hp_maps m;
	uint64_t lo = 0x555555554000ull, hi = 0x55555555a000ull, a;

	ASSERT_EQ(hp_maps_parse(maps_text, &m), 0);
	a = hp_maps_find_gap(&m, lo, hi, 4096, HP_REL32_REACH);
	ASSERT_TRUE(a != 0);
	ASSERT_TRUE(a + 4096 <= lo); /* below: the heap grows up above */
	ASSERT_TRUE(hi - a <= HP_REL32_REACH);
	ASSERT_TRUE(hp_maps_find(&m, a) == NULL);
	/* nothing fits within reach of the stack's neighbourhood only */
	a = hp_maps_find_gap(&m, 0x7ffffffde000ull, 0x7ffffffff000ull, 4096, 0x10000);
	ASSERT_EQ(a, 0);
	hp_maps_free(&m);
}

TEST(trampoline_plan)
{
	struct hp_maps m;
	struct hp_tramp_site s[3] = {
		{.from = 0x555555556100ull, .to = 0x7ffff7fc0100ull}, /* far */
		{.from = 0x555555556200ull, .to = 0x555555556300ull}, /* near */
		{.from = 0x555555556300ull, .to = 0x7ffff7fc0200ull}, /* far */
	};
	struct hp_reg_range *r = NULL;
	size_t n = 0;
	uint8_t *img;
	uint64_t dest;

	ASSERT_EQ(hp_maps_parse(maps_text, &m), 0);
	ASSERT_EQ(hp_tramp_plan(&m, s, 3, &r, &n), 0);
	ASSERT_EQ(n, 1); /* one page serves both */
	ASSERT_EQ(s[1].slot, 0);
	ASSERT_TRUE(s[0].slot >= r[0].addr && s[2].slot >= r[0].addr);
	ASSERT_TRUE(s[0].slot != s[2].slot);
	uint8_t j[5];
	ASSERT_EQ(hp_jmp_rel32(j, s[0].from, s[0].slot), 0);
	ASSERT_EQ(hp_tramp_image(&r[0], s, 3, &img), 0);
	memcpy(&dest, img + (s[2].slot - r[0].addr) + 6, 8);
	ASSERT_EQ(dest, s[2].to);
	free(img);
	free(r);
	hp_maps_free(&m);
}

TEST(path_match_ranks_file_then_canonical_path_then_text)
{
	struct hp_path_id id = {.found = true,
				.dev_major = 0xfe,
				.dev_minor = 1,
				.inode = 99,
				.canon = "/usr/lib/libc.so.6"};
	struct hp_path_id none = {.found = false, .err = -ENOENT};

	/* the same file, whatever its maps text */
	ASSERT_EQ(hp_path_match(&id, "/lib/libc.so.6", "/elsewhere", 0xfe, 1, 99), HP_PATH_FILE);
	/* overlayfs on older kernels: the inode below, the overlay's path */
	ASSERT_EQ(hp_path_match(&id, "/lib/libc.so.6", "/usr/lib/libc.so.6", 0x00, 0x28, 7),
		  HP_PATH_CANON);
	/* another file of the same name */
	ASSERT_EQ(hp_path_match(&id, "/lib/libc.so.6", "/opt/lib/libc.so.6", 0xfe, 1, 100),
		  HP_PATH_NONE);
	/* same inode number on another device is another file */
	ASSERT_EQ(hp_path_match(&id, "/lib/libc.so.6", "/x", 0xfe, 2, 99), HP_PATH_NONE);
	/* nothing there (deleted, or only hotpatch's view): the text as written */
	ASSERT_EQ(hp_path_match(&none, "/old/libfoo.so.1", "/old/libfoo.so.1", 1, 2, 3),
		  HP_PATH_TEXT);
	ASSERT_EQ(hp_path_match(&none, "/old/libfoo.so.1", "/old/libfoo.so.1.2", 1, 2, 3),
		  HP_PATH_NONE);
}

static void put_file(const char *dir, const char *name)
{
	char p[1024];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0)
		close(fd);
}

TEST(path_lookup_stays_in_the_root)
{
	char root[] = "/tmp/hp-unit-root-XXXXXX", p[256], want[256];
	struct hp_path_id id;
	struct stat st;

	ASSERT_TRUE(mkdtemp(root) != NULL);
	snprintf(p, sizeof(p), "%s/lib", root);
	ASSERT_EQ(mkdir(p, 0755), 0);
	put_file(p, "libfoo.so.1.2.3");
	/* absolute links mean the root's own /lib */
	snprintf(p, sizeof(p), "%s/lib/libfoo.so.1", root);
	ASSERT_EQ(symlink("/lib/libfoo.so.1.2.3", p), 0);
	/* ".." cannot climb out of the root */
	snprintf(p, sizeof(p), "%s/lib/up.so", root);
	ASSERT_EQ(symlink("../../../../../../lib/libfoo.so.1.2.3", p), 0);
	/* /proc/self/root is hotpatch's root, not the target's */
	snprintf(p, sizeof(p), "%s/lib/out.so", root);
	snprintf(want, sizeof(want), "/proc/self/root%s/lib/libfoo.so.1.2.3", root);
	ASSERT_EQ(symlink(want, p), 0);

	snprintf(want, sizeof(want), "%s/lib/libfoo.so.1.2.3", root);
	ASSERT_EQ(stat(want, &st), 0);
	ASSERT_EQ(hp_path_lookup(root, "/lib//./libfoo.so.1", 0, &id), 0);
	ASSERT_TRUE(id.found);
	ASSERT_EQ(id.inode, st.st_ino);
	ASSERT_EQ(id.dev_major, major(st.st_dev));
	ASSERT_STREQ(id.canon, want);
	hp_path_id_free(&id);
	ASSERT_EQ(hp_path_lookup(root, "/lib/up.so", 0, &id), 0);
	ASSERT_TRUE(id.found);
	ASSERT_EQ(id.inode, st.st_ino);
	hp_path_id_free(&id);
	/* in the root there is no /proc to lead anywhere */
	ASSERT_EQ(hp_path_lookup(root, "/lib/out.so", 0, &id), 0);
	ASSERT_TRUE(!id.found);
	ASSERT_EQ(id.err, -ENOENT);
	/* where /proc is, its magic links are not followed */
	ASSERT_EQ(hp_path_lookup("/", p, 0, &id), 0);
	ASSERT_TRUE(!id.found);
	ASSERT_EQ(id.err, -ELOOP);
	ASSERT_EQ(hp_path_lookup(root, "/lib/none.so", 0, &id), 0);
	ASSERT_TRUE(!id.found);
	ASSERT_EQ(id.err, -ENOENT);
	/* the same path from hotpatch's own root names nothing */
	ASSERT_EQ(hp_path_lookup("/", "/lib/libfoo.so.1.2.3", 0, &id), 0);
	ASSERT_TRUE(!id.found);

	const char *names[] = {"lib/libfoo.so.1", "lib/up.so", "lib/out.so", "lib/libfoo.so.1.2.3",
			       "lib"};
	for (size_t i = 0; i < HP_ARRAY_SIZE(names); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, names[i]);
		i + 1 < HP_ARRAY_SIZE(names) ? unlink(p) : rmdir(p);
	}
	rmdir(root);
}

TEST_MAIN()
