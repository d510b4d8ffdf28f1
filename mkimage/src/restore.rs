//! Giving extracted host files the attributes the image records: owner
//! (when running as root, as `tar` does), permission bits (all 12, set after
//! the owner since a chown clears setuid/setgid) and times with nanoseconds
//! (negative times included). Symlinks get their owner and times too,
//! without following them.

use std::io;
use std::path::Path;

use rustix::fs::{AtFlags, CWD, Mode, Timespec, Timestamps};
use vfs::Stat;

/// Whether extraction restores owners (only root may give files away).
pub fn restores_owners() -> bool {
    rustix::process::geteuid().is_root()
}

/// Apply `stat`'s owner, mode and times to `path`; `symlink` says `path` is
/// a symlink (its target is never touched).
pub fn restore(path: &Path, stat: &Stat, symlink: bool, owners: bool) -> io::Result<()> {
    let flags = if symlink {
        AtFlags::SYMLINK_NOFOLLOW
    } else {
        AtFlags::empty()
    };
    if owners {
        let uid = rustix::fs::Uid::from_raw(stat.uid);
        let gid = rustix::fs::Gid::from_raw(stat.gid);
        rustix::fs::chownat(CWD, path, Some(uid), Some(gid), flags)?;
    }
    if !symlink {
        rustix::fs::chmod(path, Mode::from_raw_mode(stat.mode & 0o7777))?;
    }
    let times = Timestamps {
        last_access: timespec(stat.atime),
        last_modification: timespec(stat.mtime),
    };
    rustix::fs::utimensat(CWD, path, &times, flags)?;
    Ok(())
}

fn timespec(t: vfs::Timespec) -> Timespec {
    Timespec {
        tv_sec: t.sec,
        tv_nsec: i64::from(t.nsec.min(999_999_999)),
    }
}
