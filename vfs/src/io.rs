//! Open files and their data: open (with O_CREAT), close, dup, read, write,
//! seek, truncate, fsync, and the whole-file conveniences.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::dir::seek_dir;
use crate::errno::{Errno, VfsResult};
use crate::file::OpenFile;
use crate::path::{Last, MAX_SYMLINKS, check_path};
use crate::resolve::Resolved;
use crate::tree::DentryId;
use crate::types::{FileType, S_IPERM};
use crate::vnode::is_detached;
use crate::{Fd, MAX_OFFSET, OpenFlags, Vfs, Whence};

impl Vfs {
    pub(crate) fn file(&self, fd: Fd) -> VfsResult<Arc<OpenFile>> {
        self.files.lock().get(fd).cloned()
    }

    pub fn open(&self, path: &str, flags: OpenFlags, mode: u32) -> VfsResult<Fd> {
        check_path(path)?;
        let access = flags.bits() & 3;
        if access == 3 {
            return Err(Errno::EINVAL);
        }
        let writes = access != 0;
        // As Linux since 6.4: the combination has no meaning.
        if flags.contains(OpenFlags::O_CREAT | OpenFlags::O_DIRECTORY) {
            return Err(Errno::EINVAL);
        }
        if !self.files.lock().has_room() {
            return Err(Errno::EMFILE);
        }
        let (dentry, vnode) = if flags.contains(OpenFlags::O_CREAT) {
            self.open_create(path, flags, mode)?
        } else {
            let mut links = MAX_SYMLINKS;
            self.walk(
                None,
                path,
                !flags.contains(OpenFlags::O_NOFOLLOW),
                &mut links,
            )?
        };
        let ft = vnode.file_type;
        if ft == FileType::Directory && flags.contains(OpenFlags::O_CREAT) {
            return Err(Errno::EISDIR);
        }
        if flags.contains(OpenFlags::O_DIRECTORY) && ft != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        if ft == FileType::Symlink {
            return Err(Errno::ELOOP);
        }
        let truncate = flags.contains(OpenFlags::O_TRUNC);
        if ft == FileType::Directory && (writes || truncate) {
            return Err(Errno::EISDIR);
        }
        // As Linux: device nodes stay writable on a read-only mount.
        let on_disk = matches!(ft, FileType::Regular | FileType::Directory);
        if (writes || truncate) && on_disk && vnode.mount.read_only {
            return Err(Errno::EROFS);
        }
        let handle = vnode.inode.open(flags)?;
        if truncate && ft == FileType::Regular {
            vnode.inode.truncate(0)?;
        }
        let file = Arc::new(OpenFile::new(vnode, flags, dentry, handle));
        if is_detached(&file.vnode.mount) {
            return Err(Errno::ENOENT);
        }
        self.files.lock().insert(file)
    }

    /// The O_CREAT part of open: find or create the final name, following a
    /// final symlink (to create its target) unless O_EXCL or O_NOFOLLOW.
    pub(crate) fn open_create(
        &self,
        path: &str,
        flags: OpenFlags,
        mode: u32,
    ) -> VfsResult<Resolved> {
        let mut links = MAX_SYMLINKS;
        let mut base: Option<DentryId> = None;
        let mut target: String;
        let mut cur: &str = path;
        loop {
            let (dir, dir_vnode, split) = self.resolve_parent(base, cur, &mut links)?;
            let name = match split.last {
                Last::Name(n) => n,
                // ".", ".." or "/": an existing directory; open() answers EISDIR.
                _ if flags.contains(OpenFlags::O_EXCL) => return Err(Errno::EEXIST),
                _ => return self.walk(base, cur, true, &mut links),
            };
            if split.trailing_slash {
                return Err(Errno::EISDIR);
            }
            let child = self.lookup_child(dir, name)?;
            match child.vnode {
                Some(_) if flags.contains(OpenFlags::O_EXCL) => return Err(Errno::EEXIST),
                Some(v)
                    if v.file_type == FileType::Symlink
                        && !flags.contains(OpenFlags::O_NOFOLLOW) =>
                {
                    if links == 0 {
                        return Err(Errno::ELOOP);
                    }
                    links -= 1;
                    target = String::from(v.link_target()?);
                    if target.is_empty() {
                        return Err(Errno::ENOENT);
                    }
                    check_path(&target)?;
                    base = Some(dir);
                    cur = &target;
                    // `target` is reassigned only after `cur` is last used.
                    continue;
                }
                Some(_) => {
                    let tree = self.tree.read();
                    let top = tree.follow_mounts(child.dentry);
                    return Ok((top, tree.vnode(top)?.clone()));
                }
                None => {
                    if dir_vnode.mount.read_only {
                        return Err(Errno::EROFS);
                    }
                    let _change = self.begin_change(dir, &dir_vnode)?;
                    // Another thread may have made the name since we looked:
                    // then go round again to open (or refuse) what it made.
                    if self.lookup_child(dir, name)?.vnode.is_some() {
                        continue;
                    }
                    let inode = dir_vnode.inode.create(
                        name,
                        FileType::Regular.mode_bits() | (mode & S_IPERM),
                        0,
                    )?;
                    let vnode = self.vnodes.get(&dir_vnode.mount, inode);
                    let id = self.cache_created(dir, name, vnode.clone())?;
                    return Ok((id, vnode));
                }
            }
        }
    }

