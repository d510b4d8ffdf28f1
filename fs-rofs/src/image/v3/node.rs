//! A v3 object as a `vfs::Inode`, and the v3 side of the filesystem.
//! Files read their block part through the page cache (with read-ahead per
//! open file) and their tail from the inode's cached metadata block.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use core::any::Any;

use pagecache::ReadAhead;
use vfs::{
    DirEntryRef, DirSink, Errno, FileHandle, FileType, Inode, InodeNo, OpenFlags, Stat, StatFs,
    Timespec, VfsResult,
};

use super::{Node, Volume};
use crate::format::v3::{DT_DIR, DT_LNK, DT_REG, LAYOUT_LZ4, V3_BLOCK_SIZE};
use crate::format::{MAGIC, NAME_MAX};
use crate::handle::RofsHandle;
use crate::mem;

const BS: u64 = V3_BLOCK_SIZE as u64;
/// Readdir cookies: entry block index times this plus the slot.
const COOKIE_SLOTS: u64 = 1 << 12;

fn file_type(dtype: u8) -> VfsResult<FileType> {
    match dtype {
        DT_REG => Ok(FileType::Regular),
        DT_DIR => Ok(FileType::Directory),
        DT_LNK => Ok(FileType::Symlink),
        _ => Err(Errno::EIO),
    }
}

/// One object of a mounted v3 image.
pub struct V3Inode {
    volume: Arc<Volume<'static>>,
    ino: u64,
    file_type: FileType,
}

impl V3Inode {
    pub(crate) fn open(volume: &Arc<Volume<'static>>, node: &Node) -> VfsResult<Arc<dyn Inode>> {
        Ok(Arc::new(V3Inode {
            volume: volume.clone(),
            ino: node.ino,
            file_type: file_type(node.dtype())?,
        }))
    }

    /// The inode, checked to be of the type its entry said (lookup trusts
    /// the entry's type and reads a file's inode only when it is used).
    fn node(&self) -> VfsResult<Node> {
        let node = self.volume.inode(self.ino)?;
        if file_type(node.dtype())? != self.file_type {
            log::warn!("rofs: inode {}: type differs from its entry's", self.ino);
            return Err(Errno::EIO);
        }
        Ok(node)
    }

    fn dir_node(&self) -> VfsResult<Node> {
        if self.file_type != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        self.node()
    }

    /// With `verify`: check the file's CRC32 once, remember the outcome.
    fn check_crc(&self, node: &Node) -> VfsResult<()> {
        match self.volume.verified(self.ino) {
            _ if !self.volume.verifies() => return Ok(()),
            Some(true) => return Ok(()),
            Some(false) => return Err(Errno::EIO),
            None => {}
        }
        let crc = self.volume.file_crc(node)?;
        let good = crc == node.raw.data_crc32.get();
        self.volume.remember(self.ino, good);
        if good {
            Ok(())
        } else {
            log::warn!("rofs: inode {}: data CRC32 mismatch", self.ino);
            Err(Errno::EIO)
        }
    }

    pub(crate) fn read_with(
        &self,
        offset: u64,
        buf: &mut [u8],
        ra: Option<&ReadAhead>,
    ) -> VfsResult<usize> {
        if self.file_type != FileType::Regular {
            return Err(self.not_a_file());
        }
        let node = self.node()?;
        if offset < node.size() && !buf.is_empty() {
            self.check_crc(&node)?;
        }
        Ok(self.volume.read(&node, offset, buf, ra)?)
    }
}

impl Inode for V3Inode {
    fn ino(&self) -> InodeNo {
        self.ino
    }

    fn file_type(&self) -> FileType {
        self.file_type
    }

