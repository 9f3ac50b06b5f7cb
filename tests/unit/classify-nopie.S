/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A non-PIE executable (ET_EXEC): absolute jump tables and pointers in
 * data carry no relocation (tests/unit/test-classify.c). */
	.intel_syntax noprefix
	.text

#define FUNC(name) .globl name; .type name, @function; name:
#define END(name) .size name, . - name

FUNC(n_start)
	mov eax, 60
	xor edi, edi
	syscall
END(n_start)

/* jmp [table + rdi*8], a case at entry+2 */
FUNC(n_jtable)
	xor eax, eax
1:	mov ecx, edi
	jmp qword ptr [n_table + rdi*8]
2:	mov eax, 5
	ret
END(n_jtable)

/* a pointer in data at entry+2 */
FUNC(n_pointed)
	xor eax, eax
3:	mov eax, edi
	add eax, 1
	ret
END(n_pointed)

/* nothing points into it */
FUNC(n_plain)
	mov eax, edi
	add eax, 2
	ret
END(n_plain)

	.section .rodata
	.p2align 3
n_table:
	.quad 1b
	.quad 2b
	.data
	.p2align 3
n_ptr:
	.quad 3b
	.ident "classify-nopie.S: hand-written assembly"
	.section .note.GNU-stack,"",@progbits
