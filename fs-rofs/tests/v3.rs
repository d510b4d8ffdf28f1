//! Format v3: mount reads a constant number of blocks; damaged metadata is
//! EIO for the operation that reads it and never a panic; directory loops
//! cannot be followed.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::*;
use fs_rofs::RofsFs;
use fs_rofs::format::v3::{V3_BLOCK_SIZE, block_crc};
use fs_rofs::writer::{EntryMeta, FileSource, Format, ImageBuilder};
use vfs::Errno;

const BS: usize = V3_BLOCK_SIZE as usize;

fn flat_image(entries: usize) -> Vec<u8> {
    let mut b = ImageBuilder::new(options(Format::V3, 4096));
    for i in 0..entries {
        let data = FileSource::Bytes(format!("file {i}\n").into_bytes());
        b.add_file(&format!("/d/f{i:06}"), data, EntryMeta::default())
            .unwrap();
    }
    b.add_file(
        "/big",
        FileSource::Bytes(pattern(100_000, 3)),
        EntryMeta::default(),
    )
    .unwrap();
    write_image(b).0
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Metadata blocks of a v3 image (from its superblock).
fn meta_blocks(image: &[u8]) -> std::ops::Range<usize> {
    let start = le_u64(image, 48) as usize;
    start..start + le_u64(image, 56) as usize
}

/// Recompute block `block`'s CRC after a deliberate change.
fn reseal_block(image: &mut [u8], block: usize) {
    let bytes = &mut image[block * BS..(block + 1) * BS];
    let crc = block_crc(bytes);
    bytes[..4].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn mount_reads_a_constant_number_of_blocks() {
    let (mut counts, mut resident) = (Vec::new(), Vec::new());
    for entries in [10, 100_000] {
        let bytes = flat_image(entries);
        let disk = CountingDisk::new(bytes);
        let cache = pagecache::PageCache::new(64 << 20);
        let cached = cache.attach("v3", disk.clone()).unwrap();
        let fs = RofsFs::mount_cached(cached, "").expect("mount");
        let at_mount = disk.requests();
        resident.push(cache.resident_bytes());
        assert_eq!(fs.version(), 3);
        // And everything is still reachable on demand.
        let last = format!("/d/f{:06}", entries - 1);
        let node = resolve(&*fs, &last).expect("lookup");
        let mut buf = [0u8; 64];
        let n = node.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf[..n], format!("file {}\n", entries - 1).as_bytes());
        // Lookups through the directory's lookup index (two levels at
        // 100,000 entries): hits, and misses before, between and after.
        let dir = resolve(&*fs, "/d").unwrap();
        for i in (0..entries).step_by(997) {
            assert!(dir.lookup(&format!("f{i:06}")).is_ok(), "f{i:06}");
        }
        for miss in ["e", "f", "f0000005x", "g", "f9999999"] {
            assert_eq!(dir.lookup(miss).err(), Some(Errno::ENOENT), "{miss}");
        }
        counts.push(at_mount);
    }
    assert_eq!(
        counts[0], counts[1],
        "mount reads at 10 and 100,000 entries"
    );
    // The first sector (version detection), block 0 and the root's inode block.
    assert!(counts[0] <= 3, "{counts:?}");
}

/// Mount and walk (reading every file); the walk's outcome.
fn try_walk(bytes: Vec<u8>) -> Result<Vec<(String, Walked)>, Errno> {
    let fs = mount(bytes)?;
    walk(&*fs, &SMALL_LIMITS)
}

fn sweep(
    name: &str,
    cases: impl Iterator<Item = (usize, Vec<u8>)>,
    mut check: impl FnMut(usize, &Result<Vec<(String, Walked)>, Errno>),
) {
    let mut panics = Vec::new();
    let mut count = 0;
    for (at, bytes) in cases {
        count += 1;
        match catch_unwind(AssertUnwindSafe(|| try_walk(bytes))) {
            Ok(outcome) => check(at, &outcome),
            Err(_) => panics.push(at),
        }
    }
    assert!(
        panics.is_empty(),
        "{name}: {} of {count} panicked, first {:?}",
        panics.len(),
        &panics[..panics.len().min(20)]
    );
}

#[test]
fn every_metadata_flip_is_eio_and_nothing_panics() {
    let image = small_tree(Format::V3, 4096);
    let clean = try_walk(image.clone()).expect("clean image walks");
    let meta = meta_blocks(&image);
    // Every byte of the image: no panic. Every byte of the metadata region
    // (each block is read by the walk) or of the superblock header: an error.
    sweep(
        "flips",
        (0..image.len()).map(|at| {
            let mut bytes = image.clone();
            bytes[at] ^= 0x5a;
            (at, bytes)
        }),
        |at, outcome| {
            let checked = at < 136 || meta.contains(&(at / BS));
            if checked {
                assert!(outcome.is_err(), "flip at {at} went unnoticed");
            } else if let Ok(walked) = outcome {
                // Data damage changes contents only, never the tree.
                let paths =
                    |w: &[(String, Walked)]| w.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
                assert_eq!(paths(walked), paths(&clean), "flip at {at}");
            }
        },
    );
}

#[test]
fn resealed_metadata_flips_never_panic() {
    let image = small_tree(Format::V3, 4096);
    let meta = meta_blocks(&image);
    for value in [0x01u8, 0x80, 0xff] {
        sweep(
            "resealed flips",
            (meta.start * BS..meta.end * BS)
                .filter(|at| at % BS >= 4)
                .map(|at| {
                    let mut bytes = image.clone();
                    bytes[at] ^= value;
                    reseal_block(&mut bytes, at / BS);
                    (at, bytes)
                }),
            |_, _| {},
        );
    }
}

#[test]
fn truncation_at_every_block_never_panics() {
    let image = small_tree(Format::V3, 4096);
    sweep(
        "truncation",
        (0..image.len() / BS).map(|blocks| (blocks, image[..blocks * BS].to_vec())),
        |blocks, outcome| assert!(outcome.is_err(), "truncated to {blocks} blocks"),
    );
}

/// Find the entry named `name` in the image's entry blocks: (block, slot).
fn find_entry(image: &[u8], name: &[u8]) -> (usize, usize) {
    for block in meta_blocks(image) {
        let b = &image[block * BS..(block + 1) * BS];
        if b[4] != 2 {
            continue;
        }
        let count = u16::from_le_bytes([b[6], b[7]]) as usize;
        for slot in 0..count {
            let e = &b[16 + slot * 12..16 + slot * 12 + 12];
            let off = u16::from_le_bytes([e[8], e[9]]) as usize;
            if &b[off..off + e[10] as usize] == name {
                return (block, slot);
            }
        }
    }
    panic!("no entry {name:?}");
}

#[test]
fn directory_loops_and_second_names_are_eio() {
    let mut b = ImageBuilder::new(options(Format::V3, 4096));
    b.add_file(
        "/a/b/c/file",
        FileSource::Bytes(b"x".to_vec()),
        EntryMeta::default(),
    )
    .unwrap();
    b.add_dir("/a/z", EntryMeta::default()).unwrap();
    let (image, _) = write_image(b);
    let fs = mount(image.clone()).unwrap();
    let ino_of = |path: &str| resolve(&*fs, path).unwrap().ino();
    let (root, a, b_dir) = (ino_of("/"), ino_of("/a"), ino_of("/a/b"));
    let set_ino = |image: &mut Vec<u8>, name: &[u8], ino: u64| {
        let (block, slot) = find_entry(image, name);
        let at = block * BS + 16 + slot * 12;
        image[at..at + 8].copy_from_slice(&ino.to_le_bytes());
        reseal_block(image, block);
    };
    // /a/b/c -> the root, -> its ancestor /a, -> its parent /a/b, and
    // /a/z -> /a/b (a second name for a directory).
    for (name, target, path) in [
        (&b"c"[..], root, "/a/b/c"),
        (b"c", a, "/a/b/c"),
        (b"c", b_dir, "/a/b/c"),
        (b"z", b_dir, "/a/z"),
    ] {
        let mut bad = image.clone();
        set_ino(&mut bad, name, target);
        let fs = mount(bad.clone()).expect("mount reads only the root");
        assert_eq!(
            resolve(&*fs, path).err(),
            Some(Errno::EIO),
            "{path} -> {target}"
        );
        // The rest of the tree still reads.
        assert!(resolve(&*fs, "/a").is_ok());
        let problems = fs_rofs::verify(&*disk(bad)).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.to_string().contains("other than its own")),
            "{problems:?}"
        );
    }
    assert!(fs_rofs::verify(&*disk(image)).is_ok());
}

