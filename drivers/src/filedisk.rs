use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::{BlockDevice, BlockError, check_request};

/// A disk backed by a host file, for the host tools.
///
/// A file whose length is not a whole number of blocks reads as if padded
/// with zeros to the next block, so images of any length can be inspected.
pub struct FileDisk {
    file: File,
    len: u64,
    block_size: usize,
    read_only: bool,
}

impl FileDisk {
    /// Open `path` read-only.
    pub fn open(path: &Path, block_size: usize) -> io::Result<Self> {
        let file = File::open(path)?;
        Self::from_file(file, block_size, true)
    }

    /// Open `path` for reading and writing.
    pub fn open_rw(path: &Path, block_size: usize) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        Self::from_file(file, block_size, false)
    }

    fn from_file(file: File, block_size: usize, read_only: bool) -> io::Result<Self> {
        if block_size == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "block size 0"));
        }
        let len = file.metadata()?.len();
        Ok(FileDisk {
            file,
            len,
            block_size,
            read_only,
        })
    }
}

impl BlockDevice for FileDisk {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn num_blocks(&self) -> u64 {
        self.len.div_ceil(self.block_size as u64)
    }

    fn read_blocks(&self, start: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(self.block_size, self.num_blocks(), start, buf.len())?;
        let offset = start * self.block_size as u64;
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => {
                    // The zero padding of the last partial block.
                    buf[done..].fill(0);
                    break;
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(BlockError::Io),
            }
        }
        Ok(())
    }

    fn write_blocks(&self, start: u64, buf: &[u8]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check_request(self.block_size, self.num_blocks(), start, buf.len())?;
        self.file
            .write_all_at(buf, start * self.block_size as u64)
            .map_err(|_| BlockError::Io)
    }

    fn flush(&self) -> Result<(), BlockError> {
        if self.read_only {
            return Ok(());
        }
        self.file.sync_data().map_err(|_| BlockError::Io)
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }
}
