/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A test target: worker threads call compute() non-stop and count every
 * answer that is neither the original nor a patched one.  Commands on
 * stdin, answers on stdout, one line each:
 *   call NAME X    -> the result of function NAME(X)
 *   tls N          -> N threads each set their own thread-local variables and
 *                     call tls_probe() and lib_tls_probe(); one line with,
 *                     per thread, "I:PROBE:LIBPROBE:TLS_EXE:TLS_HIDDEN:LIB_TLS"
 *   stats          -> "calls N wrong W"
 *   held           -> how many threads SIGUSR1 holds in its handler
 *   release        -> lets them go
 *   syscalls       -> "waiting TID..." once threads asleep in epoll_wait,
 *                     semop, sigtimedwait, nanosleep and read run (their tids)
 *   quit
 * It prints "ready PID" once its threads run.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

int lib_step(int x); /* in libworklib.so */
long lib_tls_probe(int x);
void lib_tls_set(long v);
long lib_tls_get(void);

static long counter; /* a variable the target does not export */
static atomic_long calls, wrong;
static atomic_int stop;

/* Patches return x + k * 1000 for a k of their own: any other answer means a
 * thread ran a half-written function. */
NOINLINE int compute(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1000;
}

NOINLINE static int secret(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3;
}

NOINLINE int use_secret(int x)
{
	return secret(x) + (int)counter;
}

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((ms_hook_prologue)) NOINLINE int ms_func(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 7;
}
#else
NOINLINE int ms_func(int x)
{
	return x + 7;
}
#endif

/* built without the prologue on purpose */
__attribute__((patchable_function_entry(0, 0))) NOINLINE int unpatchable(int x)
{
	__asm__ volatile("" ::: "memory");
	return x - 1;
}

NOINLINE long get_counter(int x)
{
	(void)x;
	return counter;
}

NOINLINE long set_counter(int x)
{
	counter = x;
	return counter;
}

/* Thread-local variables, one exported and one static, and a function a
 * patch replaces to reach them through HOTPATCH_TLS. */
__thread long tls_exe;
static __thread long tls_hidden;

NOINLINE long tls_probe(int x)
{
	__asm__ volatile("" ::: "memory");
	(void)x;
	return 0;
}

struct tls_report {
	long probe, lib_probe, exe, hidden, lib;
};
static pthread_barrier_t tls_barrier;

/* Every thread is alive at once (the barrier), each with values of its
 * own: a patch that reached one thread's variables from another would
 * answer with that thread's. */
static void *tls_thread(void *arg)
{
	struct tls_report *rep = arg;
	long i = rep->probe;

	tls_exe = 1000 * i;
	tls_hidden = i;
	lib_tls_set(100000 * i);
	pthread_barrier_wait(&tls_barrier);
	rep->probe = tls_probe((int)i);
	rep->lib_probe = lib_tls_probe((int)i);
	rep->exe = tls_exe;
	rep->hidden = tls_hidden;
	rep->lib = lib_tls_get();
	pthread_barrier_wait(&tls_barrier);
	return NULL;
}

static void tls_threads(int n)
{
	pthread_t *t = calloc((size_t)n, sizeof(*t));
	struct tls_report *rep = calloc((size_t)n, sizeof(*rep));

	if (!t || !rep || n < 1)
		abort();
	pthread_barrier_init(&tls_barrier, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		rep[i].probe = i + 1;
		pthread_create(&t[i], NULL, tls_thread, &rep[i]);
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&tls_barrier);
	for (int i = 0; i < n; i++)
		printf("%s%d:%ld:%ld:%ld:%ld:%ld", i ? " " : "", i + 1, rep[i].probe,
		       rep[i].lib_probe, rep[i].exe, rep[i].hidden, rep[i].lib);
	printf("\n");
	free(t);
	free(rep);
}

/*
 * A function whose thread never leaves the hot-patch window: after the first
 * nop it loops on the second one, so it sits at entry+1, where the 2-byte
 * jump would split an instruction, half of the time.  Laid out as GCC does:
 * 5 spare nops, then nop; nop.
 */
__asm__(".text\n"
	".globl window_spin\n"
	".type window_spin, @function\n"
	".byte 0x90, 0x90, 0x90, 0x90, 0x90\n"
	"window_spin:\n"
	"	nop\n"
	"1:	nop\n"
	"	jmp 1b\n"
	".size window_spin, . - window_spin\n");
void window_spin(void);

static void *spin_in_window(void *arg)
{
	(void)arg;
	window_spin();
	return NULL;
}

/* ---- threads that sit in syscalls and must not notice a ptrace stop ---- */

static atomic_long syscall_trouble, rt_signals, storm_threads;
static int quiet_pipe[2];
/* the tids of the syscall threads, in the order "syscalls" starts them */
static atomic_int syscall_tids[5];

static void say_tid(int slot)
{
	atomic_store(&syscall_tids[slot], (int)syscall(SYS_gettid));
}

