//! CPU exceptions: an IDT whose handlers print what happened and exit with
//! the panic code, so a fault never turns into a silent triple fault.
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
        println!("  faulting address {cr2:#x}");
    }
    arch::exit(crate::EXIT_PANIC)
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
        ist: 0,
        type_attr: 0x8E, // present, ring 0, 64-bit interrupt gate
        offset_mid: (handler >> 16) as u16,
        offset_high: (handler >> 32) as u32,
        reserved: 0,
    };
    // SAFETY: single-threaded boot code, before the IDT is loaded.
    unsafe { (&raw mut IDT).cast::<Gate>().add(vector % 32).write(gate) };
}

pub fn init() {
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
