//! VFS-over-ramfs benchmark against Linux, with ratios measured in one run.
//!
//! 1. `stat` of 10,000 paths (`a/b/dNN/fNN`, 100 directories of 100 files)
//!    through the VFS on ramfs, against the `stat()` system call (through
//!    rustix, one syscall per path, no allocation) on the same tree on tmpfs
//!    (`/dev/shm`), walked with the same relative paths.
//!    Goal: VFS / Linux time <= 0.5.
//! 2. open + read + close of a 4 KiB file, both ways (reported, no goal).
//! 3. Sequential read of a 256 MiB ramfs file in 1 MiB reads, against a plain
//!    memcpy of 256 MiB. Goal: ramfs bandwidth / memcpy bandwidth >= 0.8.
//!
//! Each figure is the best of several rounds, after a warm-up round; the
//! rounds of the two sides of a ratio alternate, so load hits both alike.
//! Run: `cargo bench -p tests --bench vfs`.

use std::ffi::CString;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use tests::HostClock;
use vfs::{MountFlags, OpenFlags, Vfs};

const DIRS: usize = 100;
const FILES_PER_DIR: usize = 100;
const ROUNDS: usize = 7;
const SMALL_FILE: usize = 4096;
const SMALL_OPS: usize = 20_000;
const BIG_FILE: usize = 256 << 20;
const CHUNK: usize = 1 << 20;

/// Best times of `ROUNDS` runs each of `a` and `b`, after one warm-up run
/// each. The rounds alternate, so both sides see the same machine load.
fn best_pair(mut a: impl FnMut(), mut b: impl FnMut()) -> (Duration, Duration) {
    a();
    b();
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed()
    };
    let (mut best_a, mut best_b) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        best_a = best_a.min(time(&mut a));
        best_b = best_b.min(time(&mut b));
    }
    (best_a, best_b)
}

fn ns_per(d: Duration, ops: usize) -> f64 {
    d.as_nanos() as f64 / ops as f64
}

fn report_ratio(name: &str, ratio: f64, goal: &str, met: bool) {
    println!(
        "ratio {name} = {ratio:.3} (goal {goal}): {}",
        if met { "MET" } else { "NOT MET" }
    );
}

fn check<T>(ret: rustix::io::Result<T>, what: &str) -> T {
    ret.unwrap_or_else(|e| panic!("{what}: {}", std::io::Error::from(e)))
}

