//! The on-disk structures: dm-verity's superblock (as `veritysetup format`
//! writes it), our locator block, and the tree geometry both imply.
//! `FORMAT.md` beside this file describes them byte by byte.

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::error::VerityError;

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// Data and hash block size (the only one we write or read).
pub const BLOCK: usize = 4096;
/// `BLOCK` as a byte count on the device.
pub const BLOCK_U64: u64 = BLOCK as u64;
/// Bytes of one digest in a hash block (SHA-256: no padding per digest).
pub const DIGEST_BYTES: usize = 32;
/// Digests per hash block, and its log2.
pub const HASHES_PER_BLOCK: u64 = (BLOCK / DIGEST_BYTES) as u64;
pub const HASH_BITS: u32 = HASHES_PER_BLOCK.trailing_zeros();
/// Levels a tree can have: with 128 digests per block, 9 levels cover 2^63
/// data blocks; cryptsetup refuses a tree that needs more, and so do we.
pub const MAX_LEVELS: usize = 9;
/// Bytes of the dm-verity superblock.
pub const SUPERBLOCK_BYTES: usize = 512;
/// The longest salt the superblock holds.
pub const MAX_SALT: usize = 256;

/// dm-verity superblock signature.
pub const SUPERBLOCK_SIGNATURE: [u8; 8] = *b"verity\0\0";
/// Locator signature.
pub const LOCATOR_MAGIC: [u8; 8] = *b"VLOCATOR";
pub const LOCATOR_VERSION: u32 = 1;
/// Bytes of the locator header covered by its CRC (the rest of its block is zero).
pub const LOCATOR_BYTES: usize = 64;

/// The dm-verity superblock (cryptsetup's `struct verity_sb`), little-endian.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawVeritySuperblock {
    pub signature: [u8; 8],
    pub version: U32,
    pub hash_type: U32,
    pub uuid: [u8; 16],
    pub algorithm: [u8; 32],
    pub data_block_size: U32,
    pub hash_block_size: U32,
    pub data_blocks: U64,
    pub salt_size: U16,
    pub pad1: [u8; 6],
    pub salt: [u8; MAX_SALT],
    pub pad2: [u8; 168],
}

const _: () = assert!(size_of::<RawVeritySuperblock>() == SUPERBLOCK_BYTES);

/// Our locator: where the image's tree is. Not trusted for integrity (the
/// root hash is); it only saves the person booting from giving offsets.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawLocator {
    pub magic: [u8; 8],
    pub version: U32,
    /// Bytes of this header, 64.
    pub header_bytes: U32,
    /// Byte offset of the dm-verity superblock (`--hash-offset`).
    pub hash_offset: U64,
    /// Bytes of the verified data area, from offset 0.
    pub data_bytes: U64,
    /// Byte offset just past the last block of the tree.
    pub hash_end: U64,
    pub reserved: [u8; 20],
    /// CRC32 (IEEE) of the 60 bytes before it.
    pub crc32: U32,
}

const _: () = assert!(size_of::<RawLocator>() == LOCATOR_BYTES);

impl RawLocator {
    pub fn new(hash_offset: u64, data_bytes: u64, hash_end: u64) -> Self {
        let mut raw = RawLocator {
            magic: LOCATOR_MAGIC,
            version: U32::new(LOCATOR_VERSION),
            header_bytes: U32::new(LOCATOR_BYTES as u32),
            hash_offset: U64::new(hash_offset),
            data_bytes: U64::new(data_bytes),
            hash_end: U64::new(hash_end),
            reserved: [0; 20],
            crc32: U32::new(0),
        };
        raw.crc32 = U32::new(raw.computed_crc());
        raw
    }

    fn computed_crc(&self) -> u32 {
        let bytes = self.as_bytes();
        crc32fast::hash(bytes.get(..LOCATOR_BYTES - 4).unwrap_or(bytes))
    }

    /// Whether the block holds a locator at all (its magic), before any check.
    pub fn has_magic(&self) -> bool {
        self.magic == LOCATOR_MAGIC
    }

