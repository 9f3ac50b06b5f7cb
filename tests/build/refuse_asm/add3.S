/* add3(x) = x + 3, in assembler */
	.text
	.globl	add3
	.type	add3, @function
	.p2align 4
add3:
	leaq	3(%rdi), %rax
	ret
	.size	add3, .-add3
	.section .note.GNU-stack,"",@progbits
