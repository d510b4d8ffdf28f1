//! Eviction order: probation before protected, LRU within each, the
//! protected cap, a hot set surviving a scan, shrink and set_budget.

mod common;

use std::sync::Arc;

use common::CountingDisk;
use pagecache::{CachedDevice, PAGE_SIZE, PageCache, ReadAhead};

fn page_of(byte: u8) -> Vec<u8> {
    vec![byte; PAGE_SIZE]
}

#[test]
fn probation_is_evicted_before_protected_and_in_lru_order() {
    let cache = PageCache::new(8 * PAGE_SIZE);
    let space = cache.register("t").unwrap();
    for i in 0..4 {
        assert!(space.insert(1, i, &page_of(i as u8)).unwrap());
    }
    // A second use moves pages 0..4 to protected (cap 6 of 8).
    for i in 0..4 {
        assert!(space.lookup(1, i).is_some());
    }
    for i in 4..8 {
        space.insert(1, i, &page_of(i as u8)).unwrap();
    }
    assert_eq!(cache.stats().unwrap().protected_bytes, 4 * PAGE_SIZE);
    // Each new page evicts the oldest probation page: 4, then 5, ...
    for (new, evicted) in (8..12).zip(4..8) {
        space.insert(1, new, &page_of(new as u8)).unwrap();
        cache.check().unwrap();
        let stats = cache.stats().unwrap();
        assert_eq!(stats.total.resident_bytes, 8 * PAGE_SIZE as u64);
        assert_eq!(stats.total.evictions, evicted - 3);
    }
    for i in 4..8 {
        assert!(
            space.lookup(1, i).is_none(),
            "probation page {i} should be gone"
        );
    }
    for i in 0..4 {
        let page = space.lookup(1, i).expect("protected page survives");
        assert!(page.iter().all(|&b| b == i as u8));
    }
}

#[test]
fn protected_is_evicted_when_probation_is_empty() {
    let cache = PageCache::new(4 * PAGE_SIZE);
    let space = cache.register("t").unwrap();
    for i in 0..4 {
        space.insert(1, i, &page_of(1)).unwrap();
        space.lookup(1, i).unwrap();
    }
    // Cap is 3 of 4: page 0 (oldest) was demoted back to probation.
    let stats = cache.stats().unwrap();
    assert_eq!(stats.protected_bytes, 3 * PAGE_SIZE);
    cache.check().unwrap();
    space.insert(1, 10, &page_of(2)).unwrap();
    assert!(space.lookup(1, 0).is_none(), "the demoted page goes first");
    assert!(space.lookup(1, 1).is_some());
}

#[test]
fn hot_small_files_survive_one_pass_over_a_big_file() {
    // Budget 256 KiB; a 4 MiB "big file" at 1 MiB; eight 8 KiB hot files.
    let (disk, _) = CountingDisk::random(512, 8 << 20, 7);
    let cache = PageCache::new(256 << 10);
    let dev = CachedDevice::new(&cache, "vblk0", disk.clone()).unwrap();
    let hot: Vec<u64> = (0..8).map(|i| i * 64 * 1024).collect();
    let read_file = |start: u64, len: usize| {
        let ra = ReadAhead::starting_at(start);
        let mut buf = vec![0u8; len];
        dev.read(start, &mut buf, Some(&ra), start + len as u64)
            .unwrap();
    };
    // Twice: the second read is the "hit again" that protects them.
    for _ in 0..2 {
        for &f in &hot {
            read_file(f, 8 << 10);
        }
    }
    let ra = ReadAhead::starting_at(1 << 20);
    let mut buf = vec![0u8; 4096];
    for i in 0..1024u64 {
        let at = (1 << 20) + i * 4096;
        dev.read(at, &mut buf, Some(&ra), 5 << 20).unwrap();
        cache.check().unwrap();
    }
    disk.take_reads();
    for &f in &hot {
        read_file(f, 8 << 10);
    }
    assert_eq!(disk.reads(), 0, "hot set was evicted by the scan");
    let stats = dev.stats();
    assert!(
        stats.evictions > 900,
        "the scan should have cycled probation"
    );
}

#[test]
fn without_a_second_use_the_scan_does_evict_them() {
    // The control for the test above: read once, the hot files are gone.
    let (disk, _) = CountingDisk::random(512, 8 << 20, 8);
    let cache = PageCache::new(256 << 10);
    let dev = CachedDevice::new(&cache, "vblk0", disk.clone()).unwrap();
    let mut buf = vec![0u8; 8 << 10];
    dev.read(0, &mut buf, None, u64::MAX).unwrap();
    let ra = ReadAhead::starting_at(1 << 20);
    let mut chunk = vec![0u8; 4096];
    for i in 0..1024u64 {
        dev.read((1 << 20) + i * 4096, &mut chunk, Some(&ra), 5 << 20)
            .unwrap();
    }
    disk.take_reads();
    dev.read(0, &mut buf, None, u64::MAX).unwrap();
    assert_eq!(disk.reads(), 1);
}

