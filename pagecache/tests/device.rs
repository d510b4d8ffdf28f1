//! CachedDevice as a device: shared pages, block sizes, partial last pages,
//! write-through, failed reads, the verify hook, attach, spaces.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::CountingDisk;
use drivers::{BlockDevice, BlockError, RamDisk, read_bytes};
use pagecache::{CachedDevice, PAGE_SIZE, PageCache, ReadAhead};

#[test]
fn deduplicated_data_is_cached_once() {
    // Two files whose data the image stores once: the same extent.
    let (disk, bytes) = CountingDisk::random(512, 1 << 20, 11);
    let cache = PageCache::new(1 << 20);
    let dev = CachedDevice::new(&cache, "vblk0", disk.clone()).unwrap();
    let (start, len) = (64 * 1024u64, 40_000usize);
    let mut a = vec![0u8; len];
    let ra_a = ReadAhead::starting_at(start);
    dev.read(start, &mut a, Some(&ra_a), start + len as u64)
        .unwrap();
    let resident = cache.resident_bytes();
    let requests = disk.reads();
    let mut b = vec![0u8; len];
    let ra_b = ReadAhead::starting_at(start);
    for (i, chunk) in b.chunks_mut(4096).enumerate() {
        let at = start + (i * 4096) as u64;
        dev.read(at, chunk, Some(&ra_b), start + len as u64)
            .unwrap();
    }
    assert_eq!(a, bytes[start as usize..start as usize + len]);
    assert_eq!(a, b);
    assert_eq!(
        disk.reads(),
        requests,
        "the second file hit the first's pages"
    );
    assert_eq!(cache.resident_bytes(), resident, "cached once");
    assert_eq!(resident, 10 * PAGE_SIZE);
}

#[test]
fn block_sizes_512_to_4096_work_and_others_are_refused() {
    for bs in [512, 1024, 2048, 4096] {
        // 3.5 pages (2.5 for 4096-byte blocks would not be whole blocks).
        let size = 3 * PAGE_SIZE + 2048;
        let size = size / bs * bs;
        let (disk, bytes) = CountingDisk::random(bs, size, bs as u64);
        let cache = PageCache::new(1 << 20);
        let dev = CachedDevice::new(&cache, "d", disk.clone()).unwrap();
        assert_eq!(dev.block_size(), bs);
        assert_eq!(dev.num_blocks(), (size / bs) as u64);
        let last = dev.page(3, None);
        if size > 3 * PAGE_SIZE {
            let last = last.unwrap();
            assert_eq!(last.len(), size - 3 * PAGE_SIZE, "bs {bs}: partial page");
            assert_eq!(&last[..], &bytes[3 * PAGE_SIZE..]);
        } else {
            assert_eq!(last.unwrap_err(), BlockError::OutOfRange);
        }
        assert_eq!(dev.page(4, None).unwrap_err(), BlockError::OutOfRange);
        let mut tail = vec![0u8; 700];
        let at = size - 700;
        dev.read(at as u64, &mut tail, None, u64::MAX).unwrap();
        assert_eq!(tail, bytes[at..]);
        let mut past = [0u8; 2];
        assert_eq!(
            dev.read(size as u64 - 1, &mut past, None, u64::MAX),
            Err(BlockError::OutOfRange)
        );
        assert_eq!(
            dev.read(u64::MAX, &mut past, None, u64::MAX),
            Err(BlockError::OutOfRange)
        );
        // As a BlockDevice: whole blocks, checked like any device.
        let mut block = vec![0u8; bs];
        dev.read_blocks(1, &mut block).unwrap();
        assert_eq!(block, bytes[bs..2 * bs]);
        assert_eq!(
            dev.read_blocks(0, &mut block[..bs - 1]),
            Err(BlockError::Misaligned)
        );
        let blocks = dev.num_blocks();
        assert_eq!(
            dev.read_blocks(blocks, &mut block),
            Err(BlockError::OutOfRange)
        );
        cache.check().unwrap();
    }
    let cache = PageCache::new(1 << 20);
    for bs in [8192, 3, 0] {
        let disk = Arc::new(RamDisk::new(bs, 4));
        assert!(
            CachedDevice::new(&cache, "bad", disk).is_err(),
            "block size {bs}"
        );
    }
}

