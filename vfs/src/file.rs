//! The open-file table: fd -> open file description (vnode, offset, flags).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use crate::backend::{DirSink, FileHandle};
use crate::errno::{Errno, VfsResult};
use crate::tree::DentryId;
use crate::vnode::Vnode;
use crate::{Fd, OpenFlags};

/// Where the next `getdents` continues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DirPos {
    Dot,
    DotDot,
    /// A backend cookie; kept after the end, so entries added later show.
    Backend(u64),
}

/// An open file description, shared by `dup`ed descriptors.
pub(crate) struct OpenFile {
    pub vnode: Arc<Vnode>,
    pub flags: OpenFlags,
    pub offset: AtomicU64,
    pub dir_pos: Mutex<DirPos>,
    /// The dentry it was opened through (for the `..` entry of getdents).
    pub dentry: DentryId,
    /// The backend's per-open state, if it keeps any.
    handle: Option<Box<dyn FileHandle>>,
}

impl OpenFile {
    /// Counts itself on its mount, so umount sees it.
    pub fn new(
        vnode: Arc<Vnode>,
        flags: OpenFlags,
        dentry: DentryId,
        handle: Option<Box<dyn FileHandle>>,
    ) -> Self {
        vnode.mount.open_files.fetch_add(1, Ordering::SeqCst);
        OpenFile {
            vnode,
            flags,
            offset: AtomicU64::new(0),
            dir_pos: Mutex::new(DirPos::Dot),
            dentry,
            handle,
        }
    }

    // I/O goes through the backend's handle when it gave one.

    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        let inode = self.vnode.inode.as_ref();
        match &self.handle {
            Some(h) => h.read_at(inode, offset, buf),
            None => inode.read_at(offset, buf),
        }
    }

    pub fn write_at(&self, offset: u64, buf: &[u8]) -> VfsResult<usize> {
        let inode = self.vnode.inode.as_ref();
        match &self.handle {
            Some(h) => h.write_at(inode, offset, buf),
            None => inode.write_at(offset, buf),
        }
    }

    pub fn readdir(&self, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        let inode = self.vnode.inode.as_ref();
        match &self.handle {
            Some(h) => h.readdir(inode, cookie, sink),
            None => inode.readdir(cookie, sink),
        }
    }

    pub fn fsync(&self) -> VfsResult<()> {
        let inode = self.vnode.inode.as_ref();
        match &self.handle {
            Some(h) => h.fsync(inode),
            None => inode.fsync(),
        }
    }

    pub fn readable(&self) -> bool {
        self.flags.bits() & 3 != OpenFlags::O_WRONLY.bits()
    }

    pub fn writable(&self) -> bool {
        self.flags.bits() & 3 != OpenFlags::O_RDONLY.bits()
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        self.vnode.mount.open_files.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) struct FdTable {
    slots: Vec<Option<Arc<OpenFile>>>,
    max: usize,
}

impl FdTable {
    pub fn new(max: usize) -> Self {
        FdTable {
            slots: Vec::new(),
            max,
        }
    }

    pub fn get(&self, fd: Fd) -> VfsResult<&Arc<OpenFile>> {
        let index = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        self.slots
            .get(index)
            .and_then(Option::as_ref)
            .ok_or(Errno::EBADF)
    }

    /// Whether [`FdTable::insert`] would find a descriptor.
    pub fn has_room(&self) -> bool {
        self.slots.len() < self.max || self.slots.iter().any(Option::is_none)
    }

    /// Install `file` at the lowest free descriptor; EMFILE when full.
    pub fn insert(&mut self, file: Arc<OpenFile>) -> VfsResult<Fd> {
        let index = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.slots.len() < self.max => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(Errno::EMFILE),
        };
        let fd = Fd::try_from(index).map_err(|_| Errno::EMFILE)?;
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some(file);
        }
        Ok(fd)
    }

    /// Put `file` at `fd`, returning what was there (closed by the caller,
    /// outside the lock).
    pub fn insert_at(&mut self, fd: Fd, file: Arc<OpenFile>) -> VfsResult<Option<Arc<OpenFile>>> {
        let index = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        if index >= self.max {
            return Err(Errno::EBADF);
        }
        if index >= self.slots.len() {
            self.slots.resize(index + 1, None);
        }
        let slot = self.slots.get_mut(index).ok_or(Errno::EBADF)?;
        Ok(slot.replace(file))
    }

    pub fn remove(&mut self, fd: Fd) -> VfsResult<Arc<OpenFile>> {
        let index = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        let file = self
            .slots
            .get_mut(index)
            .and_then(Option::take)
            .ok_or(Errno::EBADF)?;
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        Ok(file)
    }
}
