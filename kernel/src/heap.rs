//! The kernel heap: talc over every RAM region of the memory map below 4 GiB
//! (the identity-mapped part), minus the kernel image and page zero.
//!
//! An allocation that fails asks the page cache to give memory back
//! ([`PageCache::shrink`]) and retries while it does, so cached pages never
//! make an allocation fail that would fit without them. The cache only
//! `try_lock`s there, so a failure under the cache's own lock just fails.

use core::alloc::{GlobalAlloc, Layout};

use alloc::sync::Arc;
use talc::TalcLock;
use talc::source::Manual;
use vfs::pagecache::PageCache;

use crate::pvh::{MEM_RAM, MemRegion};

/// What one reclaim step asks the cache for at least: a few pages, so a
/// run of small failing allocations does not evict page by page.
const RECLAIM_MIN: usize = 64 * 1024;

/// talc, with a retry after the cache shrinks on failure.
struct Reclaiming {
    talc: TalcLock<spinning_top::RawSpinlock, Manual>,
}

#[global_allocator]
static ALLOCATOR: Reclaiming = Reclaiming {
    talc: TalcLock::new(Manual),
};

/// The page cache to shrink under memory pressure (set once at boot).
static CACHE: spin::Once<Arc<PageCache>> = spin::Once::new();

/// Let allocation failures shrink `cache`.
pub fn set_cache(cache: Arc<PageCache>) {
    CACHE.call_once(|| cache);
}

/// Ask the cache for about `bytes`; whether it gave anything back. Called
/// with the allocator unlocked: freeing the pages re-enters it.
fn reclaim(bytes: usize) -> bool {
    CACHE
        .get()
        .is_some_and(|cache| cache.shrink(bytes.max(RECLAIM_MIN)) > 0)
}

/// Run `attempt` until it gives memory or the cache has nothing left to
/// give back for `bytes`. The cache holds finitely many pages, so this ends.
fn retrying(bytes: usize, mut attempt: impl FnMut() -> *mut u8) -> *mut u8 {
    loop {
        let ptr = attempt();
        if !ptr.is_null() || !reclaim(bytes) {
            return ptr;
        }
    }
}

// SAFETY: every method forwards to talc's GlobalAlloc with the caller's
// arguments unchanged; a retry after `reclaim` is a fresh call with the
// same arguments, and talc's lock is not held across `reclaim`.
unsafe impl GlobalAlloc for Reclaiming {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded from our caller's contract.
        retrying(layout.size(), || unsafe { self.talc.alloc(layout) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded from our caller's contract.
        retrying(layout.size(), || unsafe { self.talc.alloc_zeroed(layout) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from our caller's contract.
        unsafe { self.talc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded from our caller's contract; a failed realloc
        // leaves `ptr` valid, so retrying with it is sound.
        retrying(new_size, || unsafe {
            self.talc.realloc(ptr, layout, new_size)
        })
    }
}

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
                        .talc
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
