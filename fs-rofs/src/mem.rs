//! Fallible allocation for everything sized by image data: a hostile or
//! merely huge image on a small heap gets ENOMEM, never an abort.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::RofsError;

fn no_memory<T>(count: u64) -> RofsError {
    RofsError::NoMemory {
        bytes: count.saturating_mul(core::mem::size_of::<T>().max(1) as u64),
    }
}

/// An empty vector with room for `count` elements.
pub(crate) fn vec_with_capacity<T>(count: u64) -> Result<Vec<T>, RofsError> {
    let mut v = Vec::new();
    let n = usize::try_from(count).map_err(|_| no_memory::<T>(count))?;
    v.try_reserve_exact(n).map_err(|_| no_memory::<T>(count))?;
    Ok(v)
}

/// `count` copies of `value`.
pub(crate) fn vec_filled<T: Clone>(count: u64, value: T) -> Result<Vec<T>, RofsError> {
    let mut v = vec_with_capacity(count)?;
    // Within the capacity just reserved: no further allocation.
    v.resize(count as usize, value);
    Ok(v)
}

/// Append `value`, growing the vector fallibly.
pub(crate) fn push<T>(v: &mut Vec<T>, value: T) -> Result<(), RofsError> {
    if v.len() == v.capacity() {
        let extra = v.len().max(4);
        v.try_reserve(extra)
            .map_err(|_| no_memory::<T>((v.len() + extra) as u64))?;
    }
    v.push(value);
    Ok(())
}

/// `bytes` as text, invalid UTF-8 replaced by U+FFFD, in a fallibly
/// allocated string.
pub(crate) fn lossy_string(bytes: &[u8]) -> Result<String, RofsError> {
    let mut out = String::new();
    // Each invalid byte becomes at most 3 bytes.
    let worst = bytes.len().saturating_mul(3);
    out.try_reserve_exact(worst)
        .map_err(|_| no_memory::<u8>(worst as u64))?;
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    Ok(out)
}

/// A set of bits, one per index, allocated fallibly.
pub(crate) struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    pub fn new(bits: u64) -> Result<BitSet, RofsError> {
        Ok(BitSet {
            words: vec_filled(bits.div_ceil(64), 0u64)?,
        })
    }

    /// Set bit `i`; whether it was already set (an index out of range
    /// counts as set, so callers treat it as a problem).
    #[inline]
    pub fn test_and_set(&mut self, i: u64) -> bool {
        let Some(word) = self.words.get_mut((i / 64) as usize) else {
            return true;
        };
        let mask = 1u64 << (i % 64);
        let was = *word & mask != 0;
        *word |= mask;
        was
    }

    #[inline]
    pub fn get(&self, i: u64) -> bool {
        self.words
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }
}
