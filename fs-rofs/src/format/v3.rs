//! Version 3 on-disk structures (see `FORMAT.md`, "Version 3"): a
//! superblock, 4 KiB metadata blocks each with its own CRC32 (inode blocks
//! and directory-entry blocks), and file data in whole blocks.
//!
//! An inode number is the byte address of the inode in the image divided
//! by 8, so reading an inode is one metadata block away and needs no table.

use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Format version 3.
pub const VERSION_3: u64 = 3;
/// v3's only block size: one page of the page cache, so a metadata block
/// is one cached page.
pub const V3_BLOCK_SIZE: u32 = 4096;
/// Bytes of the v3 superblock covered by its CRC.
pub const V3_SUPERBLOCK_SIZE: usize = core::mem::size_of::<RawV3SuperBlock>();
/// Inode numbers are byte addresses divided by this (inodes are 8-aligned).
pub const V3_INO_SCALE: u64 = 8;

/// Incompat feature: some files are stored as LZ4 clusters.
pub const V3_INCOMPAT_LZ4: u32 = 1 << 0;
/// Incompat features this reader knows.
pub const V3_KNOWN_INCOMPAT: u32 = V3_INCOMPAT_LZ4;
/// Cluster sizes a compressed image may use: 4 KiB to 1 MiB.
pub const V3_CLUSTER_LOG2: core::ops::RangeInclusive<u32> = 12..=20;
/// The writer's default cluster size (64 KiB).
pub const V3_DEFAULT_CLUSTER_LOG2: u32 = 16;

/// Files (or symlink targets) of at most this many bytes are stored inline,
/// after their inode in its metadata block.
pub const V3_INLINE_MAX: usize = 2048;

/// Metadata block kinds (byte 4 of each metadata block).
pub const BLOCK_INODES: u8 = 1;
pub const BLOCK_DIRENTS: u8 = 2;
/// A directory's lookup index: records like entries, naming the first name
/// of each block of the level below (byte 5 of the header: the level, 1
/// for the level just above the entry blocks).
pub const BLOCK_DIR_INDEX: u8 = 3;

/// Inode data layouts.
pub const LAYOUT_PLAIN: u8 = 0;
/// The file is cut into clusters of `1 << cluster_log2` bytes, each stored
/// LZ4-compressed or raw; `start` is the first block of its cluster index.
pub const LAYOUT_LZ4: u8 = 1;

/// Cluster flag: stored as is (it did not shrink).
pub const CLUSTER_RAW: u32 = 1;

/// One cluster index record (16 bytes; a file's records are contiguous
/// from byte 0 of its `start` block, in cluster order).
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawCluster {
    /// Byte address of the stored cluster in the image (in the data blocks).
    pub offset: U64,
    /// Stored bytes: the cluster's length when raw, fewer when compressed.
    pub stored_len: U32,
    pub flags: U32,
}

/// Bytes of [`RawCluster`].
pub const CLUSTER_RECORD_SIZE: usize = core::mem::size_of::<RawCluster>();

/// Directory entry file types (the `d_type` values).
pub const DT_REG: u8 = 8;
pub const DT_DIR: u8 = 4;
pub const DT_LNK: u8 = 10;

/// Superblock, at byte 0 of block 0 (the rest of the block is zero).
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawV3SuperBlock {
    pub magic: U64,
    pub version: U64,
    pub block_size: U32,
    pub header_size: U32,
    pub compat: U32,
    pub incompat: U32,
    pub ro_compat: U32,
    /// CRC32 of the first `header_size` bytes with this field zeroed.
    pub sb_crc32: U32,
    pub image_blocks: U64,
    /// First metadata block; data blocks are `1 .. meta_start`.
    pub meta_start: U64,
    pub meta_blocks: U64,
    pub root_ino: U64,
    pub inode_count: U64,
    pub dir_count: U32,
    pub file_count: U32,
    pub symlink_count: U32,
    /// log2 of the compression cluster size (0 when nothing is compressed).
    pub cluster_log2: U32,
    /// Bytes of file data stored in data blocks (deduplicated, unpadded).
    pub data_bytes: U64,
    /// Sum of the sizes of all regular files.
    pub raw_bytes: U64,
    /// Bytes of file data stored inline in inode blocks.
    pub inline_bytes: U64,
    /// Directory entries in the image.
    pub dirent_count: U64,
    /// CRC32 of the metadata blocks' own CRC32s (little-endian, in block
    /// order): the whole metadata in block 0, for `verify` and for anything
    /// that identifies an image by its first block. Mount does not read it.
    pub meta_crc32: U32,
    pub reserved: U32,
}

