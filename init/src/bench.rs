//! In-guest benchmark, run by the `bench` command-line word.
//!
//! Prints one `RESULT <name> <milliseconds>` line per figure and `BENCH-DONE`
//! at the end; `tests/guest-bench.sh` parses them. Throughputs come as
//! `RATE <name>-mibps <MiB/s>` lines, so every `RESULT` value stays in
//! milliseconds for outside harnesses. `INFO` lines give the amounts measured
//! (entries, files, bytes). A step that fails
//! prints `RESULT-ERROR <name>: <errno>` instead, and the rest still runs.
//!
//! Every cold step starts with the page cache dropped (the ROFS tables stay
//! resident, as they are loaded at mount); each "warm" pass repeats its
//! cold pass right away. After each step an `INFO <name>-requests N` line
//! gives the virtio requests it sent and a `CACHE <name> ...` line the
//! page cache's counters for it (hits, misses, read-ahead pages used and
//! wasted, evictions, device reads, bypassed reads, resident KiB).
//!
//! | name | what |
//! |---|---|
//! | `boot` | kernel entry to init (the kernel measures it) |
//! | `mount` | mounting the root ROFS (the kernel measures it) |
//! | `walk-cold`, `walk-warm` | lstat of every entry of the root tree, recursively |
//! | `big-cold`, `big-warm` | sequential read of the big file, 4 MiB reads into one buffer |
//! | `readall-cold`, `readall-warm` | open, read to the end (1 MiB reads), close, for every other file |
//! | `small-cold`, `small-warm` | every other file again, in 4 KiB `read` calls |
//! | `random-cold`, `random-warm` | 2048 4 KiB `pread`s at pseudo-random page offsets of the big file (the same offsets both passes) |
//! | `lru-scan`, `lru-hot-reread` | after reading the 64 smallest files twice: one pass over the big file in 64 KiB reads, then those files again (no request if the scan did not evict them) |
//! | `memcpy` | `bench.ramfs=` bytes (default 64 MiB) copied into a buffer as large, 1 MiB at a time: the baseline for `ramfs-read` |
//! | `ramfs-write`, `ramfs-read` | as many bytes in 1 MiB writes on /tmp, then read back into a buffer as large (so neither stays in the CPU cache) |
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

mod cache_steps;
pub mod share;
pub mod verity;

use cache_steps::{counters, drop_cache, mark};

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
    /// Bytes of the ramfs and memcpy figures (`bench.ramfs=`).
    pub ramfs_bytes: usize,
    /// Only the memcpy and ramfs figures (`bench.only=ramfs`).
    pub ramfs_only: bool,
}

const BIG_READ: usize = 4 << 20;
const FILE_READ: usize = 1 << 20;
const RAMFS_CHUNK: usize = 1 << 20;
const RAMFS_PATH: &str = "/tmp/bench.bin";

pub fn run(env: &Env) {
    let (p, vfs) = (env.platform, env.vfs);
    if !env.ramfs_only {
        rofs_steps(env);
    }
    memcpy(p, env.ramfs_bytes);
    ramfs(p, vfs, env.ramfs_bytes);
    verity::run(p);
    println!(p, "BENCH-DONE");
}

