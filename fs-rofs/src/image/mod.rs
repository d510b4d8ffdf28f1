//! A loaded, validated image and the accessors the reader uses.
//!
//! Each format version has its own module with its loader and its resident
//! tables ([`v1`]: OSv's tables kept as read plus two small indexes; [`v2`]:
//! the metadata region as read). Both implement [`Tables`], which answers in
//! version-independent terms ([`InodeRecord`], [`Entry`]), so validation,
//! the filesystem and `verify` are written once. A later version adds a
//! module and a [`Layout`] variant.

pub(crate) mod v1;
pub(crate) mod v2;
pub(crate) mod v3;

use core::ops::Range;

use drivers::{BlockDevice, read_bytes};

use crate::error::RofsError;
use crate::format::{MAGIC, S_IFMT, VERSION_1, VERSION_2};
use crate::problem::Problem;

/// Metadata larger than this is refused rather than allocated (a hostile
/// superblock could otherwise ask for the whole device).
pub(crate) const META_MAX: u64 = 1 << 30;

/// An inode, decoded from whichever version's record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct InodeRecord {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub size: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: u32,
    pub data_crc32: u32,
    /// File: first data block. Directory: index of its first entry.
    /// Symlink: byte offset of its target in [`Tables::bytes`].
    pub start: u64,
    /// File: data blocks. Directory: entries. Symlink: target bytes.
    pub count: u64,
}

impl InodeRecord {
    /// The `S_IFMT` bits.
    pub fn kind(&self) -> u32 {
        self.mode & S_IFMT
    }

    /// The directory's entry indices (unchecked: validation checked them).
    pub fn entry_range(&self) -> Range<u64> {
        self.start..self.start.saturating_add(self.count)
    }
}

/// One directory entry: its inode number and name bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry<'a> {
    pub ino: u64,
    pub name: &'a [u8],
}

/// What every version's resident tables answer.
pub(crate) trait Tables {
    fn inode_count(&self) -> u64;
    fn entry_count(&self) -> u64;
    /// The record of inode `ino` (1-based).
    fn inode(&self, ino: u64) -> Result<InodeRecord, Problem>;
    /// Directory entry `index` of the entry table.
    fn entry(&self, index: u64) -> Result<Entry<'_>, Problem>;
    /// `count` bytes at `start` of the blob symlink targets point into.
    fn bytes(&self, start: u64, count: u64) -> Option<&[u8]>;
    /// The entry named `name` in directory `dir`, by binary search.
    fn lookup(&self, dir: &InodeRecord, name: &[u8]) -> Result<Option<u64>, Problem>;
}

/// The resident tables, by version.
pub(crate) enum Layout {
    V1(v1::Tables),
    V2(v2::Tables),
}

/// Call `$body` with `$t` bound to the image's tables, whatever the version.
macro_rules! with_tables {
    ($layout:expr, $t:ident => $body:expr) => {
        match $layout {
            Layout::V1($t) => $body,
            Layout::V2($t) => $body,
        }
    };
}

/// A validated image: its superblock facts and its tables.
pub(crate) struct Image {
    pub version: u64,
    pub block_size: u32,
    pub compat: u32,
    pub incompat: u32,
    pub ro_compat: u32,
    pub image_blocks: u64,
    /// Byte length of the on-disk metadata region.
    pub meta_bytes: u64,
    pub meta_crc32: Option<u32>,
    pub sb_crc32: Option<u32>,
    /// Sum of stored file extents (v2 superblock value; v1: sum of sizes).
    pub data_bytes: u64,
    /// Whether inodes carry data CRC32s.
    pub has_data_crc: bool,
    /// Names are unique and UTF-8 in every directory (v2 guarantees it).
    pub names_unique: bool,
    pub inode_count: u32,
    pub dirent_count: u32,
    pub dir_count: u64,
    pub file_count: u64,
    pub symlink_count: u64,
    pub layout: Layout,
}

impl Image {
    /// Read and validate the image on `dev`.
    pub fn load(dev: &dyn BlockDevice) -> Result<Image, RofsError> {
        let device_bytes = dev.size_bytes();
        let mut head = [0u8; 512];
        let head_len = core::cmp::min(device_bytes, head.len() as u64) as usize;
        if head_len < 16 {
            return Err(RofsError::Truncated {
                needed_bytes: 512,
                device_bytes,
            });
        }
        let head = &mut head[..head_len];
        read_bytes(dev, 0, head)?;
        let word = |at: usize| {
            head.get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        let magic = word(0);
        if magic != MAGIC {
            return Err(RofsError::BadMagic(magic));
        }
        match word(8) {
            VERSION_1 => v1::load(dev, head),
            VERSION_2 => v2::load(dev, head),
            other => Err(RofsError::UnsupportedVersion(other)),
        }
    }

    /// The record of inode `ino`.
    #[inline]
    pub fn inode(&self, ino: u64) -> Result<InodeRecord, RofsError> {
        Ok(with_tables!(&self.layout, t => t.inode(ino))?)
    }

    /// Directory entry `index` of the entry table.
    #[inline]
    pub fn entry(&self, index: u64) -> Result<Entry<'_>, RofsError> {
        Ok(with_tables!(&self.layout, t => t.entry(index))?)
    }

    /// The inode number of the entry `name` in directory `dir`, if any.
    #[inline]
    pub fn lookup(&self, dir: &InodeRecord, name: &[u8]) -> Result<Option<u64>, RofsError> {
        Ok(with_tables!(&self.layout, t => t.lookup(dir, name))?)
    }

    /// A symlink's target bytes.
    pub fn target(&self, link: &InodeRecord) -> Option<&[u8]> {
        with_tables!(&self.layout, t => t.bytes(link.start, link.count))
    }

    /// Byte offset on the device of block `block` of the image.
    pub fn block_offset(&self, block: u64) -> Option<u64> {
        block.checked_mul(u64::from(self.block_size))
    }
}

/// A zeroed buffer of `len` bytes read from `dev` at `offset`; ENOMEM rather
/// than an abort when it does not fit.
pub(crate) fn read_region(
    dev: &dyn BlockDevice,
    offset: u64,
    len: u64,
) -> Result<alloc::vec::Vec<u8>, RofsError> {
    let mut buf = crate::mem::vec_filled(len, 0u8)?;
    read_bytes(dev, offset, &mut buf)?;
    Ok(buf)
}
