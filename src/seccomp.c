/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seccomp.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "target.h"
#include "util.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

/* What hotpatch's helper and glibc's dlopen call in the thread. */
static const struct hp_sc_call calls[] = {
	{SYS_memfd_create, {0, 1}, "memfd_create"},
	{SYS_ftruncate, {3, 1 << 20}, "ftruncate"},
	{SYS_mmap,
	 {0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED_NOREPLACE, 3, 0},
	 "mmap"},
	{SYS_mmap,
	 {0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED_NOREPLACE, 3, 0},
	 "mmap (exec)"},
	{SYS_close, {3}, "close"},
	{SYS_munmap, {0, 4096}, "munmap"},
	{SYS_openat, {(uint64_t)AT_FDCWD, 0, O_RDONLY | O_CLOEXEC}, "openat"},
	{SYS_read, {3, 0, 832}, "read"},
	{SYS_newfstatat, {3, 0, 0, AT_EMPTY_PATH}, "newfstatat"},
	{SYS_mmap, {0, 16384, PROT_READ, MAP_PRIVATE | MAP_DENYWRITE, 3, 0}, "mmap (library)"},
	{SYS_mmap,
	 {0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED | MAP_DENYWRITE, 3, 0x1000},
	 "mmap (library text)"},
	{SYS_mmap,
	 {0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_DENYWRITE, 3, 0x2000},
	 "mmap (library data)"},
	{SYS_mprotect, {0, 4096, PROT_READ}, "mprotect"},
	{SYS_brk, {0}, "brk"},
	{SYS_getrandom, {0, 8, 1 /* GRND_NONBLOCK */}, "getrandom"},
	{SYS_futex, {0, 0x81 /* FUTEX_WAKE_PRIVATE */, 1}, "futex"},
};

uint32_t hp_seccomp_run(const struct sock_filter *prog, size_t len, const struct hp_sc_call *c,
			uint64_t ip)
{
	uint32_t data[16]; /* struct seccomp_data, as 32-bit words */
	uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = {0};

	data[0] = (uint32_t)c->nr;
	data[1] = AUDIT_ARCH_X86_64;
	data[2] = (uint32_t)ip;
	data[3] = (uint32_t)(ip >> 32);
	for (int i = 0; i < 6; i++) {
		data[4 + 2 * i] = (uint32_t)c->args[i];
		data[5 + 2 * i] = (uint32_t)(c->args[i] >> 32);
	}
	/* classic BPF only jumps forward: at most len steps */
	for (size_t pc = 0; pc < len; pc++) {
		const struct sock_filter *f = &prog[pc];
		uint32_t k = f->k, src;

		switch (BPF_CLASS(f->code)) {
		case BPF_LD:
			if (BPF_MODE(f->code) == BPF_ABS && BPF_SIZE(f->code) == BPF_W &&
			    k % 4 == 0 && k < sizeof(data))
				A = data[k / 4];
			else if (BPF_MODE(f->code) == BPF_IMM)
				A = k;
			else if (BPF_MODE(f->code) == BPF_MEM && k < BPF_MEMWORDS)
				A = M[k];
			else if (BPF_MODE(f->code) == BPF_LEN)
				A = sizeof(data);
			else
				return SECCOMP_RET_KILL_PROCESS; /* the kernel rejects these */
			break;
		case BPF_LDX:
			if (BPF_MODE(f->code) == BPF_IMM)
				X = k;
			else if (BPF_MODE(f->code) == BPF_MEM && k < BPF_MEMWORDS)
				X = M[k];
			else if (BPF_MODE(f->code) == BPF_LEN)
				X = sizeof(data);
			else
				return SECCOMP_RET_KILL_PROCESS;
			break;
		case BPF_ST:
			if (k < BPF_MEMWORDS)
				M[k] = A;
			break;
		case BPF_STX:
			if (k < BPF_MEMWORDS)
				M[k] = X;
			break;
		case BPF_ALU:
			src = BPF_SRC(f->code) == BPF_X ? X : k;
			switch (BPF_OP(f->code)) {
			case BPF_ADD:
				A += src;
				break;
			case BPF_SUB:
				A -= src;
				break;
			case BPF_MUL:
				A *= src;
				break;
			case BPF_DIV:
				if (!src)
					return SECCOMP_RET_KILL_PROCESS;
				A /= src;
				break;
			case BPF_MOD:
				if (!src)
					return SECCOMP_RET_KILL_PROCESS;
				A %= src;
				break;
			case BPF_AND:
				A &= src;
				break;
			case BPF_OR:
				A |= src;
				break;
			case BPF_XOR:
				A ^= src;
				break;
			case BPF_LSH:
				A = src < 32 ? A << src : 0;
				break;
			case BPF_RSH:
				A = src < 32 ? A >> src : 0;
				break;
			case BPF_NEG:
				A = -A;
				break;
			default:
				return SECCOMP_RET_KILL_PROCESS;
			}
			break;
		case BPF_JMP: {
			bool t;

			src = BPF_SRC(f->code) == BPF_X ? X : k;
			switch (BPF_OP(f->code)) {
			case BPF_JA:
				pc += k;
				continue;
			case BPF_JEQ:
				t = A == src;
				break;
			case BPF_JGT:
				t = A > src;
				break;
			case BPF_JGE:
				t = A >= src;
				break;
			case BPF_JSET:
				t = (A & src) != 0;
				break;
			default:
				return SECCOMP_RET_KILL_PROCESS;
			}
			pc += t ? f->jt : f->jf;
			break;
		}
		case BPF_RET:
			return BPF_RVAL(f->code) == BPF_A ? A : k;
		case BPF_MISC:
			if (BPF_MISCOP(f->code) == BPF_TAX)
				X = A;
			else
				A = X;
			break;
		}
	}
	return SECCOMP_RET_KILL_PROCESS; /* fell off the end: the kernel refuses such programs */
}