    pub fn close(&self, fd: Fd) -> VfsResult<()> {
        let file = self.files.lock().remove(fd)?;
        // The last reference drops here, outside the table lock.
        drop(file);
        Ok(())
    }

    pub fn dup(&self, fd: Fd) -> VfsResult<Fd> {
        let mut files = self.files.lock();
        let file = files.get(fd)?.clone();
        files.insert(file)
    }

    pub fn dup2(&self, old: Fd, new: Fd) -> VfsResult<Fd> {
        let replaced = {
            let mut files = self.files.lock();
            let file = files.get(old)?.clone();
            if old == new {
                return Ok(new);
            }
            files.insert_at(new, file)?
        };
        drop(replaced);
        Ok(new)
    }

    pub fn read(&self, fd: Fd, buf: &mut [u8]) -> VfsResult<usize> {
        let file = self.file(fd)?;
        if !file.readable() {
            return Err(Errno::EBADF);
        }
        let offset = file.offset.load(Ordering::Acquire);
        let n = read_into(&file, offset, buf)?;
        file.offset
            .store(offset.saturating_add(n as u64), Ordering::Release);
        Ok(n)
    }

    pub fn write(&self, fd: Fd, buf: &[u8]) -> VfsResult<usize> {
        let file = self.file(fd)?;
        if !file.writable() {
            return Err(Errno::EBADF);
        }
        // As Linux: an empty write does not even move an O_APPEND offset.
        if buf.is_empty() {
            return Ok(0);
        }
        let offset = if file.flags.contains(OpenFlags::O_APPEND) {
            file.vnode.inode.getattr()?.size
        } else {
            file.offset.load(Ordering::Acquire)
        };
        let n = write_from(&file, offset, buf)?;
        file.offset
            .store(offset.saturating_add(n as u64), Ordering::Release);
        Ok(n)
    }

    pub fn pread(&self, fd: Fd, buf: &mut [u8], offset: u64) -> VfsResult<usize> {
        if offset > MAX_OFFSET {
            return Err(Errno::EINVAL);
        }
        let file = self.file(fd)?;
        if !file.readable() {
            return Err(Errno::EBADF);
        }
        read_into(&file, offset, buf)
    }

    pub fn pwrite(&self, fd: Fd, buf: &[u8], offset: u64) -> VfsResult<usize> {
        if offset > MAX_OFFSET {
            return Err(Errno::EINVAL);
        }
        let file = self.file(fd)?;
        if !file.writable() {
            return Err(Errno::EBADF);
        }
        write_from(&file, offset, buf)
    }

    /// EINVAL when the result would be negative.
    pub fn lseek(&self, fd: Fd, offset: i64, whence: Whence) -> VfsResult<u64> {
        let file = self.file(fd)?;
        if file.vnode.is_dir() {
            return seek_dir(&file, offset, whence);
        }
        let base = match whence {
            Whence::Set => 0,
            Whence::Cur => file.offset.load(Ordering::Acquire),
            Whence::End => file.vnode.inode.getattr()?.size,
        };
        let new = i128::from(base) + i128::from(offset);
        if new < 0 || new > i128::from(MAX_OFFSET) {
            return Err(Errno::EINVAL);
        }
        let new = new as u64;
        file.offset.store(new, Ordering::Release);
        Ok(new)
    }

