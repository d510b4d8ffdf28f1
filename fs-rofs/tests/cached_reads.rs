//! ROFS file data through the page cache, counted at the device: sequential
//! 4 KiB reads cost at most one request per read-ahead window, random reads
//! no more requests than reads, data the image stores once is cached once,
//! and every read equals the raw image with the cache on and off, under a
//! budget that is never exceeded.

mod common;

use std::sync::Arc;

use common::*;
use fs_rofs::RofsFs;
use fs_rofs::writer::{EntryMeta, FileSource, Format, ImageBuilder};
use pagecache::{MAX_WINDOW, MIN_WINDOW, PageCache};
use vfs::{FileHandle, Inode, OpenFlags};

const BIG: usize = 4 << 20;
const SMALL: usize = 10_000;

/// `/big` (4 MiB), `/a` and `/b` with identical contents (stored once),
/// `/link` a hard link to `/a`, and `/c` with other contents.
fn image() -> Vec<u8> {
    let mut b = ImageBuilder::new(options(Format::V2, 4096));
    let meta = EntryMeta::default;
    b.add_file("/big", FileSource::Bytes(pattern(BIG, 1)), meta())
        .unwrap();
    b.add_file("/a", FileSource::Bytes(pattern(SMALL, 2)), meta())
        .unwrap();
    b.add_file("/b", FileSource::Bytes(pattern(SMALL, 2)), meta())
        .unwrap();
    b.add_file("/c", FileSource::Bytes(pattern(SMALL, 3)), meta())
        .unwrap();
    b.add_hardlink("/link", "/a").unwrap();
    write_image(b).0
}

struct Fixture {
    disk: Arc<CountingDisk>,
    cache: Arc<PageCache>,
    fs: Arc<RofsFs>,
}

fn mounted(budget: usize) -> Fixture {
    let disk = CountingDisk::new(image());
    let cache = PageCache::new(budget);
    let dev = cache.attach("vblk0", disk.clone()).unwrap();
    let fs = RofsFs::mount_cached(dev, "").unwrap();
    disk.take_requests();
    Fixture { disk, cache, fs }
}

fn open(fs: &RofsFs, path: &str) -> (Arc<dyn Inode>, Box<dyn FileHandle>) {
    let inode = resolve(fs, path).unwrap();
    let handle = inode.open(OpenFlags::O_RDONLY).unwrap().expect("a handle");
    (inode, handle)
}

/// Requests a run of sequential `read`-sized reads over `size` bytes may
/// cost: each request covers a read and its window, which doubles from
/// MIN_WINDOW to MAX_WINDOW with every read of the run.
fn window_bound(size: usize, read: usize) -> u64 {
    let (mut covered, mut window, mut requests) = (0, MIN_WINDOW / 2, 0);
    while covered < size {
        window = (window * 2).min(MAX_WINDOW);
        covered += read + window;
        requests += 1;
    }
    requests
}

#[test]
fn sequential_small_reads_cost_one_request_per_window() {
    let f = mounted(16 << 20);
    let (inode, handle) = open(&f.fs, "/big");
    let expected = pattern(BIG, 1);
    let mut buf = vec![0u8; 4096];
    let mut reads = 0u64;
    for offset in (0..BIG).step_by(4096) {
        assert_eq!(
            handle.read_at(&*inode, offset as u64, &mut buf).unwrap(),
            4096
        );
        assert!(
            buf[..] == expected[offset..offset + 4096],
            "data at {offset}"
        );
        reads += 1;
    }
    let requests = f.disk.take_requests();
    assert!(requests >= 1, "the data came from the device");
    assert!(
        requests <= window_bound(BIG, 4096),
        "{requests} requests for {reads} sequential 4 KiB reads (bound {})",
        window_bound(BIG, 4096)
    );
    let stats = f.fs_stats();
    assert!(
        stats.readahead_pages > 0 && stats.readahead_used > 0,
        "{stats:?}"
    );
    // Warm: a second open file reads it all from the cache.
    let (inode, handle) = open(&f.fs, "/big");
    for offset in (0..BIG).step_by(4096) {
        handle.read_at(&*inode, offset as u64, &mut buf).unwrap();
    }
    assert_eq!(f.disk.take_requests(), 0, "warm pass: no request");
}

