//! The mounted filesystem: `vfs::FileSystem` and `vfs::Inode` over an [`Image`].

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU8, Ordering};

use drivers::{BlockDevice, read_bytes};
use vfs::{
    DirEntryRef, DirSink, Errno, FileSystem, FileType, FsType, Inode as VfsInode, InodeNo,
    MountContext, SetAttr, Stat, StatFs, Timespec, VfsResult, parse_options,
};

use crate::error::{RofsError, corrupt};
use crate::format::{self, Inode};
use crate::image::{Image, ROOT_INO};

/// `statfs` type magic (the image magic).
const STATFS_MAGIC: u64 = format::MAGIC;

/// Chunk size for whole-file checksum passes.
const CRC_CHUNK: usize = 128 * 1024;

const CRC_UNKNOWN: u8 = 0;
const CRC_GOOD: u8 = 1;
const CRC_BAD: u8 = 2;

/// The "rofs" filesystem type: mounts the image on the source block device
/// (ENOTBLK without one).
pub struct RofsType;

impl FsType for RofsType {
    fn name(&self) -> &'static str {
        "rofs"
    }

    fn create(&self, ctx: &MountContext) -> VfsResult<Arc<dyn FileSystem>> {
        let device = ctx.source.device().ok_or(Errno::ENOTBLK)?;
        let fs: Arc<dyn FileSystem> = RofsFs::mount(device.clone(), &ctx.options)?;
        Ok(fs)
    }

    fn diagnose(&self, ctx: &MountContext) -> Option<String> {
        let device = ctx.source.device()?;
        crate::inspect(&**device).err().map(|why| why.to_string())
    }
}

/// A mounted ROFS image (v1 or v2).
pub struct RofsFs {
    mounted: Arc<Mounted>,
}

struct Mounted {
    dev: Arc<dyn BlockDevice>,
    image: Image,
    /// With the `verify` option: per-inode result of the whole-file CRC check.
    crc_state: Vec<AtomicU8>,
}

impl RofsFs {
    /// Mount the image on `dev`. `options` is empty or `verify`: with
    /// `verify`, the first read of each regular file checks the CRC32 of the
    /// whole file (one extra pass over it); a mismatch makes every read of
    /// that file fail with EIO. v1 images have no checksums, so `verify`
    /// checks nothing more there.
    pub fn mount(dev: Arc<dyn BlockDevice>, options: &str) -> VfsResult<Arc<RofsFs>> {
        let mut verify = false;
        for (key, value) in parse_options(options) {
            match (key, value) {
                ("verify", None) => verify = true,
                _ => {
                    log::warn!("rofs: unknown mount option {key:?}");
                    return Err(Errno::EINVAL);
                }
            }
        }
        let image = Image::load(&*dev)?;
        let crc_state = if verify && image.has_data_crc {
            (0..image.inode_count)
                .map(|_| AtomicU8::new(CRC_UNKNOWN))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Arc::new(RofsFs {
            mounted: Arc::new(Mounted {
                dev,
                image,
                crc_state,
            }),
        }))
    }

    /// The format version of the mounted image (1 or 2).
    pub fn version(&self) -> u64 {
        self.mounted.image.version
    }

    fn inode(&self, ino: u64) -> VfsResult<Arc<dyn VfsInode>> {
        RofsInode::open(&self.mounted, ino)
    }
}

impl FileSystem for RofsFs {
    fn root(&self) -> VfsResult<Arc<dyn VfsInode>> {
        self.inode(ROOT_INO)
    }

    fn fs_type(&self) -> &'static str {
        "rofs"
    }

    fn is_read_only(&self) -> bool {
        true
    }

    fn statfs(&self) -> VfsResult<StatFs> {
        let image = &self.mounted.image;
        Ok(StatFs {
            fs_type: STATFS_MAGIC,
            block_size: image.block_size,
            blocks: image.image_blocks,
            blocks_free: 0,
            blocks_available: 0,
            files: u64::from(image.inode_count),
            files_free: 0,
            name_max: format::NAME_MAX as u32,
        })
    }
}

/// One object of a mounted image. Cheap: an inode number and a type.
pub struct RofsInode {
    mounted: Arc<Mounted>,
    ino: u64,
    file_type: FileType,
}

impl RofsInode {
    fn open(mounted: &Arc<Mounted>, ino: u64) -> VfsResult<Arc<dyn VfsInode>> {
        let record = mounted.image.inode(ino)?;
        let file_type = FileType::from_mode(record.mode.get()).ok_or(Errno::EIO)?;
        Ok(Arc::new(RofsInode {
            mounted: mounted.clone(),
            ino,
            file_type,
        }))
    }

    fn record(&self) -> VfsResult<&Inode> {
        Ok(self.mounted.image.inode(self.ino)?)
    }

    fn dir_record(&self) -> VfsResult<&Inode> {
        if self.file_type != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        self.record()
    }

    /// With `verify`: check the whole file's CRC32 once, remember the result.
    fn check_crc(&self, record: &Inode) -> VfsResult<()> {
        let Some(state) = self.mounted.crc_state.get((self.ino - 1) as usize) else {
            return Ok(());
        };
        match state.load(Ordering::Acquire) {
            CRC_GOOD => return Ok(()),
            CRC_BAD => return Err(Errno::EIO),
            _ => {}
        }
        let computed = file_crc(&*self.mounted.dev, &self.mounted.image, record)?;
        if computed == record.data_crc32.get() {
            state.store(CRC_GOOD, Ordering::Release);
            Ok(())
        } else {
            state.store(CRC_BAD, Ordering::Release);
            log::warn!("rofs: inode {}: data CRC32 mismatch", self.ino);
            Err(Errno::EIO)
        }
    }
}

