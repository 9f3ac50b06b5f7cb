/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Layout shared by the in-target stub (stub.S) and remote.c.  The stub is
 * written into the unused tail of the C library's text page; its request
 * (read-only for the thread) follows the code; results go to the control
 * mapping.  Included by assembly: #defines only.
 */
#pragma once

#define HP_STUB_REQ_OFF 0x200 /* code must fit below */
#define HP_STUB_MAX_OPS 9     /* what the stub runs (its locals hold 9 results) */
#define HP_CALL_MAX_OPS 8     /* what a caller may ask: the last is hotpatch's own */
#define HP_STUB_OP_SIZE 72

/* request, at HP_STUB_REQ_OFF */
#define HP_REQ_MAGIC	    0
#define HP_REQ_CONT	    8  /* where the thread continues */
#define HP_REQ_RESULT	    16 /* result area, 0 until an op sets it */
#define HP_REQ_SEQ	    24
#define HP_REQ_XSAVE	    32 /* bytes for XSAVE, multiple of 64 */
#define HP_REQ_NOPS	    40
#define HP_REQ_OPS	    48
#define HP_REQ_STRINGS	    (HP_REQ_OPS + HP_STUB_MAX_OPS * HP_STUB_OP_SIZE)
#define HP_REQ_STRINGS_LEN  192
#define HP_CALL_STRINGS_LEN 128 /* a caller's strings; the rest is hotpatch's own */
#define HP_REQ_SCHED_ATTR   128 /* in the strings: the thread's scheduling, to restore */
#define HP_STUB_SIZE	    (HP_STUB_REQ_OFF + HP_REQ_STRINGS + HP_REQ_STRINGS_LEN)

/* one operation: fn(args) when fn != 0, else syscall nr(args) */
#define HP_OP_FN    0
#define HP_OP_NR    8
#define HP_OP_ARGS  16
#define HP_OP_FLAGS 64

#define HP_OPF_SKIP_UNLESS_PREV_ZERO 1 /* e.g. dlerror() after a failed dlopen */
#define HP_OPF_ABORT_IF_ERR	     2 /* -4095..-1 stops the ops not marked ALWAYS */
#define HP_OPF_SET_RESULT	     4 /* the return value is the result area */
#define HP_OPF_ALWAYS		     8 /* runs even after an abort (cleanup) */
/* bits 8 + 4j .. 11 + 4j: argument j is the result of op (value - 1) */
#define HP_OPF_ARG_FROM(j, op) ((unsigned long)((op) + 1) << (8 + 4 * (j)))

/* result area, at the address the request (or an op) names */
#define HP_RES_DONE 0 /* = seq when the stub is done */
#define HP_RES_NRUN 8
#define HP_RES_RET  16
#define HP_RES_SIZE (HP_RES_RET + 8 * HP_STUB_MAX_OPS)

#define HP_STUB_MAGIC 0x4255545348504854 /* "THPHSTUB" */
