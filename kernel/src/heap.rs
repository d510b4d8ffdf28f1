//! The kernel heap: talc over every RAM region of the memory map below 4 GiB
//! (the identity-mapped part), minus the kernel image and page zero.

use talc::TalcLock;
use talc::source::Manual;

use crate::pvh::{MEM_RAM, MemRegion};

#[global_allocator]
static ALLOCATOR: TalcLock<spinning_top::RawSpinlock, Manual> = TalcLock::new(Manual);

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// Highest address the boot page tables map.
pub const IDENTITY_MAP_END: u64 = 4 << 30;

/// Hand the RAM regions to the allocator. Returns the bytes claimed.
///
/// # Safety
/// Call once, after everything needed from low memory (start info, command
/// line, memory map) has been copied out.
pub unsafe fn init(regions: &[MemRegion]) -> u64 {
    let kernel_start = &raw const __kernel_start as u64;
    let kernel_end = &raw const __kernel_end as u64;
    let mut total = 0;
    for r in regions.iter().filter(|r| r.kind == MEM_RAM) {
        let start = r.addr.max(0x1000);
        let end = r.addr.saturating_add(r.size).min(IDENTITY_MAP_END);
        // Split around the kernel image.
        for (s, e) in [(start, end.min(kernel_start)), (start.max(kernel_end), end)] {
            if e > s && e - s >= 4096 {
                // SAFETY: [s, e) is RAM per the memory map, identity-mapped,
                // outside the kernel image, and no longer used by the loader.
                let claimed = unsafe {
                    ALLOCATOR
                        .lock()
                        .claim(s as usize as *mut u8, (e - s) as usize)
                };
                if claimed.is_some() {
                    total += e - s;
                }
            }
        }
    }
    total
}
