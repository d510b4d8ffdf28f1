//! The `virtiofs` suite: run when a writable virtio-fs share is mounted
//! (the first one in the mount table), so a `test` boot without a share
//! runs none of it.
//!
//! It reads a file the host wrote before boot (`host.bin`, whose size and
//! CRC32 the host puts on the command line as
//! `selftest.share=SIZE:CRCHEX`), then makes its changes in a new directory
//! `guest/` on the share and leaves them there: the host checks afterwards
//! that exactly these exist, with the right bytes (`tests/tests/guest_virtiofs.rs`):
//!
//! | path under `guest/` | what |
//! |---|---|
//! | `data.bin` | [`DATA_LEN`] bytes of [`pattern_byte`], mode 0644 |
//! | `b.txt` | `renamed\n` (written as `a.txt`, then renamed) |
//! | `trunc.bin` | the first [`TRUNC_LEN`] bytes of the pattern (10000 written, then truncated) |
//! | `d1/` | an empty directory (`d1/d2` was made and removed) |
//! | `link` | a symlink to `data.bin` |
//!
//! `gone.txt` is created and unlinked, so it must not exist.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use vfs::{Errno, FileType, MountFlags, OpenFlags, Vfs};

use super::Outcome;
use super::check::{RW_CREATE, crc_file, ensure, equal, kind, ok, open, want_err, with_fd};

/// Bytes of `guest/data.bin`: more than three 1 MiB requests, not a
/// multiple of a page.
pub const DATA_LEN: usize = (3 << 20) + 123;
/// Size of `guest/trunc.bin` after the truncate.
pub const TRUNC_LEN: u64 = 4096;

/// Byte `i` of the data the suite writes; the host test computes the same.
pub fn pattern_byte(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 11)) as u8
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(pattern_byte).collect()
}

/// The mount point of the share the suite runs on: the first writable
/// virtio-fs mount with a path.
pub(super) fn share_of(vfs: &Vfs) -> Option<String> {
    vfs.mounts()
        .into_iter()
        .find(|m| {
            m.fs_type == "virtiofs"
                && !m.target.starts_with('@')
                && !m.flags.contains(MountFlags::RDONLY)
        })
        .map(|m| m.target)
}

fn at(share: &str, name: &str) -> String {
    format!("{}/{name}", share.trim_end_matches('/'))
}

fn guest(share: &str, name: &str) -> String {
    at(share, &format!("guest/{name}"))
}

/// `host.bin` against `selftest.share=SIZE:CRCHEX`.
pub(super) fn host_file(vfs: &Vfs, share: &str, cmdline: &str) -> Outcome {
    let value = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("selftest.share="))
        .ok_or("no selftest.share= word on the command line")?;
    let (size, crc) = value
        .split_once(':')
        .ok_or_else(|| format!("malformed selftest.share={value}"))?;
    let size: u64 = size.parse().map_err(|_| "selftest.share: bad size")?;
    let crc = u32::from_str_radix(crc, 16).map_err(|_| "selftest.share: bad CRC")?;
    let path = at(share, "host.bin");
    let stat = ok(vfs.stat(&path), &format!("stat {path}"))?;
    equal(kind(&stat), Some(FileType::Regular), "host.bin type")?;
    equal(stat.size, size, "host.bin size")?;
    // An odd buffer size, so reads do not line up with the file's pages.
    let mut buf = vec![0u8; 100_003];
    equal(
        crc_file(vfs, &path, &mut buf)?,
        (size, crc),
        "host.bin (size, CRC32)",
    )
}

pub(super) fn create_write_read(vfs: &Vfs, share: &str) -> Outcome {
    ok(vfs.mkdir(&at(share, "guest"), 0o755), "mkdir guest")?;
    let path = guest(share, "data.bin");
    let data = pattern(DATA_LEN);
    let fd = open(vfs, &path, RW_CREATE | OpenFlags::O_EXCL, 0o644)?;
    with_fd(vfs, fd, |fd| {
        equal(
            ok(vfs.write(fd, &data), "write")?,
            DATA_LEN,
            "bytes written",
        )?;
        equal(ok(vfs.fstat(fd), "fstat")?.size, DATA_LEN as u64, "size")?;
        ok(vfs.fsync(fd), "fsync")?;
        // An unaligned read across a 1 MiB request boundary.
        let mut part = vec![0u8; 5000];
        let from = (1 << 20) - 1234;
        equal(
            ok(vfs.pread(fd, &mut part, from as u64), "pread")?,
            5000,
            "pread length",
        )?;
        ensure(part[..] == data[from..from + 5000], || {
            format!("pread at {from} differs from what was written")
        })
    })?;
    let back = ok(vfs.read_file(&path), "read back")?;
    equal(back.len(), DATA_LEN, "bytes read back")?;
    ensure(back == data, || {
        "read back differs from what was written".into()
    })
}

pub(super) fn rename(vfs: &Vfs, share: &str) -> Outcome {
    let (a, b) = (guest(share, "a.txt"), guest(share, "b.txt"));
    ok(vfs.write_file(&a, b"renamed\n"), "write a.txt")?;
    let before = ok(vfs.stat(&a), "stat a.txt")?;
    ok(vfs.rename(&a, &b), "rename a.txt b.txt")?;
    want_err(vfs.stat(&a), Errno::ENOENT, "stat a.txt after rename")?;
    equal(
        ok(vfs.stat(&b), "stat b.txt")?.ino,
        before.ino,
        "inode kept",
    )?;
    equal(
        ok(vfs.read_file(&b), "read b.txt")?,
        b"renamed\n".to_vec(),
        "b.txt",
    )
}

