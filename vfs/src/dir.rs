//! Reading directories: `getdents` on an open directory (with `.` and `..`
//! and a resumable cookie), `read_dir` by path, and directory seeks.

use alloc::string::String;
use alloc::vec::Vec;

use crate::errno::{Errno, VfsResult};
use crate::file::{DirPos, OpenFile};
use crate::tree::DentryId;
use crate::types::{DirEntry, DirEntryRef, FileType, InodeNo};
use crate::vnode::Vnode;
use crate::{Fd, MAX_OFFSET, OpenFlags, Vfs, Whence};

impl Vfs {
    /// Up to `max` entries from the directory open at `fd`, continuing where the last call
    /// stopped (a stable cookie kept in the open file). Includes "." and "..". Empty at the end.
    pub fn getdents(&self, fd: Fd, max: usize) -> VfsResult<Vec<DirEntry>> {
        let file = self.file(fd)?;
        let vnode = &file.vnode;
        if !vnode.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if max == 0 {
            return Err(Errno::EINVAL);
        }
        let mut pos = *file.dir_pos.lock();
        let mut out = Vec::new();
        while out.len() < max {
            match pos {
                DirPos::Dot => {
                    out.push(dir_entry(vnode.ino, "."));
                    pos = DirPos::DotDot;
                }
                DirPos::DotDot => {
                    out.push(dir_entry(self.parent_ino(file.dentry, vnode), ".."));
                    pos = DirPos::Backend(0);
                }
                DirPos::Backend(cookie) => {
                    let mut next = cookie;
                    file.readdir(cookie, &mut |entry, after| {
                        out.push(entry.to_entry());
                        next = after;
                        out.len() < max
                    })?;
                    pos = DirPos::Backend(next);
                    break;
                }
            }
        }
        *file.dir_pos.lock() = pos;
        Ok(out)
    }

    /// The inode number `..` reports: the parent within the same filesystem.
    pub(crate) fn parent_ino(&self, dentry: DentryId, vnode: &Vnode) -> InodeNo {
        let tree = self.tree.read();
        match tree.get(dentry) {
            Ok(d) if d.parent != dentry => tree.vnode(d.parent).map_or(vnode.ino, |p| p.ino),
            _ => vnode.ino,
        }
    }

    /// All entries of the directory at `path`, without "." and "..".
    pub fn read_dir(&self, path: &str) -> VfsResult<Vec<DirEntry>> {
        let mut out = Vec::new();
        let mut full = false;
        self.read_dir_with(path, &mut |entry| {
            // A listing is sized by the directory: ENOMEM, not an abort.
            if out.try_reserve(1).is_err() {
                full = true;
                return false;
            }
            out.push(entry.to_entry());
            true
        })?;
        if full {
            return Err(Errno::ENOMEM);
        }
        Ok(out)
    }

    /// Call `f` for each entry of the directory at `path` (without "." and
    /// ".."), in the backend's order, until it returns false. Nothing is
    /// collected, so a directory of any size lists in constant memory. No
    /// VFS lock is held while `f` runs: it may use the VFS (stat an entry,
    /// list a subdirectory).
    pub fn read_dir_with(
        &self,
        path: &str,
        f: &mut dyn FnMut(DirEntryRef<'_>) -> bool,
    ) -> VfsResult<()> {
        let (_, vnode) = self.resolve(path, true)?;
        if !vnode.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let handle = vnode
            .inode
            .open(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY)?;
        let inode = vnode.inode.as_ref();
        let mut cookie = 0;
        loop {
            let start = cookie;
            let mut seen = false;
            let mut stopped = false;
            let mut sink = |entry: DirEntryRef<'_>, after| {
                seen = true;
                cookie = after;
                stopped = !f(entry);
                !stopped
            };
            match &handle {
                Some(h) => h.readdir(inode, start, &mut sink)?,
                None => inode.readdir(start, &mut sink)?,
            }
            // Backends report everything in one call; loop only if one stops early.
            if stopped || !seen {
                return Ok(());
            }
        }
    }
}

/// lseek on a directory: the position is the getdents cookie (0 is ".",
/// 1 is "..", a backend cookie `c` is `c + 2`), so telldir/seekdir work.
pub(crate) fn seek_dir(file: &OpenFile, offset: i64, whence: Whence) -> VfsResult<u64> {
    let mut pos = file.dir_pos.lock();
    let current = match *pos {
        DirPos::Dot => 0,
        DirPos::DotDot => 1,
        DirPos::Backend(c) => c.checked_add(2).ok_or(Errno::EOVERFLOW)?,
    };
    let target = match whence {
        Whence::Set => i128::from(offset),
        Whence::Cur => i128::from(current) + i128::from(offset),
        Whence::End => return Err(Errno::EINVAL),
    };
    let target = u64::try_from(target).map_err(|_| Errno::EINVAL)?;
    if target > MAX_OFFSET {
        return Err(Errno::EINVAL);
    }
    *pos = match target {
        0 => DirPos::Dot,
        1 => DirPos::DotDot,
        c => DirPos::Backend(c - 2),
    };
    Ok(target)
}

fn dir_entry(ino: InodeNo, name: &str) -> DirEntry {
    DirEntry {
        ino,
        file_type: FileType::Directory,
        name: String::from(name),
    }
}
