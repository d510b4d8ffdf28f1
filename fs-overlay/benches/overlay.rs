//! The overlay's cost over its lower layer, measured in one run.
//!
//! One ROFS image (10,000 files `a/b/dNN/fNN` in 100 directories, and a
//! 64 MiB file) on a RamDisk is mounted twice: on its own, and as the lower
//! layer of an overlay with an empty ramfs upper. Both through a VFS.
//! 1. Warm `stat` of every lower-only path. Goal: overlay / ROFS time <= 1.3.
//! 2. Sequential read of the 64 MiB lower file in 1 MiB reads. Goal:
//!    overlay / ROFS bandwidth >= 0.95.
//!
//! Each figure is the best of several rounds after a warm-up round; the
//! rounds of the two sides alternate, so machine load hits both alike.
//! Run: `cargo bench -p fs-overlay --bench overlay`.

use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drivers::RamDisk;
use fs_overlay::OverlayFs;
use fs_ramfs::RamFs;
use fs_rofs::RofsFs;
use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, ImageBuilder};
use vfs::{FileSystem, FixedClock, Layer, Layers, MountFlags, OpenFlags, Timespec, Vfs};

const DIRS: usize = 100;
const FILES_PER_DIR: usize = 100;
const BIG_FILE: usize = 64 << 20;
const CHUNK: usize = 1 << 20;
/// Rounds per side: a stat round is short (about 2 ms), so it takes many
/// for the best to be one that other work on the machine left alone.
const STAT_ROUNDS: usize = 41;
const READ_ROUNDS: usize = 9;

fn paths() -> Vec<String> {
    (0..DIRS)
        .flat_map(|d| (0..FILES_PER_DIR).map(move |f| format!("/a/b/d{d:02}/f{f:02}")))
        .collect()
}

fn image(paths: &[String]) -> Vec<u8> {
    let mut b = ImageBuilder::new(BuildOptions::default());
    for path in paths {
        b.add_file(path, FileSource::Bytes(b"x".to_vec()), EntryMeta::default())
            .unwrap();
    }
    let big: Vec<u8> = (0..BIG_FILE).map(|i| (i * 31 % 251) as u8).collect();
    b.add_file("/big", FileSource::Bytes(big), EntryMeta::default())
        .unwrap();
    let mut out = Cursor::new(Vec::new());
    b.write(&mut out, &mut |_, _| {}).unwrap();
    out.into_inner()
}

fn mounted(fs: Arc<dyn FileSystem>) -> Vfs {
    let vfs = Vfs::new(Arc::new(FixedClock(Timespec::new(1, 0))));
    vfs.mount_fs(fs, "none", "/", MountFlags::empty(), "")
        .unwrap();
    vfs
}

fn layer(fs: Arc<dyn FileSystem>, read_only: bool) -> Layer {
    Layer {
        name: String::from("bench"),
        dir: fs.root().unwrap(),
        fs,
        read_only,
    }
}

/// Best times of `rounds` alternating runs each of `a` and `b`.
fn best_pair(rounds: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (Duration, Duration) {
    a();
    b();
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed()
    };
    let (mut best_a, mut best_b) = (Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        best_a = best_a.min(time(&mut a));
        best_b = best_b.min(time(&mut b));
    }
    (best_a, best_b)
}

fn report(name: &str, ratio: f64, goal: &str, met: bool) {
    println!(
        "ratio {name} = {ratio:.3} (goal {goal}): {}",
        if met { "MET" } else { "NOT MET" }
    );
}

fn read_all(vfs: &Vfs, buf: &mut [u8]) {
    let fd = vfs.open("/big", OpenFlags::O_RDONLY, 0).unwrap();
    let mut total = 0;
    loop {
        let n = vfs.read(fd, buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    vfs.close(fd).unwrap();
    assert_eq!(total, BIG_FILE);
}

fn main() {
    let paths = paths();
    let disk = Arc::new(RamDisk::from_bytes(512, image(&paths)));
    let rofs: Arc<dyn FileSystem> = RofsFs::mount(disk, "").unwrap();
    let direct = mounted(rofs.clone());
    let upper = RamFs::new(Arc::new(FixedClock(Timespec::new(1, 0))), None);
    let layers = Layers {
        lower: vec![layer(rofs, true)],
        upper: Some(layer(upper, false)),
    };
    let overlay = mounted(OverlayFs::new(layers, "").unwrap());

    let stat_all = |vfs: &Vfs| {
        for path in &paths {
            black_box(vfs.stat(path).unwrap());
        }
    };
    let (ovl, ro) = best_pair(STAT_ROUNDS, || stat_all(&overlay), || stat_all(&direct));
    let per = |d: Duration| d.as_nanos() as f64 / paths.len() as f64;
    println!(
        "warm stat of {} lower paths: overlay {:.0} ns, rofs {:.0} ns",
        paths.len(),
        per(ovl),
        per(ro)
    );
    let ratio = ovl.as_secs_f64() / ro.as_secs_f64();
    report("stat overlay/rofs", ratio, "<= 1.3", ratio <= 1.3);

    let mut buf = vec![0u8; CHUNK];
    let mut buf2 = vec![0u8; CHUNK];
    let (ovl, ro) = best_pair(
        READ_ROUNDS,
        || read_all(&overlay, &mut buf),
        || read_all(&direct, &mut buf2),
    );
    let rate = |d: Duration| BIG_FILE as f64 / d.as_secs_f64() / f64::from(1 << 20);
    println!(
        "RATE read 64 MiB lower file: overlay {:.0} MiB/s, rofs {:.0} MiB/s",
        rate(ovl),
        rate(ro)
    );
    let ratio = ro.as_secs_f64() / ovl.as_secs_f64();
    report(
        "read overlay/rofs bandwidth",
        ratio,
        ">= 0.95",
        ratio >= 0.95,
    );
}
