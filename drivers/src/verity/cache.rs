//! A small, fixed-size cache of verified hash blocks.
//!
//! All memory is allocated (fallibly) when the device opens; lookups are a
//! binary search over the sorted keys, eviction is CLOCK (a block touched
//! since the hand last passed gets a second chance), so the top levels,
//! touched by every miss below them, stay resident.

use alloc::vec::Vec;

use super::error::VerityError;
use super::format::{BLOCK, DIGEST_BYTES, Digest};

pub struct HashCache {
    /// `(tree block, slot)`, sorted by tree block.
    index: Vec<(u64, usize)>,
    /// `capacity` blocks of 4096 bytes.
    blocks: Vec<u8>,
    /// Which tree block each slot holds.
    owner: Vec<Option<u64>>,
    referenced: Vec<bool>,
    hand: usize,
}

impl HashCache {
    /// A cache of `capacity` blocks (at least one).
    pub fn new(capacity: usize) -> Result<Self, VerityError> {
        let capacity = capacity.max(1);
        let oom = |_| VerityError::NoMemory;
        let bytes = capacity.checked_mul(BLOCK).ok_or(VerityError::NoMemory)?;
        let mut blocks = Vec::new();
        blocks.try_reserve_exact(bytes).map_err(oom)?;
        blocks.resize(bytes, 0);
        let mut index = Vec::new();
        index.try_reserve_exact(capacity).map_err(oom)?;
        let mut owner = Vec::new();
        owner.try_reserve_exact(capacity).map_err(oom)?;
        owner.resize(capacity, None);
        let mut referenced = Vec::new();
        referenced.try_reserve_exact(capacity).map_err(oom)?;
        referenced.resize(capacity, false);
        Ok(HashCache {
            index,
            blocks,
            owner,
            referenced,
            hand: 0,
        })
    }

    pub fn capacity(&self) -> usize {
        self.owner.len()
    }

    /// Blocks held now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The contents of tree block `key`, when cached (marks it used).
    pub fn block(&mut self, key: u64) -> Option<&[u8]> {
        let at = self.index.binary_search_by_key(&key, |&(k, _)| k).ok()?;
        let slot = self.index.get(at)?.1;
        if let Some(r) = self.referenced.get_mut(slot) {
            *r = true;
        }
        self.blocks.get(slot * BLOCK..(slot + 1) * BLOCK)
    }

    /// Digest number `entry` (< 128) of tree block `key`, when cached.
    pub fn digest(&mut self, key: u64, entry: usize) -> Option<Digest> {
        let bytes = self
            .block(key)?
            .get(entry * DIGEST_BYTES..(entry + 1) * DIGEST_BYTES)?;
        let mut digest = [0u8; DIGEST_BYTES];
        digest.copy_from_slice(bytes);
        Some(digest)
    }

    /// Keep a verified copy of tree block `key` (4096 bytes), evicting
    /// another when full. Never allocates.
    pub fn insert(&mut self, key: u64, block: &[u8]) {
        if self.index.binary_search_by_key(&key, |&(k, _)| k).is_ok() {
            return; // Another reader loaded it meanwhile.
        }
        let slot = self.victim();
        if let Some(old) = self.owner.get(slot).copied().flatten()
            && let Ok(old_at) = self.index.binary_search_by_key(&old, |&(k, _)| k)
        {
            self.index.remove(old_at);
        }
        let Some(dest) = self.blocks.get_mut(slot * BLOCK..(slot + 1) * BLOCK) else {
            return;
        };
        let Some(src) = block.get(..BLOCK) else {
            return;
        };
        dest.copy_from_slice(src);
        if let Some(owner) = self.owner.get_mut(slot) {
            *owner = Some(key);
        }
        if let Some(r) = self.referenced.get_mut(slot) {
            *r = false;
        }
        let at = self
            .index
            .binary_search_by_key(&key, |&(k, _)| k)
            .unwrap_or_else(|at| at);
        self.index.insert(at, (key, slot));
    }

    /// A free slot, else the first one the CLOCK hand finds unreferenced.
    fn victim(&mut self) -> usize {
        let capacity = self.capacity();
        if let Some(free) = self.owner.iter().position(Option::is_none) {
            return free;
        }
        loop {
            let slot = self.hand;
            self.hand = (self.hand + 1) % capacity;
            match self.referenced.get_mut(slot) {
                Some(r) if *r => *r = false,
                _ => return slot,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn block(fill: u8) -> Vec<u8> {
        vec![fill; BLOCK]
    }

    #[test]
    fn bounded_with_second_chance() {
        let mut cache = HashCache::new(2).unwrap();
        cache.insert(10, &block(1));
        cache.insert(20, &block(2));
        assert_eq!(cache.digest(10, 0), Some([1; 32]));
        // 10 was touched, so 20 goes when 30 arrives.
        cache.insert(30, &block(3));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.digest(20, 5), None);
        assert_eq!(cache.digest(10, 127), Some([1; 32]));
        assert_eq!(cache.digest(30, 0), Some([3; 32]));
        // Inserting a key already there keeps the first copy.
        cache.insert(30, &block(9));
        assert_eq!(cache.digest(30, 1), Some([3; 32]));
        for key in 100..200 {
            cache.insert(key, &block(key as u8));
            assert!(cache.len() <= 2);
            assert_eq!(cache.digest(key, 3), Some([key as u8; 32]));
        }
    }

    #[test]
    fn capacity_zero_means_one() {
        let mut cache = HashCache::new(0).unwrap();
        assert_eq!(cache.capacity(), 1);
        cache.insert(1, &block(1));
        cache.insert(2, &block(2));
        assert_eq!(cache.digest(1, 0), None);
        assert_eq!(cache.digest(2, 0), Some([2; 32]));
    }

    #[test]
    fn huge_capacity_is_an_error() {
        assert!(matches!(
            HashCache::new(usize::MAX),
            Err(VerityError::NoMemory)
        ));
    }
}
