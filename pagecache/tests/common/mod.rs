//! Shared test helpers: a RamDisk that logs its requests and can fail them,
//! seeded random data, and an allocator that fails on demand.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use drivers::{BlockDevice, BlockError, RamDisk};
use pagecache::{PageAllocator, PageBuf};

/// One request as the disk saw it: byte offset and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub offset: u64,
    pub len: usize,
}

/// A RamDisk that records every read request and can be told to fail them.
pub struct CountingDisk {
    inner: RamDisk,
    reads: Mutex<Vec<Request>>,
    writes: AtomicUsize,
    fail_reads: AtomicBool,
}

impl CountingDisk {
    pub fn new(block_size: usize, bytes: Vec<u8>) -> Arc<CountingDisk> {
        Arc::new(CountingDisk {
            inner: RamDisk::from_bytes(block_size, bytes),
            reads: Mutex::new(Vec::new()),
            writes: AtomicUsize::new(0),
            fail_reads: AtomicBool::new(false),
        })
    }

    /// A disk of `len` bytes of seeded random data, and a copy of them.
    pub fn random(block_size: usize, len: usize, seed: u64) -> (Arc<CountingDisk>, Vec<u8>) {
        let bytes = random_bytes(len, seed);
        (CountingDisk::new(block_size, bytes.clone()), bytes)
    }

    pub fn reads(&self) -> usize {
        self.reads.lock().unwrap().len()
    }

    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::Relaxed)
    }

    /// The read requests so far, then forget them.
    pub fn take_reads(&self) -> Vec<Request> {
        std::mem::take(&mut *self.reads.lock().unwrap())
    }

    pub fn fail_reads(&self, fail: bool) {
        self.fail_reads.store(fail, Ordering::Relaxed);
    }

    pub fn contents(&self) -> Vec<u8> {
        self.inner.to_vec()
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
        self.reads.lock().unwrap().push(Request {
            offset: start * self.block_size() as u64,
            len: buf.len(),
        });
        if self.fail_reads.load(Ordering::Relaxed) {
            return Err(BlockError::Io);
        }
        self.inner.read_blocks(start, buf)
    }

    fn write_blocks(&self, start: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.write_blocks(start, buf)
    }
}

pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes);
    bytes
}

/// The seed for a randomised test: `PAGECACHE_SEED` when set, else fresh.
/// Printed, so a failing run can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("PAGECACHE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("{test}: seed {seed} (replay with PAGECACHE_SEED={seed})");
    seed
}

/// Page buffers from the heap, except that the next `fail` requests fail.
#[derive(Default)]
pub struct Flaky {
    pub fail: AtomicUsize,
    pub calls: AtomicUsize,
}

pub struct FlakyPages(pub Arc<Flaky>);

impl PageAllocator for FlakyPages {
    fn allocate(&self) -> Option<PageBuf> {
        self.0.calls.fetch_add(1, Ordering::Relaxed);
        let failing = self
            .0
            .fail
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if failing { None } else { PageBuf::try_new() }
    }
}