fn main() {
    let vfs = Vfs::new(Arc::new(HostClock));
    vfs.register(std::sync::Arc::new(fs_ramfs::RamFsType))
        .unwrap();
    vfs.mount(None, "/", "ramfs", MountFlags::empty(), "")
        .unwrap();

    let shm = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let on_tmpfs = shm.path().starts_with("/dev/shm");
    // Relative paths from here, so both sides walk the same components.
    std::env::set_current_dir(shm.path()).unwrap();

    // The tree, on both sides.
    let mut rel_paths = Vec::with_capacity(DIRS * FILES_PER_DIR);
    for dir in ["a", "a/b"] {
        vfs.mkdir(&format!("/{dir}"), 0o755).unwrap();
        std::fs::create_dir(dir).unwrap();
    }
    for d in 0..DIRS {
        let dir = format!("a/b/d{d:02}");
        vfs.mkdir(&format!("/{dir}"), 0o755).unwrap();
        std::fs::create_dir(&dir).unwrap();
        for f in 0..FILES_PER_DIR {
            let path = format!("{dir}/f{f:02}");
            vfs.write_file(&format!("/{path}"), b"x").unwrap();
            std::fs::write(&path, b"x").unwrap();
            rel_paths.push(path);
        }
    }
    let vfs_paths: Vec<String> = rel_paths.iter().map(|p| format!("/{p}")).collect();
    let c_paths: Vec<CString> = rel_paths
        .iter()
        .map(|p| CString::new(p.as_str()).unwrap())
        .collect();
    let n = rel_paths.len();

    println!(
        "VFS over ramfs vs Linux {} ({}), best of {ROUNDS} rounds",
        if on_tmpfs { "tmpfs" } else { "temp dir" },
        shm.path().display()
    );

    // 1. stat
    let (vfs_stat, linux_stat) = best_pair(
        || {
            for p in &vfs_paths {
                black_box(vfs.stat(black_box(p)).unwrap());
            }
        },
        || {
            for p in &c_paths {
                // A prebuilt `&CStr` goes straight to the syscall: no
                // per-call allocation on this side either.
                black_box(check(rustix::fs::stat(black_box(p.as_c_str())), "stat"));
            }
        },
    );
    let (v, l) = (ns_per(vfs_stat, n), ns_per(linux_stat, n));
    println!("stat of {n} paths (depth 4): vfs/ramfs {v:.1} ns/op, linux stat() {l:.1} ns/op");
    report_ratio("stat vfs/linux time", v / l, "<= 0.5", v / l <= 0.5);

    // 2. open + read + close of a 4 KiB file
    let content = vec![0x5au8; SMALL_FILE];
    vfs.write_file("/a/small", &content).unwrap();
    std::fs::write("a/small", &content).unwrap();
    let small_c = CString::new("a/small").unwrap();
    let mut vfs_buf = vec![0u8; SMALL_FILE];
    let mut buf = vec![0u8; SMALL_FILE];
    let (vfs_small, linux_small) = best_pair(
        || {
            for _ in 0..SMALL_OPS {
                let fd = vfs
                    .open(black_box("/a/small"), OpenFlags::O_RDONLY, 0)
                    .unwrap();
                assert_eq!(vfs.read(fd, &mut vfs_buf).unwrap(), SMALL_FILE);
                vfs.close(fd).unwrap();
            }
        },
        || {
            for _ in 0..SMALL_OPS {
                let fd = check(
                    rustix::fs::open(
                        black_box(small_c.as_c_str()),
                        OFlags::RDONLY | OFlags::CLOEXEC,
                        Mode::empty(),
                    ),
                    "open",
                );
                let got = check(rustix::io::read(&fd, &mut buf[..]), "read");
                assert_eq!(got, SMALL_FILE);
                // Dropping the descriptor is the close(2).
                drop(fd);
            }
        },
    );
    let (v, l) = (ns_per(vfs_small, SMALL_OPS), ns_per(linux_small, SMALL_OPS));
    println!("open+read+close 4 KiB: vfs/ramfs {v:.1} ns/op, linux {l:.1} ns/op");
    println!(
        "ratio open+read+close vfs/linux time = {:.3} (no goal; for reference)",
        v / l
    );

    // 3. Sequential 256 MiB read vs memcpy
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
    let fd = vfs
        .open("/big", OpenFlags::O_WRONLY | OpenFlags::O_CREAT, 0o644)
        .unwrap();
    for _ in 0..BIG_FILE / CHUNK {
        assert_eq!(vfs.write(fd, &chunk).unwrap(), CHUNK);
    }
    vfs.close(fd).unwrap();
    let mut out = vec![0u8; CHUNK];
    let src = vec![1u8; BIG_FILE];
    let mut dst = vec![0u8; BIG_FILE];
    let (ramfs_read, memcpy) = best_pair(
        || {
            let fd = vfs.open("/big", OpenFlags::O_RDONLY, 0).unwrap();
            let mut total = 0;
            loop {
                let got = vfs.read(fd, &mut out).unwrap();
                if got == 0 {
                    break;
                }
                total += got;
                black_box(&out);
            }
            vfs.close(fd).unwrap();
            assert_eq!(total, BIG_FILE);
        },
        || {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        },
    );
    assert_eq!(out, chunk, "the last chunk read back intact");
    let gbps = |d: Duration| BIG_FILE as f64 / d.as_secs_f64() / 1e9;
    println!(
        "sequential read 256 MiB in 1 MiB reads: ramfs {:.2} GB/s ({:.1} ms), memcpy {:.2} GB/s ({:.1} ms)",
        gbps(ramfs_read),
        ramfs_read.as_secs_f64() * 1e3,
        gbps(memcpy),
        memcpy.as_secs_f64() * 1e3
    );
    let ratio = gbps(ramfs_read) / gbps(memcpy);
    report_ratio(
        "seqread ramfs/memcpy bandwidth",
        ratio,
        ">= 0.8",
        ratio >= 0.8,
    );

    std::env::set_current_dir("/").unwrap();
}