#[test]
fn small_sequential_reads_inside_one_page_do_not_promote() {
    let (disk, _) = CountingDisk::random(512, 1 << 20, 9);
    let cache = PageCache::new(1 << 20);
    let dev = CachedDevice::new(&cache, "vblk0", disk).unwrap();
    let ra = ReadAhead::new();
    let mut buf = [0u8; 100];
    for i in 0..2000u64 {
        dev.read(i * 100, &mut buf, Some(&ra), 200_000).unwrap();
    }
    assert_eq!(cache.stats().unwrap().protected_bytes, 0);
    // A re-read of the start is a second use.
    dev.read(0, &mut buf, None, u64::MAX).unwrap();
    assert_eq!(cache.stats().unwrap().protected_bytes, PAGE_SIZE);
}

#[test]
fn shrink_evicts_probation_first_and_reports_bytes() {
    let cache = PageCache::new(16 * PAGE_SIZE);
    let space = cache.register("t").unwrap();
    for i in 0..8 {
        space.insert(1, i, &page_of(1)).unwrap();
    }
    for i in 0..4 {
        space.lookup(1, i).unwrap();
    }
    assert_eq!(cache.shrink(1), PAGE_SIZE, "rounds up to a page");
    assert_eq!(cache.shrink(3 * PAGE_SIZE), 3 * PAGE_SIZE);
    // The four probation pages went; the protected ones stay.
    assert_eq!(cache.resident_bytes(), 4 * PAGE_SIZE);
    for i in 0..4 {
        assert!(space.lookup(1, i).is_some());
    }
    assert_eq!(cache.shrink(usize::MAX), 4 * PAGE_SIZE);
    assert_eq!(cache.shrink(PAGE_SIZE), 0);
    assert_eq!(cache.resident_bytes(), 0);
    assert_eq!(space.stats().evictions, 8);
    cache.check().unwrap();
}

#[test]
fn an_allocator_that_shrinks_the_cache_can_reach_it() {
    // The kernel's path: an allocation fails, the allocator calls shrink
    // (no cache lock is held while pages are allocated) and retries.
    struct Shrinking(
        std::sync::Mutex<std::sync::Weak<PageCache>>,
        std::sync::atomic::AtomicUsize,
    );
    impl pagecache::PageAllocator for Shrinking {
        fn allocate(&self) -> Option<pagecache::PageBuf> {
            if let Some(cache) = self.0.lock().unwrap().upgrade() {
                self.1.fetch_add(
                    cache.shrink(PAGE_SIZE),
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            pagecache::PageBuf::try_new()
        }
    }
    let alloc = Arc::new(Shrinking(Default::default(), Default::default()));
    struct Shared(Arc<Shrinking>);
    impl pagecache::PageAllocator for Shared {
        fn allocate(&self) -> Option<pagecache::PageBuf> {
            self.0.allocate()
        }
    }
    let cache = PageCache::with_allocator(8 * PAGE_SIZE, Box::new(Shared(alloc.clone())));
    *alloc.0.lock().unwrap() = Arc::downgrade(&cache);
    let space = cache.register("t").unwrap();
    for i in 0..4 {
        space.insert(1, i, &page_of(1)).unwrap();
    }
    // Every insert after the first found a page to shrink.
    assert_eq!(
        alloc.1.load(std::sync::atomic::Ordering::Relaxed),
        3 * PAGE_SIZE
    );
    assert_eq!(cache.resident_bytes(), PAGE_SIZE);
}

#[test]
fn set_budget_evicts_at_once() {
    let cache = PageCache::new(32 * PAGE_SIZE);
    let space = cache.register("t").unwrap();
    for i in 0..32 {
        space.insert(1, i, &page_of(1)).unwrap();
        space.lookup(1, i).unwrap();
    }
    cache.set_budget(10 * PAGE_SIZE + 100);
    assert_eq!(cache.resident_bytes(), 10 * PAGE_SIZE);
    cache.check().unwrap();
    cache.set_budget(0);
    assert_eq!(cache.resident_bytes(), 0);
    assert!(
        !space.insert(1, 0, &page_of(1)).unwrap(),
        "no budget, no caching"
    );
    cache.check().unwrap();
}
