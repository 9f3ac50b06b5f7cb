/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "remote.h"
#include "seccomp.h"

#include <cpuid.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "memory.h"
#include "modules.h"
#include "proc.h"
#include "stackcheck.h"
#include "target.h"
#include "util.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1u
#endif

/* ptrace's requests are target.c's business; these two only name them */
#ifndef PTRACE_SETOPTIONS
#define PTRACE_SETOPTIONS 0x4200
#endif
#ifndef PTRACE_O_SUSPEND_SECCOMP
#define PTRACE_O_SUSPEND_SECCOMP (1 << 21)
#endif

/* kernel-internal restart codes, seen in rax at a stop inside a syscall */
#define ERESTARTSYS	      512
#define ERESTARTNOINTR	      513
#define ERESTARTNOHAND	      514
#define ERESTART_RESTARTBLOCK 516

/* Room the stub and a dlopen need on the thread's stack, beyond XSAVE. */
#define STACK_NEED (96u << 10)

extern const uint8_t hp_stub_code[], hp_stub_code_end[];

/* C library functions that hold the malloc or loader locks. */
static const char *const deny_names[] = {
	"malloc",
	"free",
	"calloc",
	"realloc",
	"reallocarray",
	"memalign",
	"posix_memalign",
	"aligned_alloc",
	"valloc",
	"pvalloc",
	"malloc_trim",
	"malloc_stats",
	"malloc_info",
	"mallinfo",
	"mallinfo2",
	"mallopt",
	"malloc_usable_size",
	"cfree",
	"__libc_malloc",
	"__libc_free",
	"__libc_calloc",
	"__libc_realloc",
	"__libc_memalign",
	"fork",
	"_Fork",
	"vfork",
	"pthread_create",
	"pthread_exit",
	"exit",
	"__cxa_finalize",
	"dlopen",
	"dlclose",
	"dlsym",
	"dlvsym",
	"dlmopen",
	"dladdr",
	"dladdr1",
	"dlinfo",
	"dlerror",
	"dl_iterate_phdr",
	"__libc_dlopen_mode",
	"__libc_dlsym",
	"__libc_dlclose",
	"__libc_dlvsym",
	"_dl_find_object",
	"__tls_get_addr",
};

static unsigned xsave_size(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) /* OSXSAVE */
		return 0;
	__cpuid_count(0xd, 0, a, b, c, d);
	return (b + 63) & ~63u;
}

uint64_t hp_remote_libc_sym(struct hp_remote *rc, const char *name)
{
	struct hp_object *libc = hp_modules_libc(rc->m);
	const struct hp_sym *s;
	struct hp_elf *e;

	if (!libc || hp_object_elf(rc->t, libc, &e) < 0)
		return 0;
	/* the dynamic symbols: exported, with versions resolved */
	for (size_t i = 0, n = hp_elf_lookup(e, name, &s); i < n; i++)
		if (s[i].type == STT_FUNC || s[i].type == STT_GNU_IFUNC)
			return libc->bias + s[i].value;
	return 0;
}

static int add_deny(struct hp_remote *rc, uint64_t lo, uint64_t hi, const char *what)
{
	size_t cap = rc->ndeny;

	if (rc->ndeny == 0 || (rc->ndeny & (rc->ndeny - 1)) == 0) {
		struct hp_deny *d = realloc(rc->deny, (cap ? cap * 2 : 8) * sizeof(*d));

		if (!d)
			return -ENOMEM;
		rc->deny = d;
	}
	rc->deny[rc->ndeny++] = (struct hp_deny){lo, hi, what};
	return 0;
}

/* The unused tail of the C library's executable segment. */
static int find_stub_room(struct hp_remote *rc, struct hp_object *o, struct hp_elf *e)
{
	for (size_t i = 0; i < e->phnum; i++) {
		const GElf_Phdr *p = &e->phdr[i];
		uint64_t end, start, limit;
		const struct hp_mapping *mp;
		uint8_t cur[HP_STUB_REQ_OFF];
		size_t code_len = (size_t)(hp_stub_code_end - hp_stub_code);

		if (p->p_type != PT_LOAD || !(p->p_flags & PF_X))
			continue;
		end = o->bias + p->p_vaddr + p->p_filesz;
		start = (end + 63) & ~63ull;
		limit = (end + 4095) & ~4095ull;
		if (start + HP_STUB_SIZE > limit)
			continue;
		mp = hp_maps_find(&rc->m->maps, start);
		if (!mp || !(mp->prot & HP_PROT_X) || mp->end < start + HP_STUB_SIZE)
			continue;
		/* Zeroes, or our own code from an earlier run: anything else is
		 * someone's, and we keep out. */
		if (hp_mem_read(rc->t, start, cur, sizeof(cur)) < 0)
			continue;
		bool zero = true;
		for (size_t k = 0; k < sizeof(cur); k++)
			if (cur[k])
				zero = false;
		if (!zero && memcmp(cur, hp_stub_code, code_len))
			continue;
		rc->stub = start;
		return 0;
	}
	return -ENOSPC;
}

