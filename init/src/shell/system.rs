//! Mounts and information: `df`, `mount`, `umount`, `uptime`, `cachestat`, and the
//! `debug-*` commands that exercise the kernel's failure paths.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use vfs::{Errno, MountFlags, Vfs};

use super::command::{CmdResult, Error, at, usage};
use super::{Out, Shell};
use crate::println;

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 10 * 1024 && unit + 1 < UNITS.len() {
        value /= 1024;
        unit += 1;
    }
    format!("{value}{}", UNITS[unit])
}

pub(super) fn df(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
    let mounts = vfs.mounts();
    // Columns widen for long names (`overlay`, a long device path).
    let sw = mounts.iter().map(|m| m.source.len()).fold(14, usize::max);
    let tw = mounts.iter().map(|m| m.fs_type.len()).fold(6, usize::max);
    let _ = writeln!(
        out,
        "{:<sw$} {:<tw$} {:>8} {:>8} {:>8} {:>5} Mounted on",
        "Filesystem", "Type", "Size", "Used", "Avail", "Use%"
    );
    for m in &mounts {
        if args.first().is_some_and(|path| *path != m.target) {
            continue;
        }
        match vfs.statfs(&m.target) {
            Ok(s) => {
                let bs = u64::from(s.block_size);
                let size = s.blocks.saturating_mul(bs);
                let used = s.blocks.saturating_sub(s.blocks_free).saturating_mul(bs);
                let avail = s.blocks_available.saturating_mul(bs);
                let pct = if size == 0 {
                    0
                } else {
                    used.saturating_mul(100).div_ceil(size)
                };
                let _ = writeln!(
                    out,
                    "{:<sw$} {:<tw$} {:>8} {:>8} {:>8} {:>4}% {}",
                    m.source,
                    m.fs_type,
                    human(size),
                    human(used),
                    human(avail),
                    pct,
                    m.target
                );
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "{:<sw$} {:<tw$} {:>8} {:>8} {:>8} {:>5} {} ({})",
                    m.source,
                    m.fs_type,
                    "-",
                    "-",
                    "-",
                    "-",
                    m.target,
                    e.name()
                );
            }
        }
    }
    Ok(())
}

pub(super) fn mount(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
    if args.is_empty() {
        for m in vfs.mounts() {
            let ro = if m.flags.contains(MountFlags::RDONLY) {
                "ro"
            } else {
                "rw"
            };
            let opts = if m.options.is_empty() {
                String::new()
            } else {
                format!(",{}", m.options)
            };
            let _ = writeln!(
                out,
                "{} on {} type {} ({ro}{opts})",
                m.source, m.target, m.fs_type
            );
        }
        return Ok(());
    }
    let mut fs_type = None;
    let mut options = String::new();
    let mut flags = MountFlags::empty();
    let mut operands = Vec::new();
    let mut iter = args.iter();
    while let Some(&a) = iter.next() {
        match a {
            "-t" => fs_type = iter.next().copied(),
            "-o" => {
                let opts = iter.next().copied().unwrap_or("");
                let mut rest = Vec::new();
                for o in opts.split(',').filter(|o| !o.is_empty()) {
                    match o {
                        "ro" => flags |= MountFlags::RDONLY,
                        "rw" => flags.remove(MountFlags::RDONLY),
                        "defaults" => {}
                        other => rest.push(other),
                    }
                }
                options = rest.join(",");
            }
            "-r" => flags |= MountFlags::RDONLY,
            _ => operands.push(a),
        }
    }
    let (Some(fs_type), &[source, target]) = (fs_type, &operands[..]) else {
        return Err(usage("mount -t TYPE [-o OPTS] [-r] SOURCE|none TARGET"));
    };
    let source = if source == "none" { None } else { Some(source) };
    vfs.mount(source, target, fs_type, flags, &options)
        .map_err(at(target))
}

pub(super) fn umount(vfs: &Vfs, args: &[&str]) -> CmdResult {
    let [target] = args else {
        return Err(usage("umount TARGET"));
    };
    vfs.umount(target).map_err(at(target))
}

pub(super) fn uptime(sh: &Shell, out: &mut Out) -> CmdResult {
    let ms = sh.platform.now_ns() / 1_000_000;
    let _ = writeln!(out, "up {}.{:03} s", ms / 1000, ms % 1000);
    Ok(())
}

/// `cachestat`: the page cache's figures (`CacheStats`'s table).
pub(super) fn cachestat(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
    if !args.is_empty() {
        return Err(usage("cachestat"));
    }
    let stats = vfs
        .cache()
        .stats()
        .map_err(|_| Error::Errno(String::new(), Errno::ENOMEM))?;
    let _ = write!(out, "{stats}");
    Ok(())
}

/// `debug-overflow`: recurse until the stack guard page stops it.
pub(super) fn debug_overflow(sh: &Shell) -> CmdResult {
    println!(sh.platform, "{}", recurse(0));
    Ok(())
}

/// `debug-fault`: read memory that is not mapped (a page fault).
pub(super) fn debug_fault(sh: &Shell) -> CmdResult {
    match sh.platform.read_unmapped() {
        Some(value) => println!(sh.platform, "read {value}"),
        None => println!(
            sh.platform,
            "debug-fault: no unmapped address on this platform"
        ),
    }
    Ok(())
}

/// Unbounded recursion for `debug-overflow`; `black_box` keeps every frame.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    frame[0] + recurse(core::hint::black_box(depth + 1))
}
