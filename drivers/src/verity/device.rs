//! [`VerityDevice`]: the data area of an image, every block checked against
//! its hash tree before it is handed out.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::cache::HashCache;
use super::error::VerityError;
use super::format::{BLOCK, BLOCK_U64, DIGEST_BYTES, Digest, HASHES_PER_BLOCK, MAX_LEVELS};
use super::hash::SaltedHasher;
use super::locate::{VerityInfo, locate};
use crate::{BlockDevice, BlockError, check_request};

/// Tuning for [`VerityDevice::open_with`].
#[derive(Clone, Copy, Debug)]
pub struct VerityOptions {
    /// Verified hash blocks kept in memory (4 KiB each). Each level-0 block
    /// covers 512 KiB of data, so 32 blocks (128 KiB) keep a sequential read
    /// at one hash-block read per 512 KiB and let random reads over 16 MiB
    /// hit, with the top levels resident.
    pub hash_cache_blocks: usize,
}

impl Default for VerityOptions {
    fn default() -> Self {
        VerityOptions {
            hash_cache_blocks: 32,
        }
    }
}

/// What a device has done since it opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerityStats {
    /// Data blocks hashed and found to match.
    pub blocks_verified: u64,
    /// Hash blocks read from the device (and verified) on cache misses.
    pub hash_blocks_read: u64,
    /// Requests refused because a data or hash block did not match.
    pub failures: u64,
    /// Hash blocks in the cache now (at most `hash_cache_blocks`).
    pub hash_blocks_cached: usize,
}

/// A read-only block device of 4096-byte blocks presenting the data area of
/// `inner` (bytes `0 .. data_bytes`) and nothing else.
///
/// Each read is one request to `inner` for the whole range, then every
/// block is hashed and compared with its digest from the tree; a mismatch
/// fails the whole request with [`BlockError::Corrupt`] and zeroes the
/// caller's buffer, so nothing unverified reaches a caller. Data blocks are
/// verified on every read from the device (the device may change under us);
/// keeping verified data is the job of a cache above. Hash blocks are
/// verified up to the root once and kept in a bounded cache of their own.
pub struct VerityDevice {
    inner: Arc<dyn BlockDevice>,
    info: VerityInfo,
    root: Digest,
    hasher: SaltedHasher,
    /// Blocks of `inner` per 4096-byte block.
    ratio: u64,
    cache: Mutex<HashCache>,
    blocks_verified: AtomicU64,
    hash_blocks_read: AtomicU64,
    failures: AtomicU64,
}

impl VerityDevice {
    /// Open the tree `inner` carries and check it against `root_hash` now:
    /// a wrong root hash, a missing or damaged tree, or a tree whose shape
    /// disagrees with the data size fails here, with a one-line reason.
    pub fn open(inner: Arc<dyn BlockDevice>, root_hash: Digest) -> Result<Self, VerityError> {
        Self::open_with(inner, root_hash, VerityOptions::default())
    }

    pub fn open_with(
        inner: Arc<dyn BlockDevice>,
        root_hash: Digest,
        options: VerityOptions,
    ) -> Result<Self, VerityError> {
        let info = locate(inner.as_ref())?;
        if info.stored_root != root_hash {
            return Err(VerityError::RootMismatch {
                expected: root_hash,
                found: info.stored_root,
            });
        }
        let device = VerityDevice {
            ratio: (BLOCK / inner.block_size().max(1)) as u64,
            inner,
            hasher: SaltedHasher::new(&info.salt),
            root: root_hash,
            cache: Mutex::new(HashCache::new(options.hash_cache_blocks)?),
            info,
            blocks_verified: AtomicU64::new(0),
            hash_blocks_read: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        };
        device.check_padding()?;
        Ok(device)
    }

    pub fn info(&self) -> &VerityInfo {
        &self.info
    }

    pub fn root_hash(&self) -> Digest {
        self.root
    }

    pub fn stats(&self) -> VerityStats {
        VerityStats {
            blocks_verified: self.blocks_verified.load(Ordering::Relaxed),
            hash_blocks_read: self.hash_blocks_read.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            hash_blocks_cached: self.cache.lock().len(),
        }
    }

    /// The last block of each level must be zero after its last digest
    /// (veritysetup writes zeros and its verify checks them). Checking that
    /// binds the data size in the (untrusted) superblock to the root hash: a
    /// superblock claiming fewer blocks would leave a digest in the padding.
    fn check_padding(&self) -> Result<(), VerityError> {
        let geometry = self.info.geometry;
        // Top down, so each block's parent is already checked and a
        // failure names the block that is wrong.
        for level in (0..geometry.levels).rev() {
            let children = geometry.children(level);
            let last = children.saturating_sub(1);
            let used = (last % HASHES_PER_BLOCK + 1) as usize * DIGEST_BYTES;
            let index = last / HASHES_PER_BLOCK;
            let clean = self
                .with_hash_block(level, index, |block| {
                    block
                        .get(used..)
                        .is_some_and(|tail| tail.iter().all(|&b| b == 0))
                })
                .map_err(|e| match e {
                    BlockError::Corrupt => VerityError::TreeCorrupt { level, index },
                    other => VerityError::from(other),
                })?;
            if !clean {
                return Err(VerityError::TreeCorrupt { level, index });
            }
        }
        Ok(())
    }

