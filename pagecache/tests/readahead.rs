//! Read-ahead through a CachedDevice: window growth and collapse, one device
//! request per window, no amplification for random reads, the large-read
//! bypass and the caller's limit.

mod common;

use common::{CountingDisk, Request};
use pagecache::{CachedDevice, MAX_WINDOW, MIN_WINDOW, PAGE_SIZE, PageCache, ReadAhead};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

#[test]
fn sequential_4k_reads_issue_one_request_per_window() {
    let size = 8 * MIB;
    let (disk, bytes) = CountingDisk::random(512, size, 1);
    let cache = PageCache::new(32 * MIB);
    let dev = CachedDevice::new(&cache, "vblk0", disk.clone()).unwrap();
    let ra = ReadAhead::new();
    let mut buf = vec![0u8; 4 * KIB];
    let mut reads = 0;
    for at in (0..size).step_by(4 * KIB) {
        dev.read(at as u64, &mut buf, Some(&ra), size as u64)
            .unwrap();
        assert_eq!(buf, bytes[at..at + 4 * KIB], "data at {at}");
        reads += 1;
    }
    let log = disk.take_reads();
    // First read: 4 KiB + a 16 KiB window. Reads 2..5 hit while the window
    // doubles per read; read 6 needs the device with a 512 KiB window; from
    // then on every request is 4 KiB + the full 1 MiB window.
    assert_eq!(
        log[0],
        Request {
            offset: 0,
            len: 20 * KIB
        }
    );
    assert_eq!(
        log[1],
        Request {
            offset: 20 * 1024,
            len: 516 * KIB
        }
    );
    assert_eq!(log[2].len, 4 * KIB + MAX_WINDOW);
    let mut end = 0;
    for r in &log {
        assert_eq!(r.offset, end, "requests are contiguous: {log:?}");
        assert!(r.len <= 4 * KIB + MAX_WINDOW);
        end += r.len as u64;
    }
    assert_eq!(end, size as u64, "every byte read exactly once");
    assert!(log.len() <= 2 + size / MAX_WINDOW, "{} requests", log.len());
    assert!(log.len() * 100 < reads, "far fewer requests than reads");
    let stats = dev.stats();
    assert_eq!(stats.device_reads, log.len() as u64);
    assert_eq!(stats.readahead_pages, (size / PAGE_SIZE - log.len()) as u64);
    assert_eq!(stats.readahead_used, stats.readahead_pages);
    assert_eq!(stats.readahead_wasted, 0);
    cache.check().unwrap();
}

#[test]
fn window_grows_to_the_cap_and_collapses_on_random_access() {
    let (disk, _) = CountingDisk::random(4096, 16 * MIB, 2);
    let cache = PageCache::new(64 * MIB);
    let dev = CachedDevice::new(&cache, "vblk0", disk.clone()).unwrap();
    let ra = ReadAhead::starting_at(MIB as u64);
    let mut buf = vec![0u8; 4 * KIB];
    let mut windows = Vec::new();
    let mut at = MIB as u64;
    for _ in 0..8 {
        dev.read(at, &mut buf, Some(&ra), u64::MAX).unwrap();
        windows.push(ra.window() / KIB);
        at += 4096;
    }
    assert_eq!(windows, [16, 32, 64, 128, 256, 512, 1024, 1024]);
    // A jump collapses the window: only the page asked for is read.
    disk.take_reads();
    dev.read(10 * MIB as u64, &mut buf, Some(&ra), u64::MAX)
        .unwrap();
    assert_eq!(ra.window(), 0);
    assert_eq!(
        disk.take_reads(),
        [Request {
            offset: 10 * MIB as u64,
            len: 4 * KIB
        }]
    );
    // Continuing from there restarts at the smallest window.
    dev.read(10 * MIB as u64 + 4096, &mut buf, Some(&ra), u64::MAX)
        .unwrap();
    assert_eq!(ra.window(), MIN_WINDOW);
    assert_eq!(
        disk.take_reads(),
        [Request {
            offset: 10 * MIB as u64 + 4096,
            len: 4 * KIB + MIN_WINDOW
        }]
    );
}

