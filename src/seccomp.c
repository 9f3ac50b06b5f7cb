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

/* A classic-BPF machine: seccomp_data as 32-bit words, registers, scratch. */
struct bpf_vm {
	uint32_t data[16];
	uint32_t A, X, M[BPF_MEMWORDS];
};

static void load_data(struct bpf_vm *vm, const struct hp_sc_call *c, uint64_t ip)
{
	vm->data[0] = (uint32_t)c->nr;
	vm->data[1] = AUDIT_ARCH_X86_64;
	vm->data[2] = (uint32_t)ip;
	vm->data[3] = (uint32_t)(ip >> 32);
	for (int i = 0; i < 6; i++) {
		vm->data[4 + 2 * i] = (uint32_t)c->args[i];
		vm->data[5 + 2 * i] = (uint32_t)(c->args[i] >> 32);
	}
}

/* The value a BPF_LD (abs allowed) or BPF_LDX loads; false for a mode the
 * kernel rejects. */
static bool load_value(const struct bpf_vm *vm, const struct sock_filter *f, bool abs,
		       uint32_t *ret)
{
	uint32_t k = f->k;

	if (abs && BPF_MODE(f->code) == BPF_ABS && BPF_SIZE(f->code) == BPF_W && k % 4 == 0 &&
	    k < sizeof(vm->data))
		*ret = vm->data[k / 4];
	else if (BPF_MODE(f->code) == BPF_IMM)
		*ret = k;
	else if (BPF_MODE(f->code) == BPF_MEM && k < BPF_MEMWORDS)
		*ret = vm->M[k];
	else if (BPF_MODE(f->code) == BPF_LEN)
		*ret = sizeof(vm->data);
	else
		return false;
	return true;
}

/* A BPF_ALU instruction; false for one the kernel rejects or that traps. */
static bool alu(struct bpf_vm *vm, const struct sock_filter *f)
{
	uint32_t src = BPF_SRC(f->code) == BPF_X ? vm->X : f->k;

	switch (BPF_OP(f->code)) {
	case BPF_ADD:
		vm->A += src;
		return true;
	case BPF_SUB:
		vm->A -= src;
		return true;
	case BPF_MUL:
		vm->A *= src;
		return true;
	case BPF_DIV:
		if (!src)
			return false;
		vm->A /= src;
		return true;
	case BPF_MOD:
		if (!src)
			return false;
		vm->A %= src;
		return true;
	case BPF_AND:
		vm->A &= src;
		return true;
	case BPF_OR:
		vm->A |= src;
		return true;
	case BPF_XOR:
		vm->A ^= src;
		return true;
	case BPF_LSH:
		vm->A = src < 32 ? vm->A << src : 0;
		return true;
	case BPF_RSH:
		vm->A = src < 32 ? vm->A >> src : 0;
		return true;
	case BPF_NEG:
		vm->A = -vm->A;
		return true;
	default:
		return false;
	}
}

/* How many instructions a BPF_JMP skips; false for one the kernel rejects. */
static bool jump(const struct bpf_vm *vm, const struct sock_filter *f, size_t *skip)
{
	uint32_t src = BPF_SRC(f->code) == BPF_X ? vm->X : f->k;
	bool t;

	switch (BPF_OP(f->code)) {
	case BPF_JA:
		*skip = f->k;
		return true;
	case BPF_JEQ:
		t = vm->A == src;
		break;
	case BPF_JGT:
		t = vm->A > src;
		break;
	case BPF_JGE:
		t = vm->A >= src;
		break;
	case BPF_JSET:
		t = (vm->A & src) != 0;
		break;
	default:
		return false;
	}
	*skip = t ? f->jt : f->jf;
	return true;
}

/* Runs one instruction other than BPF_RET: false for one the kernel
 * rejects (the program would not have been loaded, or traps). */
static bool step(struct bpf_vm *vm, const struct sock_filter *f, size_t *pc)
{
	size_t skip = 0;
	bool ok = true;

	switch (BPF_CLASS(f->code)) {
	case BPF_LD:
		ok = load_value(vm, f, true, &vm->A);
		break;
	case BPF_LDX:
		ok = load_value(vm, f, false, &vm->X);
		break;
	case BPF_ST:
		if (f->k < BPF_MEMWORDS)
			vm->M[f->k] = vm->A;
		break;
	case BPF_STX:
		if (f->k < BPF_MEMWORDS)
			vm->M[f->k] = vm->X;
		break;
	case BPF_ALU:
		ok = alu(vm, f);
		break;
	case BPF_JMP:
		ok = jump(vm, f, &skip);
		break;
	case BPF_MISC:
		if (BPF_MISCOP(f->code) == BPF_TAX)
			vm->X = vm->A;
		else
			vm->A = vm->X;
		break;
	}
	*pc += skip;
	return ok;
}

uint32_t hp_seccomp_run(const struct sock_filter *prog, size_t len, const struct hp_sc_call *c,
			uint64_t ip)
{
	struct bpf_vm vm = {0};

	load_data(&vm, c, ip);
	/* classic BPF only jumps forward: at most len steps */
	for (size_t pc = 0; pc < len; pc++) {
		const struct sock_filter *f = &prog[pc];

		if (BPF_CLASS(f->code) == BPF_RET)
			return BPF_RVAL(f->code) == BPF_A ? vm.A : f->k;
		if (!step(&vm, f, &pc))
			return SECCOMP_RET_KILL_PROCESS;
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
