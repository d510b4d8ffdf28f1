//! Building a tree: feed the data in any chunks, get the root hash and the
//! bytes to append after the data (superblock, tree, locator).
//!
//! Only the digests are kept (1/128 of the data), never the data, so a
//! host tool can stream an image of any size through it.

use alloc::vec::Vec;

use zerocopy::IntoBytes;

use super::error::VerityError;
use super::format::{
    BLOCK, BLOCK_U64, DIGEST_BYTES, Digest, Geometry, RawLocator, RawVeritySuperblock, Salt,
    tree_offset,
};
use super::hash::{SaltedHasher, sha256};

/// Domain strings of the derivations below; changing them changes every
/// default salt and UUID, so they carry a version.
const SALT_DOMAIN: &[u8] = b"mkimage dm-verity salt v1\0";
const UUID_DOMAIN: &[u8] = b"mkimage dm-verity uuid v1\0";

/// The default salt of an image: `SHA-256("mkimage dm-verity salt v1\0" ||
/// data_bytes as u64 LE || first 4096 bytes of the data)`. Deterministic, so
/// the same image gives the same tree; different for different images,
/// since a filesystem's first block (its superblock: sizes, counts, the
/// metadata CRC) changes with its contents.
pub fn default_salt(data_bytes: u64, first_block: &[u8]) -> [u8; 32] {
    sha256(&[SALT_DOMAIN, &data_bytes.to_le_bytes(), first_block])
}

/// The superblock UUID we write: the first 16 bytes of
/// `SHA-256("mkimage dm-verity uuid v1\0" || root hash)`, marked as an
/// RFC 9562 version 8 (custom) UUID. Deterministic like the salt.
pub fn derived_uuid(root: &Digest) -> [u8; 16] {
    let hash = sha256(&[UUID_DOMAIN, root]);
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&hash[..16]);
    uuid[6] = (uuid[6] & 0x0f) | 0x80;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    uuid
}

/// Accumulates the digests of data blocks.
pub struct TreeBuilder {
    hasher: SaltedHasher,
    salt: Salt,
    /// Digests of the data blocks so far, 32 bytes each.
    leaves: Vec<u8>,
    /// A block not yet complete (the data need not come in whole blocks).
    partial: Vec<u8>,
    data_blocks: u64,
}

impl TreeBuilder {
    pub fn new(salt: &[u8]) -> Result<Self, VerityError> {
        let salt = Salt::new(salt)?;
        let mut partial = Vec::new();
        partial
            .try_reserve_exact(BLOCK)
            .map_err(|_| VerityError::NoMemory)?;
        Ok(TreeBuilder {
            hasher: SaltedHasher::new(&salt),
            salt,
            leaves: Vec::new(),
            partial,
            data_blocks: 0,
        })
    }