#[test]
fn writes_go_through_and_patch_or_drop_cached_pages() {
    let (disk, mut bytes) = CountingDisk::random(512, 64 * 1024, 12);
    let cache = PageCache::new(1 << 20);
    let dev = CachedDevice::new(&cache, "d", disk.clone()).unwrap();
    let mut all = vec![0u8; bytes.len()];
    dev.read(0, &mut all, None, u64::MAX).unwrap();
    disk.take_reads();
    // Patched in place: nobody holds the pages.
    let data = vec![0xA5u8; 1536];
    dev.write_blocks(7, &data).unwrap();
    bytes[7 * 512..7 * 512 + 1536].copy_from_slice(&data);
    dev.read(0, &mut all, None, u64::MAX).unwrap();
    assert_eq!(all, bytes);
    assert_eq!(disk.reads(), 0, "patched pages served from the cache");
    assert_eq!(disk.contents(), bytes, "write reached the device");
    // A reader holds page 2: the write drops it, the holder keeps its copy.
    let held = dev.page(2, None).unwrap();
    let before = held.to_vec();
    let data = vec![0x5Au8; 512];
    dev.write_blocks(17, &data).unwrap();
    bytes[17 * 512..18 * 512].copy_from_slice(&data);
    assert_eq!(held.to_vec(), before, "a held page never changes");
    let fresh = dev.page(2, None).unwrap();
    assert_eq!(&fresh[..], &bytes[2 * PAGE_SIZE..3 * PAGE_SIZE]);
    assert_eq!(disk.take_reads().len(), 1, "the dropped page is read again");
    // Through drivers::write_bytes (partial blocks: read, patch, write).
    drivers::write_bytes(&dev, 100, b"hello").unwrap();
    bytes[100..105].copy_from_slice(b"hello");
    let mut check = vec![0u8; 4096];
    read_bytes(&dev, 0, &mut check).unwrap();
    assert_eq!(check, bytes[..4096]);
    assert_eq!(dev.stats().device_writes, 3);
    cache.check().unwrap();
}

#[test]
fn a_read_only_device_refuses_writes_and_keeps_its_pages() {
    let disk = Arc::new(RamDisk::from_bytes(512, vec![7u8; 8192]).read_only());
    let cache = PageCache::new(1 << 20);
    let dev = CachedDevice::new(&cache, "ro", disk).unwrap();
    dev.page(0, None).unwrap();
    assert!(dev.is_read_only());
    assert_eq!(dev.write_blocks(0, &[0u8; 512]), Err(BlockError::ReadOnly));
    assert_eq!(cache.resident_bytes(), PAGE_SIZE);
}

#[test]
fn failed_device_reads_insert_nothing() {
    let (disk, bytes) = CountingDisk::random(512, 256 * 1024, 13);
    let cache = PageCache::new(1 << 20);
    let dev = CachedDevice::new(&cache, "d", disk.clone()).unwrap();
    disk.fail_reads(true);
    let mut buf = vec![0u8; 10_000];
    let ra = ReadAhead::new();
    assert_eq!(
        dev.read(0, &mut buf, Some(&ra), u64::MAX),
        Err(BlockError::Io)
    );
    assert_eq!(dev.page(5, None).unwrap_err(), BlockError::Io);
    let mut block = [0u8; 512];
    assert_eq!(dev.read_blocks(3, &mut block), Err(BlockError::Io));
    assert_eq!(cache.resident_bytes(), 0);
    disk.fail_reads(false);
    dev.read(0, &mut buf, None, u64::MAX).unwrap();
    assert_eq!(buf, bytes[..10_000]);
    cache.check().unwrap();
}

#[test]
fn verify_runs_once_per_page_and_a_failure_caches_nothing() {
    let (disk, bytes) = CountingDisk::random(512, 64 * 1024, 14);
    let cache = PageCache::new(1 << 20);
    let dev = CachedDevice::new(&cache, "meta", disk.clone()).unwrap();
    let calls = AtomicUsize::new(0);
    let check = |index: u64, data: &[u8]| {
        calls.fetch_add(1, Ordering::Relaxed);
        assert_eq!(data.len(), PAGE_SIZE);
        if index == 3 {
            Err(BlockError::Corrupt)
        } else {
            Ok(())
        }
    };
    let page = dev.page(2, Some(&check)).unwrap();
    assert_eq!(&page[..], &bytes[2 * PAGE_SIZE..3 * PAGE_SIZE]);
    dev.page(2, Some(&check)).unwrap();
    assert_eq!(
        calls.load(Ordering::Relaxed),
        1,
        "verified pages are not re-checked"
    );
    assert_eq!(dev.page(3, Some(&check)).unwrap_err(), BlockError::Corrupt);
    assert_eq!(
        cache.resident_bytes(),
        PAGE_SIZE,
        "the bad page was not cached"
    );
    // A page cached by a data read is checked the first time it is asked
    // for with a check, and dropped if it fails.
    let mut buf = vec![0u8; 4096];
    dev.read(3 * 4096, &mut buf, None, u64::MAX).unwrap();
    assert_eq!(cache.resident_bytes(), 2 * PAGE_SIZE);
    assert_eq!(dev.page(3, Some(&check)).unwrap_err(), BlockError::Corrupt);
    assert_eq!(cache.resident_bytes(), PAGE_SIZE);
    dev.read(4 * 4096, &mut buf, None, u64::MAX).unwrap();
    let before = calls.load(Ordering::Relaxed);
    dev.page(4, Some(&check)).unwrap();
    dev.page(4, Some(&check)).unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), before + 1);
    cache.check().unwrap();
}

