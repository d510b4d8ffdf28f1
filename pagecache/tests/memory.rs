//! Allocation failure: a failed page allocation evicts one page and retries
//! once, then gives NoMemory (or, for data reads, serves the read uncached).

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::{CountingDisk, Flaky, FlakyPages};
use drivers::BlockError;
use pagecache::{CachedDevice, PAGE_SIZE, PageCache, ReadAhead};

fn setup() -> (
    Arc<Flaky>,
    Arc<PageCache>,
    CachedDevice,
    Arc<CountingDisk>,
    Vec<u8>,
) {
    let flaky = Arc::new(Flaky::default());
    let cache = PageCache::with_allocator(64 * PAGE_SIZE, Box::new(FlakyPages(flaky.clone())));
    let (disk, bytes) = CountingDisk::random(512, 256 * 1024, 21);
    let dev = CachedDevice::new(&cache, "d", disk.clone()).unwrap();
    (flaky, cache, dev, disk, bytes)
}

#[test]
fn one_failure_evicts_a_page_and_retries() {
    let (flaky, cache, dev, _, bytes) = setup();
    dev.page(0, None).unwrap();
    flaky.fail.store(1, Ordering::Relaxed);
    let calls = flaky.calls.load(Ordering::Relaxed);
    let page = dev.page(1, None).unwrap();
    assert_eq!(&page[..], &bytes[PAGE_SIZE..2 * PAGE_SIZE]);
    assert_eq!(
        flaky.calls.load(Ordering::Relaxed),
        calls + 2,
        "asked twice"
    );
    let stats = dev.stats();
    assert_eq!(stats.evictions, 1, "page 0 made room");
    assert_eq!(stats.alloc_failures, 0);
    assert_eq!(cache.resident_bytes(), PAGE_SIZE);
    cache.check().unwrap();
}

#[test]
fn two_failures_give_no_memory_and_insert_nothing() {
    let (flaky, cache, dev, _, _) = setup();
    dev.page(0, None).unwrap();
    flaky.fail.store(2, Ordering::Relaxed);
    assert_eq!(dev.page(1, None).unwrap_err(), BlockError::NoMemory);
    assert_eq!(cache.resident_bytes(), 0, "only the eviction happened");
    assert_eq!(dev.stats().alloc_failures, 1);
    let space = cache.register("objects").unwrap();
    flaky.fail.store(2, Ordering::Relaxed);
    assert_eq!(space.insert(1, 0, b"data"), Err(BlockError::NoMemory));
    assert!(space.lookup(1, 0).is_none());
    cache.check().unwrap();
    // Memory is back: everything works again.
    assert!(space.insert(1, 0, b"data").unwrap());
    dev.page(1, None).unwrap();
}

#[test]
fn data_reads_are_served_uncached_without_memory() {
    let (flaky, cache, dev, disk, bytes) = setup();
    flaky.fail.store(usize::MAX, Ordering::Relaxed);
    let ra = ReadAhead::new();
    let mut buf = vec![0u8; 4096];
    for at in (0..64 * 1024u64).step_by(4096) {
        dev.read(at, &mut buf, Some(&ra), u64::MAX).unwrap();
        assert_eq!(buf, bytes[at as usize..at as usize + 4096]);
    }
    assert_eq!(cache.resident_bytes(), 0);
    assert!(dev.stats().alloc_failures > 0);
    // Nothing cached, so every read went to the device; after the first
    // failure, without read-ahead.
    let log = disk.take_reads();
    assert_eq!(log.len(), 16);
    assert!(log[1..].iter().all(|r| r.len == 4096), "{log:?}");
    // Memory back: read-ahead resumes.
    flaky.fail.store(0, Ordering::Relaxed);
    dev.read(0, &mut buf, None, u64::MAX).unwrap();
    dev.read(
        4096,
        &mut buf,
        Some(&ReadAhead::starting_at(4096)),
        u64::MAX,
    )
    .unwrap();
    assert!(disk.take_reads()[1].len > 4096);
    cache.check().unwrap();
}

#[test]
fn a_huge_budget_does_not_reserve_memory_up_front() {
    let cache = PageCache::new(usize::MAX);
    let space = cache.register("t").unwrap();
    assert!(space.insert(0, 0, &[1u8; 10]).unwrap());
    assert!(cache.stats().unwrap().index_bytes < 64 * 1024);
}