#[test]
fn random_4k_reads_issue_no_more_requests_than_reads() {
    let seed = common::seed("random_4k_reads");
    let mut rng = fastrand::Rng::with_seed(seed);
    let size = 16 * MIB;
    let (disk, bytes) = CountingDisk::random(512, size, seed);
    let cache = PageCache::new(MIB);
    let dev = CachedDevice::new(&cache, "vblk0", disk.clone()).unwrap();
    let ra = ReadAhead::new();
    let mut buf = vec![0u8; 4 * KIB];
    let reads = 3000;
    for _ in 0..reads {
        let at = rng.usize(..size - 4 * KIB);
        dev.read(at as u64, &mut buf, Some(&ra), size as u64)
            .unwrap();
        assert_eq!(buf, bytes[at..at + 4 * KIB], "seed {seed}: data at {at}");
    }
    let log = disk.take_reads();
    assert!(
        log.len() <= reads,
        "seed {seed}: {} requests for {reads} reads",
        log.len()
    );
    // No read-ahead: each request is at most the two pages a read touches.
    for r in &log {
        assert!(
            r.len <= 2 * PAGE_SIZE,
            "seed {seed}: amplified request {r:?}"
        );
    }
    assert_eq!(dev.stats().readahead_pages, 0, "seed {seed}");
    cache.check().unwrap();
}

#[test]
fn reads_over_the_threshold_bypass_the_cache_in_one_request() {
    let (disk, bytes) = CountingDisk::random(512, 8 * MIB, 3);
    let cache = PageCache::new(16 * MIB);
    let dev = CachedDevice::new(&cache, "vblk0", disk.clone()).unwrap();
    // Cache a page in the middle first: the bypass may ignore it.
    let mut small = vec![0u8; 100];
    dev.read(MIB as u64 + 10, &mut small, None, u64::MAX)
        .unwrap();
    disk.take_reads();
    let resident = cache.resident_bytes();
    for ra in [None, Some(ReadAhead::starting_at(512))] {
        let mut big = vec![0u8; 2 * MIB];
        dev.read(512, &mut big, ra.as_ref(), u64::MAX).unwrap();
        assert_eq!(big, bytes[512..512 + 2 * MIB]);
        assert_eq!(
            disk.take_reads(),
            [Request {
                offset: 512,
                len: 2 * MIB
            }]
        );
        assert_eq!(cache.resident_bytes(), resident, "bypass caches nothing");
    }
    assert_eq!(dev.stats().bypass_reads, 2);
    // A read of exactly the threshold is still cached.
    let mut edge = vec![0u8; MAX_WINDOW];
    dev.read(4 * MIB as u64, &mut edge, None, u64::MAX).unwrap();
    assert_eq!(cache.resident_bytes(), resident + MAX_WINDOW);
}

#[test]
fn read_ahead_stops_at_the_limit() {
    let (disk, bytes) = CountingDisk::random(512, MIB, 4);
    let cache = PageCache::new(4 * MIB);
    let dev = CachedDevice::new(&cache, "vblk0", disk.clone()).unwrap();
    // A 10 000-byte file at byte 8192.
    let (start, len) = (8192u64, 10_000usize);
    let ra = ReadAhead::starting_at(start);
    let mut buf = vec![0u8; 1000];
    let mut at = start;
    while at < start + len as u64 {
        let n = buf.len().min((start + len as u64 - at) as usize);
        dev.read(at, &mut buf[..n], Some(&ra), start + len as u64)
            .unwrap();
        assert_eq!(buf[..n], bytes[at as usize..at as usize + n]);
        at += n as u64;
    }
    // One request, up to the page holding the file's last byte.
    assert_eq!(
        disk.take_reads(),
        [Request {
            offset: 8192,
            len: 12 * KIB
        }]
    );
}

#[test]
fn read_ahead_is_clipped_to_a_quarter_of_the_budget() {
    let (disk, _) = CountingDisk::random(512, 4 * MIB, 5);
    let cache = PageCache::new(64 * KIB);
    let dev = CachedDevice::new(&cache, "vblk0", disk.clone()).unwrap();
    let ra = ReadAhead::new();
    let mut buf = vec![0u8; 4096];
    for at in (0..2 * MIB as u64).step_by(4096) {
        dev.read(at, &mut buf, Some(&ra), u64::MAX).unwrap();
        assert!(cache.resident_bytes() <= 64 * KIB);
    }
    for r in disk.take_reads() {
        assert!(r.len <= 4 * KIB + 16 * KIB, "{r:?}");
    }
    assert_eq!(dev.stats().readahead_wasted, 0);
}