    /// Check version, size and CRC.
    pub fn validate(&self) -> Result<(), VerityError> {
        if self.version.get() != LOCATOR_VERSION {
            return Err(VerityError::Locator("unknown version"));
        }
        if self.header_bytes.get() as usize != LOCATOR_BYTES {
            return Err(VerityError::Locator("wrong header size"));
        }
        if self.crc32.get() != self.computed_crc() {
            return Err(VerityError::Locator("CRC mismatch"));
        }
        Ok(())
    }
}

/// A salt of up to 256 bytes, held inline (no allocation on the read path).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Salt {
    bytes: [u8; MAX_SALT],
    len: u16,
}

impl Salt {
    pub fn new(salt: &[u8]) -> Result<Self, VerityError> {
        let mut bytes = [0u8; MAX_SALT];
        bytes
            .get_mut(..salt.len())
            .ok_or(VerityError::BadInput("a salt is at most 256 bytes"))?
            .copy_from_slice(salt);
        Ok(Salt {
            bytes,
            len: salt.len() as u16,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl core::fmt::Debug for Salt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Salt({})", super::hex::Hex(self.as_bytes()))
    }
}

/// What a valid superblock says.
pub struct SuperblockFields {
    pub uuid: [u8; 16],
    pub data_blocks: u64,
    pub salt: Salt,
}

impl RawVeritySuperblock {
    /// A type-1 SHA-256 superblock with 4096-byte blocks.
    pub fn new(uuid: [u8; 16], data_blocks: u64, salt: &Salt) -> Self {
        let mut algorithm = [0u8; 32];
        algorithm[..6].copy_from_slice(b"sha256");
        let mut salt_field = [0u8; MAX_SALT];
        salt_field[..salt.as_bytes().len()].copy_from_slice(salt.as_bytes());
        RawVeritySuperblock {
            signature: SUPERBLOCK_SIGNATURE,
            version: U32::new(1),
            hash_type: U32::new(1),
            uuid,
            algorithm,
            data_block_size: U32::new(BLOCK as u32),
            hash_block_size: U32::new(BLOCK as u32),
            data_blocks: U64::new(data_blocks),
            salt_size: U16::new(salt.as_bytes().len() as u16),
            pad1: [0; 6],
            salt: salt_field,
            pad2: [0; 168],
        }
    }

    /// Check every field we rely on and return them.
    pub fn validate(&self) -> Result<SuperblockFields, VerityError> {
        let bad = VerityError::Superblock;
        if self.signature != SUPERBLOCK_SIGNATURE {
            return Err(bad("no 'verity' signature at the hash offset"));
        }
        if self.version.get() != 1 {
            return Err(bad("unknown superblock version"));
        }
        match self.hash_type.get() {
            1 => {}
            0 => return Err(bad("hash type 0 (Chrome OS) is not supported")),
            _ => return Err(bad("unknown hash type")),
        }
        // "sha256" and NUL padding, as cryptsetup writes it.
        let mut expected = [0u8; 32];
        expected[..6].copy_from_slice(b"sha256");
        if self.algorithm != expected {
            return Err(bad("hash algorithm is not sha256"));
        }
        if self.data_block_size.get() as usize != BLOCK
            || self.hash_block_size.get() as usize != BLOCK
        {
            return Err(bad("data and hash blocks are not 4096 bytes"));
        }
        let data_blocks = self.data_blocks.get();
        if data_blocks == 0 {
            return Err(bad("zero data blocks"));
        }
        let salt_len = usize::from(self.salt_size.get());
        let salt = self
            .salt
            .get(..salt_len)
            .ok_or(bad("salt longer than 256 bytes"))?;
        Ok(SuperblockFields {
            uuid: self.uuid,
            data_blocks,
            salt: Salt::new(salt)?,
        })
    }
}

/// The shape of the tree for a number of data blocks, computed exactly as
/// cryptsetup does: level 0 holds the digests of the data blocks, level
/// `levels - 1` is one block whose digest is the root hash, and on disk the
/// levels are stored top first. A tree of one data block has no levels: its
/// root is the digest of that block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub data_blocks: u64,
    pub levels: usize,
    /// First block of each level, counted from the start of the tree.
    pub level_start: [u64; MAX_LEVELS],
    /// Blocks in each level.
    pub level_blocks: [u64; MAX_LEVELS],
    /// Blocks of all levels together.
    pub tree_blocks: u64,
}

impl Geometry {
    pub fn new(data_blocks: u64) -> Result<Self, VerityError> {
        if data_blocks == 0 {
            return Err(VerityError::Geometry("zero data blocks"));
        }
        let mut levels = 0usize;
        while HASH_BITS as usize * levels < 64
            && (data_blocks - 1) >> (HASH_BITS as usize * levels) != 0
        {
            levels += 1;
        }
        if levels > MAX_LEVELS {
            return Err(VerityError::Geometry("too many data blocks for a tree"));
        }
        let mut geometry = Geometry {
            data_blocks,
            levels,
            level_start: [0; MAX_LEVELS],
            level_blocks: [0; MAX_LEVELS],
            tree_blocks: 0,
        };
        let mut position = 0u64;
        for level in (0..levels).rev() {
            let shift = (level as u32 + 1) * HASH_BITS;
            if shift > 63 {
                return Err(VerityError::Geometry("too many data blocks for a tree"));
            }
            let blocks = data_blocks.div_ceil(1u64 << shift);
            geometry.level_start[level] = position;
            geometry.level_blocks[level] = blocks;
            position = position
                .checked_add(blocks)
                .ok_or(VerityError::Geometry("tree size overflows"))?;
        }
        geometry.tree_blocks = position;
        Ok(geometry)
    }

