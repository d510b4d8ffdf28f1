//! Assertion helpers: each turns a mismatch into the reason printed after
//! `FAIL name:`.

use alloc::format;
use alloc::string::String;

use vfs::{Errno, FileType, OpenFlags, Stat, Vfs};

use super::Outcome;

/// Open for reading and writing, creating the file if needed.
pub(super) const RW_CREATE: OpenFlags = OpenFlags::O_RDWR.union(OpenFlags::O_CREAT);

/// Context for a VFS call that must succeed.
pub(super) fn ok<T>(result: Result<T, Errno>, what: &str) -> Result<T, String> {
    result.map_err(|e| format!("{what}: unexpected {}", e.name()))
}

/// A VFS call that must fail with exactly `want`.
pub(super) fn want_err<T>(result: Result<T, Errno>, want: Errno, what: &str) -> Outcome {
    match result {
        Ok(_) => Err(format!("{what}: succeeded, expected {}", want.name())),
        Err(e) if e == want => Ok(()),
        Err(e) => Err(format!(
            "{what}: got {}, expected {}",
            e.name(),
            want.name()
        )),
    }
}

pub(super) fn ensure(cond: bool, reason: impl FnOnce() -> String) -> Outcome {
    if cond { Ok(()) } else { Err(reason()) }
}

pub(super) fn equal<T: PartialEq + core::fmt::Debug>(got: T, want: T, what: &str) -> Outcome {
    ensure(got == want, || {
        format!("{what}: got {got:?}, expected {want:?}")
    })
}

pub(super) fn kind(stat: &Stat) -> Option<FileType> {
    stat.file_type()
}

/// Close `fd` after running `body`, keeping the body's verdict first.
pub(super) fn with_fd<T>(
    vfs: &Vfs,
    fd: i32,
    body: impl FnOnce(i32) -> Result<T, String>,
) -> Result<T, String> {
    let result = body(fd);
    let closed = ok(vfs.close(fd), "close");
    let value = result?;
    closed?;
    Ok(value)
}

pub(super) fn open(vfs: &Vfs, path: &str, flags: OpenFlags, mode: u32) -> Result<i32, String> {
    ok(vfs.open(path, flags, mode), &format!("open {path}"))
}

/// Read the whole file at `path` with large reads into `buf`; returns (size, CRC32).
pub(super) fn crc_file(vfs: &Vfs, path: &str, buf: &mut [u8]) -> Result<(u64, u32), String> {
    let fd = open(vfs, path, OpenFlags::O_RDONLY, 0)?;
    with_fd(vfs, fd, |fd| {
        let mut hasher = crc32fast::Hasher::new();
        let mut total: u64 = 0;
        loop {
            let n = ok(vfs.read(fd, buf), &format!("read {path} at {total}"))?;
            if n == 0 {
                break;
            }
            let chunk = buf
                .get(..n)
                .ok_or_else(|| format!("read {path}: returned {n} > buffer"))?;
            hasher.update(chunk);
            total += n as u64;
        }
        Ok((total, hasher.finalize()))
    })
}

pub(super) fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}
