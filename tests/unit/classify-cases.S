/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One function per verdict of the classifier (tests/unit/test-classify.c).
 * Built as a shared object without -fpatchable-function-entry. */
	.intel_syntax noprefix
	.text

#define FUNC(name) .globl name; .hidden name; .type name, @function; name:
#define END(name) .size name, . - name

/* the start of the text: nothing to read before it */
FUNC(c_first)
	ret
END(c_first)

/* a hot-patch prologue, as -fpatchable-function-entry=7,5 makes it */
	.p2align 4
	.byte 0x90, 0x90, 0x90, 0x90, 0x90
FUNC(c_prologue)
	.cfi_startproc
	nop
	nop
	mov eax, 1
	ret
	.cfi_endproc
END(c_prologue)

/* found padding: int3 filler before a push rbp */
	.p2align 4
	.byte 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc
FUNC(c_padding)
	.cfi_startproc
	push rbp
	mov rbp, rsp
	mov eax, 2
	pop rbp
	ret
	.cfi_endproc
END(c_padding)

/* relocated: a rip-relative first instruction; no filler before (the
 * previous function's size covers the bytes before the entry) */
	.p2align 4
FUNC(c_before_riprel)
	.cfi_startproc
	xor eax, eax
	ret
	.byte 0x90, 0x90, 0x90, 0x90, 0x90, 0x90
	.cfi_endproc
END(c_before_riprel)
FUNC(c_riprel)
	.cfi_startproc
	mov eax, dword ptr [rip + c_data]
	add eax, 1
	ret
	.cfi_endproc
END(c_riprel)

/* a tail jump: 5 bytes, the function ends with them */
	.p2align 4
FUNC(c_tail)
	.cfi_startproc
	jmp c_padding
	.cfi_endproc
END(c_tail)
	int3
	int3
	int3
	int3
	int3
	int3
	int3
	int3
	int3
	int3
	int3

/* short, followed by filler */
	.p2align 4
	.byte 0xcc, 0xcc, 0xcc, 0xcc, 0xcc
	/* a symbol in the filler keeps tier 1 off */
c_shortfill_label:
	.byte 0xcc
FUNC(c_shortfill)
	.cfi_startproc
	xor eax, eax
	ret
	.cfi_endproc
END(c_shortfill)
	.byte 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc

/* short, followed directly by another function */
	.p2align 4
	.byte 0xcc, 0xcc, 0xcc, 0xcc, 0xcc
c_short_label:
	.byte 0xcc
FUNC(c_short)
	.cfi_startproc
	xor eax, eax
	ret
	.cfi_endproc
END(c_short)
FUNC(c_after_short)
	.cfi_startproc
	mov eax, 3
	ret
	.cfi_endproc
END(c_after_short)

/* a loop whose back-edge targets entry+2 */
FUNC(c_loop_into)
	.cfi_startproc
	xor eax, eax
1:	add eax, 1
	cmp eax, edi
	jl 1b
	ret
	.cfi_endproc
END(c_loop_into)

/* a back-edge to exactly the entry */
	.p2align 4
FUNC(c_loop_entry)
	.cfi_startproc
	add eax, 1
	add eax, 1
	cmp eax, edi
	jl c_loop_entry
	ret
	.cfi_endproc
END(c_loop_entry)

/* a call in the first bytes */
	.p2align 4
FUNC(c_call)
	.cfi_startproc
	call c_padding
	add eax, 1
	ret
	.cfi_endproc
END(c_call)

/* a cold fragment (another symbol) jumps to entry+3 */
FUNC(c_cold_target)
	.cfi_startproc
	mov eax, 1
	add eax, edi
	ret
	.cfi_endproc
END(c_cold_target)
	.p2align 4
	.type c_cold_target.cold, @function
c_cold_target.cold:
	jmp c_cold_target + 3
	.size c_cold_target.cold, . - c_cold_target.cold

/* a PIC jump table with a case at entry+2 */
FUNC(c_jtable)
	.cfi_startproc
	xor eax, eax
2:	lea rdx, [rip + c_table]
	movsxd rax, dword ptr [rdx + rdi*4]
	add rax, rdx
	jmp rax
3:	mov eax, 7
	ret
	.cfi_endproc
END(c_jtable)

/* a label symbol at entry+1 */
	.p2align 4
FUNC(c_label)
	.cfi_startproc
	push rbx
c_label_inner:
	mov ebx, edi
	mov eax, ebx
	pop rbx
	ret
	.cfi_endproc
END(c_label)

/* a second FDE starting inside the first bytes */
	.p2align 4
FUNC(c_fde)
	.cfi_startproc
	push rbx
	.cfi_endproc
	.cfi_startproc
	mov eax, edi
	add eax, 1
	pop rbx
	ret
	.cfi_endproc
END(c_fde)

/* an IFUNC */
	.p2align 4
FUNC(c_resolver)
	.cfi_startproc
	lea rax, [rip + c_padding]
	ret
	.cfi_endproc
END(c_resolver)
	.globl c_ifunc
	.type c_ifunc, @gnu_indirect_function
	.set c_ifunc, c_resolver

/* filler before the entry, but inside the previous function's size */
	.p2align 4
FUNC(c_covered_prev)
	.cfi_startproc
	xor eax, eax
	ret
	.byte 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc
	.cfi_endproc
END(c_covered_prev)
FUNC(c_covered)
	.cfi_startproc
	push rbp
	mov eax, 4
	pop rbp
	ret
	.cfi_endproc
END(c_covered)

	.section .rodata
	.p2align 2
c_table:
	.long 2b - c_table
	.long 3b - c_table
	.data
c_data:
	.long 42
	/* the producer, for the IPA-RA rule: not GCC */
	.ident "classify-cases.S: hand-written assembly"
	.section .note.GNU-stack,"",@progbits
