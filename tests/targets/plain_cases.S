/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Functions of the plain target whose shape C cannot force: each one's
 * first bytes, and what lies right before and after it, are exactly what
 * one case of --relocate needs.  Laid out back to back on purpose: a
 * function that follows another's last byte has no filler before it (so
 * found padding cannot apply), and filler is placed only where a case
 * needs it.  Every function answers x + 1000 (short_fn: x), as the
 * functions of plain.c do.  test_relocate.py asserts these shapes from the
 * built file, so a change here fails loudly.
 */
#define FUNC(name)                 \
	.globl name;               \
	.type name, @function;     \
	name:                      \
	.cfi_startproc
#define END(name)                  \
	.cfi_endproc;              \
	.size name, .- name

	.data
	.p2align 4
	/* rip_tight reads bias_global: a copy whose displacement was not
	 * re-based would read a neighbour, whose value gives it away */
	.long 7000001
	.globl bias_global
	.type bias_global, @object
bias_global:
	.long 1000
	.size bias_global, 4
	.long 9000003

	.text
	.p2align 4
/* only so that rip_tight follows a function's last byte */
FUNC(plain_anchor)
	mov %edi, %eax
	ret
END(plain_anchor)

/* relocate: 6 bytes / 1 instruction, a rip-relative load to re-base */
FUNC(rip_tight)
	mov bias_global(%rip), %eax
	add %edi, %eax
	ret
END(rip_tight)

/* relocate: 5 bytes / 1 instruction, a jmp rel32 that ends the function */
FUNC(tail_tight)
	jmp tail_helper
END(tail_tight)

/* relocate: 3 bytes of function and the int3 filler that follows it */
FUNC(short_fn)
	mov %edi, %eax
	ret
END(short_fn)
	.fill 8, 1, 0xcc

/* padding: the 8 filler bytes above take the long jump; the short jump
 * displaces 2 bytes / 1 instruction */
FUNC(padded)
	mov %edi, %eax
	add $1000, %eax
	ret
END(padded)

/* relocate: push (1 byte), mov (2), lea (6): 9 bytes / 3 instructions,
 * boundaries at entry+1 and entry+3 for a parked thread */
FUNC(parked)
	push %rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	mov %edi, %ebx
	lea 1000(%rbx), %eax
	pop %rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	ret
END(parked)

/* the same shape, for a signal frame that points inside it */
FUNC(signalled)
	push %rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	mov %edi, %ebx
	lea 1000(%rbx), %eax
	pop %rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	ret
END(signalled)
	.fill 6, 1, 0x90

/* padding with a 1-byte first instruction: 3 bytes / 2 instructions, a
 * boundary at entry+1 inside the 2-byte short jump */
FUNC(parked_pad)
	push %rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	mov %edi, %ebx
	lea 1000(%rbx), %eax
	pop %rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	ret
END(parked_pad)

/* refused (short): 3 bytes, and call_first starts right after it */
FUNC(short_tight)
	mov %edi, %eax
	ret
END(short_tight)

/* refused (call): a return address would point into the displaced bytes */
FUNC(call_first)
	call call_helper
	ret
END(call_first)

/* refused (branch-into): the loop's back edge goes to entry+2, inside the
 * 5 bytes a jump would overwrite (xor 2, add 3) */
FUNC(loop_back)
	xor %eax, %eax
1:	add $100, %eax
	cmp $1000, %eax
	jne 1b
	add %edi, %eax
	ret
END(loop_back)

FUNC(call_helper)
	lea 1000(%rdi), %eax
	ret
END(call_helper)

	.section .note.GNU-stack, "", @progbits