/// The CRC32 of a file's data, read in large chunks.
pub(crate) fn file_crc(
    dev: &dyn BlockDevice,
    image: &Image,
    record: &Inode,
) -> Result<u32, RofsError> {
    let size = record.size.get();
    let base = image
        .block_offset(record.start.get())
        .ok_or_else(|| corrupt!("data offset overflows"))?;
    let mut crc = 0;
    let mut buf = vec![0u8; CRC_CHUNK.min(size as usize)];
    let mut done = 0u64;
    while done < size {
        let n = core::cmp::min(buf.len() as u64, size - done) as usize;
        let at = base
            .checked_add(done)
            .ok_or_else(|| corrupt!("data offset overflows"))?;
        read_bytes(dev, at, &mut buf[..n])?;
        crc = crate::crc::update(crc, &buf[..n]);
        done += n as u64;
    }
    Ok(crc)
}

fn timespec(record: &Inode) -> Timespec {
    Timespec::new(
        record.mtime_sec.get(),
        record.mtime_nsec.get().min(999_999_999),
    )
}

impl VfsInode for RofsInode {
    fn ino(&self) -> InodeNo {
        self.ino
    }

    fn file_type(&self) -> FileType {
        self.file_type
    }

    fn getattr(&self) -> VfsResult<Stat> {
        let record = self.record()?;
        let image = &self.mounted.image;
        let blocks = if self.file_type == FileType::Regular {
            record
                .count
                .get()
                .saturating_mul(u64::from(image.block_size))
                / 512
        } else {
            0
        };
        let time = timespec(record);
        Ok(Stat {
            dev: 0,
            ino: self.ino,
            mode: record.mode.get(),
            nlink: record.nlink.get(),
            uid: record.uid.get(),
            gid: record.gid.get(),
            rdev: 0,
            size: record.size.get(),
            blksize: image.block_size,
            blocks,
            atime: time,
            mtime: time,
            ctime: time,
        })
    }

    fn lookup(&self, name: &str) -> VfsResult<Arc<dyn VfsInode>> {
        let record = self.dir_record()?;
        let image = &self.mounted.image;
        let entry = image
            .lookup(record, name.as_bytes())?
            .ok_or(Errno::ENOENT)?;
        RofsInode::open(&self.mounted, u64::from(entry.ino.get()))
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        if self.file_type != FileType::Regular {
            return Err(self.not_a_file());
        }
        let record = self.record()?;
        let size = record.size.get();
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        self.check_crc(record)?;
        let n = core::cmp::min(buf.len() as u64, size - offset) as usize;
        let image = &self.mounted.image;
        let at = image
            .block_offset(record.start.get())
            .and_then(|base| base.checked_add(offset))
            .ok_or(Errno::EIO)?;
        read_bytes(&*self.mounted.dev, at, &mut buf[..n]).map_err(RofsError::from)?;
        Ok(n)
    }

    fn readdir(&self, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        let record = self.dir_record()?;
        let image = &self.mounted.image;
        let entries = image.entries(record)?;
        let start = usize::try_from(cookie).unwrap_or(usize::MAX);
        for (index, entry) in entries.iter().enumerate().skip(start) {
            let ino = u64::from(entry.ino.get());
            let child = image.inode(ino)?;
            let file_type = FileType::from_mode(child.mode.get()).ok_or(Errno::EIO)?;
            // v2 names are checked UTF-8 at mount; a v1 name that is not
            // (OSv's length bug) is shown with U+FFFD replacements.
            let name = String::from_utf8_lossy(image.name(entry));
            if !sink(
                DirEntryRef {
                    ino,
                    file_type,
                    name: &name,
                },
                index as u64 + 1,
            ) {
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
        let target = self
            .mounted
            .image
            .blob(record.start.get(), record.count.get())
            .ok_or(Errno::EIO)?;
        Ok(String::from_utf8_lossy(target).into_owned())
    }

    fn setattr(&self, _attr: &SetAttr) -> VfsResult<()> {
        Err(Errno::EROFS)
    }

    fn write_at(&self, _offset: u64, _buf: &[u8]) -> VfsResult<usize> {
        Err(Errno::EROFS)
    }

    fn truncate(&self, _size: u64) -> VfsResult<()> {
        Err(Errno::EROFS)
    }

    fn create(&self, _name: &str, _mode: u32, _rdev: u64) -> VfsResult<Arc<dyn VfsInode>> {
        Err(self.not_a_dir_or(Errno::EROFS))
    }

    fn mkdir(&self, _name: &str, _mode: u32) -> VfsResult<Arc<dyn VfsInode>> {
        Err(self.not_a_dir_or(Errno::EROFS))
    }

    fn symlink(&self, _name: &str, _target: &str) -> VfsResult<Arc<dyn VfsInode>> {
        Err(self.not_a_dir_or(Errno::EROFS))
    }

    fn link(&self, _name: &str, _target: &Arc<dyn VfsInode>) -> VfsResult<()> {
        Err(self.not_a_dir_or(Errno::EROFS))
    }

    fn unlink(&self, _name: &str) -> VfsResult<()> {
        Err(self.not_a_dir_or(Errno::EROFS))
    }

    fn rmdir(&self, _name: &str) -> VfsResult<()> {
        Err(self.not_a_dir_or(Errno::EROFS))
    }

    fn rename(
        &self,
        _old_name: &str,
        _new_dir: &Arc<dyn VfsInode>,
        _new_name: &str,
    ) -> VfsResult<()> {
        Err(self.not_a_dir_or(Errno::EROFS))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