/// Header of every metadata block (16 bytes).
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawBlockHeader {
    /// CRC32 of bytes 4..4096 of the block.
    pub crc32: U32,
    pub kind: u8,
    pub reserved: u8,
    /// Inode blocks: bytes used (header included). Entry blocks: entries.
    pub count: U16,
    /// Entry blocks: the inode number of the directory they belong to.
    pub owner: U64,
}

/// Bytes of [`RawBlockHeader`].
pub const BLOCK_HEADER_SIZE: usize = core::mem::size_of::<RawBlockHeader>();

/// Inode, 64 bytes, 8-aligned inside an inode block; `inline_len` bytes of
/// inline data follow it.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawV3Inode {
    pub mode: U32,
    pub uid: U32,
    pub gid: U32,
    pub nlink: U32,
    /// Files: bytes. Symlinks: target bytes. Directories: entries.
    pub size: U64,
    pub mtime_sec: I64,
    pub mtime_nsec: U32,
    /// Files: CRC32 of the whole contents. Directories of more than one
    /// entry block: the top block of their lookup index (else 0).
    pub data_crc32: U32,
    /// Files and symlinks: first data block (0 when `count` is 0).
    /// Directories: first entry block.
    pub start: U64,
    /// Files and symlinks: data blocks. Directories: entry blocks.
    pub count: U32,
    pub inline_len: U16,
    pub layout: u8,
    pub reserved: u8,
    /// Directories other than the root: the byte address of the one entry
    /// that names them (in an entry block of their parent). LZ4 files: the
    /// bytes their clusters and index occupy (their `st_blocks`, so a stat
    /// reads no index). Else 0.
    pub entry_addr: U64,
}

/// Bytes of [`RawV3Inode`].
pub const V3_INODE_SIZE: usize = core::mem::size_of::<RawV3Inode>();

/// Directory entry, 12 bytes, in an entry block after its header.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawV3DirEntry {
    pub ino: U64,
    /// Byte offset of the name inside the entry block.
    pub name_off: U16,
    pub name_len: u8,
    /// `DT_REG`, `DT_DIR` or `DT_LNK`.
    pub file_type: u8,
}

/// Bytes of [`RawV3DirEntry`].
pub const V3_DIRENT_SIZE: usize = core::mem::size_of::<RawV3DirEntry>();

const _: () = assert!(V3_SUPERBLOCK_SIZE == 136);
const _: () = assert!(BLOCK_HEADER_SIZE == 16);
const _: () = assert!(V3_INODE_SIZE == 64);
const _: () = assert!(V3_DIRENT_SIZE == 12);
const _: () = assert!(BLOCK_HEADER_SIZE + V3_INODE_SIZE + V3_INLINE_MAX <= V3_BLOCK_SIZE as usize);

/// The CRC32 a metadata block must carry: over bytes 4.. of the block.
pub fn block_crc(block: &[u8]) -> u32 {
    crate::crc::hash(block.get(4..).unwrap_or(&[]))
}

/// The `d_type` of a mode's type bits (0 for an unknown type).
pub fn dtype_of(mode: u32) -> u8 {
    match mode & super::S_IFMT {
        super::S_IFREG => DT_REG,
        super::S_IFDIR => DT_DIR,
        super::S_IFLNK => DT_LNK,
        _ => 0,
    }
}
