//! One object of a mounted image as a `vfs::Inode`. Only the reading half
//! of the trait is implemented: the VFS answers EROFS for every change on a
//! read-only filesystem before a backend sees it.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::Ordering;

use pagecache::ReadAhead;
use vfs::{
    DirEntryRef, DirSink, Errno, FileHandle, FileType, Inode, InodeNo, OpenFlags, Stat, Timespec,
    VfsResult,
};

use crate::data::file_crc;
use crate::error::RofsError;
use crate::format::NAME_MAX;
use crate::fs::Mounted;
use crate::handle::RofsHandle;
use crate::image::InodeRecord;
use crate::mem;

pub(crate) const CRC_UNKNOWN: u8 = 0;
const CRC_GOOD: u8 = 1;
const CRC_BAD: u8 = 2;

/// One object of a mounted image. Cheap: an inode number and a type.
pub struct RofsInode {
    mounted: Arc<Mounted>,
    ino: u64,
    file_type: FileType,
}

impl RofsInode {
    pub(crate) fn open(mounted: &Arc<Mounted>, ino: u64) -> VfsResult<Arc<dyn Inode>> {
        let record = mounted.image.inode(ino)?;
        let file_type = FileType::from_mode(record.mode).ok_or(Errno::EIO)?;
        Ok(Arc::new(RofsInode {
            mounted: mounted.clone(),
            ino,
            file_type,
        }))
    }

    fn record(&self) -> VfsResult<InodeRecord> {
        Ok(self.mounted.image.inode(self.ino)?)
    }

    fn dir_record(&self) -> VfsResult<InodeRecord> {
        if self.file_type != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        self.record()
    }

    /// With `verify`: check the whole file's CRC32 once, remember the result.
    fn check_crc(&self, record: &InodeRecord) -> VfsResult<()> {
        let Some(state) = self.mounted.crc_state.get((self.ino - 1) as usize) else {
            return Ok(());
        };
        match state.load(Ordering::Acquire) {
            CRC_GOOD => return Ok(()),
            CRC_BAD => return Err(Errno::EIO),
            _ => {}
        }
        let computed = file_crc(&**self.mounted.dev.inner(), &self.mounted.image, record)?;
        if computed == record.data_crc32 {
            state.store(CRC_GOOD, Ordering::Release);
            Ok(())
        } else {
            state.store(CRC_BAD, Ordering::Release);
            log::warn!("rofs: inode {}: data CRC32 mismatch", self.ino);
            Err(Errno::EIO)
        }
    }
}

impl RofsInode {
    /// The device byte offset of the file's first byte.
    fn data_start(&self, record: &InodeRecord) -> VfsResult<u64> {
        self.mounted
            .image
            .block_offset(record.start)
            .ok_or(Errno::EIO)
    }

    /// Read file data through the page cache, with the open file's
    /// read-ahead when there is one. Pages are keyed by device block, so
    /// data the image stores once (dedup, hard links) is cached once.
    pub(crate) fn read_data(
        &self,
        offset: u64,
        buf: &mut [u8],
        readahead: Option<&ReadAhead>,
    ) -> VfsResult<usize> {
        if self.file_type != FileType::Regular {
            return Err(self.not_a_file());
        }
        let record = self.record()?;
        let size = record.size;
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        self.check_crc(&record)?;
        let n = core::cmp::min(buf.len() as u64, size - offset) as usize;
        let start = self.data_start(&record)?;
        let at = start.checked_add(offset).ok_or(Errno::EIO)?;
        // Read-ahead never runs past this file's data.
        let data_end = start.checked_add(size).ok_or(Errno::EIO)?;
        self.mounted
            .dev
            .read(at, &mut buf[..n], readahead, data_end)
            .map_err(RofsError::from)?;
        Ok(n)
    }
}

/// `name` as text for readdir: borrowed when it is UTF-8 (always in v2),
/// else decoded lossily into `buf` (each invalid byte becomes at most 3
/// bytes, and names are at most 255), so listing never allocates.
fn shown_name<'a>(name: &'a [u8], buf: &'a mut [u8; 3 * NAME_MAX]) -> &'a str {
    if let Ok(text) = core::str::from_utf8(name) {
        return text;
    }
    let mut len = 0;
    for chunk in name.utf8_chunks() {
        let mut put = |s: &str| {
            if let Some(dst) = buf.get_mut(len..len + s.len()) {
                dst.copy_from_slice(s.as_bytes());
                len += s.len();
            }
        };
        put(chunk.valid());
        if !chunk.invalid().is_empty() {
            put("\u{FFFD}");
        }
    }
    core::str::from_utf8(buf.get(..len).unwrap_or(&[])).unwrap_or("\u{FFFD}")
}

impl Inode for RofsInode {
    fn ino(&self) -> InodeNo {
        self.ino
    }

    fn file_type(&self) -> FileType {
        self.file_type
    }

    fn getattr(&self) -> VfsResult<Stat> {
        let record = self.record()?;
        let block_size = self.mounted.image.block_size;
        let blocks = if self.file_type == FileType::Regular {
            record.count.saturating_mul(u64::from(block_size)) / 512
        } else {
            0
        };
        let time = Timespec::new(record.mtime_sec, record.mtime_nsec.min(999_999_999));
        Ok(Stat {
            dev: 0,
            ino: self.ino,
            mode: record.mode,
            nlink: record.nlink,
            uid: record.uid,
            gid: record.gid,
            rdev: 0,
            size: record.size,
            blksize: block_size,
            blocks,
            atime: time,
            mtime: time,
            ctime: time,
        })
    }

    fn lookup(&self, name: &str) -> VfsResult<Arc<dyn Inode>> {
        let record = self.dir_record()?;
        let ino = self
            .mounted
            .image
            .lookup(&record, name.as_bytes())?
            .ok_or(Errno::ENOENT)?;
        RofsInode::open(&self.mounted, ino)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        // No open file (pread through the inode): cached, no read-ahead.
        self.read_data(offset, buf, None)
    }

    fn open(&self, _flags: OpenFlags) -> VfsResult<Option<Box<dyn FileHandle>>> {
        if self.file_type != FileType::Regular {
            return Ok(None);
        }
        let record = self.record()?;
        let start = self.data_start(&record)?;
        Ok(Some(Box::new(RofsHandle::starting_at(start))))
    }

    fn readdir(&self, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        let record = self.dir_record()?;
        let image = &self.mounted.image;
        // The cookie is the position in the directory.
        let mut buf = [0u8; 3 * NAME_MAX];
        for position in cookie..record.count {
            let entry = image.entry(record.start.saturating_add(position))?;
            let child = image.inode(entry.ino)?;
            let file_type = FileType::from_mode(child.mode).ok_or(Errno::EIO)?;
            // v2 names are checked UTF-8 at mount; a v1 name that is not
            // (OSv's length bug) is shown with U+FFFD replacements.
            let name = shown_name(entry.name, &mut buf);
            let entry = DirEntryRef {
                ino: entry.ino,
                file_type,
                name,
            };
            if !sink(entry, position + 1) {
                break;
            }
        }
        Ok(())
    }

    fn readlink(&self) -> VfsResult<String> {
        if self.file_type != FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        let record = self.record()?;
        let target = self.mounted.image.target(&record).ok_or(Errno::EIO)?;
        Ok(mem::lossy_string(target)?)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