static const char *action_words(uint32_t action, char *buf, size_t bufsz)
{
	switch (action & SECCOMP_RET_ACTION_FULL) {
	case SECCOMP_RET_KILL_PROCESS:
		return "kills the process";
	case SECCOMP_RET_KILL_THREAD:
		return "kills the thread";
	case SECCOMP_RET_TRAP:
		return "raises SIGSYS";
	case SECCOMP_RET_ERRNO:
		snprintf(buf, bufsz, "fails it with %s",
			 strerror((int)(action & SECCOMP_RET_DATA)));
		return buf;
	case SECCOMP_RET_USER_NOTIF:
		return "hands it to a supervisor";
	case SECCOMP_RET_TRACE:
		return "hands it to a seccomp tracer";
	default:
		return "does not allow it";
	}
}

static bool allowed(uint32_t action)
{
	uint32_t a = action & SECCOMP_RET_ACTION_FULL;

	return a == SECCOMP_RET_ALLOW || a == SECCOMP_RET_LOG;
}

int hp_seccomp_check(pid_t pid, pid_t tid, uint64_t ip)
{
	char mode_text[16];
	int mode = 0, r = 0;
	struct sock_filter *progs[64];
	size_t lens[64], nprogs = 0;

	if (hp_status_field(pid, tid, "Seccomp", mode_text, sizeof(mode_text)) < 0)
		return 0;
	mode = atoi(mode_text);
	if (mode == 0)
		return 0;
	if (mode == 1)
		return hp_fail(-HP_EUNSUPPORTED,
			       "thread %d of pid %d runs in seccomp strict mode, which allows no "
			       "syscall hotpatch needs to load a patch",
			       tid, pid);
	/* index 0 is the newest filter; every filter votes, the strictest wins */
	for (unsigned long idx = 0; nprogs < HP_ARRAY_SIZE(progs); idx++) {
		long n = hp_ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx, NULL);

		if (n == -ENOENT)
			break;
		if (n < 0) {
			r = hp_fail(n == -EACCES || n == -EPERM ? -EPERM : (int)n,
				    "pid %d has a seccomp filter, and reading it to check that loading "
				    "a patch will not kill it (and suspending it for hotpatch's own "
				    "calls, where it would) needs root with CAP_SYS_ADMIN, in a "
				    "hotpatch that is not itself under seccomp: %s",
				    pid, strerror((int)-n));
			goto out;
		}
		progs[nprogs] = calloc((size_t)n ? (size_t)n : 1, sizeof(struct sock_filter));
		if (!progs[nprogs]) {
			r = hp_fail(-ENOMEM, "out of memory");
			goto out;
		}
		lens[nprogs] = (size_t)n;
		if (hp_ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx, progs[nprogs++]) < 0) {
			r = hp_fail(-EPERM, "cannot read the seccomp filter of thread %d", tid);
			goto out;
		}
	}
	for (size_t c = 0; c < HP_ARRAY_SIZE(calls); c++) {
		uint32_t worst = SECCOMP_RET_ALLOW;

		for (size_t i = 0; i < nprogs; i++) {
			uint32_t a = hp_seccomp_run(progs[i], lens[i], &calls[c], ip);

			if ((int32_t)(a & SECCOMP_RET_ACTION_FULL) <
			    (int32_t)(worst & SECCOMP_RET_ACTION_FULL))
				worst = a;
		}
		if (!allowed(worst)) {
			char buf[96];

			r = hp_fail(-HP_EUNSUPPORTED,
				    "pid %d is hardened with a seccomp filter that %s for %s, which "
				    "hotpatch needs in the target to load a patch; refusing rather "
				    "than harming it",
				    pid, action_words(worst, buf, sizeof(buf)), calls[c].name);
			goto out;
		}
	}
out:
	for (size_t i = 0; i < nprogs; i++)
		free(progs[i]);
	return r;
}
