//! Open files and directories: the server's fh lives in a
//! [`vfs::FileHandle`], and dropping it (the last close) is the RELEASE.

use alloc::sync::Arc;
use core::sync::atomic::AtomicU64;

use vfs::{DirSink, Errno, FileHandle, Inode, VfsResult};

use crate::dir::{Chunk, list};
use crate::inode::FuseInode;
use crate::ops;
use crate::session::Session;

/// An open regular file.
pub(crate) struct OpenFileHandle {
    session: Arc<Session>,
    nodeid: u64,
    fh: u64,
    /// Linux open flags, echoed in READ, WRITE and RELEASE.
    flags: u32,
    /// Reads go through the page cache (not `FOPEN_DIRECT_IO`).
    cached: bool,
}

impl OpenFileHandle {
    pub fn new(session: Arc<Session>, nodeid: u64, fh: u64, flags: u32) -> Self {
        OpenFileHandle {
            session,
            nodeid,
            fh,
            flags,
            cached: false,
        }
    }

    /// This handle with reads through the page cache or not.
    pub fn cached(mut self, cached: bool) -> Self {
        self.cached = cached;
        self
    }
}

/// The inode behind a handle's calls is always ours.
fn node_of(inode: &dyn Inode) -> Option<&FuseInode> {
    inode.as_any().downcast_ref::<FuseInode>()
}

impl FileHandle for OpenFileHandle {
    fn read_at(&self, inode: &dyn Inode, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        match node_of(inode) {
            Some(node) if self.cached => node.read_cached(self.fh, self.flags, offset, buf),
            _ => ops::read(&self.session, self.nodeid, self.fh, self.flags, offset, buf),
        }
    }

    fn write_at(&self, inode: &dyn Inode, offset: u64, buf: &[u8]) -> VfsResult<usize> {
        let result = ops::write(&self.session, self.nodeid, self.fh, self.flags, offset, buf);
        if let Some(node) = node_of(inode) {
            // Even a failed write may have changed some of the range.
            node.wrote(offset, buf.len());
        }
        result
    }

    fn readdir(&self, _inode: &dyn Inode, _cookie: u64, _sink: &mut DirSink<'_>) -> VfsResult<()> {
        Err(Errno::ENOTDIR)
    }

    fn fsync(&self, _inode: &dyn Inode) -> VfsResult<()> {
        ops::fsync(&self.session, self.nodeid, false, self.fh)
    }
}

impl Drop for OpenFileHandle {
    fn drop(&mut self) {
        ops::release(&self.session, self.nodeid, false, self.fh, self.flags);
    }
}

/// An open directory, with the last READDIR reply kept for resuming.
pub(crate) struct DirHandle {
    session: Arc<Session>,
    nodeid: u64,
    fh: u64,
    flags: u32,
    chunk: spin::Mutex<Option<Chunk>>,
    delivered: AtomicU64,
}

impl DirHandle {
    pub fn new(session: Arc<Session>, nodeid: u64, fh: u64, flags: u32) -> Self {
        DirHandle {
            session,
            nodeid,
            fh,
            flags,
            chunk: spin::Mutex::new(None),
            delivered: AtomicU64::new(0),
        }
    }
}

impl FileHandle for DirHandle {
    fn read_at(&self, _inode: &dyn Inode, _offset: u64, _buf: &mut [u8]) -> VfsResult<usize> {
        Err(Errno::EISDIR)
    }

    fn write_at(&self, _inode: &dyn Inode, _offset: u64, _buf: &[u8]) -> VfsResult<usize> {
        Err(Errno::EISDIR)
    }

    fn readdir(&self, _inode: &dyn Inode, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        list(
            &self.session,
            self.nodeid,
            self.fh,
            cookie,
            sink,
            &self.chunk,
            &self.delivered,
        )
    }

    fn fsync(&self, _inode: &dyn Inode) -> VfsResult<()> {
        ops::fsync(&self.session, self.nodeid, true, self.fh)
    }
}

impl Drop for DirHandle {
    fn drop(&mut self) {
        ops::release(&self.session, self.nodeid, true, self.fh, self.flags);
    }
}
