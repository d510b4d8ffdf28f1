//! The PVH `hvm_start_info` handed over by QEMU, copied out of low memory
//! before that memory becomes heap. The command line is measured here and
//! copied whole into the heap once it exists ([`BootInfo::take_cmdline`]);
//! until then its bytes are kept out of the heap ([`BootInfo::cmdline_span`]).

use alloc::string::String;
use alloc::vec::Vec;

/// `hvm_start_info.magic`.
const START_INFO_MAGIC: u32 = 0x336e_c578;
/// Longest command line accepted (64 KiB, half of what Linux lets one
/// argument of QEMU be). A longer one is refused with the bad-command-line
/// exit code, never cut: a cut line could boot a configuration nobody gave.
pub const CMDLINE_MAX: usize = 64 * 1024;
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

/// What the kernel keeps from the start info.
pub struct BootInfo {
    /// Physical address of the NUL-terminated command line (0: none).
    cmdline_addr: u64,
    /// Its length without the NUL (at most [`CMDLINE_MAX`]).
    cmdline_len: usize,
    /// No NUL within [`CMDLINE_MAX`] bytes.
    pub cmdline_too_long: bool,
    regions: [MemRegion; MEMMAP_MAX],
    region_count: usize,
    pub start_info_addr: u64,
}

impl BootInfo {
    pub const fn empty() -> BootInfo {
        BootInfo {
            cmdline_addr: 0,
            cmdline_len: 0,
            cmdline_too_long: false,
            regions: [MemRegion {
                addr: 0,
                size: 0,
                kind: 0,
            }; MEMMAP_MAX],
            region_count: 0,
            start_info_addr: 0,
        }
    }

    /// The physical bytes `[start, end)` of the command line and its NUL,
    /// which the heap must not claim before [`BootInfo::take_cmdline`].
    pub fn cmdline_span(&self) -> Option<(u64, u64)> {
        (self.cmdline_addr != 0).then(|| {
            (
                self.cmdline_addr,
                self.cmdline_addr + self.cmdline_len as u64 + 1,
            )
        })
    }

    /// The command line, copied into the heap.
    ///
    /// # Safety
    /// The heap is up and did not claim [`BootInfo::cmdline_span`], so those
    /// bytes are still what QEMU wrote.
    pub unsafe fn take_cmdline(&self) -> Result<String, &'static str> {
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(self.cmdline_len)
            .map_err(|_| "no memory for the kernel command line")?;
        if self.cmdline_addr != 0 {
            let p = self.cmdline_addr as usize as *const u8;
            // SAFETY: [addr, addr + len) is the identity-mapped command line
            // measured by copy_start_info, which nothing has written since
            // (caller's promise).
            bytes.extend_from_slice(unsafe { core::slice::from_raw_parts(p, self.cmdline_len) });
        }
        String::from_utf8(bytes).map_err(|_| "kernel command line is not UTF-8")
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
        // Seen with SeaBIOS's PVH option ROM (q35's default firmware): it
        // puts the command line just below the start info, so a line over
        // about 4 KiB overwrites it. qboot (microvm's default, or q35 with
        // `-bios qboot.rom`) takes lines up to CMDLINE_MAX.
        return Err(
            "hvm_start_info magic mismatch (with SeaBIOS, a kernel command line \
                    over about 4 KiB overwrites it: use qboot or microvm)",
        );
    }
    let version = read_u32(4);
    let cmdline_paddr = read_u64(24);
    if cmdline_paddr != 0 && cmdline_paddr < (1 << 32) - CMDLINE_MAX as u64 {
        let p = cmdline_paddr as usize as *const u8;
        let mut len = 0;
        // SAFETY: see above; the command line is NUL-terminated and we stop
        // at CMDLINE_MAX, below 4 GiB.
        while len < CMDLINE_MAX && unsafe { p.add(len).read() } != 0 {
            len += 1;
        }
        out.cmdline_addr = cmdline_paddr;
        out.cmdline_len = len;
        // SAFETY: as above; byte CMDLINE_MAX is still below 4 GiB.
        out.cmdline_too_long = len == CMDLINE_MAX && unsafe { p.add(len).read() } != 0;
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
