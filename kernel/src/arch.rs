//! Thin wrappers over x86 instructions: port I/O, TSC, CPUID, RDRAND, exit.

use core::arch::asm;

pub fn outb(port: u16, value: u8) {
    // SAFETY: port I/O has no memory effects; callers pick ports of devices they own.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as for `outb`.
    unsafe {
        asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack, preserves_flags))
    }
    value
}

pub fn outl(port: u16, value: u32) {
    // SAFETY: as for `outb`.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
    }
}

pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

pub fn cpuid(leaf: u32, subleaf: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// A random 64-bit value from RDRAND, if the CPU has it and it delivers.
pub fn rdrand64() -> Option<u64> {
    let (_, _, ecx, _) = cpuid(1, 0);
    if ecx & (1 << 30) == 0 {
        return None;
    }
    for _ in 0..16 {
        let value: u64;
        let ok: u8;
        // SAFETY: CPUID says RDRAND exists; it only writes the output register and CF.
        unsafe {
            asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack))
        }
        if ok != 0 {
            return Some(value);
        }
    }
    None
}

/// Port of QEMU's `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Exit QEMU with status `(code << 1) | 1`. Without the device, stop the CPU.
pub fn exit(code: u32) -> ! {
    outl(DEBUG_EXIT_PORT, code);
    halt_forever()
}

pub fn halt_forever() -> ! {
    loop {
        // SAFETY: interrupts are off; hlt just stops the CPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) }
    }
}
