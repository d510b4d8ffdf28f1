//! devfs on `/dev`: the character devices and the root disk as `vblk0`.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use vfs::{Errno, FileType, OpenFlags, Vfs, Whence};

use super::Outcome;
use super::check::{ensure, equal, kind, ok, open, want_err, with_fd};

fn expect_char_device(vfs: &Vfs, path: &str) -> Outcome {
    let stat = ok(vfs.stat(path), &format!("stat {path}"))?;
    equal(
        kind(&stat),
        Some(FileType::CharDevice),
        &format!("{path} type"),
    )
}

pub(super) fn null(vfs: &Vfs) -> Outcome {
    expect_char_device(vfs, "/dev/null")?;
    let fd = open(vfs, "/dev/null", OpenFlags::O_RDWR, 0)?;
    with_fd(vfs, fd, |fd| {
        let mut buf = [7u8; 64];
        equal(ok(vfs.read(fd, &mut buf), "read")?, 0, "read from null")?;
        equal(
            ok(vfs.write(fd, &[1u8; 300]), "write")?,
            300,
            "write to null",
        )
    })
}

pub(super) fn zero(vfs: &Vfs) -> Outcome {
    expect_char_device(vfs, "/dev/zero")?;
    let fd = open(vfs, "/dev/zero", OpenFlags::O_RDWR, 0)?;
    with_fd(vfs, fd, |fd| {
        let mut buf = vec![0xa5u8; 70_000];
        let n = ok(vfs.read(fd, &mut buf), "read")?;
        equal(n, buf.len(), "read count from zero")?;
        ensure(buf.iter().all(|&b| b == 0), || {
            "zero gave a non-zero byte".into()
        })?;
        equal(ok(vfs.write(fd, b"abc"), "write")?, 3, "write to zero")
    })
}

pub(super) fn full(vfs: &Vfs) -> Outcome {
    expect_char_device(vfs, "/dev/full")?;
    let fd = open(vfs, "/dev/full", OpenFlags::O_RDWR, 0)?;
    with_fd(vfs, fd, |fd| {
        want_err(vfs.write(fd, b"x"), Errno::ENOSPC, "write to full")?;
        let mut buf = [0x5au8; 100];
        equal(
            ok(vfs.read(fd, &mut buf), "read")?,
            100,
            "read count from full",
        )?;
        ensure(buf.iter().all(|&b| b == 0), || {
            "full read gave a non-zero byte".into()
        })
    })
}

pub(super) fn urandom(vfs: &Vfs) -> Outcome {
    expect_char_device(vfs, "/dev/urandom")?;
    let fd = open(vfs, "/dev/urandom", OpenFlags::O_RDONLY, 0)?;
    with_fd(vfs, fd, |fd| {
        let mut a = [0u8; 256];
        let mut b = [0u8; 256];
        equal(ok(vfs.read(fd, &mut a), "read")?, a.len(), "read count")?;
        equal(ok(vfs.read(fd, &mut b), "read")?, b.len(), "read count")?;
        ensure(a.iter().any(|&x| x != 0), || {
            "urandom gave all zeros".into()
        })?;
        ensure(a != b, || "two urandom reads were equal".into())?;
        // A crude sanity check: 256 random bytes have many distinct values.
        let distinct = a.iter().collect::<BTreeSet<_>>().len();
        ensure(distinct > 64, || {
            format!("only {distinct} distinct byte values in 256")
        })
    })
}

/// Marker the host looks for in the serial output (tests/tests/guest.rs).
pub const CONSOLE_MARKER: &str = "selftest: written through /dev/console";

pub(super) fn console(vfs: &Vfs) -> Outcome {
    expect_char_device(vfs, "/dev/console")?;
    let fd = open(vfs, "/dev/console", OpenFlags::O_WRONLY, 0)?;
    with_fd(vfs, fd, |fd| {
        let line = format!("{CONSOLE_MARKER}\n");
        equal(
            ok(vfs.write(fd, line.as_bytes()), "write")?,
            line.len(),
            "console write count",
        )
    })
}

