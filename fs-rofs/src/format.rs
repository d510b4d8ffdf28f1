//! On-disk structures of both format versions (see `FORMAT.md`).
//!
//! All integers are little-endian. The structs use zerocopy's unaligned
//! little-endian integer types, so a table is viewed in place from any byte
//! offset of the metadata buffer without copying or alignment concerns.

pub mod v3;

use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Magic number of both versions (first u64 of block 0).
pub const MAGIC: u64 = 0xDEAD_BEAD;
/// OSv's format.
pub const VERSION_1: u64 = 1;
/// Our format.
pub const VERSION_2: u64 = 2;

/// v1 block size (OSv hard-codes 512-byte blocks).
pub const V1_BLOCK_SIZE: u32 = 512;
/// v2 default block size.
pub const V2_DEFAULT_BLOCK_SIZE: u32 = 4096;

/// The root directory's inode number in every version.
pub const ROOT_INO: u64 = 1;

/// Longest name a directory entry may carry.
pub const NAME_MAX: usize = 255;
/// Longest symlink target.
pub const SYMLINK_MAX: usize = 4095;

/// Compat feature: every regular file inode carries a CRC32 of its data.
pub const COMPAT_DATA_CRC32: u32 = 1 << 0;
/// Compat features this reader knows (unknown ones are ignored).
pub const KNOWN_COMPAT: u32 = COMPAT_DATA_CRC32;
/// Incompat features this reader knows (an unknown one refuses the mount).
pub const KNOWN_INCOMPAT: u32 = 0;
/// Read-only-compat features this reader knows (an unknown one refuses the
/// mount too: this reader is read-only, but the bits may change what the
/// tables mean for reading in a later version).
pub const KNOWN_RO_COMPAT: u32 = 0;

/// Type bits of a mode.
pub const S_IFMT: u32 = 0o170_000;
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFLNK: u32 = 0o120_000;

/// v1 superblock: eight u64s at byte 0 of block 0.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawV1SuperBlock {
    pub magic: U64,
    pub version: U64,
    pub block_size: U64,
    pub structure_info_first_block: U64,
    pub structure_info_blocks_count: U64,
    pub directory_entries_count: U64,
    pub symlinks_count: U64,
    pub inodes_count: U64,
}

/// v1 inode: 32 bytes. `data_offset`/`count` mean, by type: file — first
/// block and size in bytes; directory — index of the first directory entry
/// and number of entries; symlink — index in the symlink table and 1.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawV1Inode {
    pub mode: U64,
    pub inode_no: U64,
    pub data_offset: U64,
    pub count: U64,
}

/// Head of a v1 directory entry (10 bytes); `name_len` name bytes follow.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawV1DirEntryHead {
    pub inode_no: U64,
    pub name_len: U16,
}

/// Bytes of [`RawV1DirEntryHead`].
pub const V1_DIRENT_HEAD_SIZE: usize = core::mem::size_of::<RawV1DirEntryHead>();
/// Bytes of [`RawV1Inode`].
pub const V1_INODE_SIZE: usize = core::mem::size_of::<RawV1Inode>();
/// Bytes of the length before each v1 symlink target.
pub const V1_SYMLINK_HEAD_SIZE: usize = 2;

/// v2 superblock, at byte 0 of block 0 (the rest of the block is zero).
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawSuperBlock {
    pub magic: U64,
    pub version: U64,
    pub block_size: U32,
    /// Size of this struct as written (lets later versions grow it).
    pub header_size: U32,
    pub compat: U32,
    pub incompat: U32,
    pub ro_compat: U32,
    /// CRC32 of the first `header_size` bytes with this field zeroed.
    pub sb_crc32: U32,
    /// Total image size in blocks (superblock, data and metadata).
    pub image_blocks: U64,
    /// Data region: blocks `1 .. 1 + data_blocks`.
    pub data_blocks: U64,
    /// Byte offset of the metadata region (block-aligned).
    pub meta_offset: U64,
    /// Length of the metadata region in bytes.
    pub meta_len: U64,
    /// CRC32 of the `meta_len` bytes of the metadata region.
    pub meta_crc32: U32,
    pub root_ino: U32,
    pub inode_count: U32,
    pub dirent_count: U32,
    /// Offsets below are relative to the start of the metadata region.
    pub inode_table_off: U64,
    pub dirent_table_off: U64,
    pub names_off: U64,
    pub names_len: U64,
    pub dir_count: U32,
    pub file_count: U32,
    pub symlink_count: U32,
    pub reserved0: U32,
    /// Sum of the sizes of stored (deduplicated) file extents.
    pub data_bytes: U64,
    pub reserved: [U64; 2],
}

/// Bytes of [`RawSuperBlock`].
pub const SUPERBLOCK_SIZE: usize = core::mem::size_of::<RawSuperBlock>();
/// Byte offset of `sb_crc32` inside the superblock.
pub const SB_CRC_OFFSET: usize = 36;

/// v2 inode: 64 bytes. `start`/`count` mean, by type: file — first block of
/// its data (0 when empty) and number of blocks; directory — index of the
/// first entry in the directory entry table and number of entries; symlink —
/// byte offset of the target in the names blob and its length.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawInode {
    pub mode: U32,
    pub uid: U32,
    pub gid: U32,
    pub nlink: U32,
    pub size: U64,
    pub mtime_sec: I64,
    pub mtime_nsec: U32,
    /// CRC32 of the file's data (files only; 0 otherwise).
    pub data_crc32: U32,
    pub start: U64,
    pub count: U64,
    pub reserved: U64,
}

/// Bytes of [`RawInode`].
pub const INODE_SIZE: usize = core::mem::size_of::<RawInode>();

/// v2 directory entry: 12 bytes. A directory's entries are contiguous and
/// sorted by name bytes, so lookup is a binary search with no allocation.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawDirEntry {
    pub ino: U32,
    /// Byte offset of the name in the names blob.
    pub name_off: U32,
    pub name_len: U16,
    pub reserved: U16,
}

/// Bytes of [`RawDirEntry`].
pub const DIRENT_SIZE: usize = core::mem::size_of::<RawDirEntry>();

const _: () = assert!(SUPERBLOCK_SIZE == 160);
const _: () = assert!(INODE_SIZE == 64);
const _: () = assert!(DIRENT_SIZE == 12);
const _: () = assert!(core::mem::size_of::<RawV1SuperBlock>() == 64);
const _: () = assert!(V1_INODE_SIZE == 32);
const _: () = assert!(V1_DIRENT_HEAD_SIZE == 10);

/// The CRC32 of a v2 superblock's first `len` bytes with the CRC field zeroed.
pub fn superblock_crc(header: &[u8]) -> u32 {
    let (before, rest) = header.split_at(SB_CRC_OFFSET.min(header.len()));
    let mut crc = crate::crc::update(0, before);
    if let Some(after) = rest.get(4..) {
        crc = crate::crc::update(crc, &[0u8; 4]);
        crc = crate::crc::update(crc, after);
    }
    crc
}
