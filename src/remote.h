/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Calls and syscalls run by one of the target's threads, through the stub. */
#pragma once

#include "procid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stub.h"

struct hp_target;
struct hp_modules;
struct hp_unwinder;

/* The control mapping every hotpatch run finds in the target. */
#define HP_CTL_NAME	  "hotpatch-ctl"
#define HP_CTL_SIZE	  (1u << 20)
#define HP_CTL_RESULT_OFF 0x0		   /* the stub's result area */
#define HP_CTL_HDR_OFF	  0x100		   /* struct hp_ctl_hdr */
#define HP_TRAMP_NAME	  "hotpatch-tramp" /* memfd name of trampoline pages */

/* Where calls that write their answers to memory (dlinfo) put them; used
 * within one command only, never read by another run.  The registry's
 * slots begin at 0x1000 (registry.c). */
#define HP_CTL_SCRATCH_OFF 0x800
#define HP_CTL_SCRATCH_LEN 0x100

struct hp_ctl_hdr {
	char magic[8]; /* "HOTPATCH" */
	uint32_t version;
	uint32_t size;
	uint64_t self;	    /* where the mapping is (a check on the name) */
	uint64_t owner_pid; /* who made it; a child of fork() keeps its own copy */
	uint64_t last_tid;  /* the thread that ran the last stub call */
	uint64_t last_seq;
	uint64_t stub;	     /* where the stub was written */
	uint64_t reg_active; /* registry slot in use (0/1), see registry.c */
	uint64_t reg_gen;
	uint64_t next_patch_id;
	uint64_t pending_load; /* a load began whose record is not written yet */
};
_Static_assert(HP_CTL_HDR_OFF + sizeof(struct hp_ctl_hdr) <= HP_CTL_SCRATCH_OFF,
	       "the control header runs into the scratch area");

struct hp_rop {
	uint64_t fn; /* function to call, or 0 for syscall `nr` */
	uint64_t nr;
	uint64_t args[6];
	uint64_t flags; /* HP_OPF_* */
};

struct hp_deny {
	uint64_t lo, hi;
	const char *what;
};

struct hp_remote {
	struct hp_target *t;
	struct hp_modules *m;
	struct hp_unwinder *unw;
	uint64_t stub; /* stub address in the target */
	uint64_t ctl;  /* control mapping, 0 until found or made */
	uint64_t seq;
	pid_t tid; /* the thread that runs our calls */
	uint32_t xsave_size;
	bool stub_written;
	bool ctl_headless; /* found a control mapping an interrupted run never finished */
	bool outstanding;  /* a call that never finished: the stub is busy */
	uint64_t fn_dlopen, fn_dlerror, fn_dlclose;
	uint64_t fn_dlinfo;   /* 0 when the C library does not export it */
	struct hp_deny *deny; /* frames that make a thread unsafe for dlopen */
	size_t ndeny;
	char busy_reason[512];
	uint64_t call_ns; /* time spent in remote calls */
	unsigned calls;
	struct hp_proc_id id; /* the program it ran when the session began */
};

/* Finds the C library, room for the stub, and an existing control mapping. */
int hp_remote_init(struct hp_remote *rc, struct hp_target *t, struct hp_modules *m);
void hp_remote_free(struct hp_remote *rc);
/* Creates the control mapping if the target has none yet. */
int hp_remote_ensure_ctl(struct hp_remote *rc, uint64_t deadline);

/* Address in the target of byte `off` of the request's string area. */
uint64_t hp_remote_str(const struct hp_remote *rc, size_t off);
/*
 * Runs `nops` operations on one thread at a safe point and returns their
 * results.  `strings` (up to HP_CALL_STRINGS_LEN bytes) is copied to the
 * request's string area.  `what` names the work for error messages.
 */
int hp_remote_call(struct hp_remote *rc, const struct hp_rop *ops, size_t nops, const void *strings,
		   size_t slen, uint64_t *ret, uint64_t deadline, const char *what);
/* Checks that a call could run now (a thread at a safe point, seccomp
 * allowing what it needs) without running one: for dry runs. */
int hp_remote_probe(struct hp_remote *rc, uint64_t deadline);
/* Reads a NUL-terminated string from the target. */
int hp_remote_read_str(struct hp_remote *rc, uint64_t addr, char *buf, size_t bufsz);
/* Looks up `name` in the target's C library (default symbol version). */
uint64_t hp_remote_libc_sym(struct hp_remote *rc, const char *name);
/* Reads and checks the control header. */
int hp_ctl_read(struct hp_remote *rc, struct hp_ctl_hdr *hdr);
int hp_ctl_write(struct hp_remote *rc, const struct hp_ctl_hdr *hdr);