static void block_test_signals(void)
{
	sigset_t s;

	/* the signal storm must not interrupt these threads: any EINTR they
	 * see then comes from a stop */
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN);
	sigaddset(&s, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static void *epoll_thread(void *arg)
{
	int ep = epoll_create1(0), efd[2];
	struct epoll_event ev = {.events = EPOLLIN}, out;

	(void)arg;
	block_test_signals();
	say_tid(0);
	if (pipe(efd) < 0)
		abort();
	epoll_ctl(ep, EPOLL_CTL_ADD, efd[0], &ev);
	for (;;)
		if (epoll_wait(ep, &out, 1, -1) < 0) {
			/* an event loop that treats EINTR as fatal, as some do */
			fprintf(stderr, "epoll_wait: %m\n");
			abort();
		}
	return NULL;
}

static void *semop_thread(void *arg)
{
	int id = semget(IPC_PRIVATE, 1, 0600);
	struct sembuf op = {0, -1, 0};

	(void)arg;
	block_test_signals();
	say_tid(1);
	for (;;)
		if (semop(id, &op, 1) < 0) {
			fprintf(stderr, "semop: %m\n");
			abort();
		}
	return NULL;
}

static void *sigwait_thread(void *arg)
{
	sigset_t s;
	struct timespec ten = {10, 0};

	(void)arg;
	block_test_signals();
	say_tid(2);
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	for (;;)
		if (sigtimedwait(&s, NULL, &ten) < 0 && errno != EAGAIN) {
			fprintf(stderr, "sigtimedwait: %m\n");
			abort();
		}
	return NULL;
}

static void *nanosleep_thread(void *arg)
{
	(void)arg;
	block_test_signals();
	say_tid(3);
	for (;;) {
		struct timespec req = {0, 50 * 1000 * 1000}, a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		if (nanosleep(&req, NULL) < 0)
			atomic_fetch_add(&syscall_trouble, 1);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) <
		    50 * 1000 * 1000)
			atomic_fetch_add(&syscall_trouble, 1);
	}
	return NULL;
}

static void *read_thread(void *arg)
{
	char buf[64];

	(void)arg;
	block_test_signals();
	say_tid(4);
	for (;;) {
		ssize_t n = read(quiet_pipe[0], buf, sizeof(buf));

		if (n < 0)
			atomic_fetch_add(&syscall_trouble, 1);
	}
	return NULL;
}

/* SIGUSR1 holds the thread it interrupts in its handler until "release" */
static atomic_int held, released;

static void hold_in_handler(int sig)
{
	struct timespec ms = {0, 1000000};

	(void)sig;
	atomic_fetch_add(&held, 1);
	while (!atomic_load(&released))
		nanosleep(&ms, NULL);
	atomic_fetch_sub(&held, 1);
}

static void on_rt_signal(int sig)
{
	(void)sig;
	atomic_fetch_add(&rt_signals, 1);
}

static void *storm_child(void *arg)
{
	int x = (int)(long)arg, d = compute(x) - x;

	if (d < 1000 || d > 9000 || d % 1000)
		atomic_fetch_add(&wrong, 1);
	return NULL;
}

/* creates and joins threads as fast as it can */
static void *storm_thread(void *arg)
{
	(void)arg;
	for (long i = 0;; i++) {
		pthread_t t[4];

		for (int k = 0; k < 4; k++)
			pthread_create(&t[k], NULL, storm_child, (void *)i);
		for (int k = 0; k < 4; k++)
			pthread_join(t[k], NULL);
		atomic_fetch_add(&storm_threads, 4);
	}
	return NULL;
}

/* Allocations large enough to skip the per-thread cache and take the arena
 * lock: a thread stopped in here holds it, and a dlopen run on it would
 * wait for itself forever. */
static void *malloc_storm(void *arg)
{
	(void)arg;
	for (;;) {
		void *p = malloc(100000 + (size_t)(rand() % 1000));

		if (!p)
			abort();
		((volatile char *)p)[0] = 1;
		free(p);
	}
	return NULL;
}

static void *worker(void *arg)
{
	int base = (int)(long)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int i = 0; i < 1000; i++) {
			int x = base + i, r = compute(x), d = r - x;

			if (d < 1000 || d > 9000 || d % 1000)
				atomic_fetch_add(&wrong, 1);
		}
		atomic_fetch_add(&calls, 1000);
	}
	return NULL;
}

static const struct {
	const char *name;
	long (*fn)(int);
} table[] = {
	{"compute", (long (*)(int))compute},   {"use_secret", (long (*)(int))use_secret},
	{"ms_func", (long (*)(int))ms_func},   {"unpatchable", (long (*)(int))unpatchable},
	{"lib_step", (long (*)(int))lib_step}, {"get_counter", get_counter},
	{"set_counter", set_counter},
};

/*
 * WORKER_HARDEN=...: seccomp-kill-memfd (memfd_create kills the process),
 * seccomp-errno-memfd (it fails with EPERM), seccomp-unrelated (only
 * kexec_load is refused), mdwe (no writable+executable memory),
 * nondumpable.
 */
