//! Copy-up: making the upper copy of a lower object (and of its parents)
//! without ever leaving a half-made copy visible.

use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use vfs::{Errno, FileType, Inode, S_IPERM, SetAttr, Stat, VfsResult};

use crate::NsGuard;
use crate::inode::OverlayInode;
use crate::layers::{self, OPAQUE_MARKER};
use crate::links::LinkState;

/// Bytes moved per read/write while copying file data.
const CHUNK: usize = 128 * 1024;

impl OverlayInode {
    /// The upper object, copying this object (and its parents) up first if
    /// needed. `keep`: how many bytes of data the copy needs (None: all).
    pub(crate) fn copy_up(&self, keep: Option<u64>) -> VfsResult<Arc<dyn Inode>> {
        if let Some(upper) = self.copied() {
            return Ok(upper.clone());
        }
        self.fs.upper_root()?;
        let ns = self.fs.ns.lock();
        self.copy_up_locked(&ns, keep)
    }

    /// [`copy_up`](Self::copy_up) with the namespace lock held.
    pub(crate) fn copy_up_locked(
        &self,
        ns: &NsGuard<'_>,
        keep: Option<u64>,
    ) -> VfsResult<Arc<dyn Inode>> {
        if let Some(upper) = self.copied() {
            return Ok(upper.clone());
        }
        self.fs.upper_root()?;
        if self.removed.load(Ordering::Acquire) {
            return Err(Errno::ENOENT);
        }
        // Ancestors without an upper copy, nearest first; then copied top
        // down (for a hard-linked file, those of the name it was found by,
        // as Linux copies the parents of the name used).
        let mut chain: Vec<Arc<OverlayInode>> = Vec::new();
        let mut cursor = self.parent();
        while let Some(dir) = cursor {
            if dir.upper.get().is_some() {
                break;
            }
            cursor = dir.parent();
            chain.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            chain.push(dir);
        }
        for dir in chain.iter().rev() {
            dir.copy_up_one(None)?;
        }
        match &self.link {
            Some(link) => self.copy_up_linked(ns, link, keep),
            None => self.copy_up_one(keep),
        }
    }

    /// The upper object if nothing is left to copy: for a name of a
    /// hard-linked file, also that name must have its upper link (the
    /// object may have been copied through another name).
    fn copied(&self) -> Option<&Arc<dyn Inode>> {
        let upper = self.upper.get()?;
        let name_pending = self.link.is_some() && self.place.lock().is_some();
        (!name_pending).then_some(upper)
    }

    /// Copy this object next to its lower self; its parent has an upper copy.
    fn copy_up_one(&self, keep: Option<u64>) -> VfsResult<Arc<dyn Inode>> {
        if let Some(upper) = self.upper.get() {
            return Ok(upper.clone());
        }
        let (parent, name) = {
            let place = self.place.lock();
            let place = place.as_ref().ok_or(Errno::EIO)?;
            (place.parent.clone(), place.name.clone())
        };
        let dir = parent.upper.get().cloned().ok_or(Errno::EIO)?;
        // The name is free in the upper directory, or the lower object would
        // not be visible; anything there is not ours to replace.
        if layers::find(&*dir, &name)?.is_some() {
            return Err(Errno::EIO);
        }
        let dir_times = dir.getattr()?;
        let copy = self.copy_into(&dir, &name, keep)?;
        // As Linux: a copy-up does not change the parent's times.
        restore_times(&*dir, &dir_times);
        self.adopt_upper(copy.clone());
        Ok(copy)
    }

    /// A name of a lower file with several names: the object is copied into
    /// the index once; then, as Linux does, the name used gets an upper link
    /// to it (covering that lower name).
    fn copy_up_linked(
        &self,
        ns: &NsGuard<'_>,
        link: &LinkState,
        keep: Option<u64>,
    ) -> VfsResult<Arc<dyn Inode>> {
        let copy = match link.upper() {
            Some(copy) => copy,
            None => {
                let index = self.fs.index_dir(ns)?;
                let name = format!("{:x}", self.number);
                let copy = self.copy_into(&index, &name, keep)?;
                link.set_upper(copy.clone(), name);
                copy
            }
        };
        let place = self
            .place
            .lock()
            .as_ref()
            .map(|p| (p.parent.clone(), p.name.clone()));
        if let Some((parent, name)) = place
            && let Some(dir) = parent.upper.get()
            // Still this lower name (not covered since it was looked up).
            && layers::find(&**dir, &name)?.is_none()
        {
            let dir_times = dir.getattr()?;
            dir.link(&name, &copy)?;
            restore_times(&**dir, &dir_times);
            self.cover_lower_name(ns, link, &parent, &name);
        }
        self.adopt_upper(copy.clone());
        Ok(copy)
    }

