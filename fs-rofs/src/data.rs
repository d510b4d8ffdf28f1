//! File data on the device: the CRC32 of a whole file, read in large
//! chunks (the `verify` mount option and `verify()`).

use drivers::{BlockDevice, read_bytes};

use crate::error::RofsError;
use crate::image::{Image, InodeRecord};
use crate::mem;
use crate::problem::Problem;

/// Chunk size for whole-file checksum passes.
const CRC_CHUNK: u64 = 128 * 1024;

/// The CRC32 of the data of file `record`.
pub(crate) fn file_crc(
    dev: &dyn BlockDevice,
    image: &Image,
    record: &InodeRecord,
) -> Result<u32, RofsError> {
    let size = record.size;
    let overflow = || Problem::FileExtent {
        ino: 0,
        start: record.start,
        count: record.count,
    };
    let base = image.block_offset(record.start).ok_or_else(overflow)?;
    let mut buf = mem::vec_filled(CRC_CHUNK.min(size), 0u8)?;
    let mut crc = 0;
    let mut done = 0u64;
    while done < size {
        let n = core::cmp::min(buf.len() as u64, size - done) as usize;
        let at = base.checked_add(done).ok_or_else(overflow)?;
        let chunk = &mut buf[..n];
        read_bytes(dev, at, chunk)?;
        crc = crate::crc::update(crc, chunk);
        done += n as u64;
    }
    Ok(crc)
}
