/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "audit.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "escape.h"
#include "report.h"
#include "util.h"

#define FACILITY_AUTHPRIV 10 /* LOG_AUTHPRIV >> 3, as journald wants it */
/*
 * journald's native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL), spoken
 * here rather than through libsystemd's sd_journal_sendv: the library and
 * what it pulls in (libgcrypt, lz4, zstd, libcap) cost every command 1.4 ms
 * of dynamic linking, on a tool whose whole command takes a few.  One
 * datagram per record; a field is "KEY=value\n", or, when the value holds
 * a newline, "KEY\n", its length as 64-bit little endian, the bytes, "\n".
 */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/*
 * A value in the one-line summary.  Text from outside (paths, names, the
 * error, which quotes the target's comm) is always quoted and escaped, so
 * that no value can end the line, add a key or look like hotpatch's own
 * words; `none` is hotpatch's own placeholder, never quoted.
 */
static void put_value(struct hp_buf *b, const char *key, const char *v, const char *none)
{
	hp_buf_printf(b, " %s=", key);
	if (!v || !*v) {
		hp_buf_printf(b, "%s", none);
		return;
	}
	hp_buf_add(b, "\"", 1);
	hp_escape_buf(b, v, strlen(v), HP_ESC_QUOTED);
	hp_buf_add(b, "\"", 1);
}

struct fields {
	struct iovec *iov;
	size_t n, cap;
	bool oom;
};

/* A journal field; its value may hold any bytes, newlines included. */
static void field(struct fields *f, const char *key, const char *value)
{
	struct hp_buf b = {0};

	if (!value)
		return;
	if (hp_grow((void **)&f->iov, &f->cap, f->n, sizeof(*f->iov)) < 0) {
		f->oom = true;
		return;
	}
	if (strchr(value, '\n')) {
		uint64_t len = strlen(value); /* little endian, as is x86-64 */

		hp_buf_printf(&b, "%s\n", key);
		hp_buf_add(&b, (const char *)&len, sizeof(len));
		hp_buf_add(&b, value, (size_t)len);
		hp_buf_add(&b, "\n", 1);
	} else {
		hp_buf_printf(&b, "%s=%s\n", key, value);
	}
	if (b.oom || !b.s) {
		hp_buf_free(&b);
		f->oom = true;
		return;
	}
	f->iov[f->n++] = (struct iovec){.iov_base = b.s, .iov_len = b.len};
}

/* Sends the record to journald; false when there is none to take it. */
static bool journal_send(const struct fields *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET};
	struct msghdr mh = {.msg_name = &sa,
			    .msg_namelen = sizeof(sa),
			    .msg_iov = f->iov,
			    .msg_iovlen = f->n};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = sendmsg(fd, &mh, MSG_NOSIGNAL) >= 0;
	close(fd);
	return ok;
}

static void fields_free(struct fields *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->iov[i].iov_base);
	free(f->iov);
}

/* Who runs hotpatch: looked up once per command, not once per process. */
static const char *user_name(void)
{
	static char name[256];
	static bool known;

	if (!known) {
		struct passwd *pw = getpwuid(getuid());

		known = true;
		if (pw)
			snprintf(name, sizeof(name), "%s", pw->pw_name);
	}
	return name[0] ? name : NULL;
}

void hp_audit(const char *verb, const struct hp_report *rep, const char *patch_path,
	      const char *sha256, int result)
{
	const char *sudo = getenv("SUDO_USER");
	const char *user = user_name();
	const char *error = result < 0 ? (hp_err.msg[0] ? hp_err.msg : hp_strerror(result)) : NULL;
	const char *exe = rep->exe[0] ? rep->exe : NULL;
	struct hp_buf funcs = {0}, line = {0};
	struct fields f = {0};
	const char *outcome = result < 0 ? "failed" : rep->npatches ? rep->patches[0].action : "ok";
	int prio = result < 0 ? LOG_WARNING : LOG_NOTICE;
	char num[32];

	if (!sha256 || !*sha256)
		sha256 = NULL;
	for (size_t i = 0; i < rep->npatches; i++)
		for (size_t k = 0; k < rep->patches[i].nfuncs; k++)
			hp_buf_printf(&funcs, "%s%s", funcs.len ? "," : "",
				      rep->patches[i].funcs[k].symbol);

	/* key=value for machines, in an order people can read */
	hp_buf_printf(&line, "%s %s: pid=%d", verb, outcome, rep->pid);
	put_value(&line, "exe", exe, "?");
	put_value(&line, "patch", patch_path, "-");
	hp_buf_printf(&line, " sha256=%s", sha256 ? sha256 : "-");
	put_value(&line, "functions", funcs.s, "-");
	put_value(&line, "user", user, "?");
	hp_buf_printf(&line, " uid=%u", (unsigned)getuid());
	if (sudo)
		put_value(&line, "sudo_user", sudo, "-");
	if (error)
		put_value(&line, "error", error, "-");
	if (line.oom || !line.s)
		goto out;

	/* The journal first, where each value is a field of its own that tools
	 * can match on; syslog when there is no journald. */
	field(&f, "MESSAGE", line.s);
	snprintf(num, sizeof(num), "%d", prio);
	field(&f, "PRIORITY", num);
	snprintf(num, sizeof(num), "%d", FACILITY_AUTHPRIV);
	field(&f, "SYSLOG_FACILITY", num);
	field(&f, "SYSLOG_IDENTIFIER", "hotpatch");
	field(&f, "HOTPATCH_VERB", verb);
	field(&f, "HOTPATCH_OUTCOME", outcome);
	snprintf(num, sizeof(num), "%d", rep->pid);
	field(&f, "HOTPATCH_PID", num);
	field(&f, "HOTPATCH_COMM", rep->comm[0] ? rep->comm : NULL);
	field(&f, "HOTPATCH_EXE", exe);
	field(&f, "HOTPATCH_PATCH", patch_path);
	field(&f, "HOTPATCH_SHA256", sha256);
	for (size_t i = 0; i < rep->npatches; i++)
		for (size_t k = 0; k < rep->patches[i].nfuncs; k++)
			field(&f, "HOTPATCH_FUNCTION", rep->patches[i].funcs[k].symbol);
	field(&f, "HOTPATCH_USER", user);
	snprintf(num, sizeof(num), "%u", (unsigned)getuid());
	field(&f, "HOTPATCH_UID", num);
	field(&f, "HOTPATCH_SUDO_USER", sudo);
	field(&f, "HOTPATCH_ERROR", error);
	if (!f.oom && journal_send(&f))
		goto out;

	openlog("hotpatch", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
	syslog(prio, "%s", line.s);
	closelog();
out:
	fields_free(&f);
	hp_buf_free(&line);
	hp_buf_free(&funcs);
}