/// Every figure of the root filesystem, in order.
fn rofs_steps(env: &Env) {
    let (p, vfs) = (env.platform, env.vfs);
    print_ms(p, "boot", env.boot_ns);
    print_ms(p, "mount", env.mount_ns);

    let mut base = share::Baseline::default();
    let mut files = Vec::new();
    drop_cache(vfs);
    let before = mark(p, vfs);
    match timed(p, || walk(vfs, Some(&mut files))) {
        (ns, Ok(entries)) => {
            base.walk = Some((entries, ns));
            print_ms(p, "walk-cold", ns);
            println!(p, "INFO walk-entries {}", entries);
        }
        (_, Err(e)) => print_error(p, "walk-cold", e),
    }
    counters(p, vfs, "walk-cold", &before);
    let before = mark(p, vfs);
    report(p, "walk-warm", timed(p, || walk(vfs, None)), false);
    counters(p, vfs, "walk-warm", &before);

    let mut big_buf = Vec::new();
    if big_buf.try_reserve_exact(BIG_READ).is_ok() {
        big_buf.resize(BIG_READ, 0);
        drop_cache(vfs);
        for name in ["big-cold", "big-warm"] {
            let before = mark(p, vfs);
            let outcome = timed(p, || read_whole(vfs, env.big_file, &mut big_buf));
            if let (ns, Ok(bytes)) = &outcome
                && name == "big-cold"
            {
                base.big = Some((*bytes, *ns));
            }
            report(p, name, outcome, true);
            counters(p, vfs, name, &before);
        }
    } else {
        print_error(p, "big-cold", Errno::ENOMEM);
    }
    drop(big_buf);

    files.retain(|path| path != env.big_file);
    let mut buf = vec![0u8; FILE_READ];
    drop_cache(vfs);
    for name in ["readall-cold", "readall-warm"] {
        let before = mark(p, vfs);
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
        counters(p, vfs, name, &before);
    }
    println!(p, "INFO readall-files {}", files.len());
    drop(buf);

    cache_steps::small_reads(p, vfs, &files);
    cache_steps::random_reads(p, vfs, env.big_file);
    cache_steps::lru_check(p, vfs, &files, env.big_file);
    share::run(env, &base);
}

/// A zeroed buffer of `bytes`, or None when it does not fit.
fn big_buffer(bytes: usize) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    buf.try_reserve_exact(bytes).ok()?;
    buf.resize(bytes, 0);
    Some(buf)
}

/// The baseline for `ramfs-read`: `bytes` copied 1 MiB at a time from one
/// buffer into another as large.
fn memcpy(p: &dyn Platform, bytes: usize) {
    // Two buffers allocated back to back sit a multiple of a large power of
    // two apart, so under QEMU's TCG every source and destination page
    // share one slot of its direct-mapped software TLB and each access
    // misses; real hardware does not care. Skewing the destination by a
    // few pages measures the copy, not that artefact.
    const SKEW: usize = 17 * 4096;
    let (Some(mut src), Some(mut dst)) = (big_buffer(bytes), big_buffer(bytes + SKEW)) else {
        return print_error(p, "memcpy", Errno::ENOMEM);
    };
    for (i, byte) in src.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(13);
    }
    let dst = &mut dst[SKEW..];
    let outcome = timed(p, || {
        for (d, s) in dst.chunks_mut(RAMFS_CHUNK).zip(src.chunks(RAMFS_CHUNK)) {
            d.copy_from_slice(s);
        }
        Ok(bytes as u64)
    });
    report(p, "memcpy", outcome, true);
    // Keep the copy from being optimised away.
    println!(
        p,
        "INFO memcpy-check {}",
        dst.get(bytes / 2).copied().unwrap_or(0)
    );
}

fn ramfs(p: &dyn Platform, vfs: &Vfs, bytes: usize) {
    let mut chunk = vec![0u8; RAMFS_CHUNK];
    // Non-zero content, so a backend cannot shortcut zero pages.
    for (i, byte) in chunk.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(31).wrapping_add(7);
    }
    let Some(mut dst) = big_buffer(bytes) else {
        return print_error(p, "ramfs-write", Errno::ENOMEM);
    };
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
        while (total as usize) < bytes {
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
            for piece in dst.chunks_mut(RAMFS_CHUNK) {
                let n = vfs.read(fd, piece)?;
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

pub(crate) fn read_whole(vfs: &Vfs, path: &str, buf: &mut [u8]) -> Result<u64, Errno> {
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

pub(crate) fn timed<T>(
    p: &dyn Platform,
    f: impl FnOnce() -> Result<T, Errno>,
) -> (u64, Result<T, Errno>) {
    let start = p.now_ns();
    let result = f();
    (p.now_ns().saturating_sub(start), result)
}

/// Print the time, and with `rate` the byte count and MiB/s of the `u64`
/// the step returned.
pub(crate) fn report(
    p: &dyn Platform,
    name: &str,
    (ns, result): (u64, Result<u64, Errno>),
    rate: bool,
) {
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

pub(crate) fn print_error(p: &dyn Platform, name: &str, error: Errno) {
    println!(p, "RESULT-ERROR {}: {}", name, error.name());
}