impl Fixture {
    fn fs_stats(&self) -> pagecache::Counters {
        self.cache.stats().unwrap().total
    }
}

#[test]
fn random_reads_never_read_ahead() {
    let f = mounted(16 << 20);
    let (inode, handle) = open(&f.fs, "/big");
    let expected = pattern(BIG, 1);
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut buf = vec![0u8; 4096];
    let reads = 200u64;
    for _ in 0..reads {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let offset = (x % (BIG as u64 / 4096)) * 4096;
        handle.read_at(&*inode, offset, &mut buf).unwrap();
        assert!(buf[..] == expected[offset as usize..offset as usize + 4096]);
    }
    let requests = f.disk.take_requests();
    assert!(
        requests <= reads,
        "{requests} requests for {reads} random reads"
    );
    // Each read fetched at most its own page: the resident bytes say so.
    let resident = f.cache.resident_bytes() as u64;
    assert!(resident <= reads * 4096, "{resident} bytes resident");
}

#[test]
fn data_stored_once_is_cached_once() {
    let f = mounted(16 << 20);
    let mut buf = vec![0u8; SMALL];
    let a = resolve(&*f.fs, "/a").unwrap();
    assert_eq!(a.read_at(0, &mut buf).unwrap(), SMALL);
    assert!(f.disk.take_requests() >= 1);
    let resident = f.cache.resident_bytes();
    assert_eq!(resident, SMALL.div_ceil(4096) * 4096);
    for path in ["/b", "/link"] {
        let inode = resolve(&*f.fs, path).unwrap();
        buf.fill(0);
        assert_eq!(inode.read_at(0, &mut buf).unwrap(), SMALL);
        assert!(buf == pattern(SMALL, 2), "{path}");
        assert_eq!(f.disk.take_requests(), 0, "{path}: served by /a's pages");
        assert_eq!(f.cache.resident_bytes(), resident, "{path}: no new page");
    }
    // Other contents are other pages.
    let c = resolve(&*f.fs, "/c").unwrap();
    c.read_at(0, &mut buf).unwrap();
    assert!(buf == pattern(SMALL, 3));
    assert!(f.disk.take_requests() >= 1);
    assert!(f.cache.resident_bytes() > resident);
}

#[test]
fn reads_equal_the_image_with_the_cache_on_and_off() {
    let files = [
        ("/big", pattern(BIG, 1)),
        ("/a", pattern(SMALL, 2)),
        ("/c", pattern(SMALL, 3)),
    ];
    // Off, tiny (constant eviction), and roomy.
    for budget in [0, 64 << 10, 16 << 20] {
        let f = mounted(budget);
        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ budget as u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let opened: Vec<_> = files.iter().map(|(p, _)| open(&f.fs, p)).collect();
        for round in 0..600 {
            let which = (next() % files.len() as u64) as usize;
            let (inode, handle) = &opened[which];
            let expected = &files[which].1;
            let offset = next() % (expected.len() as u64 + 100);
            // Mostly small, some over the bypass threshold.
            let len = match next() % 8 {
                0 => (next() % (3 << 20)) as usize,
                _ => (next() % 20_000) as usize,
            };
            let mut buf = vec![0xAAu8; len];
            let n = if round % 2 == 0 {
                handle.read_at(&**inode, offset, &mut buf).unwrap()
            } else {
                inode.read_at(offset, &mut buf).unwrap()
            };
            let start = (offset as usize).min(expected.len());
            let want = &expected[start..(start + len).min(expected.len())];
            assert_eq!(n, want.len(), "budget {budget}: read at {offset}+{len}");
            assert!(buf[..n] == *want, "budget {budget}: data at {offset}+{len}");
            assert!(
                f.cache.resident_bytes() <= budget,
                "budget {budget} exceeded: {}",
                f.cache.resident_bytes()
            );
            f.cache.check().unwrap();
        }
    }
}
