//! CPU exceptions: an IDT whose handlers print what happened and exit with
//! the panic code, so a fault never turns into a silent triple fault.
//! Page faults and double faults run on their own stack (IST 1 of a TSS), and
//! the page below the boot stack is unmapped, so even a stack overflow ends
//! in a message and exit code 4.
//! Interrupts stay disabled for the kernel's whole life (all I/O is polled),
//! so only vectors 0..32 get handlers.

use core::arch::asm;

use crate::{arch, println};

#[repr(C)]
pub struct InterruptStackFrame {
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

#[derive(Clone, Copy)]
#[repr(C, packed)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

const EMPTY_GATE: Gate = Gate {
    offset_low: 0,
    selector: 0,
    ist: 0,
    type_attr: 0,
    offset_mid: 0,
    offset_high: 0,
    reserved: 0,
};

static mut IDT: [Gate; 32] = [EMPTY_GATE; 32];

const NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor overrun",
    "invalid TSS",
    "segment not present",
    "stack fault",
    "general protection fault",
    "page fault",
    "reserved",
    "x87 FP error",
    "alignment check",
    "machine check",
    "SIMD FP error",
    "virtualization",
    "control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "hypervisor injection",
    "VMM communication",
    "security",
    "reserved",
];

fn report(vector: usize, frame: &InterruptStackFrame, error: Option<u64>) -> ! {
    let name = NAMES.get(vector).copied().unwrap_or("?");
    println!();
    println!(
        "KERNEL EXCEPTION: {name} (vector {vector}) at rip={:#x} rsp={:#x}",
        frame.rip, frame.rsp
    );
    if let Some(code) = error {
        println!("  error code {code:#x}");
    }
    if vector == 14 {
        let cr2: u64;
        // SAFETY: reading CR2 has no side effects.
        unsafe { asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
        let guard = &raw const boot_stack_guard as u64;
        let overflow = (guard..guard + 4096).contains(&cr2);
        println!(
            "  faulting address {cr2:#x}{}",
            if overflow {
                " (kernel stack overflow)"
            } else {
                ""
            }
        );
    }
    arch::exit(init::EXIT_PANIC)
}

macro_rules! handlers {
    ($($vector:literal => $name:ident $(, $err:ident)?);* $(;)?) => {
        $(handlers!(@one $vector, $name $(, $err)?);)*
        fn install_all() {
            $(set_gate($vector, $name as *const () as u64);)*
        }
    };
    (@one $vector:literal, $name:ident) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame) {
            report($vector, &frame, None)
        }
    };
    (@one $vector:literal, $name:ident, err) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame, code: u64) {
            report($vector, &frame, Some(code))
        }
    };
}

handlers! {
    0 => h0; 1 => h1; 2 => h2; 3 => h3; 4 => h4; 5 => h5; 6 => h6; 7 => h7;
    8 => h8, err; 9 => h9; 10 => h10, err; 11 => h11, err; 12 => h12, err; 13 => h13, err;
    14 => h14, err; 15 => h15; 16 => h16; 17 => h17, err; 18 => h18; 19 => h19; 20 => h20;
    21 => h21, err; 22 => h22; 23 => h23; 24 => h24; 25 => h25; 26 => h26; 27 => h27; 28 => h28;
    29 => h29, err; 30 => h30, err; 31 => h31;
}

fn set_gate(vector: usize, handler: u64) {
    let gate = Gate {
        offset_low: handler as u16,
        selector: 0x08,
        ist: if vector == 8 || vector == 14 { 1 } else { 0 },
        type_attr: 0x8E, // present, ring 0, 64-bit interrupt gate
        offset_mid: (handler >> 16) as u16,
        offset_high: (handler >> 32) as u32,
        reserved: 0,
    };
    // SAFETY: single-threaded boot code, before the IDT is loaded.
    unsafe { (&raw mut IDT).cast::<Gate>().add(vector % 32).write(gate) };
}

/// The 64-bit TSS; only IST 1 is used.
#[repr(C, packed)]
struct Tss {
    reserved0: u32,
    rsp: [u64; 3],
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    iomap_base: u16,
}

static mut TSS: Tss = Tss {
    reserved0: 0,
    rsp: [0; 3],
    reserved1: 0,
    ist: [0; 7],
    reserved2: 0,
    reserved3: 0,
    iomap_base: core::mem::size_of::<Tss>() as u16,
};

#[repr(C, align(16))]
struct FaultStack([u8; 16 * 1024]);
static mut FAULT_STACK: FaultStack = FaultStack([0; 16 * 1024]);

/// A 4 KiB page table for the 2 MiB region holding the stack guard page.
#[repr(C, align(4096))]
struct PageTable([u64; 512]);
static mut GUARD_PT: PageTable = PageTable([0; 512]);

unsafe extern "C" {
    static mut boot_gdt: [u64; 5];
    static mut boot_pd: [u64; 2048];
    static boot_stack_guard: u8;
}

const TSS_SELECTOR: u16 = 0x18;

fn load_tss() {
    let ist_top = (&raw const FAULT_STACK as u64) + core::mem::size_of::<FaultStack>() as u64;
    // SAFETY: single-threaded boot; the TSS and GDT are statics nobody else
    // touches, and the descriptor written is a valid available 64-bit TSS.
    unsafe {
        let tss = &raw mut TSS;
        (*tss).ist[0] = ist_top;
        let base = &raw const TSS as u64;
        let limit = (core::mem::size_of::<Tss>() - 1) as u64;
        let low = (limit & 0xffff)
            | ((base & 0xff_ffff) << 16)
            | (0x89 << 40)
            | (((limit >> 16) & 0xf) << 48)
            | (((base >> 24) & 0xff) << 56);
        let gdt = &raw mut boot_gdt;
        (*gdt)[3] = low;
        (*gdt)[4] = base >> 32;
        asm!("ltr {0:x}", in(reg) TSS_SELECTOR, options(nostack, preserves_flags));
    }
}

/// Split the 2 MiB page holding the stack guard into 4 KiB pages and unmap
/// the guard.
fn unmap_stack_guard() {
    let guard = &raw const boot_stack_guard as u64;
    let region = guard & !((2 << 20) - 1);
    let Ok(pd_index) = usize::try_from(region >> 21) else {
        return;
    };
    if pd_index >= 2048 {
        return;
    }
    // SAFETY: single-threaded boot. The new table maps the same 2 MiB
    // identically (present, writable, same attributes as the 2 MiB page)
    // except the guard page, which nothing uses; CR3 is reloaded to flush
    // the old large-page TLB entry.
    unsafe {
        let pt = &raw mut GUARD_PT;
        for (i, entry) in (*pt).0.iter_mut().enumerate() {
            *entry = (region + (i as u64) * 4096) | 0x3;
        }
        (*pt).0[((guard - region) >> 12) as usize] = 0;
        let pd = &raw mut boot_pd;
        (*pd)[pd_index] = (pt as u64) | 0x3;
        asm!("mov {tmp}, cr3", "mov cr3, {tmp}", tmp = out(reg) _, options(nostack, preserves_flags));
    }
}

pub fn init() {
    load_tss();
    unmap_stack_guard();
    install_all();
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let ptr = Pointer {
        limit: (core::mem::size_of::<[Gate; 32]>() - 1) as u16,
        base: &raw const IDT as u64,
    };
    // SAFETY: the IDT is a static that lives forever and holds valid gates.
    unsafe { asm!("lidt [{}]", in(reg) &ptr, options(readonly, nostack, preserves_flags)) };
}
