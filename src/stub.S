/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Code that hotpatch copies into the target and runs on one of its threads.
 * It is only data in hotpatch itself.  The thread arrives here with all its
 * registers as they were when it was interrupted (after the kernel's
 * syscall-restart fix-up), except rip.  The stub saves everything it could
 * change, runs the request's operations, stores their results, restores
 * everything and jumps back: the thread returns on its own even if hotpatch
 * dies at any point.  Position independent; no relocations.
 */
#include "stub.h"

	.section .rodata.hp_stub, "a"
	.balign 64
	.globl hp_stub_code
	.globl hp_stub_code_end
hp_stub_code:
.Lstart:
	lea	-128(%rsp), %rsp	/* keep the interrupted code's red zone */
	pushfq
	push	%rax
	push	%rbx
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%rbp
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	cld				/* the ABI wants DF clear at calls */
	mov	%rsp, %rbp
	lea	.Lstart+HP_STUB_REQ_OFF(%rip), %rbx
	sub	HP_REQ_XSAVE(%rbx), %rsp
	and	$-64, %rsp
	/* XRSTOR faults on a dirty header; XSAVE writes only its first word */
	xor	%eax, %eax
	mov	%rax, 512(%rsp)
	mov	%rax, 520(%rsp)
	mov	%rax, 528(%rsp)
	mov	%rax, 536(%rsp)
	mov	%rax, 544(%rsp)
	mov	%rax, 552(%rsp)
	mov	%rax, 560(%rsp)
	mov	%rax, 568(%rsp)
	mov	$-1, %eax
	mov	$-1, %edx
	xsave64	(%rsp)
	mov	%rsp, %r15
	/* locals: results[HP_STUB_MAX_OPS = 9] at 0, args[6] at 72, aborted at 120 */
	sub	$128, %rsp
	mov	%rsp, %r12
	movq	$0, 120(%r12)
	mov	HP_REQ_RESULT(%rbx), %r13
	xor	%r14d, %r14d

.Lloop:
	cmp	HP_REQ_NOPS(%rbx), %r14
	jae	.Ldone
	imul	$HP_STUB_OP_SIZE, %r14, %rsi
	lea	HP_REQ_OPS(%rbx,%rsi), %rsi
	mov	HP_OP_FLAGS(%rsi), %r9
	xor	%eax, %eax
	cmpq	$0, 120(%r12)
	je	1f
	test	$HP_OPF_ALWAYS, %r9
	jz	.Lstore
1:	test	$HP_OPF_SKIP_UNLESS_PREV_ZERO, %r9
	jz	2f
	test	%r14, %r14
	jz	2f
	cmpq	$0, -8(%r12,%r14,8)
	jne	.Lstore
2:	xor	%edx, %edx
3:	lea	8(,%rdx,4), %ecx
	mov	%r9, %rax
	shr	%cl, %rax
	and	$15, %eax
	jz	4f
	mov	-8(%r12,%rax,8), %rax
	jmp	5f
4:	mov	HP_OP_ARGS(%rsi,%rdx,8), %rax
5:	mov	%rax, 72(%r12,%rdx,8)
	inc	%edx
	cmp	$6, %edx
	jb	3b
	mov	HP_OP_FN(%rsi), %r11
	test	%r11, %r11
	jz	.Lsyscall
	mov	72(%r12), %rdi
	mov	88(%r12), %rdx
	mov	96(%r12), %rcx
	mov	104(%r12), %r8
	mov	112(%r12), %r9
	mov	80(%r12), %rsi
	xor	%eax, %eax		/* no vector arguments, for variadic callees */
	call	*%r11
	jmp	.Lgot
.Lsyscall:
	mov	HP_OP_NR(%rsi), %rax
	mov	72(%r12), %rdi
	mov	88(%r12), %rdx
	mov	96(%r12), %r10
	mov	104(%r12), %r8
	mov	112(%r12), %r9
	mov	80(%r12), %rsi
	syscall
.Lgot:
	imul	$HP_STUB_OP_SIZE, %r14, %rsi
	lea	HP_REQ_OPS(%rbx,%rsi), %rsi
	mov	HP_OP_FLAGS(%rsi), %r9
	test	$HP_OPF_ABORT_IF_ERR, %r9
	jz	6f
	cmp	$-4095, %rax
	jb	6f
	movq	$1, 120(%r12)
	jmp	.Lstore
6:	test	$HP_OPF_SET_RESULT, %r9
	jz	.Lstore
	mov	%rax, %r13
.Lstore:
	mov	%rax, (%r12,%r14,8)
	test	%r13, %r13
	jz	7f
	mov	%rax, HP_RES_RET(%r13,%r14,8)
7:	inc	%r14
	jmp	.Lloop

.Ldone:
	test	%r13, %r13
	jz	8f
	mov	%r14, HP_RES_NRUN(%r13)
	mov	HP_REQ_SEQ(%rbx), %rax
	mov	%rax, HP_RES_DONE(%r13)	/* last store: the results are complete */
8:	mov	%r15, %rsp
	mov	$-1, %eax
	mov	$-1, %edx
	xrstor64 (%rsp)
	mov	%rbp, %rsp
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rbp
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rbx
	pop	%rax
	popfq
	lea	128(%rsp), %rsp
	jmp	*.Lstart+HP_STUB_REQ_OFF+HP_REQ_CONT(%rip)
	/* the request follows; .org fails the build if the code grew into it */
	.org	.Lstart + HP_STUB_REQ_OFF, 0xcc
hp_stub_code_end:

	.section .note.GNU-stack, "", @progbits
