/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hotpatch.h - write a live patch for a running process.
 *
 * A patch is an ordinary shared object.  Build it with
 *
 *     cc -shared -fPIC $(pkg-config --cflags hotpatch) fix.c -o fix.so
 *
 * and apply it with `hotpatch --pid PID fix.so`.  The macros below only
 * emit records into the "hotpatch" section of the patch; hotpatch reads that
 * section from the file before it touches the target, then fills in the
 * pointers the records name after the target has loaded the patch.
 *
 *     #include <hotpatch.h>
 *
 *     static int (*orig_compute)(int);           // filled in by hotpatch
 *     static long *requests;                     // &requests of the target
 *
 *     static int compute_fixed(int x)
 *     {
 *             ++*requests;
 *             return orig_compute(x) + 1;
 *     }
 *     HOTPATCH_REPLACE(compute, compute_fixed);
 *     HOTPATCH_ORIGINAL(compute, orig_compute);
 *     HOTPATCH_SYMBOL(requests, requests);
 *
 * Target symbols are looked up in the main executable first and then in the
 * loaded objects in link-map order, unless a record names an object (the
 * *_IN forms take an object's file name, e.g. "libfoo.so.1", or a path).
 * Static functions and variables of the target are found too, as long as
 * the target (or its separate debug file) keeps a .symtab.
 *
 * An object named by a path is the file that path names in the target's
 * own root directory (a chroot or container sees its own files), however
 * the path is spelled: "/opt/app/lib/libfoo.so.1", the link that ldd
 * shows, names the libfoo.so.1.2.3 the target has loaded.  A bare name
 * matches an object's file name, or a soname prefix of it.
 *
 * A thread-local variable (__thread, thread_local) has no one address:
 * every thread has its own.  HOTPATCH_TLS fills in an index to it, and
 * hotpatch_tls_addr() gives the calling thread's instance:
 *
 *     static struct hotpatch_tls_index last_error;  // filled in by hotpatch
 *
 *     static int parse_fixed(const char *s)
 *     {
 *             int *err = hotpatch_tls_addr(&last_error);
 *             ...
 *     }
 *     HOTPATCH_TLS(last_error, last_error);           // of the executable
 *     HOTPATCH_TLS_IN("libfoo.so.1", foo_cache, cache_idx);
 *
 * HOTPATCH_BIND lets the patch's code use a function or variable of the
 * target by name, with no pointer in between.  Declare the name as a weak
 * undefined symbol of the patch (the dynamic loader refuses a patch with a
 * strong undefined symbol it cannot find when the target loads it), and
 * build the patch -shared -fPIC (-Wl,-z,now recommended), so that every use
 * goes through the patch's GOT or PLT:
 *
 *     extern long requests __attribute__((weak));
 *     extern int helper(int) __attribute__((weak));
 *
 *     static int compute_fixed(int x)
 *     {
 *             requests++;
 *             return helper(x) + 1;
 *     }
 *     HOTPATCH_BIND(requests, requests);
 *     HOTPATCH_BIND(helper, helper);
 *
 * hotpatch writes the target symbol's address into every GLOB_DAT and
 * JUMP_SLOT relocation of the patch against the local name (and the
 * address plus the addend into every R_X86_64_64 one).  The local name may
 * differ from the target's, e.g. an asm label: `extern int h(int)
 * __asm__("__hp_b1") __attribute__((weak));` and
 * HOTPATCH_BIND_NAMED("", "helper", "__hp_b1").  A thread-local variable
 * cannot be bound (use HOTPATCH_TLS).
 *
 * The pointers and indexes named by HOTPATCH_ORIGINAL, HOTPATCH_SYMBOL and
 * HOTPATCH_TLS, and the bindings of HOTPATCH_BIND, are written after the
 * patch's constructors have run and before any call reaches a replacement:
 * do not use them from a constructor.
 *
 * A target symbol given as a string (the *_NAMED forms) may be qualified,
 * to tell apart two statics of one name and to refuse another build of the
 * target: "name;file=FILE;addr=0xHEX", each qualifier optional, in any
 * order.  file= is the name of the source file whose static it is (its
 * STT_FILE symbol, as `readelf -s` shows it); addr= is its link-time
 * address (its st_value), valid for one build only: pair it with
 * HOTPATCH_BUILD_ID.
 *
 *     HOTPATCH_REPLACE_NAMED("", "bump;file=b.c;addr=0x1190", bump_fixed);
 *
 * A hotpatch older than HOTPATCH_BIND refuses a patch with a BIND record
 * as one with an unknown record kind, before it touches the target.
 */
#ifndef HOTPATCH_H
#define HOTPATCH_H

#include <stdint.h>

#define HOTPATCH_SECTION "hotpatch"
#define HOTPATCH_MAGIC	 0x31525048u /* "HPR1" little-endian */
#define HOTPATCH_ABI	 1

enum hotpatch_kind {
	/* Redirect calls of `symbol` to `replacement`. */
	HOTPATCH_KIND_REPLACE = 1,
	/* Store the address of `symbol`'s original body (the code after its
	 * hot-patch prologue) in `*slot`; calling it bypasses every patch. */
	HOTPATCH_KIND_ORIGINAL = 2,
	/* Store the address of `symbol` (function or variable) in `*slot`. */
	HOTPATCH_KIND_SYMBOL = 3,
	/* Refuse to apply unless `object`'s GNU build-id equals the hex
	 * string in `symbol`. */
	HOTPATCH_KIND_BUILD_ID = 4,
	/* Fill the struct hotpatch_tls_index at `slot` with where `symbol`, a
	 * thread-local variable, lies: its object's TLS module id and its
	 * offset in that module's block. */
	HOTPATCH_KIND_TLS = 5,
	/* Write `symbol`'s address into the patch's GOT and PLT slots (and its
	 * R_X86_64_64 relocations) for the undefined symbol whose name is the
	 * string `replacement` points at. */
	HOTPATCH_KIND_BIND = 6,
};

/* One record; the layout is part of the ABI (HOTPATCH_ABI). */
struct hotpatch_record {
	uint32_t magic;
	uint16_t abi;
	uint16_t kind;
	const char *object; /* "" = main executable first, then link-map order */
	const char *symbol;
	const void *replacement; /* REPLACE: the function; BIND: the local name */
	void *slot;		 /* ORIGINAL, SYMBOL and TLS only */
};

/* A thread-local variable, as __tls_get_addr() takes it on x86-64. */
struct hotpatch_tls_index {
	unsigned long ti_module; /* the object's TLS module id */
	unsigned long ti_offset; /* the variable's offset in that module's block */
};

/* The dynamic loader's: a patch linked with -shared finds it at load. */
#ifdef __cplusplus
extern "C" {
#endif
void *__tls_get_addr(void *);
#ifdef __cplusplus
}
#endif

/* The calling thread's instance of the variable `idx` names (an index
 * HOTPATCH_TLS filled in).  The thread's block of a library it never used
 * is allocated on first use, as for the library's own code. */
static inline void *hotpatch_tls_addr(const struct hotpatch_tls_index *idx)
{
	return __tls_get_addr((void *)idx);
}

#define HOTPATCH_CAT_(a, b) a##b
#define HOTPATCH_CAT(a, b)  HOTPATCH_CAT_(a, b)

#define HOTPATCH_RECORD_(kind, object, symbol, replacement, slot)                           \
	static const struct hotpatch_record HOTPATCH_CAT(hotpatch_record_, __COUNTER__)     \
		__attribute__((used, section(HOTPATCH_SECTION),                             \
			       aligned(8))) = {HOTPATCH_MAGIC, HOTPATCH_ABI,                \
					       (kind),	       (object),                    \
					       (symbol),       (const void *)(replacement), \
					       (void *)(slot)}

/* Replace function `target` (a bare identifier) with `replacement`. */
#define HOTPATCH_REPLACE(target, replacement) \
	HOTPATCH_RECORD_(HOTPATCH_KIND_REPLACE, "", #target, replacement, 0)
/* Same, for a function of the named object ("libfoo.so.1"). */
#define HOTPATCH_REPLACE_IN(object, target, replacement) \
	HOTPATCH_RECORD_(HOTPATCH_KIND_REPLACE, object, #target, replacement, 0)
/* Same, with the symbol as a string (mangled C++ names, dotted names). */
#define HOTPATCH_REPLACE_NAMED(object, symbol, replacement) \
	HOTPATCH_RECORD_(HOTPATCH_KIND_REPLACE, object, symbol, replacement, 0)

/* Make function pointer `ptr` call `target`'s original body. */
#define HOTPATCH_ORIGINAL(target, ptr) \
	HOTPATCH_RECORD_(HOTPATCH_KIND_ORIGINAL, "", #target, 0, &(ptr))
#define HOTPATCH_ORIGINAL_IN(object, target, ptr) \
	HOTPATCH_RECORD_(HOTPATCH_KIND_ORIGINAL, object, #target, 0, &(ptr))
#define HOTPATCH_ORIGINAL_NAMED(object, symbol, ptr) \
	HOTPATCH_RECORD_(HOTPATCH_KIND_ORIGINAL, object, symbol, 0, &(ptr))

/* Make pointer `ptr` point at `target`, exported or not. */
#define HOTPATCH_SYMBOL(target, ptr) HOTPATCH_RECORD_(HOTPATCH_KIND_SYMBOL, "", #target, 0, &(ptr))
#define HOTPATCH_SYMBOL_IN(object, target, ptr) \
	HOTPATCH_RECORD_(HOTPATCH_KIND_SYMBOL, object, #target, 0, &(ptr))
#define HOTPATCH_SYMBOL_NAMED(object, symbol, ptr) \
	HOTPATCH_RECORD_(HOTPATCH_KIND_SYMBOL, object, symbol, 0, &(ptr))

/* Make `idx`, a struct hotpatch_tls_index, name thread-local variable
 * `target`; hotpatch_tls_addr(&idx) is then the calling thread's.  (The
 * conditional only makes the compiler check the type of `idx`.) */
#define HOTPATCH_TLS_SLOT_(idx) (1 ? &(idx) : (struct hotpatch_tls_index *)0)
#define HOTPATCH_TLS(target, idx) \
	HOTPATCH_RECORD_(HOTPATCH_KIND_TLS, "", #target, 0, HOTPATCH_TLS_SLOT_(idx))
#define HOTPATCH_TLS_IN(object, target, idx) \
	HOTPATCH_RECORD_(HOTPATCH_KIND_TLS, object, #target, 0, HOTPATCH_TLS_SLOT_(idx))
#define HOTPATCH_TLS_NAMED(object, symbol, idx) \
	HOTPATCH_RECORD_(HOTPATCH_KIND_TLS, object, symbol, 0, HOTPATCH_TLS_SLOT_(idx))

/* Bind the patch's weak undefined symbol `local` (a bare identifier) to
 * the target's `target`. */
#define HOTPATCH_BIND(target, local) HOTPATCH_RECORD_(HOTPATCH_KIND_BIND, "", #target, #local, 0)
#define HOTPATCH_BIND_IN(object, target, local) \
	HOTPATCH_RECORD_(HOTPATCH_KIND_BIND, object, #target, #local, 0)
/* Same, with both names as strings (the target's may be qualified). */
#define HOTPATCH_BIND_NAMED(object, symbol, local) \
	HOTPATCH_RECORD_(HOTPATCH_KIND_BIND, object, symbol, local, 0)

/* Only apply to a target whose object has this GNU build-id (hex). */
#define HOTPATCH_BUILD_ID(object, hex) HOTPATCH_RECORD_(HOTPATCH_KIND_BUILD_ID, object, hex, 0, 0)

#endif /* HOTPATCH_H */
