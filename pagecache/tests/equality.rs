//! Data through the cache equals the raw device, over thousands of random
//! offsets and lengths, for 512- and 4096-byte blocks, with the cache off
//! (budget 0), tiny, medium and larger than the device.

mod common;

use common::CountingDisk;
use drivers::{BlockDevice, read_bytes};
use pagecache::{CachedDevice, PageCache, ReadAhead};

fn length(rng: &mut fastrand::Rng) -> usize {
    match rng.u8(..10) {
        0..=2 => rng.usize(1..=100),
        3..=6 => rng.usize(1..=8192),
        7..=8 => rng.usize(8192..=256 * 1024),
        _ => rng.usize(256 * 1024..=1536 * 1024),
    }
}

fn run(block_size: usize, budget: usize, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    // Not a whole number of pages for 512-byte blocks: a partial last page.
    let size = if block_size == 512 {
        (4 << 20) - 1536
    } else {
        4 << 20
    };
    let (disk, bytes) = CountingDisk::random(block_size, size, seed);
    let cache = PageCache::new(budget);
    let dev = CachedDevice::new(&cache, "vblk0", disk.clone()).unwrap();
    let ctx = |op: usize| format!("seed {seed} bs {block_size} budget {budget} op {op}");
    // Four open "files" with their own read-ahead and position.
    let mut files: Vec<(ReadAhead, u64, u64)> = (0..4)
        .map(|_| {
            let start = rng.u64(..size as u64 / 2);
            (
                ReadAhead::starting_at(start),
                start,
                start + rng.u64(1..size as u64 / 2),
            )
        })
        .collect();
    let mut raw = vec![0u8; 1536 * 1024];
    for op in 0..2500 {
        match rng.u8(..8) {
            // Sequential piece of a file.
            0..=3 => {
                let (ra, pos, end) = &mut files[rng.usize(..4)];
                if *pos >= *end {
                    continue;
                }
                let len = length(&mut rng).min((*end - *pos) as usize);
                let mut buf = vec![0u8; len];
                dev.read(*pos, &mut buf, Some(ra), *end).unwrap();
                let at = *pos as usize;
                assert!(
                    buf == bytes[at..at + len],
                    "{}: file read at {at}+{len}",
                    ctx(op)
                );
                *pos += len as u64;
            }
            // Random read, with or without a handle.
            4..=5 => {
                let len = length(&mut rng).min(size);
                let at = rng.usize(..=size - len);
                let mut buf = vec![0u8; len];
                let ra = ReadAhead::new();
                let handle = if rng.bool() { Some(&ra) } else { None };
                dev.read(at as u64, &mut buf, handle, u64::MAX).unwrap();
                assert!(
                    buf == bytes[at..at + len],
                    "{}: read at {at}+{len}",
                    ctx(op)
                );
                // The same bytes from the raw device.
                read_bytes(&*disk, at as u64, &mut raw[..len]).unwrap();
                assert!(raw[..len] == buf, "{}: raw at {at}+{len}", ctx(op));
            }
            // Whole blocks through the BlockDevice interface.
            6 => {
                let blocks = rng.usize(1..=64);
                let start = rng.u64(..=dev.num_blocks() - blocks as u64);
                let mut buf = vec![0u8; blocks * block_size];
                dev.read_blocks(start, &mut buf).unwrap();
                let at = start as usize * block_size;
                assert!(
                    buf == bytes[at..at + buf.len()],
                    "{}: blocks at {start}",
                    ctx(op)
                );
            }
            // A metadata page.
            _ => {
                let index = rng.u64(..size.div_ceil(4096) as u64);
                let page = dev.page(index, None).unwrap();
                let at = index as usize * 4096;
                let end = (at + 4096).min(size);
                assert!(page[..] == bytes[at..end], "{}: page {index}", ctx(op));
            }
        }
        if let Err(e) = cache.check() {
            panic!("{}: {e}", ctx(op));
        }
    }
    let stats = dev.stats();
    if budget == 0 {
        assert_eq!(stats.hits, 0, "{}", ctx(0));
        assert_eq!(cache.resident_bytes(), 0);
    } else if budget >= size {
        // Everything fits: nothing evicted, no page read into the cache twice.
        assert_eq!(stats.evictions, 0, "{}: {stats:?}", ctx(0));
        assert!(
            stats.inserts <= size.div_ceil(4096) as u64,
            "{}: {stats:?}",
            ctx(0)
        );
        assert!(stats.hits > 0, "{}: {stats:?}", ctx(0));
    }
}

#[test]
fn reads_equal_the_raw_device_512_byte_blocks() {
    let seed = common::seed("equality 512");
    for budget in [0, 64 << 10, 1 << 20, 16 << 20] {
        run(512, budget, seed);
    }
}

#[test]
fn reads_equal_the_raw_device_4096_byte_blocks() {
    let seed = common::seed("equality 4096");
    for budget in [0, 64 << 10, 1 << 20, 16 << 20] {
        run(4096, budget, seed);
    }
}
