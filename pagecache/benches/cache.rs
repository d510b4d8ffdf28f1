//! Page cache benchmark (`cargo bench -p pagecache`), every ratio against a
//! baseline measured in this run on the same clock:
//! - warm hits: reading cached data through `CachedDevice::read` versus a
//!   plain memcpy of the same bytes into the same buffer;
//! - cold sequential 4 KiB reads: device requests with the cache and
//!   read-ahead versus without the cache (one request per read);
//! - random 4 KiB reads: requests with the cache versus without (must not
//!   exceed 1.0).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use drivers::{BlockDevice, BlockError, RamDisk, read_bytes};
use pagecache::{CachedDevice, PageCache, ReadAhead};

const MIB: usize = 1 << 20;
const RUNS: usize = 9;

/// A RamDisk that counts its read requests.
struct Counting {
    inner: RamDisk,
    reads: AtomicU64,
}

impl Counting {
    fn new(bytes: Vec<u8>) -> Arc<Counting> {
        Arc::new(Counting {
            inner: RamDisk::from_bytes(512, bytes),
            reads: AtomicU64::new(0),
        })
    }

    fn take(&self) -> u64 {
        self.reads.swap(0, Ordering::Relaxed)
    }
}

impl BlockDevice for Counting {
    fn block_size(&self) -> usize {
        self.inner.block_size()
    }
    fn num_blocks(&self) -> u64 {
        self.inner.num_blocks()
    }
    fn read_blocks(&self, start: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.read_blocks(start, buf)
    }
    fn write_blocks(&self, start: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.inner.write_blocks(start, buf)
    }
}

fn data(len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(42);
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes);
    bytes
}

/// Median wall time of `RUNS` runs of `f`.
fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn gib_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / (1u64 << 30) as f64
}

fn warm_hits(chunk: usize) {
    let size = 8 * MIB;
    let bytes = data(size);
    let disk = Counting::new(bytes.clone());
    let cache = PageCache::new(16 * MIB);
    let dev = CachedDevice::new(&cache, "bench", disk.clone()).expect("device");
    let mut buf = vec![0u8; chunk];
    let pass = |dev: &CachedDevice, buf: &mut [u8]| {
        for at in (0..size).step_by(chunk) {
            dev.read(at as u64, buf, None, u64::MAX).expect("read");
            black_box(&buf);
        }
    };
    pass(&dev, &mut buf);
    disk.take();
    let cached = median(|| pass(&dev, &mut buf));
    assert_eq!(disk.take(), 0, "the warm passes must not touch the device");
    let memcpy = median(|| {
        for at in (0..size).step_by(chunk) {
            buf.copy_from_slice(black_box(&bytes[at..at + chunk]));
            black_box(&buf);
        }
    });
    println!(
        "warm hits, {} KiB reads of 8 MiB: cache {:.2} GiB/s, memcpy {:.2} GiB/s, ratio {:.2}x memcpy time",
        chunk / 1024,
        gib_per_s(size, cached),
        gib_per_s(size, memcpy),
        cached.as_secs_f64() / memcpy.as_secs_f64(),
    );
}

fn cold_sequential() {
    let size = 16 * MIB;
    let disk = Counting::new(data(size));
    let mut buf = vec![0u8; 4096];
    let reads = size / 4096;
    for at in (0..size).step_by(4096) {
        read_bytes(&*disk, at as u64, &mut buf).expect("read");
    }
    let uncached = disk.take();
    let cache = PageCache::new(32 * MIB);
    let dev = CachedDevice::new(&cache, "bench", disk.clone()).expect("device");
    let ra = ReadAhead::new();
    for at in (0..size).step_by(4096) {
        dev.read(at as u64, &mut buf, Some(&ra), size as u64)
            .expect("read");
    }
    let cached = disk.take();
    println!(
        "cold sequential 4 KiB reads of 16 MiB ({reads} reads): {cached} requests with the cache, \
         {uncached} without, ratio {:.4}",
        cached as f64 / uncached as f64
    );
}

fn random_reads() {
    let size = 64 * MIB;
    let disk = Counting::new(data(size));
    let mut rng = fastrand::Rng::with_seed(7);
    let offsets: Vec<u64> = (0..4000).map(|_| rng.u64(..(size - 4096) as u64)).collect();
    let mut buf = vec![0u8; 4096];
    for &at in &offsets {
        read_bytes(&*disk, at, &mut buf).expect("read");
    }
    let uncached = disk.take();
    let cache = PageCache::new(4 * MIB);
    let dev = CachedDevice::new(&cache, "bench", disk.clone()).expect("device");
    let ra = ReadAhead::new();
    for &at in &offsets {
        dev.read(at, &mut buf, Some(&ra), u64::MAX).expect("read");
    }
    let cached = disk.take();
    let reads = offsets.len() as f64;
    println!(
        "random unaligned 4 KiB reads of 64 MiB ({reads} reads): {cached} requests with the cache \
         ({:.3} per read), {uncached} without ({:.3} per read), ratio {:.3}",
        cached as f64 / reads,
        uncached as f64 / reads,
        cached as f64 / uncached as f64
    );
    assert!(
        cached <= offsets.len() as u64,
        "read-ahead amplified random reads"
    );
}

fn main() {
    warm_hits(4096);
    warm_hits(64 * 1024);
    cold_sequential();
    random_reads();
}
