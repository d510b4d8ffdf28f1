//! The bench steps of `init::bench`, for Linux: `tests/guest-bench.sh
//! --vs-linux` builds this statically and runs it as the work of a
//! busybox initramfs, so Linux does the same reads of the same tree under
//! the same QEMU. Usage: `linux-bench FSTYPE DEVICE BIG_FILE_NAME`.
//!
//! It mounts DEVICE read-only on /mnt with busybox `mount` (timed,
//! including that process's start), prints `ROOT-MOUNTED`, then each step
//! cold (after `drop_caches`) and warm, as `RESULT name ms` lines with
//! `INFO name-requests N` (reads completed on the disk, from
//! `/sys/block/*/stat`), and `BENCH-DONE`.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const MNT: &str = "/mnt";
const BIG_READ: usize = 4 << 20;
const FILE_READ: usize = 1 << 20;
const SMALL_READ: usize = 4096;
/// As `init::bench`: the reads and the generator's seed.
const RANDOM_READS: u64 = 2048;
const RANDOM_SEED: u64 = 0x2545_f491_4f6c_dd1d;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [fs_type, device, big] = args.as_slice() else {
        eprintln!("usage: linux-bench FSTYPE DEVICE BIG_FILE_NAME");
        return ExitCode::FAILURE;
    };
    match run(fs_type, Path::new(device), big) {
        Ok(()) => {
            println!("BENCH-DONE");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("BENCH-FAILED {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(fs_type: &str, device: &Path, big: &str) -> Result<(), String> {
    // virtio_blk was just loaded: wait for its disk.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !device.exists() {
        if Instant::now() > deadline {
            return Err(format!("{} did not appear", device.display()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let start = Instant::now();
    let status = Command::new("/bin/busybox")
        .args(["mount", "-t", fs_type, "-o", "ro"])
        .arg(device)
        .arg(MNT)
        .status()
        .map_err(|e| format!("mount: {e}"))?;
    let mount = start.elapsed();
    if !status.success() {
        return Err(format!("mount -t {fs_type} failed: {status}"));
    }
    println!("ROOT-MOUNTED");
    result("mount", mount);
    let disk = device
        .file_name()
        .map(|n| PathBuf::from("/sys/block").join(n).join("stat"))
        .ok_or("no device name")?;
    let bench = Bench { disk };
    let big = Path::new(MNT).join(big);

    let mut files = Vec::new();
    bench.step("walk", || walk(Path::new(MNT), &mut files).map(|_| ()));
    files.retain(|f| *f != big);
    let mut buf = vec![0u8; BIG_READ];
    bench.step("big", || read_whole(&big, &mut buf).map(|_| ()));
    bench.step("readall", || read_all(&files, &mut buf[..FILE_READ]));
    bench.step("small", || read_all(&files, &mut buf[..SMALL_READ]));
    bench.step("random", || random(&big, &mut buf[..SMALL_READ]));
    Ok(())
}

struct Bench {
    disk: PathBuf,
}

impl Bench {
    /// Read requests completed on the disk so far.
    fn requests(&self) -> u64 {
        fs::read_to_string(&self.disk)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// `name-cold` after dropping the page cache, then `name-warm`.
    fn step(&self, name: &str, mut f: impl FnMut() -> std::io::Result<()>) {
        drop_caches();
        for temp in ["cold", "warm"] {
            let label = format!("{name}-{temp}");
            let before = self.requests();
            let start = Instant::now();
            match f() {
                Ok(()) => {
                    result(&label, start.elapsed());
                    println!("INFO {label}-requests {}", self.requests() - before);
                }
                Err(e) => println!("RESULT-ERROR {label}: {e}"),
            }
        }
    }
}

fn drop_caches() {
    if let Err(e) = fs::write("/proc/sys/vm/drop_caches", "3") {
        println!("WARN drop_caches: {e}");
    }
}

fn result(name: &str, elapsed: Duration) {
    let us = elapsed.as_micros();
    println!("RESULT {name} {}.{:03}", us / 1000, us % 1000);
}

/// lstat every entry below `dir` (not following symlinks); collects the
/// regular files.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<u64> {
    let mut pending = vec![dir.to_path_buf()];
    let mut entries = 0;
    let collect = files.is_empty();
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            let meta = fs::symlink_metadata(&path)?;
            entries += 1;
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file() && collect {
                files.push(path);
            }
        }
    }
    Ok(entries)
}

fn read_whole(path: &Path, buf: &mut [u8]) -> std::io::Result<u64> {
    let mut file = File::open(path)?;
    let mut total = 0;
    loop {
        match file.read(buf)? {
            0 => return Ok(total),
            n => total += n as u64,
        }
    }
}

fn read_all(files: &[PathBuf], buf: &mut [u8]) -> std::io::Result<()> {
    for path in files {
        read_whole(path, buf)?;
    }
    Ok(())
}

fn random(big: &Path, buf: &mut [u8]) -> std::io::Result<()> {
    let file = File::open(big)?;
    let pages = (file.metadata()?.len() / SMALL_READ as u64).max(1);
    let mut x = RANDOM_SEED;
    for _ in 0..RANDOM_READS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        file.read_at(buf, (x % pages) * SMALL_READ as u64)?;
    }
    Ok(())
}
