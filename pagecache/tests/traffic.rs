//! The budget bound and the invariants under random mixed traffic (reads,
//! writes, object pages, invalidation, shrink, budget changes, spaces coming
//! and going), checked after every operation, and under threads.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::CountingDisk;
use drivers::BlockDevice;
use pagecache::{CachedDevice, PAGE_SIZE, PageCache, ReadAhead};

#[test]
fn resident_bytes_never_exceed_the_budget() {
    let seed = common::seed("budget bound");
    let mut rng = fastrand::Rng::with_seed(seed);
    let size = 2 << 20;
    let (disk, mut bytes) = CountingDisk::random(512, size, seed);
    let mut budget = 256 << 10;
    let cache = PageCache::new(budget);
    let dev = CachedDevice::new(&cache, "vblk0", disk.clone()).unwrap();
    let objects = cache.register("clusters").unwrap();
    let mut model: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    let mut temp = None;
    let ra = ReadAhead::new();
    let mut pos = 0u64;
    for op in 0..6000 {
        let ctx = format!("seed {seed} op {op}");
        match rng.u8(..12) {
            0..=2 => {
                let len = rng.usize(1..=64 * 1024);
                let at = rng.usize(..size - len);
                let mut buf = vec![0u8; len];
                dev.read(at as u64, &mut buf, None, u64::MAX).unwrap();
                assert!(buf == bytes[at..at + len], "{ctx}: read at {at}+{len}");
            }
            3 => {
                let len = rng.usize(1..=16 * 1024).min(size - pos as usize);
                let mut buf = vec![0u8; len];
                dev.read(pos, &mut buf, Some(&ra), u64::MAX).unwrap();
                assert!(
                    buf == bytes[pos as usize..pos as usize + len],
                    "{ctx}: seq at {pos}"
                );
                pos = (pos + len as u64) % (size as u64 - 1);
            }
            4 => {
                let blocks = rng.usize(1..=24);
                let start = rng.u64(..=(size / 512 - blocks) as u64);
                let data = common::random_bytes(blocks * 512, rng.u64(..));
                dev.write_blocks(start, &data).unwrap();
                let at = start as usize * 512;
                bytes[at..at + data.len()].copy_from_slice(&data);
            }
            5 => {
                let key = (rng.u64(..8), rng.u64(..16));
                let data = common::random_bytes(rng.usize(1..=PAGE_SIZE), rng.u64(..));
                if objects.insert(key.0, key.1, &data).unwrap() {
                    model.insert(key, data);
                }
            }
            6 => {
                let key = (rng.u64(..8), rng.u64(..16));
                if let Some(page) = objects.lookup(key.0, key.1) {
                    let want = model.get(&key);
                    assert!(
                        want.is_some_and(|w| w[..] == page[..]),
                        "{ctx}: object page {key:?}"
                    );
                }
            }
            7 => {
                let object = rng.u64(..8);
                if rng.bool() {
                    objects.invalidate(object);
                    model.retain(|k, _| k.0 != object);
                } else {
                    let from = rng.u64(..16);
                    let to = rng.u64(from..=16);
                    objects.invalidate_range(object, from..to);
                    model.retain(|k, _| k.0 != object || !(from..to).contains(&k.1));
                }
            }
            8 => {
                budget = [
                    0,
                    PAGE_SIZE - 1,
                    PAGE_SIZE,
                    10 * PAGE_SIZE + 7,
                    64 << 10,
                    256 << 10,
                    4 << 20,
                ][rng.usize(..7)];
                cache.set_budget(budget);
            }
            9 => {
                cache.shrink(rng.usize(..64 * 1024));
            }
            10 => match temp.take() {
                Some(space) => drop(space),
                None => {
                    let space = cache.register("temp").unwrap();
                    for i in 0..rng.u64(..32) {
                        space.insert(9, i, &[1u8; 100]).unwrap();
                    }
                    temp = Some(space);
                }
            },
            _ => {
                let index = rng.u64(..(size / PAGE_SIZE) as u64);
                let page = dev.page(index, None).unwrap();
                let at = index as usize * PAGE_SIZE;
                assert!(page[..] == bytes[at..at + PAGE_SIZE], "{ctx}: page {index}");
            }
        }
        assert!(cache.resident_bytes() <= budget, "{ctx}: over budget");
        if let Err(e) = cache.check() {
            panic!("{ctx}: {e}");
        }
    }
    let mut all = vec![0u8; size];
    drivers::read_bytes(&*disk, 0, &mut all).unwrap();
    assert!(all == bytes, "seed {seed}: the device holds every write");
}

#[test]
fn threads_reading_shrinking_and_churning_keep_data_and_invariants() {
    let seed = common::seed("threads");
    let size = 4 << 20;
    let (disk, bytes) = CountingDisk::random(512, size, seed);
    let bytes = Arc::new(bytes);
    let cache = PageCache::new(512 << 10);
    let dev = Arc::new(CachedDevice::new(&cache, "vblk0", disk).unwrap());
    let mut threads = Vec::new();
    for t in 0..4u64 {
        let (dev, bytes) = (dev.clone(), bytes.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = fastrand::Rng::with_seed(seed ^ t);
            let ra = ReadAhead::new();
            let mut pos = 0usize;
            for _ in 0..3000 {
                let (at, len, handle) = if rng.bool() {
                    let len = rng.usize(1..=32 * 1024).min(size - pos);
                    (pos, len, Some(&ra))
                } else {
                    let len = rng.usize(1..=32 * 1024);
                    (rng.usize(..size - len), len, None)
                };
                let mut buf = vec![0u8; len];
                dev.read(at as u64, &mut buf, handle, u64::MAX).unwrap();
                assert!(
                    buf == bytes[at..at + len],
                    "seed {seed} thread {t}: at {at}+{len}"
                );
                if handle.is_some() {
                    pos = (at + len) % (size - 1);
                }
            }
        }));
    }
    {
        let cache = cache.clone();
        threads.push(std::thread::spawn(move || {
            let mut rng = fastrand::Rng::with_seed(seed);
            let space = cache.register("churn").unwrap();
            for i in 0..3000u64 {
                match rng.u8(..4) {
                    0 => {
                        cache.shrink(rng.usize(..128 * 1024));
                    }
                    1 => cache.set_budget([128 << 10, 512 << 10, 1 << 20][rng.usize(..3)]),
                    2 => {
                        space.insert(i % 7, i % 13, &[i as u8; 64]).unwrap();
                    }
                    _ => {
                        if let Some(page) = space.lookup(i % 7, i % 13) {
                            assert_eq!(page.len(), 64);
                        }
                        space.invalidate(i % 5);
                    }
                }
            }
        }));
    }
    for thread in threads {
        thread.join().unwrap();
    }
    cache.check().unwrap();
    assert!(cache.resident_bytes() <= cache.budget());
}
