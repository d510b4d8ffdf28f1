//! One page cache for every block device and for data that is not on a
//! block device (decompressed clusters, virtio-fs file pages), under one
//! memory budget.
//!
//! `no_std` + `alloc`, below the VFS: `vfs` → `pagecache` → `drivers`.
//!
//! # Pieces
//! - [`PageCache`]: the pages, the budget, eviction, counters. Shared as an
//!   `Arc`; [`PageCache::shrink`] is callable from an allocation-failure
//!   path (it only `try_lock`s and never allocates).
//! - [`Space`]: one registered user (a mounted device, a decompressed view,
//!   a virtio-fs mount) with its own name and counters. Its pages are keyed
//!   [`PageKey`] `{ space, object, index }`: object 0 and the 4 KiB page
//!   number for a raw device, or the user's object id (a cluster's stored
//!   offset, a node id) and the page in it. Dropping the space drops its
//!   pages; [`Space::invalidate`] drops one object's.
//! - [`CachedDevice`]: a [`drivers::BlockDevice`] read through one space,
//!   with per-file read-ahead ([`ReadAhead`]), a page getter with a
//!   verify-on-fill hook for metadata, and write-through. It is itself a
//!   `BlockDevice`, so devfs block nodes and any filesystem use it
//!   unchanged; [`PageCache::attach`] gives one wrapper per disk, so every
//!   user of a disk shares its pages. Pages are keyed by device block, so
//!   contents an image stores once (dedup, hard links) are cached once.
//!
//! # Using it
//! - A block filesystem: `let dev = cache.attach("vblk0", device)?` at
//!   mount; each open file keeps a `ReadAhead::starting_at(data_start)` in
//!   its file handle and reads with `dev.read(at, buf, Some(&ra),
//!   data_end)`; metadata comes from `dev.page(index, Some(&check))`, with
//!   `check` the per-block CRC test.
//! - Data that is not a device's bytes (decompressed clusters, virtio-fs
//!   file pages): `cache.register("vblk0:lz4")`, then
//!   [`Space::read_cached`] and, for what it returned short of,
//!   [`Space::insert_run`], keyed by an object id (the cluster's stored
//!   offset, the node id); [`Space::invalidate`] when an object changes.
//! - The kernel: one `PageCache::new(budget)`, [`PageCache::shrink`] on its
//!   allocation-failure path, [`PageCache::stats`] (whose `Display` is the
//!   `cachestat` table) for the shell and the bench.
//!
//! # Eviction: segmented LRU
//! Two LRU lists over one slab of slots (intrusive links, so every touch,
//! insert and eviction is O(1) and allocates nothing): new pages enter
//! *probation*; a page hit again there moves to *protected*, which holds at
//! most three quarters of the budget (its oldest pages are demoted back to
//! probation's front). Eviction takes probation's oldest page first. A
//! sequential pass over a big file only ever fills probation, so it cannot
//! push out a small hot set that was read twice. Read-ahead pages count
//! their first hit as their first use, and a read that continues inside the
//! page the previous read ended in does not count as a second use (as Linux
//! does), so a scan in small reads stays on probation too. SLRU was chosen
//! over 2Q (needs a ghost list of evicted keys: memory per evicted page)
//! and CLOCK-Pro (more state and tuning for little gain at these sizes).
//!
//! # Index
//! A hash map from key to slot (O(1)), and per (space, object) an intrusive
//! list of its slots, so invalidating an object is O(its pages). Both use
//! `hashbrown` with `try_reserve`: no infallible allocation happens under
//! the cache lock. Page buffers come from a [`PageAllocator`] (the heap by
//! default), outside the lock; a failure evicts one page and retries once,
//! then gives `NoMemory` — except for [`CachedDevice::read`], which then
//! serves the read uncached since the caller's buffer needs no memory.
//!
//! # Budget
//! Resident pages × 4096 never exceed the budget after any operation
//! ([`PageCache::check`] verifies it with the other invariants). The index
//! (about 100 bytes per page, reported as `index_bytes`) is outside it. A
//! page a reader still holds (readers copy out after dropping the lock)
//! frees its memory when that reader is done.
//!
//! # Read-ahead
//! See [`ReadAhead`] and [`CachedDevice::read`]: a sequential run doubles
//! its window from 16 KiB to 1 MiB; each read issues at most one device
//! request; random reads read nothing ahead; reads over 1 MiB
//! ([`BYPASS_THRESHOLD`]) bypass the cache. The threshold is the largest
//! window rather than the current one so that a whole-file read of a file
//! of, say, 200 KiB is cached (the warm case), while big streaming reads
//! still go straight into the caller's buffer.
//!
//! # Coherence
//! Writes through a `CachedDevice` reach the device first, then patch the
//! cached pages (or drop those a reader holds). Each space has an epoch
//! that writes and invalidations bump; a fill that read the device before a
//! bump does not insert what it read, so a racing write never leaves a
//! stale page behind. A failed device read or check inserts nothing.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod cache;
mod device;
mod list;
mod page;
mod readahead;
mod state;
mod stats;

pub use cache::{PageCache, Space};
pub use device::{BYPASS_THRESHOLD, CachedDevice, Verify};
pub use page::{HeapPages, PAGE_SIZE, Page, PageAllocator, PageBuf, PageKey, SpaceId};
pub use readahead::{Access, MAX_WINDOW, MIN_WINDOW, ReadAhead};
pub use stats::{CacheStats, Counters, SpaceStats};
