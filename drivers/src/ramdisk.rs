use alloc::vec;
use alloc::vec::Vec;
use spin::RwLock;

use crate::{BlockDevice, BlockError, check_request};

/// A disk held in memory, for tests and for images loaded whole.
pub struct RamDisk {
    block_size: usize,
    data: RwLock<Vec<u8>>,
    read_only: bool,
}

impl RamDisk {
    /// A zeroed disk of `num_blocks` blocks of `block_size` bytes.
    pub fn new(block_size: usize, num_blocks: u64) -> Self {
        let len = block_size.saturating_mul(num_blocks as usize);
        RamDisk {
            block_size,
            data: RwLock::new(vec![0; len]),
            read_only: false,
        }
    }

    /// A disk holding `bytes`, padded with zeros to a whole block.
    pub fn from_bytes(block_size: usize, mut bytes: Vec<u8>) -> Self {
        let bs = block_size.max(1);
        let padded = bytes.len().div_ceil(bs) * bs;
        bytes.resize(padded, 0);
        RamDisk {
            block_size,
            data: RwLock::new(bytes),
            read_only: false,
        }
    }

    /// The same disk, refusing writes.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// A copy of the whole contents.
    pub fn to_vec(&self) -> Vec<u8> {
        self.data.read().clone()
    }
}

impl BlockDevice for RamDisk {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn num_blocks(&self) -> u64 {
        if self.block_size == 0 {
            return 0;
        }
        (self.data.read().len() / self.block_size) as u64
    }

    fn read_blocks(&self, start: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let data = self.data.read();
        let num_blocks = (data.len() / self.block_size.max(1)) as u64;
        check_request(self.block_size, num_blocks, start, buf.len())?;
        let at = start as usize * self.block_size;
        buf.copy_from_slice(&data[at..at + buf.len()]);
        Ok(())
    }

    fn write_blocks(&self, start: u64, buf: &[u8]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        let mut data = self.data.write();
        let num_blocks = (data.len() / self.block_size.max(1)) as u64;
        check_request(self.block_size, num_blocks, start, buf.len())?;
        let at = start as usize * self.block_size;
        data[at..at + buf.len()].copy_from_slice(buf);
        Ok(())
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_bytes;

    #[test]
    fn block_requests_are_bounds_checked() {
        let disk = RamDisk::new(512, 4);
        let mut buf = vec![0u8; 512];
        assert_eq!(disk.read_blocks(4, &mut buf), Err(BlockError::OutOfRange));
        assert_eq!(
            disk.read_blocks(u64::MAX, &mut buf),
            Err(BlockError::OutOfRange)
        );
        assert_eq!(
            disk.read_blocks(0, &mut buf[..100]),
            Err(BlockError::Misaligned)
        );
        disk.write_blocks(3, &[7u8; 512]).unwrap();
        disk.read_blocks(3, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 7));
    }

    #[test]
    fn unaligned_byte_reads() {
        let bytes: Vec<u8> = (0..2048u32).map(|i| (i * 7 % 251) as u8).collect();
        let disk = RamDisk::from_bytes(512, bytes.clone());
        for (off, len) in [
            (0, 0),
            (1, 10),
            (500, 30),
            (511, 1026),
            (0, 2048),
            (1000, 1048),
        ] {
            let mut buf = vec![0u8; len];
            read_bytes(&disk, off as u64, &mut buf).unwrap();
            assert_eq!(buf, bytes[off..off + len], "off {off} len {len}");
        }
        let mut buf = [0u8; 2];
        assert_eq!(
            read_bytes(&disk, 2047, &mut buf),
            Err(BlockError::OutOfRange)
        );
        assert_eq!(
            read_bytes(&disk, u64::MAX, &mut buf),
            Err(BlockError::OutOfRange)
        );
    }

    #[test]
    fn read_only_disk_refuses_writes() {
        let disk = RamDisk::new(512, 1).read_only();
        assert_eq!(disk.write_blocks(0, &[0u8; 512]), Err(BlockError::ReadOnly));
    }
}
