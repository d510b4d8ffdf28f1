//! The reader's device traffic: mount reads the superblock and the metadata
//! in one request each, whatever the data size; file reads go through the
//! page cache and fetch only the 4 KiB pages not cached yet, in one request.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use drivers::{BlockDevice, BlockError, RamDisk};
use fs_rofs::RofsFs;
use fs_rofs::writer::{EntryMeta, FileSource, Format, ImageBuilder};

/// A RAM disk that counts read requests and bytes.
struct CountingDisk {
    inner: RamDisk,
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl CountingDisk {
    fn take(&self) -> (u64, u64) {
        (
            self.requests.swap(0, Ordering::SeqCst),
            self.bytes.swap(0, Ordering::SeqCst),
        )
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

fn counting(bytes: Vec<u8>) -> Arc<CountingDisk> {
    Arc::new(CountingDisk {
        inner: RamDisk::from_bytes(512, bytes),
        requests: 0.into(),
        bytes: 0.into(),
    })
}

fn image(format: Format, data_size: usize, files: usize) -> Vec<u8> {
    let bs = if format == Format::V1 { 512 } else { 4096 };
    let mut b = ImageBuilder::new(options(format, bs));
    b.add_file(
        "/big",
        FileSource::Bytes(pattern(data_size, 1)),
        EntryMeta::default(),
    )
    .unwrap();
    for i in 0..files {
        b.add_file(
            &format!("/d/f{i}"),
            FileSource::Bytes(Vec::new()),
            EntryMeta::default(),
        )
        .unwrap();
    }
    write_image(b).0
}

#[test]
fn mount_cost_follows_metadata_not_data() {
    for format in [Format::V1, Format::V2] {
        let mut traffic = Vec::new();
        for data_size in [10_000, 5_000_000] {
            let disk = counting(image(format, data_size, 300));
            let _fs = RofsFs::mount(disk.clone(), "").unwrap();
            traffic.push(disk.take());
        }
        assert_eq!(
            traffic[0].0, 2,
            "{format:?}: superblock + metadata, one request each"
        );
        assert_eq!(
            traffic[0], traffic[1],
            "{format:?}: same traffic for 500x the data"
        );
    }
}

#[test]
fn reads_fetch_only_needed_blocks() {
    let size = 1_000_000;
    let disk = counting(image(Format::V2, size, 0));
    let fs = RofsFs::mount(disk.clone(), "").unwrap();
    let big = resolve(&*fs, "/big").unwrap();
    disk.take();
    // Aligned, whole blocks: one request, exactly those bytes.
    let mut buf = vec![0u8; 64 * 1024];
    assert_eq!(big.read_at(8192, &mut buf).unwrap(), buf.len());
    assert_eq!(disk.take(), (1, 64 * 1024));
    assert!(buf == pattern(size, 1)[8192..8192 + 65536]);
    // Unaligned (file pages 0 to 16): only pages 0 and 1 are not cached
    // yet, one request for both (v2 file data starts page-aligned).
    assert_eq!(big.read_at(100, &mut buf).unwrap(), buf.len());
    assert_eq!(disk.take(), (1, 8192));
    assert!(buf == pattern(size, 1)[100..100 + 65536]);
    // Cached now: the same reads again cost nothing.
    assert_eq!(big.read_at(8192, &mut buf).unwrap(), buf.len());
    assert_eq!(big.read_at(100, &mut buf).unwrap(), buf.len());
    assert_eq!(disk.take(), (0, 0));
    assert!(buf == pattern(size, 1)[100..100 + 65536]);
    // At the end of the file: the one page holding the last bytes, clipped
    // to the device's end.
    let n = big.read_at(size as u64 - 10, &mut buf).unwrap();
    assert_eq!(n, 10);
    let (requests, bytes) = disk.take();
    assert_eq!(requests, 1);
    assert!(
        (512..=4096).contains(&bytes),
        "{bytes} bytes for the last page"
    );
    assert!(buf[..10] == pattern(size, 1)[size - 10..]);
    // Lookups and attributes touch no device block.
    let _ = resolve(&*fs, "/big").unwrap().getattr().unwrap();
    assert_eq!(disk.take(), (0, 0));
}