static void harden(const char *how)
{
	unsigned action = 0;
	int nr = SYS_memfd_create;

	if (!strcmp(how, "seccomp-kill-memfd"))
		action = SECCOMP_RET_KILL_PROCESS;
	else if (!strcmp(how, "seccomp-errno-memfd"))
		action = SECCOMP_RET_ERRNO | 1;
	else if (!strcmp(how, "seccomp-unrelated")) {
		action = SECCOMP_RET_KILL_PROCESS;
		nr = SYS_kexec_load;
	} else if (!strcmp(how, "mdwe")) {
		if (prctl(65 /* PR_SET_MDWE */, 1 /* REFUSE_EXEC_GAIN */, 0, 0, 0))
			perror("PR_SET_MDWE");
		return;
	} else if (!strcmp(how, "nondumpable")) {
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		return;
	}
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		perror("seccomp");
}

int main(int argc, char **argv)
{
	if (getenv("WORKER_HARDEN"))
		harden(getenv("WORKER_HARDEN"));
	int nthreads = argc > 1 ? atoi(argv[1]) : 8;
	pthread_t *th = calloc((size_t)nthreads, sizeof(*th));
	char line[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sigaction sa = {.sa_handler = on_rt_signal, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGRTMIN, &sa, NULL);
	sa.sa_handler = hold_in_handler;
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(long)(i * 100000));
	printf("ready %d\n", getpid());
	while (fgets(line, sizeof(line), stdin)) {
		char name[64];
		int x;

		if (sscanf(line, "call %63s %d", name, &x) == 2) {
			long r = -1;
			int found = 0;

			for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
				if (!strcmp(table[i].name, name)) {
					r = table[i].fn(x);
					found = 1;
				}
			if (found)
				printf("%ld\n", r);
			else
				printf("no such function %s\n", name);
		} else if (sscanf(line, "tls %d", &x) == 1) {
			tls_threads(x);
		} else if (!strncmp(line, "spinwindow", 10)) {
			pthread_t t;

			pthread_create(&t, NULL, spin_in_window, NULL);
			printf("spinning\n");
		} else if (!strncmp(line, "syscalls", 8)) {
			pthread_t t;

			if (pipe(quiet_pipe) < 0)
				abort();
			pthread_create(&t, NULL, epoll_thread, NULL);
			pthread_create(&t, NULL, semop_thread, NULL);
			pthread_create(&t, NULL, sigwait_thread, NULL);
			pthread_create(&t, NULL, nanosleep_thread, NULL);
			pthread_create(&t, NULL, read_thread, NULL);
			for (int i = 0; i < 5; i++)
				while (!atomic_load(&syscall_tids[i]))
					sched_yield();
			printf("waiting %d %d %d %d %d\n", atomic_load(&syscall_tids[0]),
			       atomic_load(&syscall_tids[1]), atomic_load(&syscall_tids[2]),
			       atomic_load(&syscall_tids[3]), atomic_load(&syscall_tids[4]));
		} else if (!strncmp(line, "feed", 4)) {
			/* data for the blocked reader: it must get it, not an error */
			printf("%zd\n", write(quiet_pipe[1], "data", 4));
		} else if (!strncmp(line, "trouble", 7)) {
			printf("%ld\n", atomic_load(&syscall_trouble));
		} else if (!strncmp(line, "held", 4)) {
			printf("%d\n", atomic_load(&held));
		} else if (!strncmp(line, "release", 7)) {
			atomic_store(&released, 1);
			printf("released\n");
		} else if (!strncmp(line, "signals", 7)) {
			printf("%ld\n", atomic_load(&rt_signals));
		} else if (!strncmp(line, "storm", 5)) {
			pthread_t t;

			if (line[5] == '?') {
				printf("%ld\n", atomic_load(&storm_threads));
			} else {
				pthread_create(&t, NULL, storm_thread, NULL);
				printf("storming\n");
			}
		} else if (!strncmp(line, "mallocstorm", 11)) {
			/* every thread, this one too, lives in malloc from now on */
			pthread_t t;

			for (int i = 0; i < 3; i++)
				pthread_create(&t, NULL, malloc_storm, NULL);
			printf("storming\n");
			fflush(stdout);
			malloc_storm(NULL);
		} else if (!strncmp(line, "mapat ", 6)) {
			/* a mapping of its own where it is told: the target's
			 * mmap racing hotpatch for a gap */
			unsigned long long at = strtoull(line + 6, NULL, 0);
			void *m = mmap((void *)at, 4096, PROT_READ,
				       MAP_PRIVATE | MAP_ANONYMOUS | 0x100000 /* FIXED_NOREPLACE */,
				       -1, 0);

			printf("%p\n", m);
		} else if (!strncmp(line, "stats", 5)) {
			printf("calls %ld wrong %ld\n", atomic_load(&calls), atomic_load(&wrong));
		} else if (!strncmp(line, "quit", 4)) {
			break;
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	printf("bye calls %ld wrong %ld\n", atomic_load(&calls), atomic_load(&wrong));
	return atomic_load(&wrong) ? 3 : 0;
}