    /// Hash the next `data` bytes. Whole blocks are hashed in place; only a
    /// trailing part of a block is copied.
    pub fn update(&mut self, mut data: &[u8]) -> Result<(), VerityError> {
        if !self.partial.is_empty() {
            let take = (BLOCK - self.partial.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.partial.extend_from_slice(head);
            data = rest;
            if self.partial.len() == BLOCK {
                let digest = self.hasher.digest(&self.partial);
                self.push_digest(&digest)?;
                self.partial.clear();
            }
        }
        let mut blocks = data.chunks_exact(BLOCK);
        for block in &mut blocks {
            let digest = self.hasher.digest(block);
            self.push_digest(&digest)?;
        }
        self.partial.extend_from_slice(blocks.remainder());
        Ok(())
    }

    fn push_digest(&mut self, digest: &Digest) -> Result<(), VerityError> {
        self.leaves
            .try_reserve(DIGEST_BYTES)
            .map_err(|_| VerityError::NoMemory)?;
        self.leaves.extend_from_slice(digest);
        self.data_blocks += 1;
        Ok(())
    }

    /// Data bytes fed so far.
    pub fn bytes_hashed(&self) -> u64 {
        self.data_blocks * BLOCK_U64 + self.partial.len() as u64
    }

    /// Pad the last block with zeros and build the levels above the data.
    pub fn finish(mut self) -> Result<HashTree, VerityError> {
        if !self.partial.is_empty() {
            self.partial.resize(BLOCK, 0);
            let digest = self.hasher.digest(&self.partial);
            self.push_digest(&digest)?;
        }
        if self.data_blocks == 0 {
            return Err(VerityError::BadInput("no data to build a hash tree over"));
        }
        let geometry = Geometry::new(self.data_blocks)?;
        let mut levels: Vec<Vec<u8>> = Vec::new();
        levels
            .try_reserve_exact(geometry.levels)
            .map_err(|_| VerityError::NoMemory)?;
        let mut digests = core::mem::take(&mut self.leaves);
        let root = if geometry.levels == 0 {
            let mut root = [0u8; 32];
            root.copy_from_slice(digests.get(..DIGEST_BYTES).unwrap_or(&[0; 32]));
            root
        } else {
            for _ in 0..geometry.levels {
                // A level is its digests zero-padded to whole blocks; the
                // next level up holds the digests of those blocks.
                let padded = digests.len().next_multiple_of(BLOCK);
                digests
                    .try_reserve_exact(padded - digests.len())
                    .map_err(|_| VerityError::NoMemory)?;
                digests.resize(padded, 0);
                let mut above = Vec::new();
                above
                    .try_reserve_exact(padded / BLOCK * DIGEST_BYTES)
                    .map_err(|_| VerityError::NoMemory)?;
                for block in digests.chunks_exact(BLOCK) {
                    above.extend_from_slice(&self.hasher.digest(block));
                }
                levels.push(core::mem::replace(&mut digests, above));
            }
            let mut root = [0u8; 32];
            root.copy_from_slice(digests.get(..DIGEST_BYTES).unwrap_or(&[0; 32]));
            root
        };
        for (level, bytes) in levels.iter().enumerate() {
            if bytes.len() as u64 != geometry.level_blocks[level] * BLOCK_U64 {
                return Err(VerityError::Geometry("built level size disagrees"));
            }
        }
        Ok(HashTree {
            geometry,
            salt: self.salt,
            uuid: derived_uuid(&root),
            root,
            levels,
        })
    }
}

/// A finished tree for data that starts at byte 0 of an image.
pub struct HashTree {
    geometry: Geometry,
    salt: Salt,
    uuid: [u8; 16],
    root: Digest,
    /// Level 0 (digests of the data) first.
    levels: Vec<Vec<u8>>,
}

impl HashTree {
    /// The root hash, to be given at boot (`roothash=`).
    pub fn root_hash(&self) -> Digest {
        self.root
    }

    pub fn salt(&self) -> &[u8] {
        self.salt.as_bytes()
    }

    pub fn uuid(&self) -> [u8; 16] {
        self.uuid
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Bytes of the data area (the data padded to 4096), which is also the
    /// hash offset: the tree goes right after the data.
    pub fn data_bytes(&self) -> u64 {
        self.geometry.data_blocks * BLOCK_U64
    }

    /// Bytes [`write_appendix`](Self::write_appendix) writes.
    pub fn appendix_bytes(&self) -> u64 {
        (self.geometry.tree_blocks + 2) * BLOCK_U64
    }

    /// Write everything that follows the data area, in order: the dm-verity
    /// superblock padded to a block, the levels top first, the locator block.
    /// `out` is called with large slices, never with the whole appendix
    /// concatenated.
    pub fn write_appendix<E>(&self, out: &mut dyn FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        let hash_offset = self.data_bytes();
        let mut block = [0u8; BLOCK];
        let superblock = RawVeritySuperblock::new(self.uuid, self.geometry.data_blocks, &self.salt);
        block[..super::format::SUPERBLOCK_BYTES].copy_from_slice(superblock.as_bytes());
        out(&block)?;
        for level in self.levels.iter().rev() {
            out(level)?;
        }
        let tree_start = tree_offset(hash_offset).unwrap_or(hash_offset + BLOCK_U64);
        let hash_end = tree_start + self.geometry.tree_blocks * BLOCK_U64;
        let locator = RawLocator::new(hash_offset, self.data_bytes(), hash_end);
        block.fill(0);
        block[..super::format::LOCATOR_BYTES].copy_from_slice(locator.as_bytes());
        out(&block)
    }
}
