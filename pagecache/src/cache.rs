//! The shared cache ([`PageCache`]) and a registered user of it ([`Space`]).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::Range;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use drivers::BlockError;
use spin::{Mutex, MutexGuard};

use crate::page::{HeapPages, PAGE_SIZE, Page, PageAllocator, PageBuf, PageKey, SpaceId};
use crate::state::{Insert, State};
use crate::stats::{CacheStats, Counters, Event, Tally};

/// One page cache for every user, under one budget in bytes.
///
/// Shared as `Arc<PageCache>`; users [`register`](PageCache::register) a
/// [`Space`] each, or wrap a block device with
/// [`attach`](PageCache::attach).
pub struct PageCache {
    state: Mutex<State>,
    budget: AtomicUsize,
    allocator: Box<dyn PageAllocator>,
    /// The last page allocation failed even after an eviction: read-ahead
    /// is off until one succeeds (it would read pages it cannot keep).
    starved: AtomicBool,
    /// Devices attached so far, so every user of one disk shares one space.
    pub(crate) devices: Mutex<Vec<crate::device::Attached>>,
}

impl PageCache {
    /// A cache holding at most `budget` bytes of pages (rounded down to
    /// whole pages; below one page it caches nothing).
    pub fn new(budget: usize) -> Arc<PageCache> {
        PageCache::with_allocator(budget, Box::new(HeapPages))
    }

    /// A cache whose page buffers come from `allocator`.
    pub fn with_allocator(budget: usize, allocator: Box<dyn PageAllocator>) -> Arc<PageCache> {
        Arc::new(PageCache {
            state: Mutex::new(State::new(budget)),
            budget: AtomicUsize::new(budget),
            allocator,
            starved: AtomicBool::new(false),
            devices: Mutex::new(Vec::new()),
        })
    }

    /// The budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget.load(Ordering::Relaxed)
    }

    /// Change the budget, evicting at once down to it.
    pub fn set_budget(&self, bytes: usize) {
        let mut state = self.state.lock();
        self.budget.store(bytes, Ordering::Relaxed);
        state.set_budget(bytes);
    }

    /// Bytes of pages in the cache now.
    pub fn resident_bytes(&self) -> usize {
        self.state.lock().resident_pages() * PAGE_SIZE
    }

    /// Evict at least `bytes` (whole pages, probation first) if that many
    /// are cached; returns the bytes evicted. For the kernel's
    /// allocation-failure path: it never waits for the lock (0 when busy)
    /// and never allocates. Memory of a page a reader still holds is freed
    /// when that reader drops it. Call it outside the allocator's own lock:
    /// freeing the pages re-enters the allocator.
    pub fn shrink(&self, bytes: usize) -> usize {
        match self.state.try_lock() {
            Some(mut state) => state.shrink(bytes.div_ceil(PAGE_SIZE)) * PAGE_SIZE,
            None => 0,
        }
    }

    /// Register a user named `name` (for `cachestat`). Its pages go when the
    /// returned [`Space`] is dropped.
    pub fn register(self: &Arc<Self>, name: &str) -> Result<Space, BlockError> {
        let mut owned = String::new();
        owned
            .try_reserve_exact(name.len())
            .map_err(|_| BlockError::NoMemory)?;
        owned.push_str(name);
        let tally = Arc::new(Tally::default());
        let id = self.state.lock().register(owned, tally.clone())?;
        Ok(Space {
            cache: self.clone(),
            id,
            tally,
        })
    }

    /// Counters of every live space and in total.
    pub fn stats(&self) -> Result<CacheStats, BlockError> {
        let state = self.state.lock();
        let (total, spaces) = state.space_stats()?;
        Ok(CacheStats {
            budget: self.budget(),
            protected_bytes: state.protected_pages() * PAGE_SIZE,
            index_bytes: state.index_bytes(),
            total,
            spaces,
        })
    }

    /// Check the cache's structural invariants (the budget bound, the LRU
    /// and object lists, the index, the per-space counts); for tests and
    /// fuzzing. Names the first broken invariant.
    pub fn check(&self) -> Result<(), &'static str> {
        self.state.lock().check()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// A page buffer; when the allocator has none, evict one page and ask
    /// once more, then give `NoMemory` (counted on `tally`).
    pub(crate) fn allocate(&self, tally: &Tally) -> Result<PageBuf, BlockError> {
        if let Some(buf) = self.allocator.allocate() {
            self.starved.store(false, Ordering::Relaxed);
            return Ok(buf);
        }
        self.state.lock().evict_one();
        let buf = self.allocator.allocate();
        self.starved.store(buf.is_none(), Ordering::Relaxed);
        buf.ok_or_else(|| {
            tally.add(Event::AllocFailure, 1);
            BlockError::NoMemory
        })
    }

    /// Whether the last page allocation failed.
    pub(crate) fn starved(&self) -> bool {
        self.starved.load(Ordering::Relaxed)
    }
}

