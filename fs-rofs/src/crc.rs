//! CRC32 (IEEE 802.3) through `crc32fast`: SIMD on the host, its
//! slicing tables in the soft-float kernel.

/// Continue a CRC32 over `bytes`.
pub(crate) fn update(crc: u32, bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(crc);
    hasher.update(bytes);
    hasher.finalize()
}

/// The CRC32 of `bytes`.
pub(crate) fn hash(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
