//! The salted SHA-256 of one block, as dm-verity hash type 1 defines it:
//! `SHA-256(salt || block)`.

use sha2::{Digest as _, Sha256};

use super::format::{Digest, Salt};

/// Hashes blocks under one salt. The salt is absorbed once; each block
/// starts from a copy of that state.
#[derive(Clone)]
pub struct SaltedHasher {
    salted: Sha256,
}

impl SaltedHasher {
    pub fn new(salt: &Salt) -> Self {
        let mut salted = Sha256::new();
        salted.update(salt.as_bytes());
        SaltedHasher { salted }
    }

    /// `SHA-256(salt || block)`.
    pub fn digest(&self, block: &[u8]) -> Digest {
        let mut hasher = self.salted.clone();
        hasher.update(block);
        hasher.finalize().into()
    }
}

/// Plain SHA-256 of the concatenated parts (for deriving salts and UUIDs).
pub fn sha256(parts: &[&[u8]]) -> Digest {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}
