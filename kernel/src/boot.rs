//! PVH entry: QEMU jumps to `pvh_start32` in 32-bit protected mode with paging
//! off and `%ebx` pointing at `hvm_start_info`. We load static page tables
//! (identity map of the first 4 GiB with 2 MiB pages, the top 1 GiB uncached
//! for MMIO such as PCI ECAM and virtio-mmio), our own GDT with a 64-bit code
//! segment, enter long mode, zero `.bss` and call `kernel_main`.
//!
//! Below the stack sits a guard page that `idt::init` unmaps, so a stack
//! overflow faults (handled on a separate stack) instead of corrupting `.bss`.
//!
//! Work before paging is kept minimal: on some hypervisors every instruction
//! there is slow, so the page tables are built by the assembler, not by a loop.

use core::arch::global_asm;

/// Size of the boot (and only) stack.
pub const STACK_SIZE: usize = 256 * 1024;

global_asm!(
    r#"
    .section .note.Xen, "a", @note
    .balign 4
    .long 4
    .long 8
    .long 18
    .asciz "Xen"
    .balign 4
    .quad pvh_start32
    .balign 4

    .section .text.boot, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cli
    cld
    mov %ebx, %esi
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov $0xC0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax
    mov %eax, %cr0
    lgdt boot_gdt_ptr
    ljmp $0x08, $pvh_start64

    .code64
pvh_start64:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov $boot_stack_top, %esp
    mov %esi, %r12d
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb
    mov %r12, %rdi
    xor %ebp, %ebp
    call kernel_main
1:  hlt
    jmp 1b

    .section .data.boot_pt, "aw"
    .balign 4096
.global boot_pml4
boot_pml4:
    .quad boot_pdpt + 0x3
    .fill 511, 8, 0
boot_pdpt:
    .quad boot_pd + 0x3
    .quad boot_pd + 0x1003
    .quad boot_pd + 0x2003
    .quad boot_pd + 0x3003
    .fill 508, 8, 0
.global boot_pd
boot_pd:
    .set pde_index, 0
    .rept 1536
    .quad (pde_index << 21) | 0x83
    .set pde_index, pde_index + 1
    .endr
    .rept 512
    .quad (pde_index << 21) | 0x9b
    .set pde_index, pde_index + 1
    .endr

    .balign 8
    .global boot_gdt
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
    /* TSS descriptor (16 bytes), filled in by idt::init */
    .quad 0
    .quad 0
boot_gdt_end:
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .boot_stack, "aw", @nobits
    .balign 4096
    /* Unmapped by idt::init: an overflow faults instead of corrupting .bss. */
    .global boot_stack_guard
boot_stack_guard:
    .skip 4096
boot_stack:
    .skip {stack_size}
boot_stack_top:
    "#,
    stack_size = const STACK_SIZE,
    options(att_syntax)
);