    /// Make the copy under a temporary name in `dir`, then rename it to
    /// `name`; on failure remove the temporary.
    fn copy_into(
        &self,
        dir: &Arc<dyn Inode>,
        name: &str,
        keep: Option<u64>,
    ) -> VfsResult<Arc<dyn Inode>> {
        let source = &self.first;
        let stat = source.getattr()?;
        let temp = self.fs.temp_name();
        let made = make_copy(dir, &temp, &**source, &stat, keep)
            .and_then(|copy| dir.rename(&temp, dir, name).map(|()| copy));
        if made.is_err() {
            discard(&**dir, &temp);
        }
        made
    }

    /// Route this node to its new upper copy.
    pub(crate) fn adopt_upper(&self, copy: Arc<dyn Inode>) {
        self.fs.inos.set_origin(copy.ino(), self.number);
        self.set_upper(copy);
        // The place is not needed any more; drop the parent outside the lock.
        let place = self.place.lock().take();
        drop(place);
    }
}

/// A copy of `source` (attributes `stat`) named `name` in `dir`: contents
/// (the first `keep` bytes), mode, owner and times.
fn make_copy(
    dir: &Arc<dyn Inode>,
    name: &str,
    source: &dyn Inode,
    stat: &Stat,
    keep: Option<u64>,
) -> VfsResult<Arc<dyn Inode>> {
    let perm = stat.mode & S_IPERM;
    let kind = source.file_type();
    let copy = match kind {
        FileType::Regular => {
            let copy = dir.create(name, kind.mode_bits() | perm, 0)?;
            let len = keep.map_or(stat.size, |k| k.min(stat.size));
            copy_data(source, &*copy, len)?;
            copy.truncate(len)?;
            copy
        }
        FileType::Directory => dir.mkdir(name, perm)?,
        FileType::Symlink => dir.symlink(name, &source.readlink()?)?,
        _ => dir.create(name, kind.mode_bits() | perm, stat.rdev)?,
    };
    copy.setattr(&SetAttr {
        mode: None,
        uid: Some(stat.uid),
        gid: Some(stat.gid),
        atime: Some(stat.atime),
        mtime: Some(stat.mtime),
    })?;
    Ok(copy)
}

/// Stream `len` bytes from `source` to `dest` in chunks, leaving all-zero
/// chunks as holes (the caller sets the final size).
fn copy_data(source: &dyn Inode, dest: &dyn Inode, len: u64) -> VfsResult<()> {
    if len == 0 {
        return Ok(());
    }
    let size = usize::try_from(len).map_or(CHUNK, |l| l.min(CHUNK));
    let mut buf = Vec::new();
    buf.try_reserve_exact(size).map_err(|_| Errno::ENOMEM)?;
    buf.resize(size, 0);
    let mut offset = 0u64;
    while offset < len {
        let want = usize::try_from(len - offset).map_or(buf.len(), |r| r.min(buf.len()));
        let chunk = buf.get_mut(..want).ok_or(Errno::EIO)?;
        let n = source.read_at(offset, chunk)?;
        if n == 0 {
            // Shorter than its size said (a layer changed underneath).
            break;
        }
        let data = chunk.get(..n).ok_or(Errno::EIO)?;
        if data.iter().any(|&b| b != 0) {
            write_all(dest, offset, data)?;
        }
        offset += n as u64;
    }
    Ok(())
}

pub(crate) fn write_all(dest: &dyn Inode, mut offset: u64, mut data: &[u8]) -> VfsResult<()> {
    while !data.is_empty() {
        let n = dest.write_at(offset, data)?;
        if n == 0 {
            return Err(Errno::EIO);
        }
        data = data.get(n..).unwrap_or_default();
        offset += n as u64;
    }
    Ok(())
}

/// Put back a directory's access and modification times.
pub(crate) fn restore_times(dir: &dyn Inode, before: &Stat) {
    // Best effort: the change itself succeeded.
    let _ = dir.setattr(&SetAttr {
        atime: Some(before.atime),
        mtime: Some(before.mtime),
        ..SetAttr::default()
    });
}

/// Remove a temporary of any type from `dir` (a directory may hold an
/// opaque marker). Best effort: it is hidden either way.
pub(crate) fn discard(dir: &dyn Inode, name: &str) {
    let Ok(Some(temp)) = layers::find(dir, name) else {
        return;
    };
    if temp.file_type() == FileType::Directory {
        let _ = temp.unlink(OPAQUE_MARKER);
        let _ = dir.rmdir(name);
    } else {
        let _ = dir.unlink(name);
    }
}