#[test]
fn data_crc_is_checked_with_verify() {
    let mut b = ImageBuilder::new(options(Format::V3, 4096));
    b.add_file(
        "/big",
        FileSource::Bytes(pattern(20_000, 9)),
        EntryMeta::default(),
    )
    .unwrap();
    b.add_file(
        "/small",
        FileSource::Bytes(b"inline".to_vec()),
        EntryMeta::default(),
    )
    .unwrap();
    let (mut image, _) = write_image(b);
    // Damage the first data block (block 1: /big's first block).
    image[BS + 10] ^= 1;
    let plain = RofsFs::mount(disk(image.clone()), "").unwrap();
    assert!(
        resolve(&*plain, "/big")
            .unwrap()
            .read_at(0, &mut [0u8; 16])
            .is_ok()
    );
    let checked = RofsFs::mount(disk(image.clone()), "verify").unwrap();
    let big = resolve(&*checked, "/big").unwrap();
    assert_eq!(big.read_at(0, &mut [0u8; 16]).err(), Some(Errno::EIO));
    assert_eq!(
        big.read_at(0, &mut [0u8; 16]).err(),
        Some(Errno::EIO),
        "remembered"
    );
    let small = resolve(&*checked, "/small").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(small.read_at(0, &mut buf).unwrap(), 6);
    let problems = fs_rofs::verify(&*disk(image)).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.to_string().contains("data CRC32 mismatch")),
        "{problems:?}"
    );
}

