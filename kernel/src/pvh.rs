//! The PVH `hvm_start_info` handed over by QEMU, copied out of low memory
//! before that memory becomes heap.

/// `hvm_start_info.magic`.
const START_INFO_MAGIC: u32 = 0x336e_c578;
/// Longest command line kept; the rest is dropped with a warning.
pub const CMDLINE_MAX: usize = 4096;
/// Most memory-map entries kept.
pub const MEMMAP_MAX: usize = 64;
/// E820 type of usable RAM.
pub const MEM_RAM: u32 = 1;

#[derive(Clone, Copy, Default)]
pub struct MemRegion {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
}

/// What the kernel keeps from the start info. Lives in `.bss`.
pub struct BootInfo {
    cmdline: [u8; CMDLINE_MAX],
    cmdline_len: usize,
    pub cmdline_truncated: bool,
    regions: [MemRegion; MEMMAP_MAX],
    region_count: usize,
    pub start_info_addr: u64,
}

impl BootInfo {
    pub const fn empty() -> BootInfo {
        BootInfo {
            cmdline: [0; CMDLINE_MAX],
            cmdline_len: 0,
            cmdline_truncated: false,
            regions: [MemRegion {
                addr: 0,
                size: 0,
                kind: 0,
            }; MEMMAP_MAX],
            region_count: 0,
            start_info_addr: 0,
        }
    }

    /// The command line; invalid UTF-8 bytes end it (reported by the caller).
    pub fn cmdline(&self) -> Result<&str, core::str::Utf8Error> {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len])
    }

    pub fn regions(&self) -> &[MemRegion] {
        &self.regions[..self.region_count]
    }
}

/// Copy the start info at physical address `addr`. Err names what was wrong.
///
/// # Safety
/// `addr` must be the `%ebx` value QEMU's PVH entry handed over, with low
/// memory still untouched; all of it is identity-mapped.
pub unsafe fn copy_start_info(addr: u64, out: &mut BootInfo) -> Result<(), &'static str> {
    out.start_info_addr = addr;
    if addr == 0 || !addr.is_multiple_of(4) || addr >= 1 << 32 {
        return Err("bad hvm_start_info address");
    }
    let base = addr as usize as *const u8;
    // SAFETY (all reads below): QEMU placed a hvm_start_info at `addr`, and
    // the command line and memory map it points to, in identity-mapped RAM
    // below 4 GiB that nothing has overwritten yet (caller's promise).
    let read_u32 = |off: usize| unsafe { (base.add(off) as *const u32).read_unaligned() };
    let read_u64 = |off: usize| unsafe { (base.add(off) as *const u64).read_unaligned() };
    if read_u32(0) != START_INFO_MAGIC {
        return Err("hvm_start_info magic mismatch");
    }
    let version = read_u32(4);
    let cmdline_paddr = read_u64(24);
    if cmdline_paddr != 0 && cmdline_paddr < 1 << 32 {
        let p = cmdline_paddr as usize as *const u8;
        let mut len = 0;
        // SAFETY: see above; the command line is NUL-terminated and we stop at CMDLINE_MAX.
        while len < CMDLINE_MAX && unsafe { p.add(len).read() } != 0 {
            out.cmdline[len] = unsafe { p.add(len).read() };
            len += 1;
        }
        out.cmdline_len = len;
        out.cmdline_truncated = len == CMDLINE_MAX;
    }
    if version >= 1 {
        let memmap = read_u64(40);
        let entries = read_u32(48) as usize;
        if memmap != 0 && memmap < 1 << 32 {
            let p = memmap as usize as *const u8;
            let n = entries.min(MEMMAP_MAX);
            for i in 0..n {
                // SAFETY: see above; each entry is 24 bytes and i < entries.
                let (addr, size, kind) = unsafe {
                    let e = p.add(i * 24);
                    (
                        (e as *const u64).read_unaligned(),
                        (e.add(8) as *const u64).read_unaligned(),
                        (e.add(16) as *const u32).read_unaligned(),
                    )
                };
                out.regions[i] = MemRegion { addr, size, kind };
            }
            out.region_count = n;
        }
    }
    if out.region_count == 0 {
        return Err("no memory map in hvm_start_info");
    }
    Ok(())
}
