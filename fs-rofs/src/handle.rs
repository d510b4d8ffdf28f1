//! Per-open-file state: the read-ahead of one open regular file, for every
//! format version.

use pagecache::ReadAhead;
use vfs::{FileHandle, Inode, VfsResult};

use crate::image::v3::node::V3Inode;
use crate::inode::RofsInode;

/// What the VFS keeps for one open ROFS file: its read-ahead state, so a
/// file read sequentially gets a growing window of pages per device request
/// while random reads through another descriptor of the same file do not
/// disturb it.
pub(crate) struct RofsHandle {
    /// Counts in the device byte offsets the cache sees.
    readahead: ReadAhead,
}

impl RofsHandle {
    /// A handle whose first sequential read starts at device byte
    /// `data_start` (the file's first byte).
    pub(crate) fn starting_at(data_start: u64) -> RofsHandle {
        RofsHandle {
            readahead: ReadAhead::starting_at(data_start),
        }
    }

    /// A handle for a file whose first read position is not known yet
    /// (a compressed v3 file: its clusters are found through its index).
    pub(crate) fn new() -> RofsHandle {
        RofsHandle {
            readahead: ReadAhead::new(),
        }
    }
}

impl FileHandle for RofsHandle {
    fn read_at(&self, inode: &dyn Inode, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        // The VFS pairs a handle with the inode that made it.
        let any = inode.as_any();
        if let Some(v1v2) = any.downcast_ref::<RofsInode>() {
            v1v2.read_data(offset, buf, Some(&self.readahead))
        } else if let Some(v3) = any.downcast_ref::<V3Inode>() {
            v3.read_with(offset, buf, Some(&self.readahead))
        } else {
            inode.read_at(offset, buf)
        }
    }
}
