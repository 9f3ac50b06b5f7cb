/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading files that someone else controls: the objects a target maps.
 * Their owner may truncate them while hotpatch reads (a mapping would
 * SIGBUS), put a FIFO or a device where a library was, or serve them from a
 * filesystem that never answers.  So they are read, never mapped, only
 * regular files are opened, and whatever may touch a filesystem that could
 * stall (FUSE, NFS, ...) runs in a helper process within the command's
 * deadline.  A process, not a thread: a FUSE request its server has read
 * and never answers cannot be interrupted, not even by SIGKILL, and a
 * thread stuck in one would keep hotpatch itself from exiting.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct hp_file {
	uint8_t *data;
	size_t len;
	struct stat st; /* of the file that was read */
};

/*
 * Reads the whole regular file at `path` (at most `max` bytes) into memory;
 * a file that changes size while it is read is refused with -ESTALE.  With
 * `slow` the work is the helper's, and if it has not finished at `deadline`
 * (CLOCK_MONOTONIC ns; 0 waits as long as it takes) the call fails with
 * -HP_ETIMEOUT and the helper is left behind.
 */
int hp_file_read(const char *path, size_t max, bool slow, uint64_t deadline, struct hp_file *ret);
/* Opens a regular file on a filesystem that answers, as read_whole does
 * (stat first; O_NONBLOCK|O_NOCTTY; the same file after the open): the
 * fd, or a negative errno with the reason recorded. */
int hp_file_open_regular(const char *path, struct stat *ret_st);
/* stat() of such a path (following links), always by the helper. */
int hp_file_stat(const char *path, uint64_t deadline, struct stat *ret);
/*
 * The file `path` names for a process whose root directory is `root`
 * ("/proc/PID/root"): links are followed, but neither they nor ".." lead
 * out of that root, and no magic link (/proc/.../fd, /proc/.../root) is
 * followed.  *ret gets its stat(), *ret_canon (malloc'd) its path as
 * hotpatch sees it (as /proc/PID/maps would show it).  A path that names
 * nothing there returns 0 with *ret_canon NULL and the reason in *ret_err;
 * a negative errno means the lookup itself failed (-HP_ETIMEOUT).  By the
 * helper, within `deadline`: the root's owner controls what lies below.
 */
int hp_file_lookup_in(const char *root, const char *path, uint64_t deadline, struct stat *ret,
		      char **ret_canon, int *ret_err);
/*
 * Reads the procfs file `path` (relative, at most `max` bytes) as a process
 * whose root is the directory `root` finds it (links and ".." stay inside
 * it), by the helper within `deadline`.  -ENOENT and the like when there
 * is none, -EMEDIUMTYPE when what is there is not procfs, -HP_ETIMEOUT when the
 * filesystems on the way do not answer.
 */
int hp_file_read_proc(const char *root, const char *path, size_t max, uint64_t deadline,
		      struct hp_file *ret);
/*
 * pread() or pwrite() of `fd` by the helper, within `deadline`: for
 * /proc/PID/mem, where touching a page of such a file waits for its
 * server.  Returns bytes moved or a negative errno (-HP_ETIMEOUT); records
 * no error message.
 */
ssize_t hp_io_transfer(int fd, void *buf, size_t len, off_t off, bool write, uint64_t deadline);
/* Starts the helper now, while hotpatch is small and has other work to do,
 * for a command that will need it (a path to look up): its first request
 * then does not wait for a new process to be scheduled. */
void hp_io_prestart(void);
/* In a forked child: the helper is the parent's; the child starts its own. */
void hp_io_forget(void);
void hp_file_free(struct hp_file *f);
/* Helpers left waiting on a filesystem, for the report. */
unsigned hp_io_stuck(void);