#[test]
fn old_readers_refuse_unknown_incompat_bits() {
    let mut image = small_tree(Format::V3, 4096);
    image[28] |= 0x02;
    let crc = fs_rofs::format::superblock_crc(&image[..136]);
    image[36..40].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(mount(image).err(), Some(Errno::EINVAL));
}

/// A small compressed image: compressible and incompressible files over
/// several 4 KiB clusters.
fn lz4_image() -> Vec<u8> {
    let mut b = ImageBuilder::new(options(Format::V3, 4096));
    b.compress_lz4(4096).unwrap();
    b.add_file(
        "/zeros",
        FileSource::Bytes(vec![0u8; 20_000]),
        EntryMeta::default(),
    )
    .unwrap();
    b.add_file(
        "/noise",
        FileSource::Bytes(pattern(9000, 4)),
        EntryMeta::default(),
    )
    .unwrap();
    let mut mixed = pattern(12_288, 5);
    mixed[4096..8192].fill(b'a');
    b.add_file("/mixed", FileSource::Bytes(mixed), EntryMeta::default())
        .unwrap();
    write_image(b).0
}

/// Every byte of a compressed image flipped (index records and LZ4
/// streams included): no panic; with `verify`, no file reads back other
/// than its own bytes.
#[test]
fn lz4_flips_never_panic_or_pass_verify_with_wrong_data() {
    let image = lz4_image();
    let clean = try_walk(image.clone()).unwrap();
    let contents = |w: &[(String, Walked)]| {
        w.iter()
            .map(|(p, x)| (p.clone(), x.node.clone()))
            .collect::<Vec<_>>()
    };
    let mut panics = Vec::new();
    for at in 0..image.len() {
        let mut bytes = image.clone();
        bytes[at] ^= 0x21;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let fs = RofsFs::mount(disk(bytes), "verify")?;
            walk(&*fs, &SMALL_LIMITS)
        }));
        match outcome {
            Err(_) => panics.push(at),
            Ok(Ok(walked)) => assert_eq!(contents(&walked), contents(&clean), "flip at {at}"),
            Ok(Err(_)) => {}
        }
    }
    assert!(
        panics.is_empty(),
        "panics at {:?}",
        &panics[..panics.len().min(20)]
    );
}

/// Hostile cluster records: offsets outside the data, lengths past the
/// cluster, raw records of the wrong length, unknown flags: EIO.
#[test]
fn hostile_cluster_records_are_eio() {
    let image = lz4_image();
    let fs = mount(image.clone()).unwrap();
    let zeros = resolve(&*fs, "/zeros").unwrap();
    let ino = zeros.ino();
    // The inode's `start` (index block): at byte 40 of the inode.
    let addr = ino as usize * 8;
    let index = le_u64(&image, addr + 40) as usize * BS;
    let meta_start = meta_blocks(&image).start * BS;
    let cases: [(usize, u64, usize); 6] = [
        (0, 0, 8),                 // offset 0 (the superblock)
        (0, meta_start as u64, 8), // offset in the metadata
        (0, u64::MAX - 5, 8),      // offset overflows
        (8, 4097, 4),              // stored past the cluster
        (8, 0, 4),                 // empty stream
        (12, 0x80, 4),             // unknown flag
    ];
    for (field, value, width) in cases {
        let mut bad = image.clone();
        bad[index + field..index + field + width].copy_from_slice(&value.to_le_bytes()[..width]);
        let fs = mount(bad).unwrap();
        let file = resolve(&*fs, "/zeros").unwrap();
        let mut buf = vec![0u8; 100];
        assert_eq!(
            file.read_at(0, &mut buf).err(),
            Some(Errno::EIO),
            "field {field} = {value:#x}"
        );
        // The next cluster's record is intact.
        assert_eq!(file.read_at(4096, &mut buf).unwrap(), 100);
    }
    // A raw record whose length is not the cluster's.
    let mut bad = image.clone();
    bad[index + 12] = 1;
    let fs = mount(bad).unwrap();
    let file = resolve(&*fs, "/zeros").unwrap();
    assert_eq!(file.read_at(0, &mut [0u8; 10]).err(), Some(Errno::EIO));
    // A compressed stream that decodes to more than a cluster.
    let mut bad = image.clone();
    let offset = le_u64(&image, index) as usize;
    let long = lz4_flex::block::compress(&vec![0u8; 8192]);
    bad[offset..offset + long.len()].copy_from_slice(&long);
    bad[index + 8..index + 12].copy_from_slice(&(long.len() as u32).to_le_bytes());
    let fs = mount(bad).unwrap();
    let file = resolve(&*fs, "/zeros").unwrap();
    assert_eq!(file.read_at(0, &mut [0u8; 10]).err(), Some(Errno::EIO));
}

