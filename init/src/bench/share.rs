//! virtio-fs figures, beside the ROFS ones of the same run: when a
//! writable share is mounted (the first `virtiofs` mount), or with
//! `bench.share=TAG`, which mounts that device at [`MOUNT_POINT`] for the
//! bench.
//!
//! | name | what |
//! |---|---|
//! | `share-write`, `share-read`, `share-read-warm` | 64 MiB in 1 MiB writes to a new file on the share, then 1 MiB reads of it, twice (the second from the page cache if the daemon allows caching and it fits) |
//! | `share-create` | 1,000 files of 4 KiB made in a new directory (open, write, close each) |
//! | `share-walk` | that directory listed and every entry `lstat`ed |
//! | `share-readall` | each of the 1,000 files opened, read whole and closed |
//!
//! `RATIO` lines compare in the same boot: `share-read` MiB/s over
//! `big-cold`'s (the ROFS big file over virtio-blk), and the per-entry
//! cost of `share-walk` over `walk-cold`'s and of `share-readall` over
//! `readall-cold`'s per file (ROFS). The bench removes what it made.

use alloc::format;
use alloc::string::String;
use alloc::vec;

use vfs::{Errno, MountFlags, OpenFlags, Vfs};

use super::{Env, print_error, print_ms, report, timed};
use crate::{Platform, println};

/// Where `bench.share=TAG` mounts its share.
pub const MOUNT_POINT: &str = "/tmp/bench-share";
const BYTES: usize = 64 << 20;
const CHUNK: usize = 1 << 20;
const FILES: usize = 1000;
const FILE_BYTES: usize = 4096;

/// What the ROFS part of the run measured, for the ratios.
#[derive(Clone, Copy, Default)]
pub struct Baseline {
    /// `big-cold`: (bytes, ns).
    pub big: Option<(u64, u64)>,
    /// `walk-cold`: (entries, ns).
    pub walk: Option<(u64, u64)>,
    /// `readall-cold`: (files, ns).
    pub readall: Option<(u64, u64)>,
}

/// The share's mount point: a mounted one, or the `bench.share=` tag
/// mounted now.
fn share(env: &Env) -> Result<Option<String>, Errno> {
    let vfs = env.vfs;
    if let Some(m) = vfs.mounts().into_iter().find(|m| {
        m.fs_type == "virtiofs"
            && !m.target.starts_with('@')
            && !m.flags.contains(MountFlags::RDONLY)
    }) {
        return Ok(Some(m.target));
    }
    let Some(tag) = env
        .cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("bench.share="))
    else {
        return Ok(None);
    };
    vfs.mkdir(MOUNT_POINT, 0o755)?;
    vfs.mount(Some(tag), MOUNT_POINT, "virtiofs", MountFlags::empty(), "")?;
    Ok(Some(String::from(MOUNT_POINT)))
}

pub fn run(env: &Env, base: &Baseline) {
    let (p, vfs) = (env.platform, env.vfs);
    let root = match share(env) {
        Ok(Some(root)) => root,
        Ok(None) => return,
        Err(e) => return print_error(p, "share-mount", e),
    };
    println!(p, "INFO share-at {}", root);
    let stats_before = p.share_stats();
    let path = format!("{root}/bench.bin");
    let (wrote, read) = stream(p, vfs, &path);
    if let (Some(read), Some((bytes, ns))) = (read, base.big) {
        ratio(
            p,
            "share-read/big-cold",
            mibps(read.0, read.1),
            mibps(bytes, ns),
        );
    }
    if let Some(wrote) = wrote
        && let Some((bytes, ns)) = base.big
    {
        ratio(
            p,
            "share-write/big-cold",
            mibps(wrote.0, wrote.1),
            mibps(bytes, ns),
        );
    }
    let _ = vfs.unlink(&path);
    metadata(p, vfs, &root, base);
    let stats = p.share_stats();
    println!(
        p,
        "INFO share-requests {}",
        stats.requests - stats_before.requests
    );
    if root == MOUNT_POINT {
        let _ = vfs.umount(MOUNT_POINT);
        let _ = vfs.rmdir(MOUNT_POINT);
    }
}

/// Bytes moved and the nanoseconds it took.
type Figure = Option<(u64, u64)>;