    /// The expected digest of data block `block`.
    fn data_digest(&self, block: u64) -> Result<Digest, BlockError> {
        if self.info.geometry.levels == 0 {
            return Ok(self.root);
        }
        let entry = (block % HASHES_PER_BLOCK) as usize;
        self.with_hash_block(0, block / HASHES_PER_BLOCK, |hash_block| {
            digest_at(hash_block, entry)
        })
    }

    /// Run `f` on the verified contents of hash block `index` of `level`:
    /// from the cache, or read from the device and checked against its
    /// parent, reading and checking missing ancestors first (up to the root).
    fn with_hash_block<T>(
        &self,
        level: usize,
        index: u64,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Result<T, BlockError> {
        let geometry = &self.info.geometry;
        if level >= geometry.levels {
            return Err(BlockError::OutOfRange);
        }
        // Cache hit: the common case, answered under the lock.
        {
            let mut cache = self.cache.lock();
            if let Some(found) = cache.block(geometry.tree_block(level, index)) {
                return Ok(f(found));
            }
        }
        // Walk up to the lowest cached ancestor (or the root), remembering
        // the blocks to read, then read and check them top down.
        let mut path = [(0usize, 0u64); MAX_LEVELS];
        let mut depth = 0;
        let (mut l, mut i) = (level, index);
        let mut expected = loop {
            if let Some(slot) = path.get_mut(depth) {
                *slot = (l, i);
            }
            depth += 1;
            if l + 1 >= geometry.levels {
                break self.root;
            }
            let (parent, entry) = (i / HASHES_PER_BLOCK, (i % HASHES_PER_BLOCK) as usize);
            let cached = self
                .cache
                .lock()
                .digest(geometry.tree_block(l + 1, parent), entry);
            if let Some(digest) = cached {
                break digest;
            }
            (l, i) = (l + 1, parent);
        };
        let mut scratch = [0u8; BLOCK];
        for step in (0..depth.min(MAX_LEVELS)).rev() {
            let (l, i) = path.get(step).copied().unwrap_or((level, index));
            let start = self.info.hash_block_offset(l, i) / self.inner.block_size() as u64;
            self.inner.read_blocks(start, &mut scratch)?;
            self.hash_blocks_read.fetch_add(1, Ordering::Relaxed);
            if self.hasher.digest(&scratch) != expected {
                self.failures.fetch_add(1, Ordering::Relaxed);
                return Err(BlockError::Corrupt);
            }
            self.cache
                .lock()
                .insert(geometry.tree_block(l, i), &scratch);
            if step > 0 {
                let child = path.get(step - 1).map_or(0, |&(_, c)| c);
                expected = digest_at(&scratch, (child % HASHES_PER_BLOCK) as usize);
            }
        }
        Ok(f(&scratch))
    }

    /// Read and verify; on any error the caller zeroes the buffer.
    fn read_verified(&self, start: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let inner_start = start
            .checked_mul(self.ratio)
            .ok_or(BlockError::OutOfRange)?;
        self.inner.read_blocks(inner_start, buf)?;
        let mut block_no = start;
        for block in buf.chunks_exact(BLOCK) {
            let expected = self.data_digest(block_no)?;
            if self.hasher.digest(block) != expected {
                self.failures.fetch_add(1, Ordering::Relaxed);
                return Err(BlockError::Corrupt);
            }
            block_no += 1;
        }
        self.blocks_verified
            .fetch_add(block_no - start, Ordering::Relaxed);
        Ok(())
    }
}

/// Digest number `entry` of a hash block.
fn digest_at(block: &[u8], entry: usize) -> Digest {
    let mut digest = [0u8; DIGEST_BYTES];
    if let Some(bytes) = block.get(entry * DIGEST_BYTES..(entry + 1) * DIGEST_BYTES) {
        digest.copy_from_slice(bytes);
    }
    digest
}

impl BlockDevice for VerityDevice {
    fn block_size(&self) -> usize {
        BLOCK
    }

    fn num_blocks(&self) -> u64 {
        self.info.geometry.data_blocks
    }

    fn read_blocks(&self, start: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(BLOCK, self.num_blocks(), start, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        let result = self.read_verified(start, buf);
        if result.is_err() {
            buf.fill(0);
        }
        result
    }

    fn write_blocks(&self, _start: u64, _buf: &[u8]) -> Result<(), BlockError> {
        Err(BlockError::ReadOnly)
    }

    fn is_read_only(&self) -> bool {
        true
    }

    fn size_bytes(&self) -> u64 {
        self.info.geometry.data_blocks * BLOCK_U64
    }
}