    /// Nodes the blocks of `level` hold digests of: data blocks for level 0,
    /// blocks of the level below otherwise.
    pub fn children(&self, level: usize) -> u64 {
        match level.checked_sub(1) {
            None => self.data_blocks,
            Some(below) => self.level_blocks.get(below).copied().unwrap_or(0),
        }
    }

    /// Index in the whole tree of block `index` of `level`.
    pub fn tree_block(&self, level: usize, index: u64) -> u64 {
        self.level_start.get(level).copied().unwrap_or(0) + index
    }
}

/// Byte offset of the first tree block for a superblock at `hash_offset`:
/// the next 4096-byte boundary after the superblock (cryptsetup's rule).
pub fn tree_offset(hash_offset: u64) -> Option<u64> {
    hash_offset
        .checked_add(SUPERBLOCK_BYTES as u64)?
        .checked_next_multiple_of(BLOCK_U64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_matches_cryptsetup() {
        let one = Geometry::new(1).unwrap();
        assert_eq!((one.levels, one.tree_blocks), (0, 0));
        for (blocks, levels, sizes) in [
            (2u64, 1usize, &[1u64][..]),
            (128, 1, &[1]),
            (129, 2, &[2, 1]),
            (128 * 128, 2, &[128, 1]),
            (128 * 128 + 1, 3, &[129, 2, 1]),
        ] {
            let g = Geometry::new(blocks).unwrap();
            assert_eq!(g.levels, levels, "{blocks} blocks");
            assert_eq!(&g.level_blocks[..levels], sizes, "{blocks} blocks");
            assert_eq!(g.tree_blocks, sizes.iter().sum::<u64>());
            // Top level first on disk, level 0 last.
            assert_eq!(g.level_start[levels - 1], 0);
            assert_eq!(g.level_start[0] + g.level_blocks[0], g.tree_blocks);
        }
        assert!(Geometry::new(0).is_err());
        assert!(Geometry::new(u64::MAX).is_err());
        let big = Geometry::new(1 << 63).unwrap();
        assert_eq!(big.levels, 9);
    }

    #[test]
    fn tree_starts_on_the_next_block() {
        assert_eq!(tree_offset(0), Some(4096));
        assert_eq!(tree_offset(4096), Some(8192));
        assert_eq!(tree_offset(3584), Some(4096));
        assert_eq!(tree_offset(3585), Some(8192));
        assert_eq!(tree_offset(u64::MAX - 100), None);
    }

    #[test]
    fn locator_crc_covers_the_header() {
        let raw = RawLocator::new(8192, 8192, 16384);
        assert!(raw.validate().is_ok());
        let mut bytes = [0u8; LOCATOR_BYTES];
        bytes.copy_from_slice(raw.as_bytes());
        for i in 8..LOCATOR_BYTES {
            let mut bad = bytes;
            bad[i] ^= 1;
            let parsed = RawLocator::read_from_bytes(&bad[..]).unwrap();
            assert!(parsed.validate().is_err(), "byte {i}");
        }
    }
}