pub(super) fn unlink(vfs: &Vfs, share: &str) -> Outcome {
    let path = guest(share, "gone.txt");
    ok(vfs.write_file(&path, b"short-lived"), "write gone.txt")?;
    ok(vfs.unlink(&path), "unlink")?;
    want_err(vfs.stat(&path), Errno::ENOENT, "stat after unlink")?;
    want_err(vfs.unlink(&path), Errno::ENOENT, "unlink again")
}

pub(super) fn truncate(vfs: &Vfs, share: &str) -> Outcome {
    let path = guest(share, "trunc.bin");
    ok(vfs.write_file(&path, &pattern(10_000)), "write trunc.bin")?;
    let fd = open(vfs, &path, OpenFlags::O_RDWR, 0)?;
    with_fd(vfs, fd, |fd| ok(vfs.ftruncate(fd, TRUNC_LEN), "ftruncate"))?;
    equal(
        ok(vfs.stat(&path), "stat")?.size,
        TRUNC_LEN,
        "size after truncate",
    )?;
    let back = ok(vfs.read_file(&path), "read trunc.bin")?;
    ensure(back == pattern(TRUNC_LEN as usize), || {
        "trunc.bin differs from the pattern's head".into()
    })
}

pub(super) fn mkdir_rmdir(vfs: &Vfs, share: &str) -> Outcome {
    let (d1, d2) = (guest(share, "d1"), guest(share, "d1/d2"));
    ok(vfs.mkdir(&d1, 0o755), "mkdir d1")?;
    ok(vfs.mkdir(&d2, 0o700), "mkdir d1/d2")?;
    want_err(vfs.mkdir(&d2, 0o700), Errno::EEXIST, "mkdir d1/d2 again")?;
    want_err(vfs.rmdir(&d1), Errno::ENOTEMPTY, "rmdir non-empty d1")?;
    let stat = ok(vfs.stat(&d2), "stat d2")?;
    equal(kind(&stat), Some(FileType::Directory), "d2 type")?;
    equal(stat.mode & 0o777, 0o700, "d2 mode")?;
    ok(vfs.rmdir(&d2), "rmdir d2")?;
    want_err(vfs.stat(&d2), Errno::ENOENT, "stat d2 after rmdir")
}

pub(super) fn symlink(vfs: &Vfs, share: &str) -> Outcome {
    let link = guest(share, "link");
    ok(vfs.symlink("data.bin", &link), "symlink")?;
    equal(
        ok(vfs.readlink(&link), "readlink")?.as_str(),
        "data.bin",
        "target",
    )?;
    equal(
        kind(&ok(vfs.lstat(&link), "lstat")?),
        Some(FileType::Symlink),
        "lstat type",
    )?;
    equal(
        ok(vfs.stat(&link), "stat through link")?.size,
        DATA_LEN as u64,
        "size through link",
    )
}

pub(super) fn stat(vfs: &Vfs, share: &str) -> Outcome {
    let stat = ok(vfs.stat(&guest(share, "data.bin")), "stat data.bin")?;
    equal(kind(&stat), Some(FileType::Regular), "type")?;
    equal(stat.mode & 0o7777, 0o644, "mode")?;
    equal(stat.nlink, 1, "links")?;
    equal(stat.size, DATA_LEN as u64, "size")?;
    ensure(stat.blocks * 512 >= DATA_LEN as u64, || {
        format!(
            "{} blocks of 512 bytes hold less than the size",
            stat.blocks
        )
    })?;
    let dir = ok(vfs.stat(&at(share, "guest")), "stat guest")?;
    equal(kind(&dir), Some(FileType::Directory), "guest type")?;
    let root = ok(vfs.stat(share), "stat share")?;
    equal(dir.dev, root.dev, "same device as the share")?;
    if share == "/" {
        return Ok(()); // root=virtiofs:TAG
    }
    let slash = ok(vfs.stat("/"), "stat /")?;
    ensure(root.dev != slash.dev, || {
        "the share has the root's device".into()
    })
}

pub(super) fn readdir(vfs: &Vfs, share: &str) -> Outcome {
    let dir = at(share, "guest");
    let mut got = BTreeMap::new();
    for entry in ok(vfs.read_dir(&dir), "read_dir guest")? {
        if entry.name != "." && entry.name != ".." {
            let stat = ok(vfs.lstat(&format!("{dir}/{}", entry.name)), "lstat entry")?;
            equal(
                stat.ino,
                entry.ino,
                &format!("{}: dirent ino vs lstat", entry.name),
            )?;
            got.insert(entry.name, entry.file_type);
        }
    }
    let want: BTreeMap<String, FileType> = [
        ("b.txt", FileType::Regular),
        ("d1", FileType::Directory),
        ("data.bin", FileType::Regular),
        ("link", FileType::Symlink),
        ("trunc.bin", FileType::Regular),
    ]
    .into_iter()
    .map(|(n, t)| (String::from(n), t))
    .collect();
    equal(got, want, "guest/ listing")?;
    let top: Vec<String> = ok(vfs.read_dir(share), "read_dir share")?
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n == "host.bin" || n == "guest")
        .collect();
    equal(top.len(), 2, "host.bin and guest in the share's listing")
}
