//! Block devices for the filesystem crates.
//!
//! Every block filesystem reads through the [`BlockDevice`] trait, so the same
//! ROFS reader runs over virtio-blk in the guest, a [`RamDisk`] in tests and a
//! [`FileDisk`] (feature `std`) in the host tools. The `virtio` feature adds the
//! virtio-blk driver used by the kernel, the virtio-fs device (`virtio_fs`),
//! which carries FUSE messages through [`FuseTransport`], and the x86 PCI
//! bus-0 code (`pci`) their PCI transports are built on; the `verity` feature
//! adds dm-verity hash trees and [`verity::VerityDevice`], which verifies
//! every block it reads from any other device.
//!
//! This crate depends on no other crate of the project.

#![no_std]
// Only the hardware drivers need `unsafe` (MMIO, port I/O, DMA); everything
// else in this crate is safe code.
#![deny(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
mod filedisk;
mod fuse_transport;
mod ramdisk;
// PCI on x86 through virtio-drivers' bus types, for the virtio transports.
#[cfg(feature = "virtio")]
#[allow(unsafe_code)]
pub mod pci;
#[cfg(feature = "verity")]
#[forbid(unsafe_code)]
pub mod verity;
#[cfg(feature = "virtio")]
#[allow(unsafe_code)]
pub mod virtio;
#[cfg(feature = "virtio")]
#[allow(unsafe_code)]
pub mod virtio_fs;

#[cfg(feature = "std")]
pub use filedisk::FileDisk;
pub use fuse_transport::{FuseTransport, TransportError};
pub use ramdisk::RamDisk;

use alloc::vec::Vec;
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
    /// The data read does not match what the device layer expected (a
    /// checksum or hash mismatch).
    Corrupt,
    /// A buffer the request needs could not be allocated.
    NoMemory,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockError::OutOfRange => "request past the end of the device",
            BlockError::Misaligned => "buffer is not a whole number of blocks",
            BlockError::ReadOnly => "device is read-only",
            BlockError::Io => "device I/O error",
            BlockError::Corrupt => "data failed verification",
            BlockError::NoMemory => "out of memory for the request",
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

/// Partial blocks up to this size go through a stack buffer, so byte-offset
/// reads and writes allocate nothing for the usual 512- and 4096-byte blocks.
const STACK_BLOCK: usize = 4096;

/// Run `f` on a scratch buffer of one block: on the stack for blocks up to
/// [`STACK_BLOCK`], else on the heap (fallibly).
fn with_block_buffer<T>(
    block_size: usize,
    f: impl FnOnce(&mut [u8]) -> Result<T, BlockError>,
) -> Result<T, BlockError> {
    if block_size <= STACK_BLOCK {
        let mut stack = [0u8; STACK_BLOCK];
        f(&mut stack[..block_size])
    } else {
        let mut heap = Vec::new();
        heap.try_reserve_exact(block_size)
            .map_err(|_| BlockError::NoMemory)?;
        heap.resize(block_size, 0);
        f(&mut heap)
    }
}

/// The byte range `offset .. offset + len` checked against `dev`: its block
/// size (non-zero) and end.
fn byte_range(dev: &dyn BlockDevice, offset: u64, len: usize) -> Result<(u64, u64), BlockError> {
    let bs = dev.block_size() as u64;
    if bs == 0 {
        return Err(BlockError::Misaligned);
    }
    let end = offset
        .checked_add(len as u64)
        .ok_or(BlockError::OutOfRange)?;
    if end > dev.size_bytes() {
        return Err(BlockError::OutOfRange);
    }
    Ok((bs, end))
}

/// Read `buf.len()` bytes at byte `offset`, which need not be aligned.
///
/// The aligned middle is read straight into `buf` in one request; only the
/// partial first and last blocks go through a block-sized bounce buffer (on
/// the stack for blocks up to 4 KiB). Reads past the end of the device give
/// [`BlockError::OutOfRange`].
pub fn read_bytes(dev: &dyn BlockDevice, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
    let (bs, end) = byte_range(dev, offset, buf.len())?;
    if buf.is_empty() {
        return Ok(());
    }
    let mut pos = offset;
    let mut done = 0usize;
    // Partial head block.
    let head = (pos % bs) as usize;
    if head != 0 {
        let n = core::cmp::min(bs as usize - head, buf.len());
        with_block_buffer(bs as usize, |block| {
            dev.read_blocks(pos / bs, block)?;
            buf[..n].copy_from_slice(&block[head..head + n]);
            Ok(())
        })?;
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
        with_block_buffer(bs as usize, |block| {
            dev.read_blocks(pos / bs, block)?;
            let n = buf.len() - done;
            buf[done..].copy_from_slice(&block[..n]);
            Ok(())
        })?;
    }
    Ok(())
}

/// Write `data` at byte `offset`, which need not be aligned.
///
/// The twin of [`read_bytes`]: whole blocks go straight from `data` in one
/// request; a partial first or last block is read, patched and written back
/// through a block-sized buffer. The caller serialises writers that may share
/// an edge block. On an error after some blocks were written, returns
/// `Err((bytes_written, error))` so callers can report a short write.
pub fn write_bytes(
    dev: &dyn BlockDevice,
    offset: u64,
    data: &[u8],
) -> Result<(), (usize, BlockError)> {
    let (bs, end) = byte_range(dev, offset, data.len()).map_err(|e| (0, e))?;
    let mut pos = offset;
    let mut done = 0usize;
    let patch = |pos: u64, part: &[u8]| {
        with_block_buffer(bs as usize, |block| {
            let at = (pos % bs) as usize;
            dev.read_blocks(pos / bs, block)?;
            block[at..at + part.len()].copy_from_slice(part);
            dev.write_blocks(pos / bs, block)
        })
    };
    // Partial first block (which may also be the last).
    if !pos.is_multiple_of(bs) && !data.is_empty() {
        let take = ((bs - pos % bs) as usize).min(data.len());
        patch(pos, &data[..take]).map_err(|e| (done, e))?;
        pos += take as u64;
        done += take;
    }
    // Whole blocks, one request.
    let whole = ((end - pos) / bs * bs) as usize;
    if whole > 0 {
        dev.write_blocks(pos / bs, &data[done..done + whole])
            .map_err(|e| (done, e))?;
        pos += whole as u64;
        done += whole;
    }
    // Partial last block.
    if done < data.len() {
        patch(pos, &data[done..]).map_err(|e| (done, e))?;
    }
    Ok(())
}
