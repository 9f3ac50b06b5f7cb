/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every process of a pre-forking server maps the same executable and the
 * same libraries; reading their symbols again for each process was most
 * of the time a command spent on it.  Entries live for the command (a
 * forked worker of jobs.c inherits those its parent read).
 */
#include "objcache.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "util.h"

struct entry {
	struct hp_elf *elf;
	bool keyed; /* found by its file; else only owned */
	uint64_t dev, ino, size;
	struct timespec mtime;
};

static struct entry *entries;
static size_t nentries, cap_entries;
static uint64_t hits;

/* Whether the file open on `fd` (stat `st`) is the one `en` read. */
static bool same_file(const struct entry *en, int fd, const struct stat *st)
{
	const struct hp_elf *e = en->elf;
	uint8_t id[sizeof(e->build_id)];

	if (!en->keyed || en->dev != st->st_dev || en->ino != st->st_ino ||
	    en->size != (uint64_t)st->st_size || en->mtime.tv_sec != st->st_mtim.tv_sec ||
	    en->mtime.tv_nsec != st->st_mtim.tv_nsec)
		return false;
	/* a file rewritten in place within one clock tick keeps all the
	 * above: its build-id, read again, tells the builds apart */
	if (!e->build_id_len)
		return true;
	return pread(fd, id, e->build_id_len, (off_t)e->build_id_off) == (ssize_t)e->build_id_len &&
	       !memcmp(id, e->build_id, e->build_id_len);
}

static struct hp_elf *lookup(const char *path)
{
	struct stat st;
	int fd = hp_file_open_regular(path, &st);
	struct hp_elf *found = NULL;

	if (fd < 0) {
		hp_error_clear();
		return NULL;
	}
	for (size_t i = 0; i < nentries && !found; i++)
		if (same_file(&entries[i], fd, &st))
			found = entries[i].elf;
	close(fd);
	return found;
}

static int insert(struct hp_elf *e, bool slow)
{
	struct stat st;

	if (hp_grow((void **)&entries, &cap_entries, nentries, sizeof(*entries)) < 0)
		return hp_fail(-ENOMEM, "out of memory");
	entries[nentries] = (struct entry){.elf = e};
	/* the file read, as it is now: a file changed since is not keyed */
	if (!slow && e->fd >= 0 && fstat(e->fd, &st) == 0 && st.st_dev == e->dev &&
	    st.st_ino == e->ino) {
		entries[nentries].keyed = true;
		entries[nentries].dev = st.st_dev;
		entries[nentries].ino = st.st_ino;
		entries[nentries].size = (uint64_t)st.st_size;
		entries[nentries].mtime = st.st_mtim;
	}
	nentries++;
	return 0;
}

int hp_objcache_open(const char *path, bool slow, uint64_t deadline, struct hp_elf **ret)
{
	struct hp_elf *e;
	int r;

	/* a file on a filesystem that may stall is read by the helper with
	 * its deadline (fileio.c), never opened here */
	if (!slow) {
		e = lookup(path);
		if (e) {
			hits++;
			*ret = e;
			return 0;
		}
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return hp_fail(-ENOMEM, "out of memory");
	r = hp_elf_open(path, slow, deadline, e);
	if (r == 0)
		r = insert(e, slow);
	if (r < 0) {
		hp_elf_close(e);
		free(e);
		return r;
	}
	*ret = e;
	return 0;
}

uint64_t hp_objcache_hits(void)
{
	return hits;
}

void hp_objcache_clear(void)
{
	for (size_t i = 0; i < nentries; i++) {
		hp_elf_close(entries[i].elf);
		free(entries[i].elf);
	}
	free(entries);
	entries = NULL;
	nentries = cap_entries = 0;
}