/// `share-write` then `share-read` of `path`: the figure of each that ran.
fn stream(p: &dyn Platform, vfs: &Vfs, path: &str) -> (Figure, Figure) {
    let mut chunk = vec![0u8; CHUNK];
    for (i, byte) in chunk.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(13).wrapping_add(5);
    }
    let flags = OpenFlags::O_RDWR | OpenFlags::O_CREAT | OpenFlags::O_TRUNC;
    let fd = match vfs.open(path, flags, 0o644) {
        Ok(fd) => fd,
        Err(e) => {
            print_error(p, "share-write", e);
            return (None, None);
        }
    };
    let wrote = timed(p, || {
        let mut total = 0u64;
        while (total as usize) < BYTES {
            match vfs.write(fd, &chunk)? {
                0 => return Err(Errno::EIO),
                n => total += n as u64,
            }
        }
        vfs.fsync(fd)?;
        Ok(total)
    });
    let _ = vfs.close(fd);
    let wrote_figure = wrote.1.as_ref().ok().map(|&b| (b, wrote.0));
    report(p, "share-write", wrote, true);
    if wrote_figure.is_none() {
        return (None, None);
    }
    let mut read_pass = || {
        timed(p, || {
            let fd = vfs.open(path, OpenFlags::O_RDONLY, 0)?;
            let mut total = 0u64;
            let result = loop {
                match vfs.read(fd, &mut chunk) {
                    Ok(0) => break Ok(total),
                    Ok(n) => total += n as u64,
                    Err(e) => break Err(e),
                }
            };
            vfs.close(fd)?;
            result
        })
    };
    let read = read_pass();
    let read_figure = read.1.as_ref().ok().map(|&b| (b, read.0));
    report(p, "share-read", read, true);
    // Again: from the page cache when the daemon allows caching (not
    // `cache=none`) and the file fits the cache.
    let warm = read_pass();
    if let (Some((bytes, ns)), (warm_ns, Ok(warm_bytes))) = (read_figure, &warm) {
        ratio(
            p,
            "share-read-warm/share-read",
            mibps(*warm_bytes, *warm_ns),
            mibps(bytes, ns),
        );
    }
    report(p, "share-read-warm", warm, true);
    (wrote_figure, read_figure)
}

/// `share-create`, `share-walk`, `share-readall` over [`FILES`] files.
fn metadata(p: &dyn Platform, vfs: &Vfs, root: &str, base: &Baseline) {
    let dir = format!("{root}/bench-meta");
    if let Err(e) = vfs.mkdir(&dir, 0o755) {
        return print_error(p, "share-create", e);
    }
    let data = vec![0x5au8; FILE_BYTES];
    let created = timed(p, || {
        for i in 0..FILES {
            vfs.write_file(&format!("{dir}/f{i:04}"), &data)?;
        }
        Ok(FILES as u64)
    });
    let ok = created.1.is_ok();
    per_entry(p, "share-create", created, None);
    if ok {
        let walked = timed(p, || {
            let mut entries = 0u64;
            for entry in vfs.read_dir(&dir)? {
                vfs.lstat(&format!("{dir}/{}", entry.name))?;
                entries += 1;
            }
            Ok(entries)
        });
        per_entry(p, "share-walk", walked, base.walk.map(|b| ("walk-cold", b)));
        let mut buf = vec![0u8; 2 * FILE_BYTES];
        let read = timed(p, || {
            for i in 0..FILES {
                let fd = vfs.open(&format!("{dir}/f{i:04}"), OpenFlags::O_RDONLY, 0)?;
                while vfs.read(fd, &mut buf)? > 0 {}
                vfs.close(fd)?;
            }
            Ok(FILES as u64)
        });
        per_entry(
            p,
            "share-readall",
            read,
            base.readall.map(|b| ("readall-cold", b)),
        );
    }
    for i in 0..FILES {
        let _ = vfs.unlink(&format!("{dir}/f{i:04}"));
    }
    let _ = vfs.rmdir(&dir);
}

/// The time, the count, the ns per entry and, given a ROFS baseline
/// (name, (entries, ns)), the ratio of the per-entry costs.
fn per_entry(
    p: &dyn Platform,
    name: &str,
    (ns, result): (u64, Result<u64, Errno>),
    base: Option<(&str, (u64, u64))>,
) {
    let entries = match result {
        Ok(n) => n,
        Err(e) => return print_error(p, name, e),
    };
    print_ms(p, name, ns);
    println!(p, "INFO {}-entries {}", name, entries);
    let each = ns / entries.max(1);
    println!(p, "INFO {}-ns-per-entry {}", name, each);
    if let Some((base_name, (base_entries, base_ns))) = base {
        let base_each = base_ns / base_entries.max(1);
        println!(p, "INFO {}-ns-per-entry {}", base_name, base_each);
        ratio(
            p,
            &format!("{name}/{base_name}-per-entry"),
            each as f64,
            base_each as f64,
        );
    }
}

fn mibps(bytes: u64, ns: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64 / (ns.max(1) as f64 / 1e9)
}

/// `RATIO name x` with two decimals.
fn ratio(p: &dyn Platform, name: &str, ours: f64, base: f64) {
    if base > 0.0 {
        let hundredths = (ours / base * 100.0) as u64;
        println!(
            p,
            "RATIO {} {}.{:02}",
            name,
            hundredths / 100,
            hundredths % 100
        );
    }
}
