//! In-guest benchmark, run by the `bench` command-line word.
//!
//! Prints one `RESULT <name> <milliseconds>` line per figure and `BENCH-DONE`
//! at the end; `tests/guest-bench.sh` parses them. Throughputs come as
//! `RATE <name>-mibps <MiB/s>` lines, so every `RESULT` value stays in
//! milliseconds for outside harnesses. `INFO` lines give the amounts measured
//! (entries, files, bytes). A step that fails
//! prints `RESULT-ERROR <name>: <errno>` instead, and the rest still runs.
//!
//! Order matters for "cold" figures: the tree walk runs first (its first pass
//! is the first look at the metadata after mount), then the big file (first
//! read of its data), then reading every other file (first read of their data,
//! metadata already warm). Each "warm" pass repeats its cold pass right away.
//!
//! | name | what |
//! |---|---|
//! | `boot` | kernel entry to init (the kernel measures it) |
//! | `mount` | mounting the root ROFS (the kernel measures it) |
//! | `walk-cold`, `walk-warm` | lstat of every entry of the root tree, recursively |
//! | `big-cold`, `big-warm` | sequential read of the big file, 4 MiB reads into one buffer |
//! | `readall-cold`, `readall-warm` | open, read to the end (1 MiB reads), close, for every other file |
//! | `ramfs-write`, `ramfs-read` | 64 MiB in 1 MiB writes, then reads, on /tmp |
//! | `verity-plain`, `verity-verified` | 8 MiB from memory, plain and through the verifying device: the per-block hash cost ([`verity`]) |
//! | `share-*` | virtio-fs, when a share is mounted or `bench.share=TAG` names one ([`share`]) |
//!
//! Booted with `rofs.roothash=`, every figure on the root is through the
//! verifying device; `tests/guest-bench.sh` boots both ways for the ratios.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use vfs::{Errno, FileType, OpenFlags, Vfs, Whence};

use crate::{Platform, println};

pub mod share;
pub mod verity;

/// What the benchmark runs against.
pub struct Env<'a> {
    /// Console for the figures, clock for the timings.
    pub platform: &'a dyn Platform,
    pub vfs: &'a Vfs,
    /// Nanoseconds from kernel entry to init.
    pub boot_ns: u64,
    /// Nanoseconds the root mount took.
    pub mount_ns: u64,
    /// Path of the big file for the sequential-read figures.
    pub big_file: &'a str,
    /// The whole command line (`bench.share=`).
    pub cmdline: &'a str,
}

const BIG_READ: usize = 4 << 20;
const FILE_READ: usize = 1 << 20;
const RAMFS_CHUNK: usize = 1 << 20;
const RAMFS_BYTES: usize = 64 << 20;
const RAMFS_PATH: &str = "/tmp/bench.bin";

pub fn run(env: &Env) {
    let (p, vfs) = (env.platform, env.vfs);
    print_ms(p, "boot", env.boot_ns);
    print_ms(p, "mount", env.mount_ns);

    let mut base = share::Baseline::default();
    let mut files = Vec::new();
    match timed(p, || walk(vfs, Some(&mut files))) {
        (ns, Ok(entries)) => {
            base.walk = Some((entries, ns));
            print_ms(p, "walk-cold", ns);
            println!(p, "INFO walk-entries {}", entries);
        }
        (_, Err(e)) => print_error(p, "walk-cold", e),
    }
    report(p, "walk-warm", timed(p, || walk(vfs, None)), false);

    let mut big_buf = Vec::new();
    if big_buf.try_reserve_exact(BIG_READ).is_ok() {
        big_buf.resize(BIG_READ, 0);
        for name in ["big-cold", "big-warm"] {
            let outcome = timed(p, || read_whole(vfs, env.big_file, &mut big_buf));
            if let (ns, Ok(bytes)) = &outcome
                && name == "big-cold"
            {
                base.big = Some((*bytes, *ns));
            }
            report(p, name, outcome, true);
        }
    } else {
        print_error(p, "big-cold", Errno::ENOMEM);
    }
    drop(big_buf);

    files.retain(|path| path != env.big_file);
    let mut buf = vec![0u8; FILE_READ];
    for name in ["readall-cold", "readall-warm"] {
        let outcome = timed(p, || {
            let mut total = 0u64;
            for path in &files {
                total += read_whole(vfs, path, &mut buf)?;
            }
            Ok(total)
        });
        if name == "readall-cold" && outcome.1.is_ok() {
            base.readall = Some((files.len() as u64, outcome.0));
        }
        report(p, name, outcome, true);
    }
    println!(p, "INFO readall-files {}", files.len());
    drop(buf);

    ramfs(p, vfs);
    share::run(env, &base);
    verity::run(p);
    println!(p, "BENCH-DONE");
}