#[test]
fn attach_gives_one_wrapper_per_device() {
    let cache = PageCache::new(1 << 20);
    let disk: Arc<dyn BlockDevice> = Arc::new(RamDisk::new(512, 64));
    let a = cache.attach("vblk0", disk.clone()).unwrap();
    let b = cache.attach("vblk0", disk.clone()).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let as_dyn: Arc<dyn BlockDevice> = a.clone();
    let c = cache.attach("again", as_dyn).unwrap();
    assert!(Arc::ptr_eq(&a, &c), "attaching the wrapper finds itself");
    let other = cache
        .attach("vblk1", Arc::new(RamDisk::new(512, 64)))
        .unwrap();
    assert!(!Arc::ptr_eq(&a, &other));
    assert_eq!(cache.stats().unwrap().spaces.len(), 2);
    drop((a, b, c));
    assert_eq!(
        cache.stats().unwrap().spaces.len(),
        1,
        "the space went with it"
    );
    let d = cache.attach("vblk0", disk).unwrap();
    assert_eq!(d.space().stats().inserts, 0, "a fresh wrapper");
}

#[test]
fn unregister_and_invalidate_drop_exactly_their_pages() {
    let cache = PageCache::new(64 * PAGE_SIZE);
    let (disk, _) = CountingDisk::random(512, 64 * 1024, 15);
    let dev = CachedDevice::new(&cache, "vblk0", disk.clone()).unwrap();
    let clusters = cache.register("vblk0:lz4").unwrap();
    let mut buf = vec![0u8; 8 * PAGE_SIZE];
    dev.read(0, &mut buf, None, u64::MAX).unwrap();
    for object in [100u64, 200] {
        for index in 0..4 {
            clusters
                .insert(object, index, &[object as u8 + index as u8; 1000])
                .unwrap();
        }
    }
    assert_eq!(cache.resident_bytes(), 16 * PAGE_SIZE);
    assert_eq!(clusters.invalidate(100), 4);
    assert!(clusters.lookup(100, 0).is_none());
    let page = clusters.lookup(200, 2).unwrap();
    assert_eq!(page.len(), 1000);
    assert!(page.iter().all(|&b| b == 202));
    assert_eq!(clusters.invalidate_range(200, 1..3), 2);
    assert!(clusters.lookup(200, 0).is_some() && clusters.lookup(200, 3).is_some());
    assert!(clusters.remove(200, 3));
    assert!(!clusters.remove(200, 3));
    cache.check().unwrap();
    // The device's pages are untouched by all of that.
    disk.take_reads();
    dev.read(0, &mut buf, None, u64::MAX).unwrap();
    assert_eq!(disk.reads(), 0);
    // Unregistering drops a space's pages and keeps its counters in total.
    let id = clusters.id();
    let hits = clusters.stats().hits;
    drop(clusters);
    let stats = cache.stats().unwrap();
    assert_eq!(stats.total.resident_bytes, 8 * PAGE_SIZE as u64);
    assert!(stats.total.hits >= hits);
    let again = cache.register("next").unwrap();
    assert_ne!(again.id(), id, "ids are never reused");
    assert!(again.lookup(200, 0).is_none());
    assert_eq!(dev.invalidate(), 8);
    assert_eq!(cache.resident_bytes(), 0);
    cache.check().unwrap();
}

