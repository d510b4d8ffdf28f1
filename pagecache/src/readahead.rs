//! Per-open-file read-ahead state.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::page::PAGE_SIZE;

/// The window of the first read of a sequential run.
pub const MIN_WINDOW: usize = 16 * 1024;
/// The largest window; reads larger than this bypass the cache.
pub const MAX_WINDOW: usize = 1024 * 1024;

/// Sequential-access detection for one open file. The backend keeps one in
/// its `vfs::FileHandle` and passes it to every read of that file.
///
/// A read that starts where the previous one ended doubles the window (the
/// first such read gets [`MIN_WINDOW`]), up to [`MAX_WINDOW`]; a read at any
/// other offset collapses it to zero, so random access reads nothing ahead.
/// Atomics with relaxed ordering make it usable from `&self`: two threads
/// racing on one handle can only mis-size a window, never corrupt data.
#[derive(Debug)]
pub struct ReadAhead {
    next: AtomicU64,
    window: AtomicUsize,
}

/// What [`ReadAhead::advance`] decided for one read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Bytes to read ahead past the end of this read (0: none).
    pub window: usize,
    /// Whether the read continued where the previous one ended.
    pub sequential: bool,
    /// Whether the read starts inside the page the previous read ended in:
    /// touching that page again is not a second use (no promotion).
    pub same_page: bool,
}

impl ReadAhead {
    /// State for a file whose data starts at `start` (the byte offset the
    /// caller will pass for the file's first byte): a first read there
    /// counts as sequential, as Linux starts read-ahead at offset 0.
    pub const fn starting_at(start: u64) -> ReadAhead {
        ReadAhead {
            next: AtomicU64::new(start),
            window: AtomicUsize::new(0),
        }
    }

    /// State for offsets counted from 0.
    pub const fn new() -> ReadAhead {
        ReadAhead::starting_at(0)
    }

    /// The current window in bytes.
    pub fn window(&self) -> usize {
        self.window.load(Ordering::Relaxed)
    }

    /// Record a read of `len` bytes at `offset` and size its window.
    pub fn advance(&self, offset: u64, len: usize) -> Access {
        let next = self.next.load(Ordering::Relaxed);
        let sequential = offset == next;
        let window = if sequential {
            match self.window() {
                0 => MIN_WINDOW,
                w => w.saturating_mul(2).min(MAX_WINDOW),
            }
        } else {
            0
        };
        self.window.store(window, Ordering::Relaxed);
        self.next
            .store(offset.saturating_add(len as u64), Ordering::Relaxed);
        Access {
            window,
            sequential,
            same_page: sequential && !offset.is_multiple_of(PAGE_SIZE as u64),
        }
    }
}

impl Default for ReadAhead {
    fn default() -> Self {
        ReadAhead::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_doubles_to_the_cap_and_collapses() {
        let ra = ReadAhead::starting_at(8192);
        let mut offset = 8192;
        let mut windows = alloc::vec::Vec::new();
        for _ in 0..9 {
            windows.push(ra.advance(offset, 4096).window);
            offset += 4096;
        }
        assert_eq!(
            windows,
            [16, 32, 64, 128, 256, 512, 1024, 1024, 1024].map(|k| k * 1024)
        );
        let random = ra.advance(0, 4096);
        assert_eq!((random.window, random.sequential), (0, false));
        assert_eq!(ra.advance(4096, 100).window, MIN_WINDOW);
        // Continues inside page 1: the same page again.
        assert!(ra.advance(4196, 100).same_page);
    }
}
