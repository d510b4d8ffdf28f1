//! The reader's device traffic: mount reads the superblock and the metadata
//! in one request each, whatever the data size; file reads go through the
//! page cache and fetch only the 4 KiB pages not cached yet, in one request.

mod common;

use common::*;
use fs_rofs::RofsFs;
use fs_rofs::writer::{EntryMeta, FileSource, Format, ImageBuilder};

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
            let disk = CountingDisk::new(image(format, data_size, 300));
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
    let disk = CountingDisk::new(image(Format::V2, size, 0));
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