    fn getattr(&self) -> VfsResult<Stat> {
        let node = self.node()?;
        let raw = &node.raw;
        // Blocks the contents occupy in the data region.
        let blocks = if self.file_type == FileType::Directory {
            0
        } else if raw.layout == LAYOUT_LZ4 {
            // Recorded by the writer (checked by `verify`): no index read.
            raw.entry_addr.get().div_ceil(512)
        } else {
            u64::from(raw.count.get()) * (BS / 512)
        };
        let time = Timespec::new(raw.mtime_sec.get(), raw.mtime_nsec.get().min(999_999_999));
        Ok(Stat {
            dev: 0,
            ino: self.ino,
            mode: raw.mode.get(),
            nlink: raw.nlink.get(),
            uid: raw.uid.get(),
            gid: raw.gid.get(),
            rdev: 0,
            size: raw.size.get(),
            blksize: V3_BLOCK_SIZE,
            blocks,
            atime: time,
            mtime: time,
            ctime: time,
        })
    }

    fn lookup(&self, name: &str) -> VfsResult<Arc<dyn Inode>> {
        let dir = self.dir_node()?;
        let found = self
            .volume
            .find(&dir, name.as_bytes())?
            .ok_or(Errno::ENOENT)?;
        if found.dtype != DT_DIR {
            // Files and symlinks: the entry gives the type; the inode is
            // read (and checked against it) when it is first used.
            return Ok(Arc::new(V3Inode {
                volume: self.volume.clone(),
                ino: found.ino,
                file_type: file_type(found.dtype)?,
            }));
        }
        // Directories: the inode must name this entry as its own.
        let node = self.volume.open_entry(&found)?;
        V3Inode::open(&self.volume, &node)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        self.read_with(offset, buf, None)
    }

    fn open(&self, _flags: OpenFlags) -> VfsResult<Option<Box<dyn FileHandle>>> {
        if self.file_type != FileType::Regular {
            return Ok(None);
        }
        let node = self.node()?;
        // Plain files: their data blocks. Compressed ones: their clusters'
        // offsets are in the index, so the first read starts no window.
        let handle = match node.raw.layout {
            LAYOUT_LZ4 => RofsHandle::new(),
            // Only a hint: an empty file's unchecked start may be anything.
            _ => RofsHandle::starting_at(node.blocks().start.saturating_mul(BS)),
        };
        Ok(Some(Box::new(handle)))
    }

    fn readdir(&self, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        let dir = self.dir_node()?;
        let blocks = u64::from(dir.raw.count.get());
        let (mut index, mut slot) = (cookie / COOKIE_SLOTS, (cookie % COOKIE_SLOTS) as usize);
        while index < blocks {
            let block = self.volume.entry_block(&dir, index)?;
            let len = block.len();
            while slot < len {
                let (found, name) = block.get(slot).ok_or(Errno::EIO)?;
                // Checked UTF-8 when the block entered the cache.
                let name = core::str::from_utf8(name).map_err(|_| Errno::EIO)?;
                debug_assert!(name.len() <= NAME_MAX);
                let next = if slot + 1 < len {
                    index * COOKIE_SLOTS + slot as u64 + 1
                } else {
                    (index + 1) * COOKIE_SLOTS
                };
                let entry = DirEntryRef {
                    ino: found.ino,
                    file_type: file_type(found.dtype)?,
                    name,
                };
                if !sink(entry, next) {
                    return Ok(());
                }
                slot += 1;
            }
            index += 1;
            slot = 0;
        }
        Ok(())
    }

    fn readlink(&self) -> VfsResult<String> {
        if self.file_type != FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        let node = self.node()?;
        let mut target = mem::vec_filled(node.size(), 0u8)?;
        let n = self.volume.read(&node, 0, &mut target, None)?;
        Ok(mem::lossy_string(target.get(..n).unwrap_or(&[]))?)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Volume<'static> {
    /// The root directory as a VFS inode.
    pub fn root_inode(self: &Arc<Self>) -> VfsResult<Arc<dyn Inode>> {
        let node = self.inode(self.sb.root)?;
        V3Inode::open(self, &node)
    }
}

impl Volume<'_> {
    pub fn statfs(&self) -> StatFs {
        StatFs {
            fs_type: MAGIC,
            block_size: V3_BLOCK_SIZE,
            blocks: self.sb.raw.image_blocks.get(),
            blocks_free: 0,
            blocks_available: 0,
            files: self.sb.raw.inode_count.get(),
            files_free: 0,
            name_max: NAME_MAX as u32,
        }
    }
}
