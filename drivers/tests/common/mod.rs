//! Helpers shared by the verity integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use drivers::verity::{BLOCK, HashTree, TreeBuilder};
use drivers::{BlockDevice, BlockError, RamDisk, check_request};

/// Deterministic pseudo-random bytes, different per seed.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes);
    bytes
}

/// `data` padded to whole blocks with its tree appended, and the tree.
pub fn build_image(data: &[u8], salt: &[u8]) -> (Vec<u8>, HashTree) {
    let mut builder = TreeBuilder::new(salt).expect("builder");
    builder.update(data).expect("hash data");
    let tree = builder.finish().expect("finish tree");
    let mut image = data.to_vec();
    image.resize(data.len().next_multiple_of(BLOCK), 0);
    assert_eq!(image.len() as u64, tree.data_bytes());
    tree.write_appendix(&mut |part: &[u8]| -> Result<(), ()> {
        image.extend_from_slice(part);
        Ok(())
    })
    .expect("appendix");
    assert_eq!(
        image.len() as u64,
        tree.data_bytes() + tree.appendix_bytes()
    );
    (image, tree)
}

pub fn ram(bytes: &[u8], block_size: usize) -> Arc<dyn BlockDevice> {
    Arc::new(RamDisk::from_bytes(block_size, bytes.to_vec()))
}

/// A huge device that is all zeros except for the blocks set in it, so
/// hostile geometries can be tried without allocating their size.
pub struct SparseDisk {
    pub block_size: usize,
    pub num_blocks: u64,
    pub blocks: BTreeMap<u64, Vec<u8>>,
}

impl SparseDisk {
    pub fn new(block_size: usize, num_blocks: u64) -> Self {
        SparseDisk {
            block_size,
            num_blocks,
            blocks: BTreeMap::new(),
        }
    }

    /// Place `bytes` at byte `offset` (block-aligned).
    pub fn put(&mut self, offset: u64, bytes: &[u8]) {
        let bs = self.block_size;
        assert_eq!(offset % bs as u64, 0);
        for (i, chunk) in bytes.chunks(bs).enumerate() {
            let mut block = vec![0u8; bs];
            block[..chunk.len()].copy_from_slice(chunk);
            self.blocks.insert(offset / bs as u64 + i as u64, block);
        }
    }
}

impl BlockDevice for SparseDisk {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn num_blocks(&self) -> u64 {
        self.num_blocks
    }

    fn read_blocks(&self, start: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(self.block_size, self.num_blocks, start, buf.len())?;
        // Refuse absurd requests so a test notices a reader asking for one.
        assert!(buf.len() <= 1 << 24, "request of {} bytes", buf.len());
        for (i, chunk) in buf.chunks_mut(self.block_size).enumerate() {
            match self.blocks.get(&(start + i as u64)) {
                Some(block) => chunk.copy_from_slice(block),
                None => chunk.fill(0),
            }
        }
        Ok(())
    }

    fn write_blocks(&self, _start: u64, _buf: &[u8]) -> Result<(), BlockError> {
        Err(BlockError::ReadOnly)
    }
}

/// Read block `block` of `dev` on its own.
pub fn read_one(dev: &dyn BlockDevice, block: u64) -> Result<Vec<u8>, BlockError> {
    let mut buf = vec![0xA5u8; BLOCK];
    let result = dev.read_blocks(block, &mut buf);
    if result.is_err() {
        assert!(
            buf.iter().all(|&b| b == 0),
            "failed read left data in the buffer"
        );
    }
    result.map(|()| buf)
}

/// Bitwise CRC-32 (IEEE), so tests do not share the code they check.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A locator header as `FORMAT.md` lays it out, with a valid CRC.
pub fn locator(
    version: u32,
    header: u32,
    hash_offset: u64,
    data_bytes: u64,
    hash_end: u64,
) -> Vec<u8> {
    let mut raw = Vec::with_capacity(64);
    raw.extend_from_slice(b"VLOCATOR");
    raw.extend_from_slice(&version.to_le_bytes());
    raw.extend_from_slice(&header.to_le_bytes());
    raw.extend_from_slice(&hash_offset.to_le_bytes());
    raw.extend_from_slice(&data_bytes.to_le_bytes());
    raw.extend_from_slice(&hash_end.to_le_bytes());
    raw.extend_from_slice(&[0; 20]);
    let crc = crc32(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    raw
}

/// The fields of a dm-verity superblock that tests vary.
#[derive(Clone)]
pub struct Superblock {
    pub signature: [u8; 8],
    pub version: u32,
    pub hash_type: u32,
    pub algorithm: Vec<u8>,
    pub data_block_size: u32,
    pub hash_block_size: u32,
    pub data_blocks: u64,
    pub salt_size: u16,
    pub salt: Vec<u8>,
}

impl Superblock {
    pub fn good(data_blocks: u64) -> Self {
        Superblock {
            signature: *b"verity\0\0",
            version: 1,
            hash_type: 1,
            algorithm: b"sha256".to_vec(),
            data_block_size: 4096,
            hash_block_size: 4096,
            data_blocks,
            salt_size: 4,
            salt: vec![1, 2, 3, 4],
        }
    }

    /// The 512 bytes cryptsetup's `struct verity_sb` holds.
    pub fn bytes(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity(512);
        raw.extend_from_slice(&self.signature);
        raw.extend_from_slice(&self.version.to_le_bytes());
        raw.extend_from_slice(&self.hash_type.to_le_bytes());
        raw.extend_from_slice(&[0xEE; 16]);
        let mut algorithm = self.algorithm.clone();
        algorithm.resize(32, 0);
        raw.extend_from_slice(&algorithm);
        raw.extend_from_slice(&self.data_block_size.to_le_bytes());
        raw.extend_from_slice(&self.hash_block_size.to_le_bytes());
        raw.extend_from_slice(&self.data_blocks.to_le_bytes());
        raw.extend_from_slice(&self.salt_size.to_le_bytes());
        raw.extend_from_slice(&[0; 6]);
        let mut salt = self.salt.clone();
        salt.resize(256, 0);
        raw.extend_from_slice(&salt);
        raw.resize(512, 0);
        raw
    }
}