fn ramfs(p: &dyn Platform, vfs: &Vfs) {
    let mut chunk = vec![0u8; RAMFS_CHUNK];
    // Non-zero content, so a backend cannot shortcut zero pages.
    for (i, byte) in chunk.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(31).wrapping_add(7);
    }
    let fd = match vfs.open(
        RAMFS_PATH,
        OpenFlags::O_RDWR | OpenFlags::O_CREAT | OpenFlags::O_TRUNC,
        0o644,
    ) {
        Ok(fd) => fd,
        Err(e) => return print_error(p, "ramfs-write", e),
    };
    let wrote = timed(p, || {
        let mut total = 0u64;
        while (total as usize) < RAMFS_BYTES {
            let n = vfs.write(fd, &chunk)?;
            if n == 0 {
                return Err(Errno::EIO);
            }
            total += n as u64;
        }
        Ok(total)
    });
    let write_ok = wrote.1.is_ok();
    report(p, "ramfs-write", wrote, true);
    if write_ok {
        let read = timed(p, || {
            vfs.lseek(fd, 0, Whence::Set)?;
            let mut total = 0u64;
            loop {
                let n = vfs.read(fd, &mut chunk)?;
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            Ok(total)
        });
        report(p, "ramfs-read", read, true);
    }
    let _ = vfs.close(fd);
    let _ = vfs.unlink(RAMFS_PATH);
}

/// lstat every entry under `/` on the root mount; returns the entry count and
/// collects regular-file paths into `files` when given.
fn walk(vfs: &Vfs, mut files: Option<&mut Vec<String>>) -> Result<u64, Errno> {
    let root_dev = vfs.stat("/")?.dev;
    let mut pending = vec![String::from("/")];
    let mut entries = 0u64;
    while let Some(dir) = pending.pop() {
        for entry in vfs.read_dir(&dir)? {
            let path = if dir == "/" {
                format!("/{}", entry.name)
            } else {
                format!("{}/{}", dir, entry.name)
            };
            let stat = vfs.lstat(&path)?;
            entries += 1;
            if stat.dev != root_dev {
                continue; // /dev, /tmp: other mounts
            }
            match stat.file_type() {
                Some(FileType::Directory) => pending.push(path),
                Some(FileType::Regular) => {
                    if let Some(files) = files.as_deref_mut() {
                        files.push(path);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(entries)
}

fn read_whole(vfs: &Vfs, path: &str, buf: &mut [u8]) -> Result<u64, Errno> {
    let fd = vfs.open(path, OpenFlags::O_RDONLY, 0)?;
    let mut total = 0u64;
    let result = loop {
        match vfs.read(fd, buf) {
            Ok(0) => break Ok(total),
            Ok(n) => total += n as u64,
            Err(e) => break Err(e),
        }
    };
    vfs.close(fd)?;
    result
}

fn timed<T>(p: &dyn Platform, f: impl FnOnce() -> Result<T, Errno>) -> (u64, Result<T, Errno>) {
    let start = p.now_ns();
    let result = f();
    (p.now_ns().saturating_sub(start), result)
}

/// Print the time, and with `rate` the byte count and MiB/s of the `u64`
/// the step returned.
fn report(p: &dyn Platform, name: &str, (ns, result): (u64, Result<u64, Errno>), rate: bool) {
    match result {
        Ok(bytes) => {
            print_ms(p, name, ns);
            if rate {
                println!(p, "INFO {}-bytes {}", name, bytes);
                print_mibps(p, name, bytes, ns);
            }
        }
        Err(e) => print_error(p, name, e),
    }
}

fn print_ms(p: &dyn Platform, name: &str, ns: u64) {
    println!(
        p,
        "RESULT {} {}.{:03}",
        name,
        ns / 1_000_000,
        (ns / 1_000) % 1_000
    );
}

fn print_mibps(p: &dyn Platform, name: &str, bytes: u64, ns: u64) {
    // Tenths of MiB/s in integer arithmetic: bytes * 10 * 1e9 / ns / 2^20.
    let tenths = (u128::from(bytes) * 10_000_000_000) / u128::from(ns.max(1)) / (1u128 << 20);
    println!(p, "RATE {}-mibps {}.{}", name, tenths / 10, tenths % 10);
}

fn print_error(p: &dyn Platform, name: &str, error: Errno) {
    println!(p, "RESULT-ERROR {}: {}", name, error.name());
}
