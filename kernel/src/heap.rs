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

/// Hand the RAM regions to the allocator, except the kernel image and
/// `keep` (bytes still to be read, such as the command line). Returns the
/// bytes claimed.
///
/// # Safety
/// Call once, after everything needed from low memory (start info, memory
/// map) has been copied out or is inside `keep`.
pub unsafe fn init(regions: &[MemRegion], keep: Option<(u64, u64)>) -> u64 {
    let kernel = (
        &raw const __kernel_start as u64,
        &raw const __kernel_end as u64,
    );
    let mut holes = [kernel, keep.unwrap_or(kernel)];
    holes.sort_unstable();
    let mut total = 0;
    for r in regions.iter().filter(|r| r.kind == MEM_RAM) {
        let mut start = r.addr.max(0x1000);
        let end = r.addr.saturating_add(r.size).min(IDENTITY_MAP_END);
        // The pieces of [start, end) between the holes, in address order.
        for (hole_start, hole_end) in holes.into_iter().chain([(end, end)]) {
            let piece_end = hole_start.min(end);
            if piece_end > start && piece_end - start >= 4096 {
                // SAFETY: [start, piece_end) is RAM per the memory map,
                // identity-mapped, outside the kernel image and `keep`, and
                // no longer used by the loader.
                let claimed = unsafe {
                    ALLOCATOR
                        .lock()
                        .claim(start as usize as *mut u8, (piece_end - start) as usize)
                };
                if claimed.is_some() {
                    total += piece_end - start;
                }
            }
            start = start.max(hole_end);
        }
    }
    total
}