/// `selftest.disk=SIZE:HEAD:CRC` from the command line: the host's view of the raw disk.
pub(super) fn vblk0(vfs: &Vfs, cmdline: &str) -> Outcome {
    let value = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("selftest.disk="))
        .ok_or("no selftest.disk= word on the command line")?;
    let mut fields = value.split(':');
    let (Some(size), Some(head), Some(crc), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(format!("malformed selftest.disk={value}"));
    };
    let size: u64 = size
        .parse()
        .map_err(|_| "selftest.disk: bad size".to_string())?;
    let crc = u32::from_str_radix(crc, 16).map_err(|_| "selftest.disk: bad CRC".to_string())?;
    let head = decode_hex(head).ok_or("selftest.disk: bad head hex")?;

    let stat = ok(vfs.stat("/dev/vblk0"), "stat /dev/vblk0")?;
    equal(kind(&stat), Some(FileType::BlockDevice), "vblk0 type")?;
    equal(stat.size, size, "vblk0 size")?;
    let fd = open(vfs, "/dev/vblk0", OpenFlags::O_RDONLY, 0)?;
    with_fd(vfs, fd, |fd| {
        let mut buf = vec![0u8; head.len()];
        equal(
            ok(vfs.pread(fd, &mut buf, 0), "pread head")?,
            head.len(),
            "head bytes",
        )?;
        equal(&buf, &head, "first bytes of vblk0")?;
        // Unaligned offset and length, across several sectors.
        let mut odd = vec![0u8; 65_536];
        let mut got = 0;
        while got < odd.len() {
            let n = ok(
                vfs.pread(fd, odd.get_mut(got..).unwrap_or(&mut []), 1 + got as u64),
                "pread @1",
            )?;
            ensure(n > 0, || "EOF inside the disk".into())?;
            got += n;
        }
        equal(
            format!("{:08x}", crc32fast::hash(&odd)),
            format!("{crc:08x}"),
            "CRC32 of bytes 1..=65536",
        )?;
        let mut tail = [0u8; 16];
        let near_end = size.saturating_sub(3);
        equal(
            ok(vfs.pread(fd, &mut tail, near_end), "pread at end-3")? as u64,
            size - near_end,
            "bytes at end-3",
        )?;
        equal(
            ok(vfs.pread(fd, &mut tail, size), "pread at end")?,
            0,
            "bytes at the end",
        )?;
        // Sequential read with the fd offset, from an odd place.
        ok(vfs.lseek(fd, 5, Whence::Set), "lseek")?;
        let mut five = [0u8; 11];
        equal(ok(vfs.read(fd, &mut five), "read")?, 11, "read count")?;
        equal(Some(&five[..]), head.get(5..16), "bytes 5..16 via read")
    })?;
    // The disk is attached read-only: refused at open (as Linux does) or at the write.
    match vfs.open("/dev/vblk0", OpenFlags::O_WRONLY, 0) {
        Err(e) => equal(e, Errno::EROFS, "open vblk0 for writing"),
        Ok(fd) => with_fd(vfs, fd, |fd| {
            want_err(
                vfs.pwrite(fd, &[0u8; 512], 0),
                Errno::EROFS,
                "write to vblk0",
            )
        }),
    }
}

/// `umount /dev` then `mount -t devfs none /dev` gives the kernel's devfs
/// back, disks included: the same `vblk0` (type, size, first bytes) as
/// before, and nothing under `/dev` while it is unmounted.
pub(super) fn remount(vfs: &Vfs) -> Outcome {
    let first_bytes = |vfs: &Vfs| -> Result<(u64, Vec<u8>), String> {
        let stat = ok(vfs.stat("/dev/vblk0"), "stat /dev/vblk0")?;
        equal(kind(&stat), Some(FileType::BlockDevice), "vblk0 type")?;
        let fd = open(vfs, "/dev/vblk0", OpenFlags::O_RDONLY, 0)?;
        with_fd(vfs, fd, |fd| {
            let mut head = vec![0u8; 64];
            equal(ok(vfs.pread(fd, &mut head, 0), "pread")?, 64, "head bytes")?;
            Ok((stat.size, head))
        })
    };
    let before = first_bytes(vfs)?;
    ok(vfs.umount("/dev"), "umount /dev")?;
    let unmounted = want_err(
        vfs.stat("/dev/vblk0"),
        Errno::ENOENT,
        "vblk0 while unmounted",
    );
    ok(
        vfs.mount(None, "/dev", "devfs", vfs::MountFlags::empty(), ""),
        "mount devfs again",
    )?;
    unmounted?;
    equal(first_bytes(vfs)?, before, "vblk0 after the remount")?;
    ok(vfs.stat("/dev/console"), "stat /dev/console").map(|_| ())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}
