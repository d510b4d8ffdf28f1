//! Finding an image's tree from its locator, and checking that the
//! locator, the superblock and the device agree. Nothing here is trusted for
//! integrity (the root hash is); it is checked so that a hostile header
//! gives an error, never an out-of-range read, a huge allocation or a panic.

use zerocopy::FromBytes;

use super::error::VerityError;
use super::format::{
    BLOCK, BLOCK_U64, DIGEST_BYTES, Digest, Geometry, LOCATOR_BYTES, RawLocator,
    RawVeritySuperblock, SUPERBLOCK_BYTES, Salt, tree_offset,
};
use super::hash::SaltedHasher;
use crate::{BlockDevice, read_bytes};

/// Where an image's tree is and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerityInfo {
    /// Byte offset of the dm-verity superblock: `veritysetup
    /// --hash-offset`. Equal to `data_bytes` in the images we write.
    pub hash_offset: u64,
    /// Bytes of the verified data area, which starts at byte 0.
    pub data_bytes: u64,
    /// Byte offset of the first tree block.
    pub tree_offset: u64,
    /// Bytes of the tree's levels (the superblock's block not included).
    pub tree_bytes: u64,
    /// Byte offset of the locator block (the device's last 4096 bytes).
    pub locator_offset: u64,
    pub uuid: [u8; 16],
    pub salt: Salt,
    /// The digest of the tree's top block as stored: the root hash the
    /// image claims. Only a root hash given from outside is trusted.
    pub stored_root: Digest,
    pub geometry: Geometry,
}

impl VerityInfo {
    pub fn data_blocks(&self) -> u64 {
        self.geometry.data_blocks
    }

    pub fn levels(&self) -> usize {
        self.geometry.levels
    }

    /// Bytes from the superblock to the end of the tree.
    pub fn hash_area_bytes(&self) -> u64 {
        self.tree_offset - self.hash_offset + self.tree_bytes
    }

    /// Byte offset on the device of block `index` of tree `level`.
    pub(crate) fn hash_block_offset(&self, level: usize, index: u64) -> u64 {
        self.tree_offset + self.geometry.tree_block(level, index) * BLOCK_U64
    }
}

/// Whether `dev` carries a tree, for the "mounted unverified" log line:
/// `Some` when [`locate`] finds a consistent one.
pub fn probe(dev: &dyn BlockDevice) -> Option<VerityInfo> {
    locate(dev).ok()
}

/// Read the locator (the last 4096-byte block), then the superblock it
/// points at, check that they fit each other and the device, and hash the
/// tree's top block. [`VerityError::NoTree`] when there is no locator.
pub fn locate(dev: &dyn BlockDevice) -> Result<VerityInfo, VerityError> {
    let block_size = dev.block_size();
    if block_size == 0 || !BLOCK.is_multiple_of(block_size) {
        return Err(VerityError::BlockSize(block_size));
    }
    let device_blocks = dev.size_bytes() / BLOCK_U64;
    // Data, superblock and locator take at least three blocks.
    if device_blocks < 3 {
        return Err(VerityError::NoTree);
    }
    let locator_offset = (device_blocks - 1) * BLOCK_U64;
    let mut raw = [0u8; LOCATOR_BYTES];
    read_bytes(dev, locator_offset, &mut raw)?;
    let locator =
        RawLocator::read_from_bytes(&raw[..]).map_err(|_| VerityError::Locator("unreadable"))?;
    if !locator.has_magic() {
        return Err(VerityError::NoTree);
    }
    locator.validate()?;

    let hash_offset = locator.hash_offset.get();
    let data_bytes = locator.data_bytes.get();
    let geometry_err = VerityError::Geometry;
    if data_bytes == 0 || !data_bytes.is_multiple_of(BLOCK_U64) {
        return Err(geometry_err(
            "data size is not a whole number of 4096-byte blocks",
        ));
    }
    if hash_offset < data_bytes {
        return Err(geometry_err("the hash area overlaps the data"));
    }
    let tree_offset = tree_offset(hash_offset)
        .filter(|&t| t <= locator_offset)
        .ok_or(geometry_err(
            "the hash offset is past the end of the device",
        ))?;

    let mut raw_sb = [0u8; SUPERBLOCK_BYTES];
    read_bytes(dev, hash_offset, &mut raw_sb)?;
    let superblock = RawVeritySuperblock::read_from_bytes(&raw_sb[..])
        .map_err(|_| VerityError::Superblock("unreadable"))?;
    let fields = superblock.validate()?;
    if fields.data_blocks.checked_mul(BLOCK_U64) != Some(data_bytes) {
        return Err(geometry_err(
            "the locator and the superblock disagree on the data size",
        ));
    }
    let geometry = Geometry::new(fields.data_blocks)?;
    let tree_bytes = geometry
        .tree_blocks
        .checked_mul(BLOCK_U64)
        .ok_or(geometry_err("tree size overflows"))?;
    let hash_end = tree_offset
        .checked_add(tree_bytes)
        .filter(|&end| end <= locator_offset)
        .ok_or(geometry_err("the tree runs past the locator"))?;
    if locator.hash_end.get() != hash_end {
        return Err(geometry_err(
            "the locator's tree end disagrees with the superblock",
        ));
    }

    let mut info = VerityInfo {
        hash_offset,
        data_bytes,
        tree_offset,
        tree_bytes,
        locator_offset,
        uuid: fields.uuid,
        salt: fields.salt,
        stored_root: [0; DIGEST_BYTES],
        geometry,
    };
    let top = if geometry.levels == 0 {
        0
    } else {
        info.hash_block_offset(geometry.levels - 1, 0)
    };
    let mut block = [0u8; BLOCK];
    read_bytes(dev, top, &mut block)?;
    info.stored_root = SaltedHasher::new(&info.salt).digest(&block);
    Ok(info)
}