/* The C library's entry points the calls use. */
static int find_libc_functions(struct hp_remote *rc, const struct hp_object *libc)
{
	rc->fn_dlopen = hp_remote_libc_sym(rc, "dlopen");
	rc->fn_dlerror = hp_remote_libc_sym(rc, "dlerror");
	rc->fn_dlclose = hp_remote_libc_sym(rc, "dlclose");
	rc->fn_dlinfo = hp_remote_libc_sym(rc, "dlinfo");
	if (!rc->fn_dlopen || !rc->fn_dlerror || !rc->fn_dlclose)
		return hp_fail(-HP_EUNSUPPORTED,
			       "the target's C library (%s) does not export dlopen: glibc 2.34 "
			       "or later is needed",
			       libc->path);
	hp_trace("libc symbols");
	return 0;
}

/* The code a thread must not be in for a call: the C library's
 * allocator and loader entry points, the dynamic loader, the stub. */
static int build_deny_list(struct hp_remote *rc, const struct hp_object *libc, struct hp_elf *e)
{
	const struct hp_modules *m = rc->m;

	for (size_t i = 0; i < HP_ARRAY_SIZE(deny_names); i++) {
		const struct hp_sym *s;
		size_t n = hp_elf_lookup(e, deny_names[i], &s);

		for (size_t k = 0; k < n; k++)
			if ((s[k].type == STT_FUNC || s[k].type == STT_GNU_IFUNC) && s[k].size &&
			    add_deny(rc, libc->bias + s[k].value,
				     libc->bias + s[k].value + s[k].size, deny_names[i]) < 0)
				return hp_fail(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n; i++)
		if (!strncmp(hp_basename(m->obj[i].path), "ld-linux", 8) ||
		    !strncmp(hp_basename(m->obj[i].path), "ld-2.", 5))
			if (add_deny(rc, m->obj[i].lo, m->obj[i].hi, "the dynamic loader") < 0)
				return hp_fail(-ENOMEM, "out of memory");
	if (add_deny(rc, rc->stub, rc->stub + HP_STUB_SIZE, "hotpatch's helper") < 0)
		return hp_fail(-ENOMEM, "out of memory");
	hp_trace("deny list");
	return 0;
}

/* An existing control mapping, made by an earlier run; one a run killed
 * before it wrote the header is ours to finish, rather than a second one. */
static void find_ctl(struct hp_remote *rc)
{
	const struct hp_maps *maps = &rc->m->maps;

	for (size_t i = 0; i < maps->n; i++) {
		const struct hp_mapping *mp = &maps->m[i];
		struct hp_ctl_hdr hdr;
		char magic[8];

		if (!mp->path || strcmp(mp->path, "/memfd:" HP_CTL_NAME))
			continue;
		rc->ctl = mp->start;
		if (hp_ctl_read(rc, &hdr) == 0 && hdr.self == mp->start) {
			rc->seq = hdr.last_seq;
			return;
		}
		if (hp_mem_read(rc->t, mp->start + HP_CTL_HDR_OFF, magic, sizeof(magic)) == 0 &&
		    !memcmp(magic, "\0\0\0\0\0\0\0\0", 8) && mp->end - mp->start == HP_CTL_SIZE) {
			rc->ctl_headless = true;
			return;
		}
		rc->ctl = 0;
	}
}

int hp_remote_init(struct hp_remote *rc, struct hp_target *t, struct hp_modules *m)
{
	struct hp_object *libc;
	struct hp_elf *e;
	int r;

	memset(rc, 0, sizeof(*rc));
	rc->t = t;
	rc->m = m;
	rc->xsave_size = xsave_size();
	hp_proc_id_read(t->pid, &rc->id);
	if (!rc->xsave_size)
		return hp_fail(-HP_EUNSUPPORTED, "this CPU has no XSAVE: hotpatch cannot save the "
						 "target's vector registers around a call");
	libc = hp_modules_libc(m);
	if (!libc)
		return hp_fail(-HP_EUNSUPPORTED,
			       "pid %d (%s) has no C library mapped (statically linked?): hotpatch "
			       "loads patches with the target's dlopen and needs glibc's libc.so.6",
			       t->pid, t->comm);
	r = hp_object_elf(t, libc, &e);
	if (r < 0)
		return hp_fail_prefix(r, "cannot read the target's C library: ");
	hp_trace("libc read");
	r = find_libc_functions(rc, libc);
	if (r < 0)
		return r;
	if (find_stub_room(rc, libc, e) < 0)
		return hp_fail(-HP_EUNSUPPORTED,
			       "no room for hotpatch's helper code after the text of %s in pid %d",
			       libc->path, t->pid);
	r = build_deny_list(rc, libc, e);
	if (r < 0)
		return r;
	r = hp_unwinder_new(t, &rc->unw);
	if (r < 0)
		return r;
	find_ctl(rc);
	hp_error_clear();
	return 0;
}

void hp_remote_free(struct hp_remote *rc)
{
	hp_unwinder_free(rc->unw);
	free(rc->deny);
	memset(rc, 0, sizeof(*rc));
}

int hp_ctl_read(struct hp_remote *rc, struct hp_ctl_hdr *hdr)
{
	int r;

	if (!rc->ctl)
		return -ENOENT;
	r = hp_mem_read(rc->t, rc->ctl + HP_CTL_HDR_OFF, hdr, sizeof(*hdr));
	if (r < 0)
		return r;
	if (memcmp(hdr->magic, "HOTPATCH", 8) || hdr->version != 1)
		return hp_fail(-HP_ECORRUPT,
			       "the control mapping at 0x%llx in pid %d has a bad header",
			       (unsigned long long)rc->ctl, rc->t->pid);
	return 0;
}

int hp_ctl_write(struct hp_remote *rc, const struct hp_ctl_hdr *hdr)
{
	return hp_mem_write(rc->t, rc->ctl + HP_CTL_HDR_OFF, hdr, sizeof(*hdr));
}

uint64_t hp_remote_str(const struct hp_remote *rc, size_t off)
{
	return rc->stub + HP_STUB_REQ_OFF + HP_REQ_STRINGS + off;
}

int hp_remote_read_str(struct hp_remote *rc, uint64_t addr, char *buf, size_t bufsz)
{
	size_t got = 0;

	while (got + 1 < bufsz) {
		size_t chunk = HP_MIN(bufsz - 1 - got, 64 - ((addr + got) & 63));
		int r = hp_mem_read(rc->t, addr + got, buf + got, chunk);

		if (r < 0)
			return r;
		if (memchr(buf + got, 0, chunk))
			return 0;
		got += chunk;
	}
	buf[bufsz - 1] = 0;
	return 0;
}

static const struct hp_deny *deny_at(const struct hp_remote *rc, uint64_t ip)
{
	for (size_t i = 0; i < rc->ndeny; i++)
		if (ip >= rc->deny[i].lo && ip < rc->deny[i].hi)
			return &rc->deny[i];
	return NULL;
}

/* Is this stopped thread a place where dlopen cannot deadlock? */
static bool thread_is_safe(struct hp_remote *rc, struct hp_thread *th)
{
	const struct hp_mapping *sm;
	struct hp_stack st;
	uint64_t need = STACK_NEED + rc->xsave_size;
	sm = hp_maps_find(&rc->m->maps, th->regs.rsp);
	if (!sm ||
	    (!(sm->path && !strcmp(sm->path, "[stack]")) && th->regs.rsp - sm->start < need)) {
		snprintf(rc->busy_reason, sizeof(rc->busy_reason),
			 "thread %d has less than %llu KiB of stack left", th->tid,
			 (unsigned long long)(need >> 10));
		return false;
	}
	if (hp_stack_walk(rc->unw, th, &st) < 0 || st.n == 0) {
		snprintf(rc->busy_reason, sizeof(rc->busy_reason), "thread %d: stack walk failed",
			 th->tid);
		return false;
	}
	for (size_t i = 0; i < st.n; i++) {
		uint64_t ip = hp_frame_pc(&st, i);
		const struct hp_deny *d = deny_at(rc, ip);

		if (d) {
			snprintf(rc->busy_reason, sizeof(rc->busy_reason),
				 "thread %d is inside %s (frame #%zu)", th->tid, d->what, i);
			return false;
		}
	}
	if (!st.complete && st.n < 2) {
		snprintf(rc->busy_reason, sizeof(rc->busy_reason),
			 "thread %d: its stack cannot be walked (no unwind information)", th->tid);
		return false;
	}
	return true;
}

/*
 * The registers as the kernel would leave them on resume, with no signal:
 * an interrupted syscall is set up to restart.  A sleep (nanosleep,
 * clock_nanosleep, a futex or poll with a timeout) restarts through
 * restart_syscall, which resumes it from the thread's restart block in the
 * kernel with its original deadline: the stub's own system calls never
 * touch that block (only a syscall that a signal interrupts rewrites it).
 */
static void continuation(struct user_regs_struct *r)
{
	if ((long)r->orig_rax >= 0) {
		long ax = (long)r->rax;

		if (ax == -ERESTARTSYS || ax == -ERESTARTNOINTR || ax == -ERESTARTNOHAND) {
			r->rax = r->orig_rax;
			r->rip -= 2;
		} else if (ax == -ERESTART_RESTARTBLOCK) {
			r->rax = SYS_restart_syscall;
			r->rip -= 2;
		}
	}
	r->orig_rax = (uint64_t)-1;
}

static bool in_stub(const struct hp_remote *rc, uint64_t ip)
{
	return ip >= rc->stub && ip < rc->stub + HP_STUB_SIZE;
}

/*
 * The thread's seccomp filter would refuse a call hotpatch needs in it (the
 * reason is in hp_err).  With CAP_SYS_ADMIN, root may suspend the filter
 * for this one thread while it stays traced (as CRIU does): its remote calls
 * then run traced, and the detach at their end puts the filter back.
 * Without, the refusal stands, and says so.
 */
static int suspend_seccomp(struct hp_target *t, struct hp_thread *th)
{
	long r;

	hp_unwind_begin(); /* the filter's refusal is the reason */
	r = hp_ptrace(PTRACE_SETOPTIONS, th->tid, NULL, (void *)(long)PTRACE_O_SUSPEND_SECCOMP);
	hp_unwind_end();
	if (r < 0)
		return hp_fail_suffix(-HP_EUNSUPPORTED,
				      "; and hotpatch may not suspend the filter for its own calls: "
				      "%s (that needs CAP_SYS_ADMIN in the initial user namespace, "
				      "and a hotpatch that is not itself under seccomp)",
				      strerror((int)-r));
	th->seccomp_off = true;
	hp_error_clear();
	hp_note("pid %d (%s) has a seccomp filter that refuses calls hotpatch makes in it; "
		"hotpatch suspended it for its own calls, in thread %d only "
		"(PTRACE_O_SUSPEND_SECCOMP)",
		t->pid, t->comm, th->tid);
	return 0;
}

/* Is `th` wanted in this pass?  The thread used last, then the main
 * thread, then the rest; a process stopped by job control only in the last
 * pass. */
static bool wanted(const struct hp_remote *rc, const struct hp_thread *th, size_t pass,
		   bool all_job_stopped)
{
	pid_t pid = rc->t->pid;

	switch (pass) {
	case 0:
		return th->tid == rc->tid;
	case 1:
		return th->tid == pid && th->tid != rc->tid;
	case 2:
		return th->tid != pid && th->tid != rc->tid;
	default:
		return all_job_stopped;
	}
}

/* Lets a thread that cannot run a call now go on, saying why. */
static int pass_over(struct hp_remote *rc, struct hp_thread *th, const char *why)
{
	if (why)
		snprintf(rc->busy_reason, sizeof(rc->busy_reason), "thread %d %s", th->tid, why);
	hp_thread_detach(rc->t, th);
	return 0;
}

/*
 * Stops `th` and looks whether it can run a call now: 1 (it stays
 * stopped), 0 (passed over, let go), or a negative errno.
 * `all_job_stopped` turns false for a thread not in a job-control stop.
 */
static int try_thread(struct hp_remote *rc, struct hp_thread *th, size_t pass, uint64_t deadline,
		      bool *all_job_stopped)
{
	struct hp_target *t = rc->t;
	int r = hp_thread_seize(t, th);

	if (r < 0 || th->gone)
		return r;
	r = hp_thread_stop(t, th, deadline);
	if (r < 0 || th->gone)
		return r;
	if (!th->group_stop)
		*all_job_stopped = false;
	/* a signal of its own is due: let it have it first */
	if (th->nheld || (th->group_stop && pass < 3))
		return pass_over(rc, th, th->group_stop ? "is stopped by job control" : NULL);
	r = hp_thread_getregs(t, th);
	if (r < 0)
		return r;
	if (in_stub(rc, th->regs.rip))
		return pass_over(rc, th, "is still leaving hotpatch's helper");
	r = hp_seccomp_check(t->pid, th->tid, rc->stub);
	if (r == -HP_EUNSUPPORTED)
		r = suspend_seccomp(t, th);
	if (r < 0) {
		/* hardening, not a passing state: no use waiting */
		hp_thread_detach(t, th);
		return r;
	}
	if (!thread_is_safe(rc, th))
		return pass_over(rc, th, NULL);
	return 1;
}

/* One look at every thread, in the order of `wanted`: 0 and `ret` for a
 * thread at a safe point, 1 when none is, or a negative errno. */
static int pick_once(struct hp_remote *rc, uint64_t deadline, struct hp_thread **ret)
{
	struct hp_target *t = rc->t;
	bool all_job_stopped = true;
	int r = hp_target_scan_threads(t, NULL);

	if (r < 0)
		return r;
	for (size_t pass = 0; pass < 4; pass++)
		for (size_t i = 0; i < t->n; i++) {
			struct hp_thread *th = &t->th[i];

			if (!wanted(rc, th, pass, all_job_stopped) || th->gone)
				continue;
			r = try_thread(rc, th, pass, deadline, &all_job_stopped);
			if (r < 0)
				return r;
			if (r == 0)
				continue;
			rc->tid = th->tid;
			*ret = th;
			return 0;
		}
	return 1;
}

static bool thread_alive(pid_t pid, pid_t tid)
{
	char state;

	if (syscall(SYS_tgkill, pid, tid, 0) != 0)
		return false;
	/* a zombie (a killed process not reaped yet, a thread an exec ended)
	 * still takes signals, and never finishes a call */
	return hp_task_state(pid, tid, &state) == 0 && state != 'Z' && state != 'X';
}

/* A process killed meanwhile has none: waiting for one ends now. */
static bool any_thread_alive(const struct hp_target *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (thread_alive(t->pid, t->th[i].tid))
			return true;
	return false;
}

/* Stops one thread at a safe point; returns it seized and stopped. */
static int pick_thread(struct hp_remote *rc, uint64_t deadline, struct hp_thread **ret)
{
	struct hp_target *t = rc->t;
	unsigned delay = 200;

	rc->busy_reason[0] = 0;
	for (;;) {
		int r = pick_once(rc, deadline, ret);

		if (r <= 0)
			return r;
		if (!any_thread_alive(t))
			return hp_fail(-ESRCH, "pid %d exited", t->pid);
		if (hp_proc_id_changed(t->pid, &rc->id) != HP_PROC_SAME)
			return hp_fail(-ESRCH, "pid %d exited or executed another program", t->pid);
		if (hp_now_ns() >= deadline)
			return hp_fail(-HP_EBUSY,
				       "no thread of pid %d (%s) reached a point where loading code "
				       "is safe (outside malloc and the dynamic loader) in time; "
				       "last: %s",
				       t->pid, t->comm, rc->busy_reason[0] ? rc->busy_reason : "?");
		hp_sleep_us(delay);
		if (delay < 20000)
			delay *= 2;
	}
}

/* Stops a seized thread and says whether it is inside the stub (a thread
 * that is gone is not). */
static int stop_and_look(struct hp_remote *rc, struct hp_thread *th, uint64_t deadline,
			 bool *inside)
{
	int r = hp_thread_stop(rc->t, th, deadline);

	*inside = false;
	if (r < 0 || th->gone)
		return r;
	r = hp_thread_getregs(rc->t, th);
	if (r == 0)
		*inside = in_stub(rc, th->regs.rip);
	return r;
}

/* Waits until thread `tid` is outside the stub (or gone), stopping it now
 * and then to look; -HP_EBUSY if it is still inside at `deadline`. */
static int wait_left_stub(struct hp_remote *rc, pid_t tid, uint64_t deadline)
{
	struct hp_target *t = rc->t;
	struct hp_thread *th;

	hp_target_scan_threads(t, NULL);
	th = hp_target_find(t, tid);
	if (!th)
		return 0; /* gone */
	for (;;) {
		bool inside = false;
		int r = hp_thread_seize(t, th);

		if (r == 0 && !th->gone)
			r = stop_and_look(rc, th, deadline, &inside);
		if (r < 0)
			return r;
		if (th->gone)
			return 0;
		hp_thread_detach(t, th);
		if (!inside)
			return 0;
		if (hp_now_ns() >= deadline)
			return hp_fail(-HP_EBUSY,
				       "thread %d of pid %d is still running hotpatch's helper from an "
				       "earlier call; try again later",
				       th->tid, t->pid);
		hp_sleep_us(1000);
	}
}

/* Makes sure the thread that ran the previous call has left the stub
 * before its request area is rewritten. */
static int previous_call_left(struct hp_remote *rc, uint64_t deadline)
{
	struct hp_ctl_hdr hdr;

	if (!rc->ctl || hp_ctl_read(rc, &hdr) < 0 || !hdr.last_tid ||
	    (pid_t)hdr.last_tid == rc->tid)
		return 0;
	return wait_left_stub(rc, (pid_t)hdr.last_tid, deadline);
}

/* After a traced call: stop the thread once it left the stub, and detach
 * it; the kernel puts it back into the job-control stop. */
static int back_to_stop(struct hp_remote *rc, struct hp_thread *th, uint64_t deadline)
{
	struct hp_target *t = rc->t;

	for (;;) {
		bool inside;
		int r = stop_and_look(rc, th, deadline, &inside);

		if (r < 0)
			return r;
		if (th->gone)
			return 0;
		if (!inside)
			return hp_thread_detach(t, th);
		r = hp_thread_resume(t, th);
		if (r < 0)
			return r;
		hp_sleep_us(100);
	}
}

/* struct sched_attr of sched_setattr(2), as its first version (56 bytes) */
struct sched_attr_v1 {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};
_Static_assert(sizeof(struct sched_attr_v1) == 56, "sched_attr, version 1");
_Static_assert(HP_REQ_SCHED_ATTR + sizeof(struct sched_attr_v1) <= HP_REQ_STRINGS_LEN,
	       "room for the thread's scheduling in the request");

/*
 * A thread hijacked for a call must run now, even when every core is busy
 * (a loaded server): as root, hotpatch raises its priority for the call.
 * The stub's last operation, which the thread runs whatever becomes of
 * hotpatch, puts back exactly what it had: `op` gets that operation and
 * `saved` its argument, for the request's string area.  Returns false
 * (nothing to do) for a thread hotpatch may not or should not touch: real
 * time or deadline threads, and seccomp-filtered ones (the filter was
 * checked for the calls hotpatch needs, not for this one).
 */
static bool boost_prepare(struct hp_remote *rc, struct hp_thread *th, struct hp_rop *op,
			  struct sched_attr_v1 *saved)
{
	char mode[16] = "";

	memset(saved, 0, sizeof(*saved));
	if (geteuid() != 0 || getenv("HOTPATCH_NO_BOOST") ||
	    hp_status_field(rc->t->pid, th->tid, "Seccomp", mode, sizeof(mode)) < 0 ||
	    atoi(mode) != 0 || syscall(SYS_sched_getattr, th->tid, saved, sizeof(*saved), 0) < 0 ||
	    (saved->policy != SCHED_OTHER && saved->policy != SCHED_BATCH &&
	     saved->policy != SCHED_IDLE))
		return false;
	saved->size = sizeof(*saved);
	*op = (struct hp_rop){.nr = SYS_sched_setattr,
			      .args = {0, hp_remote_str(rc, HP_REQ_SCHED_ATTR), 0},
			      .flags = HP_OPF_ALWAYS};
	return true;
}

static void boost(struct hp_thread *th)
{
	struct sched_attr_v1 a = {.size = sizeof(a), .policy = SCHED_OTHER, .nice = -20};

	syscall(SYS_sched_setattr, th->tid, &a, 0);
}

/* One remote call on its way: the thread, its request and how it runs. */
struct call {
	struct hp_thread *th;
	uint64_t seq, result_addr;
	struct sched_attr_v1 saved; /* the thread's scheduling, when boosted */
	struct hp_rop restore;	    /* the stub's last operation, which puts it back */
	bool boosted;
	bool traced;		      /* runs the stub traced, and goes back to its stop after */
	struct user_regs_struct cont; /* where the stub returns the thread to */
	uint8_t req[HP_STUB_SIZE - HP_STUB_REQ_OFF];
};

static void put_op(uint8_t *o, const struct hp_rop *op)
{
	memcpy(o + HP_OP_FN, &op->fn, 8);
	memcpy(o + HP_OP_NR, &op->nr, 8);
	memcpy(o + HP_OP_ARGS, op->args, 48);
	memcpy(o + HP_OP_FLAGS, &op->flags, 8);
}

/* Lays out the request the stub reads: header, operations, strings. */
static void build_request(struct hp_remote *rc, struct call *c, const struct hp_rop *ops,
			  size_t nops, const void *strings, size_t slen)
{
	uint8_t *req = c->req;
	uint64_t v;

	memset(req, 0, sizeof(c->req));
	v = HP_STUB_MAGIC;
	memcpy(req + HP_REQ_MAGIC, &v, 8);
	memcpy(req + HP_REQ_RESULT, &c->result_addr, 8);
	memcpy(req + HP_REQ_SEQ, &c->seq, 8);
	v = rc->xsave_size;
	memcpy(req + HP_REQ_XSAVE, &v, 8);
	v = nops + c->boosted;
	memcpy(req + HP_REQ_NOPS, &v, 8);
	for (size_t i = 0; i < nops + c->boosted; i++)
		put_op(req + HP_REQ_OPS + i * HP_STUB_OP_SIZE, i < nops ? &ops[i] : &c->restore);
	if (slen)
		memcpy(req + HP_REQ_STRINGS, strings, slen);
	if (c->boosted)
		memcpy(req + HP_REQ_STRINGS + HP_REQ_SCHED_ATTR, &c->saved, sizeof(c->saved));
}

/* Undoes an EINTR our stop caused, then applies the kernel's restart
 * rule: the stub returns to exactly where the thread would go. */
static int set_return(struct hp_remote *rc, struct call *c)
{
	bool rewound;
	int r = hp_thread_undo_eintr(rc->t, c->th, &rewound);

	if (r < 0)
		return r;
	rc->t->rewound += rewound;
	c->cont = c->th->regs;
	continuation(&c->cont);
	memcpy(c->req + HP_REQ_CONT, &c->cont.rip, 8);
	return 0;
}

/* Writes the stub (once), the request, and who runs it into the header. */
static int write_request(struct hp_remote *rc, struct call *c)
{
	struct hp_target *t = rc->t;
	uint64_t zero = 0;
	int r;

	if (!rc->stub_written) {
		r = hp_mem_write(t, rc->stub, hp_stub_code,
				 (size_t)(hp_stub_code_end - hp_stub_code));
		if (r < 0)
			return r;
		rc->stub_written = true;
	}
	r = hp_mem_write(t, rc->stub + HP_STUB_REQ_OFF, c->req, sizeof(c->req));
	if (r < 0 || !rc->ctl)
		return r;
	struct hp_ctl_hdr hdr;

	if (hp_ctl_read(rc, &hdr) == 0) {
		hdr.last_tid = (uint64_t)c->th->tid;
		hdr.last_seq = c->seq;
		hdr.stub = rc->stub;
		hp_ctl_write(rc, &hdr);
	}
	/* a stale result must not look like ours */
	hp_mem_write(t, c->result_addr + HP_RES_DONE, &zero, 8);
	return 0;
}

/* Points the thread at the stub and lets it go: from here the thread is
 * on its own, it runs the stub and returns.  Should its registers not
 * take, it goes on untouched. */
static int start_call(struct hp_remote *rc, struct call *c, const char *what)
{
	struct hp_target *t = rc->t;
	struct hp_thread *th = c->th;
	int r;

	c->cont.rip = rc->stub;
	th->regs = c->cont;
	r = hp_thread_setregs(t, th);
	if (r < 0) {
		/* the registers as they were: the thread goes on untouched */
		th->regs_dirty = false;
		hp_thread_detach(t, th);
		return r;
	}
	/* only now: the thread's way back to its old priority is in place */
	if (c->boosted)
		boost(th);
	hp_fault_point("remote:hijacked");
	/* A process stopped by job control stays stopped: the thread runs the
	 * stub traced (ptrace overrides the stop), then goes back to it.  A
	 * thread whose seccomp filter hotpatch suspended runs it traced too:
	 * the suspension lasts while it is traced.  A running thread is simply
	 * let go. */
	c->traced = th->group_stop || th->seccomp_off;
	r = c->traced ? hp_thread_resume(t, th) : hp_thread_detach(t, th);
	if (r < 0)
		return hp_fail_prefix(r, "cannot start %s in thread %d: ", what, th->tid);
	hp_fault_point("remote:started");
	return 0;
}

/* The bootstrap call makes the result area: finds it by name, once the
 * call wrote `seq` there. */
static void find_result_area(struct hp_remote *rc, uint64_t seq)
{
	uint64_t res[HP_RES_SIZE / 8];
	struct hp_maps mp;

	if (hp_maps_read(rc->t->pid, &mp) == 0) {
		for (size_t i = 0; i < mp.n; i++)
			if (mp.m[i].path && !strcmp(mp.m[i].path, "/memfd:" HP_CTL_NAME) &&
			    hp_mem_read(rc->t, mp.m[i].start, res, sizeof(res)) == 0 &&
			    res[0] == seq) {
				rc->ctl = mp.m[i].start;
				break;
			}
		hp_maps_free(&mp);
	}
	hp_error_clear();
}

/* Has the call written its results?  Copies them to `ret` when it has. */
static bool read_results(struct hp_remote *rc, uint64_t seq, size_t nops, uint64_t *ret)
{
	uint64_t res[HP_RES_SIZE / 8];

	if (!rc->ctl || hp_mem_read(rc->t, rc->ctl + HP_CTL_RESULT_OFF, res, sizeof(res)) < 0 ||
	    res[0] != seq)
		return false;
	for (size_t i = 0; i < nops; i++)
		ret[i] = i < res[1] ? res[2 + i] : 0;
	return true;
}

/* Waits for the call's results, keeping a traced thread running. */
static int await_results(struct hp_remote *rc, struct call *c, size_t nops, uint64_t *ret,
			 uint64_t deadline, const char *what)
{
	struct hp_target *t = rc->t;
	unsigned delay = 20;

	for (;;) {
		bool had_area = rc->ctl != 0;

		if (read_results(rc, c->seq, nops, ret))
			return 0;
		if (!had_area) {
			find_result_area(rc, c->seq);
			if (rc->ctl)
				continue;
		}
		if (c->traced)
			hp_thread_keep_running(t, c->th);
		if (!thread_alive(t->pid, c->th->tid))
			return hp_fail(-ESRCH, "pid %d exited while running %s", t->pid, what);
		/* a call that takes long: has the program gone under it? */
		if (delay >= 2000 && hp_proc_id_changed(t->pid, &rc->id) != HP_PROC_SAME)
			return hp_fail(-ESRCH, "pid %d executed another program while running %s",
				       t->pid, what);
		if (hp_now_ns() >= deadline) {
			rc->outstanding = true;
			return hp_fail(-HP_ETIMEOUT,
				       "%s in thread %d of pid %d did not finish in time; the thread "
				       "returns to its own work by itself when it does. Nothing was "
				       "patched",
				       what, c->th->tid, t->pid);
		}
		hp_sleep_us(delay);
		if (delay < 2000)
			delay += delay / 2;
	}
}

/* Chooses a thread and sets up the call in it, the thread still stopped;
 * on failure the thread goes on untouched. */
static int prepare_call(struct hp_remote *rc, struct call *c, const struct hp_rop *ops, size_t nops,
			const void *strings, size_t slen, uint64_t deadline)
{
	int r = previous_call_left(rc, deadline);

	if (r < 0)
		return r;
	r = pick_thread(rc, deadline, &c->th);
	if (r < 0)
		return r;
	hp_trace("thread picked");
	c->boosted = boost_prepare(rc, c->th, &c->restore, &c->saved);
	c->seq = ++rc->seq;
	c->result_addr = rc->ctl ? rc->ctl + HP_CTL_RESULT_OFF : 0;
	build_request(rc, c, ops, nops, strings, slen);
	r = set_return(rc, c);
	if (r == 0)
		r = write_request(rc, c);
	if (r < 0) {
		/* the registers as they were: the thread goes on untouched */
		c->th->regs_dirty = false;
		hp_thread_detach(rc->t, c->th);
	}
	return r;
}

int hp_remote_call(struct hp_remote *rc, const struct hp_rop *ops, size_t nops, const void *strings,
		   size_t slen, uint64_t *ret, uint64_t deadline, const char *what)
{
	uint64_t t0 = hp_now_ns();
	struct call c = {0};
	int r;

	if (nops > HP_CALL_MAX_OPS || slen > HP_CALL_STRINGS_LEN)
		return hp_fail(-EINVAL, "internal: remote call too large");
	if (rc->outstanding)
		return hp_fail(-HP_EBUSY, "an earlier call in pid %d has not finished", rc->t->pid);
	r = prepare_call(rc, &c, ops, nops, strings, slen, deadline);
	if (r < 0)
		return r;
	r = start_call(rc, &c, what);
	if (r == 0)
		r = await_results(rc, &c, nops, ret, deadline, what);
	if (r == 0 && c.traced)
		r = back_to_stop(rc, c.th, deadline);
	if (r < 0)
		return r;
	rc->call_ns += hp_now_ns() - t0;
	rc->calls++;
	hp_fault_point("remote:done");
	return 0;
}

int hp_remote_probe(struct hp_remote *rc, uint64_t deadline)
{
	struct hp_thread *th;
	int r = pick_thread(rc, deadline, &th);

	if (r == 0)
		hp_thread_detach(rc->t, th);
	return r;
}

int hp_remote_ensure_ctl(struct hp_remote *rc, uint64_t deadline)
{
	struct hp_ctl_hdr hdr = {0};
	uint64_t addr, ret[4];
	struct hp_rop ops[4];
	int r;

	if (rc->ctl && !rc->ctl_headless)
		return 0;
	if (rc->ctl_headless) {
		addr = rc->ctl;
		goto header;
	}
	/* Anywhere the kernel likes: a fixed address from the maps we read
	 * could be taken meanwhile by the target's own mmap.  The result
	 * area is the new mapping itself; the call finds it by name. */
	memset(ops, 0, sizeof(ops));
	ops[0] = (struct hp_rop){.nr = SYS_memfd_create,
				 .args = {hp_remote_str(rc, 0), MFD_CLOEXEC},
				 .flags = HP_OPF_ABORT_IF_ERR};
	ops[1] = (struct hp_rop){.nr = SYS_ftruncate,
				 .args = {0, HP_CTL_SIZE},
				 .flags = HP_OPF_ABORT_IF_ERR | HP_OPF_ARG_FROM(0, 0)};
	ops[2] =
		(struct hp_rop){.nr = SYS_mmap,
				.args = {0, HP_CTL_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0, 0},
				.flags = HP_OPF_ABORT_IF_ERR | HP_OPF_SET_RESULT |
					 HP_OPF_ARG_FROM(4, 0)};
	ops[3] = (struct hp_rop){.nr = SYS_close,
				 .args = {0},
				 .flags = HP_OPF_ALWAYS | HP_OPF_ARG_FROM(0, 0)};
	r = hp_remote_call(rc, ops, 4, HP_CTL_NAME, sizeof(HP_CTL_NAME), ret, deadline,
			   "creating hotpatch's control mapping");
	if (r == -HP_ETIMEOUT && !rc->ctl) {
		/* Nothing to report results to: either a syscall failed in the
		 * target, or its thread has not run yet.  Only a thread seen
		 * outside the stub frees it for another call. */
		int left;

		hp_unwind_begin(); /* if it never left, the timeout is the reason */
		left = wait_left_stub(rc, rc->tid, hp_now_ns() + 1000000000ull);
		hp_unwind_end();
		if (left < 0)
			return r;
		rc->outstanding = false;
		return hp_fail(-HP_EUNSUPPORTED,
			       "pid %d could not create hotpatch's control mapping (memfd_create, "
			       "ftruncate or mmap failed in the target: a resource limit?)",
			       rc->t->pid);
	}
	if (r < 0)
		return r;
	addr = ret[2];
	rc->ctl = addr;
	hp_fault_point("remote:control-mapped");
header:
	rc->ctl_headless = false;
	memcpy(hdr.magic, "HOTPATCH", 8);
	hdr.version = 1;
	hdr.size = HP_CTL_SIZE;
	hdr.self = addr;
	hdr.owner_pid = (uint64_t)rc->t->pid;
	hdr.last_tid = (uint64_t)rc->tid;
	hdr.last_seq = rc->seq;
	hdr.stub = rc->stub;
	hdr.next_patch_id = 1;
	return hp_ctl_write(rc, &hdr);
}