/// Reading one byte decompresses one cluster, cached afterwards.
#[test]
fn lz4_reads_touch_only_their_clusters() {
    let mut b = ImageBuilder::new(options(Format::V3, 4096));
    b.compress_lz4(65536).unwrap();
    let text: Vec<u8> = b"abcdefgh".iter().copied().cycle().take(1 << 20).collect();
    b.add_file("/text", FileSource::Bytes(text), EntryMeta::default())
        .unwrap();
    let (image, _) = write_image(b);
    let disk = CountingDisk::new(image);
    let fs = RofsFs::mount(disk.clone(), "").unwrap();
    let file = resolve(&*fs, "/text").unwrap();
    let before = disk.requests();
    let mut buf = [0u8; 1];
    file.read_at(5 * 65536 + 3, &mut buf).unwrap();
    assert_eq!(buf[0], b'd');
    let first = disk.requests() - before;
    // The index record and the one stored cluster (no other cluster).
    assert!(first <= 2, "{first} requests");
    file.read_at(5 * 65536 + 100, &mut buf).unwrap();
    assert_eq!(disk.requests() - before, first, "cached");
}

/// The superblock sums up every metadata block's CRC; `verify` checks it
/// (mount does not read the metadata to do so).
#[test]
fn verify_checks_the_superblock_metadata_crc() {
    let image = small_tree(Format::V3, 4096);
    assert!(fs_rofs::verify(&*disk(image.clone())).is_ok());
    let mut bad = image.clone();
    bad[128] ^= 1;
    let crc = fs_rofs::format::superblock_crc(&bad[..136]);
    bad[36..40].copy_from_slice(&crc.to_le_bytes());
    assert!(mount(bad.clone()).is_ok(), "mount reads no metadata sum");
    let problems = fs_rofs::verify(&*disk(bad)).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.to_string().contains("superblock metadata CRC32")),
        "{problems:?}"
    );
}

/// Lookup takes a file's type from its entry; the first use of the inode
/// checks it, so an entry that lies about the type is EIO, not a symlink
/// made of file data.
#[test]
fn entry_type_that_differs_from_the_inode_is_eio() {
    let mut b = ImageBuilder::new(options(Format::V3, 4096));
    b.add_file(
        "/f",
        FileSource::Bytes(b"data".to_vec()),
        EntryMeta::default(),
    )
    .unwrap();
    let (mut image, _) = write_image(b);
    let (block, slot) = find_entry(&image, b"f");
    image[block * BS + 16 + slot * 12 + 11] = fs_rofs::format::v3::DT_LNK;
    reseal_block(&mut image, block);
    let fs = mount(image).unwrap();
    let f = resolve(&*fs, "/f").expect("the entry is found");
    assert_eq!(f.readlink().err(), Some(Errno::EIO));
    assert_eq!(f.getattr().err(), Some(Errno::EIO));
}

/// Damaged lookup index blocks (resealed, so their structure is what is
/// tested): lookups give an answer or an error, never a panic or a hang.
#[test]
fn resealed_index_flips_never_panic() {
    let mut b = ImageBuilder::new(options(Format::V3, 4096));
    for i in 0..3000 {
        b.add_file(
            &format!("/d/n{i:04}"),
            FileSource::Bytes(Vec::new()),
            EntryMeta::default(),
        )
        .unwrap();
    }
    let (image, _) = write_image(b);
    let index_blocks: Vec<usize> = meta_blocks(&image)
        .filter(|&b| image[b * BS + 4] == 3)
        .collect();
    assert!(
        !index_blocks.is_empty(),
        "a 3000-entry directory has an index"
    );
    let mut panics = Vec::new();
    for &block in &index_blocks {
        for at in (block * BS + 4..(block + 1) * BS).step_by(7) {
            let mut bad = image.clone();
            bad[at] ^= 0x41;
            reseal_block(&mut bad, block);
            let result = catch_unwind(AssertUnwindSafe(|| {
                let fs = mount(bad)?;
                let dir = resolve(&*fs, "/d")?;
                for name in ["n0000", "n1499", "n2999", "zzz"] {
                    let _ = dir.lookup(name);
                }
                Ok::<(), Errno>(())
            }));
            if result.is_err() {
                panics.push(at);
            }
        }
    }
    assert!(
        panics.is_empty(),
        "panics at {:?}",
        &panics[..panics.len().min(20)]
    );
}