#[test]
fn stats_name_every_space_and_sum_to_the_total() {
    let cache = PageCache::new(1 << 20);
    let (disk, _) = CountingDisk::random(512, 64 * 1024, 16);
    let dev = CachedDevice::new(&cache, "vblk0", disk).unwrap();
    let other = cache.register("virtiofs:share").unwrap();
    let mut buf = vec![0u8; 5000];
    dev.read(0, &mut buf, None, u64::MAX).unwrap();
    dev.read(0, &mut buf, None, u64::MAX).unwrap();
    other.insert(1, 0, b"x").unwrap();
    assert!(other.lookup(1, 0).is_some() && other.lookup(1, 1).is_none());
    let stats = cache.stats().unwrap();
    let names: Vec<_> = stats.spaces.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["vblk0", "virtiofs:share"]);
    let d = &stats.spaces[0].counters;
    assert_eq!(
        (d.hits, d.misses, d.device_reads, d.resident_bytes),
        (2, 2, 1, 8192)
    );
    let o = &stats.spaces[1].counters;
    assert_eq!((o.hits, o.misses, o.inserts), (1, 1, 1));
    assert_eq!(stats.total.hits, 3);
    assert_eq!(stats.total.resident_bytes, 3 * PAGE_SIZE as u64);
    let table = stats.to_string();
    assert!(
        table.contains("vblk0") && table.contains("total"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 5, "{table}");
}

/// A disk that runs a hook after serving a read (the read already holds
/// the old bytes): a write racing with a fill.
struct RacingDisk {
    inner: RamDisk,
    hook: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl BlockDevice for RacingDisk {
    fn block_size(&self) -> usize {
        self.inner.block_size()
    }
    fn num_blocks(&self) -> u64 {
        self.inner.num_blocks()
    }
    fn read_blocks(&self, start: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.inner.read_blocks(start, buf)?;
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        Ok(())
    }
    fn write_blocks(&self, start: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.inner.write_blocks(start, buf)
    }
}

#[test]
fn a_write_racing_with_a_fill_leaves_no_stale_page() {
    for via_page in [false, true] {
        let disk = Arc::new(RacingDisk {
            inner: RamDisk::from_bytes(512, vec![1u8; 64 * 1024]),
            hook: Default::default(),
        });
        let cache = PageCache::new(1 << 20);
        let dev = Arc::new(CachedDevice::new(&cache, "d", disk.clone()).unwrap());
        let weak = Arc::downgrade(&dev);
        *disk.hook.lock().unwrap() = Some(Box::new(move || {
            if let Some(dev) = weak.upgrade() {
                dev.write_blocks(0, &[2u8; 512]).unwrap();
            }
        }));
        // The fill reads the old bytes, then the write lands.
        if via_page {
            assert_eq!(dev.page(0, None).unwrap()[0], 1);
        } else {
            let mut buf = vec![0u8; 4096];
            dev.read(0, &mut buf, Some(&ReadAhead::new()), u64::MAX)
                .unwrap();
            assert_eq!(buf[0], 1);
        }
        let mut now = [0u8; 1];
        dev.read(0, &mut now, None, u64::MAX).unwrap();
        assert_eq!(now[0], 2, "a stale page was cached (via_page {via_page})");
        cache.check().unwrap();
    }
}

#[test]
fn object_runs_are_inserted_and_read_back_across_pages() {
    // A decompressed 10 000-byte cluster stored at device offset 0x9000.
    let cache = PageCache::new(1 << 20);
    let clusters = cache.register("vblk0:clusters").unwrap();
    let data = common::random_bytes(10_000, 17);
    assert_eq!(clusters.insert_run(0x9000, 0, &data).unwrap(), 3);
    let mut buf = vec![0u8; 12_000];
    let n = clusters.read_cached(0x9000, 100, &mut buf);
    assert_eq!(n, 9_900, "stops at the end of the partial last page");
    assert_eq!(buf[..n], data[100..]);
    let stats = clusters.stats();
    assert_eq!((stats.hits, stats.misses), (3, 0));
    // A missing middle page stops the copy there.
    clusters.remove(0x9000, 1);
    assert_eq!(clusters.read_cached(0x9000, 4000, &mut buf), 96);
    assert_eq!(buf[..96], data[4000..4096]);
    assert_eq!(clusters.read_cached(0x9001, 0, &mut buf), 0);
    // No budget: nothing cached, nothing read back.
    cache.set_budget(0);
    assert_eq!(clusters.insert_run(1, 0, &data).unwrap(), 0);
    assert_eq!(clusters.read_cached(1, 0, &mut buf), 0);
    cache.check().unwrap();
}
