//! Per-open-file state: the read-ahead of one open regular file.

use pagecache::ReadAhead;
use vfs::{Errno, FileHandle, Inode, VfsResult};

use crate::inode::RofsInode;

/// What the VFS keeps for one open ROFS file: its read-ahead state, so a
/// file read sequentially gets a growing window of pages per device request
/// while random reads through another descriptor of the same file do not
/// disturb it.
pub(crate) struct RofsHandle {
    /// Counts from the device byte offset of the file's first byte, the
    /// offsets the cache sees.
    readahead: ReadAhead,
}

impl RofsHandle {
    pub(crate) fn new(data_start: u64) -> RofsHandle {
        RofsHandle {
            readahead: ReadAhead::starting_at(data_start),
        }
    }
}

impl FileHandle for RofsHandle {
    fn read_at(&self, inode: &dyn Inode, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        // The VFS pairs a handle with the inode that made it.
        let inode = inode
            .as_any()
            .downcast_ref::<RofsInode>()
            .ok_or(Errno::EBADF)?;
        inode.read_data(offset, buf, Some(&self.readahead))
    }
}
