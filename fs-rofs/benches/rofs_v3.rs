//! Host benchmark of format v3: mount time and lookup cost at 10,000 and
//! 1,000,000 entries, with v2's mount of the small image as the baseline
//! measured in the same run.
//!
//! Run: `cargo bench -p fs-rofs --features std --bench rofs_v3`

use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drivers::{BlockDevice, RamDisk};
use fs_rofs::RofsFs;
use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, Format, ImageBuilder};
use pagecache::PageCache;
use vfs::FileSystem;

const SMALL: usize = 10_000;
const LARGE: usize = 1_000_000;
const LOOKUPS: usize = 20_000;

fn name(i: usize) -> String {
    format!("file-{i:07}.txt")
}

fn image(format: Format, entries: usize) -> Vec<u8> {
    let mut b = ImageBuilder::new(BuildOptions {
        format,
        block_size: 4096,
        default_mtime: 0,
    });
    for i in 0..entries {
        let data = FileSource::Bytes(Vec::new());
        b.add_file(&format!("/dir/{}", name(i)), data, EntryMeta::default())
            .unwrap();
    }
    let mut out = Cursor::new(Vec::new());
    b.write(&mut out, &mut |_, _| {}).unwrap();
    out.into_inner()
}

fn best(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn disk(bytes: Vec<u8>) -> Arc<dyn BlockDevice> {
    Arc::new(RamDisk::from_bytes(512, bytes))
}

/// Mean time of one lookup of a pseudo-random name of `entries`, warm
/// cache (a budget that holds all metadata, as in a steady state).
fn lookup_ns(dev: &Arc<dyn BlockDevice>, entries: usize) -> f64 {
    let cache = PageCache::new(512 << 20);
    let fs = RofsFs::mount_cached(cache.attach("bench", dev.clone()).unwrap(), "").unwrap();
    let dir = fs.root().unwrap().lookup("dir").unwrap();
    let names: Vec<String> = (0..LOOKUPS)
        .map(|i| name(i.wrapping_mul(7919) % entries))
        .collect();
    // Warm: every block the lookups touch is cached.
    for n in &names {
        dir.lookup(n).unwrap();
    }
    let took = best(5, || {
        for n in &names {
            black_box(dir.lookup(n).unwrap());
        }
    });
    took.as_nanos() as f64 / LOOKUPS as f64
}

fn main() {
    let v2_small = disk(image(Format::V2, SMALL));
    let v3_small = disk(image(Format::V3, SMALL));
    let started = Instant::now();
    let v3_large = disk(image(Format::V3, LARGE));
    println!(
        "built the {LARGE}-entry v3 image in {:?}",
        started.elapsed()
    );

    let mount = |dev: &Arc<dyn BlockDevice>| {
        best(20, || {
            drop(black_box(RofsFs::mount(dev.clone(), "").unwrap()))
        })
    };
    let (m2, m3s, m3l) = (mount(&v2_small), mount(&v3_small), mount(&v3_large));
    println!(
        "mount: v2 {SMALL} entries (baseline) {m2:?}; v3 {SMALL} entries {m3s:?} (x{:.2} of baseline); v3 {LARGE} entries {m3l:?} (x{:.2} of baseline, x{:.2} of v3 at {SMALL})",
        m3s.as_secs_f64() / m2.as_secs_f64(),
        m3l.as_secs_f64() / m2.as_secs_f64(),
        m3l.as_secs_f64() / m3s.as_secs_f64(),
    );
    let (small, large) = (lookup_ns(&v3_small, SMALL), lookup_ns(&v3_large, LARGE));
    let v2 = lookup_ns(&v2_small, SMALL);
    let v2_large = lookup_ns(&disk(image(Format::V2, LARGE)), LARGE);
    println!(
        "lookup (warm): v2 {SMALL} entries (baseline) {v2:.0} ns, v2 {LARGE} entries {v2_large:.0} ns (x{:.2}); v3 {SMALL} entries {small:.0} ns; v3 {LARGE} entries {large:.0} ns; v3 at {LARGE} / at {SMALL}: x{:.2} (goal <= 2)",
        v2_large / v2,
        large / small
    );
}