    pub fn truncate(&self, path: &str, len: u64) -> VfsResult<()> {
        // Linux rejects a negative length before looking at the path.
        if len > MAX_OFFSET {
            return Err(Errno::EINVAL);
        }
        let (_, vnode) = self.resolve(path, true)?;
        match vnode.file_type {
            FileType::Directory => return Err(Errno::EISDIR),
            FileType::Regular => {}
            _ => return Err(Errno::EINVAL),
        }
        if vnode.mount.read_only {
            return Err(Errno::EROFS);
        }
        vnode.inode.truncate(len)
    }

    pub fn ftruncate(&self, fd: Fd, len: u64) -> VfsResult<()> {
        if len > MAX_OFFSET {
            return Err(Errno::EINVAL);
        }
        let file = self.file(fd)?;
        if file.vnode.file_type != FileType::Regular || !file.writable() {
            return Err(Errno::EINVAL);
        }
        file.vnode.inode.truncate(len)
    }

    pub fn fsync(&self, fd: Fd) -> VfsResult<()> {
        self.file(fd)?.fsync()
    }

    /// A device- or backend-specific request on an open file.
    pub fn ioctl(&self, fd: Fd, request: u32, arg: usize) -> VfsResult<usize> {
        self.file(fd)?.vnode.inode.ioctl(request, arg)
    }

    /// Convenience: the whole contents of the file at `path`.
    pub fn read_file(&self, path: &str) -> VfsResult<Vec<u8>> {
        let fd = self.open(path, OpenFlags::O_RDONLY, 0)?;
        let result = self.read_all(fd);
        let closed = self.close(fd);
        let data = result?;
        closed?;
        Ok(data)
    }

    pub(crate) fn read_all(&self, fd: Fd) -> VfsResult<Vec<u8>> {
        let stat = self.fstat(fd)?;
        let size = stat.size;
        // A device such as /dev/zero never ends: stop after a bounded amount.
        let limit = match stat.file_type() {
            Some(FileType::Regular) => usize::MAX,
            _ => 1 << 20,
        };
        let mut data = Vec::new();
        // Sized to the file plus one byte, so the end shows as a short read.
        let hint = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .clamp(4096, 1 << 24);
        data.try_reserve(hint).map_err(|_| Errno::ENOMEM)?;
        loop {
            let len = data.len();
            if data.capacity() == len {
                data.try_reserve(len.max(4096)).map_err(|_| Errno::ENOMEM)?;
            }
            data.resize(data.capacity(), 0);
            let n = self.read(fd, data.get_mut(len..).ok_or(Errno::EIO)?)?;
            data.truncate(len + n);
            if n == 0 || data.len() >= limit {
                data.truncate(limit);
                return Ok(data);
            }
        }
    }

    /// Convenience: create or replace the file at `path` with `data`.
    pub fn write_file(&self, path: &str, data: &[u8]) -> VfsResult<()> {
        let flags = OpenFlags::O_WRONLY | OpenFlags::O_CREAT | OpenFlags::O_TRUNC;
        let fd = self.open(path, flags, 0o644)?;
        let mut result = Ok(());
        let mut done = 0;
        while done < data.len() {
            match self.write(fd, data.get(done..).unwrap_or_default()) {
                Ok(0) => {
                    result = Err(Errno::EIO);
                    break;
                }
                Ok(n) => done += n,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let closed = self.close(fd);
        result?;
        closed
    }
}

/// EINVAL when `offset + len` passes the largest file offset, as Linux's
/// `rw_verify_area`.
fn check_range(offset: u64, len: usize) -> VfsResult<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= MAX_OFFSET => Ok(()),
        _ => Err(Errno::EINVAL),
    }
}

/// Read at `offset` straight into the caller's buffer.
fn read_into(file: &OpenFile, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
    check_range(offset, buf.len())?;
    if file.vnode.is_dir() {
        return Err(Errno::EISDIR);
    }
    if buf.is_empty() {
        return Ok(0);
    }
    let n = file.read_at(offset, buf)?;
    Ok(n.min(buf.len()))
}

/// Write at `offset` straight from the caller's buffer.
fn write_from(file: &OpenFile, offset: u64, buf: &[u8]) -> VfsResult<usize> {
    check_range(offset, buf.len())?;
    if file.vnode.is_dir() {
        return Err(Errno::EISDIR);
    }
    if buf.is_empty() {
        return Ok(0);
    }
    let n = file.write_at(offset, buf)?;
    Ok(n.min(buf.len()))
}
