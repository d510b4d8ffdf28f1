//! Block devices for the filesystem crates.
//!
//! Every block filesystem reads through the [`BlockDevice`] trait, so the same
//! ROFS reader runs over virtio-blk in the guest, a [`RamDisk`] in tests and a
//! [`FileDisk`] (feature `std`) in the host tools. The `virtio` feature adds the
//! virtio-blk driver used by the kernel.
//!
//! This crate depends on no other crate of the project.

#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
mod filedisk;
mod ramdisk;
#[cfg(feature = "virtio")]
pub mod virtio;

#[cfg(feature = "std")]
pub use filedisk::FileDisk;
pub use ramdisk::RamDisk;

use alloc::vec;
use core::fmt;

/// Why a block request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The request reaches past the end of the device.
    OutOfRange,
    /// The buffer length is not a multiple of the block size.
    Misaligned,
    /// The device refuses writes.
    ReadOnly,
    /// The device reported an error.
    Io,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockError::OutOfRange => "request past the end of the device",
            BlockError::Misaligned => "buffer is not a whole number of blocks",
            BlockError::ReadOnly => "device is read-only",
            BlockError::Io => "device I/O error",
        })
    }
}

/// A device addressed in fixed-size blocks.
///
/// Methods take `&self`; implementations lock internally. Requests may be
/// any whole number of blocks: callers should make them as large as they can,
/// since each request has a fixed cost (about 50 µs for virtio-blk under TCG).
pub trait BlockDevice: Send + Sync {
    /// Bytes per block (512 for virtio-blk).
    fn block_size(&self) -> usize;

    /// Number of blocks on the device.
    fn num_blocks(&self) -> u64;

    /// Read `buf.len() / block_size()` blocks starting at block `start`.
    fn read_blocks(&self, start: u64, buf: &mut [u8]) -> Result<(), BlockError>;

    /// Write `buf.len() / block_size()` blocks starting at block `start`.
    fn write_blocks(&self, start: u64, buf: &[u8]) -> Result<(), BlockError>;

    /// Make completed writes durable.
    fn flush(&self) -> Result<(), BlockError> {
        Ok(())
    }

    /// Whether writes are refused.
    fn is_read_only(&self) -> bool {
        false
    }

    /// Size in bytes.
    fn size_bytes(&self) -> u64 {
        self.num_blocks().saturating_mul(self.block_size() as u64)
    }
}

/// Check that a request of `len` bytes at block `start` fits `dev`.
pub fn check_request(
    block_size: usize,
    num_blocks: u64,
    start: u64,
    len: usize,
) -> Result<(), BlockError> {
    if block_size == 0 || !len.is_multiple_of(block_size) {
        return Err(BlockError::Misaligned);
    }
    let count = (len / block_size) as u64;
    match start.checked_add(count) {
        Some(end) if end <= num_blocks => Ok(()),
        _ => Err(BlockError::OutOfRange),
    }
}

/// Read `buf.len()` bytes at byte `offset`, which need not be aligned.
///
/// The aligned middle is read straight into `buf` in one request; only the
/// partial first and last blocks go through a small bounce buffer. Reads past
/// the end of the device give [`BlockError::OutOfRange`].
pub fn read_bytes(dev: &dyn BlockDevice, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
    let bs = dev.block_size() as u64;
    if bs == 0 {
        return Err(BlockError::Misaligned);
    }
    let end = offset
        .checked_add(buf.len() as u64)
        .ok_or(BlockError::OutOfRange)?;
    if end > dev.size_bytes() {
        return Err(BlockError::OutOfRange);
    }
    if buf.is_empty() {
        return Ok(());
    }
    let mut pos = offset;
    let mut done = 0usize;
    // Partial head block.
    let head = (pos % bs) as usize;
    if head != 0 {
        let mut block = vec![0u8; bs as usize];
        dev.read_blocks(pos / bs, &mut block)?;
        let n = core::cmp::min(bs as usize - head, buf.len());
        buf[..n].copy_from_slice(&block[head..head + n]);
        pos += n as u64;
        done += n;
    }
    // Whole blocks, one request.
    let whole = ((end - pos) / bs * bs) as usize;
    if whole > 0 {
        dev.read_blocks(pos / bs, &mut buf[done..done + whole])?;
        pos += whole as u64;
        done += whole;
    }
    // Partial tail block.
    if done < buf.len() {
        let mut block = vec![0u8; bs as usize];
        dev.read_blocks(pos / bs, &mut block)?;
        let n = buf.len() - done;
        buf[done..].copy_from_slice(&block[..n]);
    }
    Ok(())
}
