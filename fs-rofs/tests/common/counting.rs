//! A RAM disk that counts its read requests and bytes, for the tests that
//! check how many device requests the reader and the page cache make.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use drivers::{BlockDevice, BlockError, RamDisk};

pub struct CountingDisk {
    inner: RamDisk,
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl CountingDisk {
    /// `image` as a 512-byte-sector disk.
    pub fn new(image: Vec<u8>) -> Arc<CountingDisk> {
        Arc::new(CountingDisk {
            inner: RamDisk::from_bytes(512, image),
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        })
    }

    /// Read requests so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Requests and bytes since the last call.
    pub fn take(&self) -> (u64, u64) {
        (
            self.requests.swap(0, Ordering::SeqCst),
            self.bytes.swap(0, Ordering::SeqCst),
        )
    }

    /// Requests since the last call.
    pub fn take_requests(&self) -> u64 {
        self.take().0
    }
}

impl BlockDevice for CountingDisk {
    fn block_size(&self) -> usize {
        self.inner.block_size()
    }
    fn num_blocks(&self) -> u64 {
        self.inner.num_blocks()
    }
    fn read_blocks(&self, start: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.bytes.fetch_add(buf.len() as u64, Ordering::SeqCst);
        self.inner.read_blocks(start, buf)
    }
    fn write_blocks(&self, start: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.inner.write_blocks(start, buf)
    }
}