/// One user's share of the cache: its keys, its counters. Dropping it drops
/// its pages.
pub struct Space {
    cache: Arc<PageCache>,
    id: SpaceId,
    tally: Arc<Tally>,
}

impl Space {
    /// This space's id (the `space` of its [`PageKey`]s).
    pub fn id(&self) -> SpaceId {
        self.id
    }

    /// The cache it belongs to.
    pub fn cache(&self) -> &Arc<PageCache> {
        &self.cache
    }

    fn key(&self, object: u64, index: u64) -> PageKey {
        PageKey {
            space: self.id,
            object,
            index,
        }
    }

    /// Page `index` of `object`, if cached (counted as a hit or a miss).
    pub fn lookup(&self, object: u64, index: u64) -> Option<Page> {
        let page = self.cache.lock().hit(&self.key(object, index), true);
        let event = if page.is_some() {
            Event::Hit
        } else {
            Event::Miss
        };
        self.tally.add(event, 1);
        page
    }

    /// Cache `data` (at most one page; the rest reads as zeros) as page
    /// `index` of `object`, replacing what was cached there. Returns whether
    /// it is cached (not with a zero budget). `NoMemory` when no page could
    /// be allocated even after an eviction: the caller still has its data.
    pub fn insert(&self, object: u64, index: u64, data: &[u8]) -> Result<bool, BlockError> {
        let page = self.cache.allocate(&self.tally)?.fill(data)?;
        let how = Insert {
            speculative: false,
            verified: false,
            replace: true,
        };
        self.cache.lock().insert(self.key(object, index), page, how)
    }

    /// Cache `data` as consecutive pages of `object` from page `first` on
    /// (a decompressed cluster, a run of file pages). Returns how many
    /// pages were cached, stopping at the first that could not be.
    pub fn insert_run(&self, object: u64, first: u64, data: &[u8]) -> Result<usize, BlockError> {
        let mut cached = 0;
        for (index, chunk) in (first..).zip(data.chunks(PAGE_SIZE)) {
            match self.insert(object, index, chunk) {
                Ok(true) => cached += 1,
                Ok(false) => break,
                Err(e) if cached == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(cached)
    }

    /// Copy the cached bytes of `object` from byte `offset` into `buf`, up
    /// to the first page not cached or the end of a partial page (the end
    /// of the object). Returns the bytes copied; the caller produces the
    /// rest (decompress, ask the host) and caches it with `insert_run`.
    pub fn read_cached(&self, object: u64, offset: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let pos = offset.saturating_add(done as u64);
            let Some(page) = self.lookup(object, pos / PAGE_SIZE as u64) else {
                break;
            };
            let within = (pos % PAGE_SIZE as u64) as usize;
            let (Some(src), Some(dst)) = (page.get(within..), buf.get_mut(done..)) else {
                break;
            };
            let n = src.len().min(dst.len());
            if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
                d.copy_from_slice(s);
            }
            done += n;
            if n == 0 || (page.len() < PAGE_SIZE && within + n == page.len()) {
                break;
            }
        }
        done
    }

    /// Drop page `index` of `object`. Returns whether it was cached.
    pub fn remove(&self, object: u64, index: u64) -> bool {
        let mut state = self.cache.lock();
        state.bump_epoch(self.id);
        state.remove(&self.key(object, index))
    }

    /// Drop every page of `object`; returns how many were cached.
    pub fn invalidate(&self, object: u64) -> usize {
        self.invalidate_range(object, 0..u64::MAX)
    }

    /// Drop the pages of `object` whose index is in `pages`.
    pub fn invalidate_range(&self, object: u64, pages: Range<u64>) -> usize {
        let mut state = self.cache.lock();
        state.bump_epoch(self.id);
        state.invalidate(self.id, object, pages)
    }

    /// This space's counters.
    pub fn stats(&self) -> Counters {
        let pages = self.cache.lock().space_pages(self.id);
        self.tally.snapshot(pages)
    }

    /// Bytes of this space's pages in the cache.
    pub fn resident_bytes(&self) -> usize {
        self.cache.lock().space_pages(self.id) * PAGE_SIZE
    }

    pub(crate) fn tally(&self) -> &Tally {
        &self.tally
    }

    pub(crate) fn page_key(&self, object: u64, index: u64) -> PageKey {
        self.key(object, index)
    }
}

impl Drop for Space {
    fn drop(&mut self) {
        self.cache.lock().unregister(self.id);
    }
}
