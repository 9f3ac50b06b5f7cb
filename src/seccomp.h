/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Would the target's seccomp filters let hotpatch load code into it? */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sock_filter;

/* A syscall as a seccomp filter sees it. */
struct hp_sc_call {
	int nr;
	uint64_t args[6];
	const char *name;
};

/* Runs one classic-BPF seccomp program; returns its SECCOMP_RET_* value. */
uint32_t hp_seccomp_run(const struct sock_filter *prog, size_t len, const struct hp_sc_call *c,
			uint64_t ip);

/*
 * For a ptrace-stopped thread: 0 if every syscall hotpatch makes in it
 * (its helper's and dlopen's) is allowed, else -HP_EUNSUPPORTED or -EPERM
 * with the syscall and the action in the message.
 */
int hp_seccomp_check(pid_t pid, pid_t tid, uint64_t ip);
