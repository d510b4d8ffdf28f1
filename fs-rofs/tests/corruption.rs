//! Corruption sweep: damage small images byte by byte and block by block;
//! mounting and walking must end in an error or valid data, never a panic
//! or a hang.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use drivers::{BlockDevice, RamDisk};

use common::*;
use fs_rofs::format::{self, SB_CRC_OFFSET, SUPERBLOCK_SIZE, superblock_crc};
use fs_rofs::writer::Format;
use vfs::Errno;

/// What happened to one damaged image.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    MountFailed(Errno),
    WalkFailed(Errno),
    Walked(Vec<(String, Walked)>),
}

fn try_image(bytes: Vec<u8>) -> Outcome {
    try_image_with(bytes, &SMALL_LIMITS)
}

fn try_image_with(bytes: Vec<u8>, limits: &Limits) -> Outcome {
    match mount(bytes) {
        Err(e) => Outcome::MountFailed(e),
        Ok(fs) => match walk(&*fs, limits) {
            Ok(w) => Outcome::Walked(w),
            Err(e) => Outcome::WalkFailed(e),
        },
    }
}

/// Run every case under `catch_unwind`; fail listing the first panics.
fn sweep(
    name: &str,
    cases: impl Iterator<Item = (usize, Vec<u8>)>,
    check: impl FnMut(usize, &Outcome),
) -> usize {
    sweep_with(name, &SMALL_LIMITS, cases, check)
}

fn sweep_with(
    name: &str,
    limits: &Limits,
    cases: impl Iterator<Item = (usize, Vec<u8>)>,
    mut check: impl FnMut(usize, &Outcome),
) -> usize {
    let mut panics = Vec::new();
    let mut count = 0;
    for (offset, bytes) in cases {
        count += 1;
        match catch_unwind(AssertUnwindSafe(|| try_image_with(bytes, limits))) {
            Ok(outcome) => check(offset, &outcome),
            Err(_) => panics.push(offset),
        }
    }
    assert!(
        panics.is_empty(),
        "{name}: {} of {count} cases panicked, first at offsets {:?}",
        panics.len(),
        &panics[..panics.len().min(20)]
    );
    count
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Byte range of the metadata region of a v1 or v2 image.
fn metadata_range(image: &[u8]) -> std::ops::Range<usize> {
    if le_u64(image, 8) == 1 {
        let start = 512 * le_u64(image, 24) as usize;
        start..start + 512 * le_u64(image, 32) as usize
    } else {
        let start = le_u64(image, 56) as usize;
        start..start.saturating_add(le_u64(image, 64) as usize)
    }
}

/// Recompute both v2 checksums so damage reaches the table validation.
fn reseal(image: &mut [u8]) {
    // Damaged offsets may point anywhere; then only the superblock is resealed.
    let meta = metadata_range(image);
    if let Some(region) = image.get(meta) {
        let crc = crc32fast::hash(region);
        image[72..76].copy_from_slice(&crc.to_le_bytes());
    }
    let header = u32::from_le_bytes(image[20..24].try_into().unwrap()) as usize;
    let header = header.clamp(SUPERBLOCK_SIZE, 512);
    let crc = superblock_crc(&image[..header]);
    image[SB_CRC_OFFSET..SB_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Offsets to damage: the superblock block and the metadata region.
fn targets(image: &[u8]) -> Vec<usize> {
    let mut offsets: Vec<usize> = (0..512).collect();
    offsets.extend(metadata_range(image));
    offsets
}

const PATTERNS: &[fn(u8) -> u8] = &[|b| !b, |b| b ^ 0x01, |b| b ^ 0x80, |_| 0, |_| 0xFF];

#[test]
fn v2_flips_are_caught_by_checksums() {
    let image = small_tree(Format::V2, 512);
    let Outcome::Walked(original) = try_image(image.clone()) else {
        panic!("clean image mounts")
    };
    let header = SUPERBLOCK_SIZE;
    for (p, pattern) in PATTERNS.iter().enumerate() {
        let cases = targets(&image).into_iter().filter_map(|at| {
            let mut bad = image.clone();
            bad[at] = pattern(bad[at]);
            (bad[at] != image[at]).then_some((at, bad))
        });
        sweep(&format!("v2 pattern {p}"), cases, |at, outcome| {
            if at < header || at >= 512 {
                // Every changed byte of the superblock header or the
                // metadata is detected at mount.
                assert!(
                    matches!(outcome, Outcome::MountFailed(Errno::EIO | Errno::EINVAL)),
                    "offset {at}: {outcome:?}"
                );
            } else {
                // The unused rest of block 0 does not matter.
                assert_eq!(outcome, &Outcome::Walked(original.clone()), "offset {at}");
            }
        });
    }
}

#[test]
fn v2_resealed_flips_never_panic() {
    let image = small_tree(Format::V2, 512);
    let mut walked = 0;
    let mut refused = 0;
    for pattern in PATTERNS {
        let cases = targets(&image).into_iter().map(|at| {
            let mut bad = image.clone();
            bad[at] = pattern(bad[at]);
            reseal(&mut bad);
            (at, bad)
        });
        sweep("v2 resealed", cases, |_, outcome| match outcome {
            Outcome::Walked(_) => walked += 1,
            _ => refused += 1,
        });
    }
    // Both kinds happen: validation refuses most damage, and harmless
    // changes (a name byte, a mode bit, a time) still mount and walk.
    assert!(
        refused > 0 && walked > 0,
        "refused {refused}, walked {walked}"
    );
}

#[test]
fn v1_flips_never_panic() {
    let image = small_tree(Format::V1, 512);
    let mut refused = 0;
    for pattern in PATTERNS {
        let cases = targets(&image).into_iter().map(|at| {
            let mut bad = image.clone();
            bad[at] = pattern(bad[at]);
            (at, bad)
        });
        sweep("v1", cases, |_, outcome| {
            if !matches!(outcome, Outcome::Walked(_)) {
                refused += 1;
            }
        });
    }
    assert!(refused > 0);
}

/// OSv's own image: one pattern over its whole metadata region, walking
/// attributes only (its file data is not what is being damaged). The image
/// is damaged in place on one disk, to not copy 400 KB per case.
#[test]
fn osv_golden_flips_never_panic() {
    let path = format!(
        "{}/../tests/data/osv-rofs-v1/golden-v1.rofs",
        env!("CARGO_MANIFEST_DIR")
    );
    let image = std::fs::read(path).unwrap();
    let limits = Limits {
        read_files: false,
        ..SMALL_LIMITS
    };
    let ram = Arc::new(RamDisk::from_bytes(512, image.clone()));
    let device: Arc<dyn BlockDevice> = ram.clone();
    let (mut refused, mut panics) = (0, Vec::new());
    for at in targets(&image) {
        let block = (at / 512) as u64;
        let mut bytes = [0u8; 512];
        ram.read_blocks(block, &mut bytes).unwrap();
        let original = bytes;
        bytes[at % 512] = !bytes[at % 512];
        ram.write_blocks(block, &bytes).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            match fs_rofs::RofsFs::mount(device.clone(), "") {
                Ok(fs) => walk(&*fs, &limits).is_ok(),
                Err(_) => false,
            }
        }));
        ram.write_blocks(block, &original).unwrap();
        match outcome {
            Ok(true) => {}
            Ok(false) => refused += 1,
            Err(_) => panics.push(at),
        }
    }
    assert!(
        panics.is_empty(),
        "golden v1: {} cases panicked, first at {:?}",
        panics.len(),
        &panics[..panics.len().min(20)]
    );
    assert!(refused > 0);
    // Restored: the image is intact again.
    assert!(walk(&*fs_rofs::RofsFs::mount(device, "").unwrap(), &limits).is_ok());
}

#[test]
fn truncation_at_every_block() {
    for (format, bs) in [(Format::V2, 512), (Format::V2, 4096), (Format::V1, 512)] {
        let image = small_tree(format, bs);
        let blocks = image.len() / 512;
        let cases = (0..blocks).map(|k| (k * 512, image[..k * 512].to_vec()));
        sweep("truncate", cases, |at, outcome| {
            if format == Format::V2 {
                // v2 records its total size: any truncation is refused.
                assert!(
                    matches!(outcome, Outcome::MountFailed(_)),
                    "{format:?} truncated at {at}: {outcome:?}"
                );
            }
        });
    }
}

#[test]
fn unknown_incompat_feature_is_refused() {
    let mut image = small_tree(Format::V2, 4096);
    image[28] |= 0x40;
    reseal(&mut image);
    assert_eq!(mount(image.clone()).err(), Some(Errno::EINVAL));
    let err = fs_rofs::inspect(&*disk(image)).unwrap_err();
    assert_eq!(
        err,
        fs_rofs::RofsError::UnknownFeatures {
            incompat: 0x40,
            ro_compat: 0
        }
    );
    assert!(err.to_string().contains("unknown features"));
    // An unknown compat bit is fine.
    let mut image = small_tree(Format::V2, 4096);
    image[24] |= 0x80;
    reseal(&mut image);
    assert!(mount(image).is_ok());
}

#[test]
fn not_rofs_is_einval_and_corruption_is_eio() {
    assert_eq!(mount(vec![0u8; 8192]).err(), Some(Errno::EINVAL));
    assert_eq!(mount(Vec::new()).err(), Some(Errno::EIO));
    let mut image = small_tree(Format::V2, 4096);
    image[8] = 4;
    assert_eq!(mount(image).err(), Some(Errno::EINVAL), "unknown version");
    let mut image = small_tree(Format::V2, 4096);
    let meta = metadata_range(&image);
    image[meta.start] ^= 1;
    assert_eq!(mount(image.clone()).err(), Some(Errno::EIO));
    assert!(matches!(
        fs_rofs::inspect(&*disk(image)),
        Err(fs_rofs::RofsError::MetadataChecksum { .. })
    ));
}

/// A directory entry pointing back at the root makes a cycle: mount
/// refuses it (the directories must form a tree), and inspect and verify
/// say which entry.
#[test]
fn directory_cycle_is_refused() {
    let mut image = small_tree(Format::V2, 512);
    let meta = metadata_range(&image);
    let dirent_table = meta.start + le_u64(&image, 96) as usize;
    // The root's first entry is "a" (a directory); point it at the root.
    let entry = &mut image[dirent_table..dirent_table + format::DIRENT_SIZE];
    entry[0..4].copy_from_slice(&1u32.to_le_bytes());
    reseal(&mut image);
    assert_eq!(mount(image.clone()).err(), Some(Errno::EIO));
    let why = fs_rofs::inspect(&*disk(image.clone())).unwrap_err();
    assert_eq!(
        why.to_string(),
        r#"corrupt image: entry "a" in / points at the root"#
    );
    let problems = fs_rofs::verify(&*disk(image)).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].to_string().contains("points at the root"),
        "{problems:?}"
    );
}

/// A change to an image.
type Damage<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;

/// Field-level damage that keeps valid checksums: each must be refused at
/// mount with EIO.
#[test]
fn targeted_table_damage_is_refused() {
    let image = small_tree(Format::V2, 512);
    let meta = metadata_range(&image).start;
    let inodes = meta + le_u64(&image, 88) as usize;
    let dirents = meta + le_u64(&image, 96) as usize;
    let names = meta + le_u64(&image, 104) as usize;
    let inode_count = u32::from_le_bytes(image[80..84].try_into().unwrap());
    let inode_at = |i: usize| inodes + i * format::INODE_SIZE;
    let mode_of = |img: &[u8], i: usize| {
        u32::from_le_bytes(img[inode_at(i)..inode_at(i) + 4].try_into().unwrap())
    };
    let find = |kind: u32| {
        (0..inode_count as usize)
            .find(|&i| mode_of(&image, i) & 0o170000 == kind)
            .unwrap()
    };
    let file = (0..inode_count as usize)
        .find(|&i| {
            mode_of(&image, i) & 0o170000 == 0o100000 && le_u64(&image, inode_at(i) + 16) > 0
        })
        .unwrap();
    let link = find(0o120000);
    let put32 =
        |img: &mut Vec<u8>, at: usize, v: u32| img[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put64 =
        |img: &mut Vec<u8>, at: usize, v: u64| img[at..at + 8].copy_from_slice(&v.to_le_bytes());
    let cases: Vec<(&str, Damage<'_>)> = vec![
        (
            "root entries out of order",
            Box::new(|img| {
                let (a, b) = (dirents, dirents + format::DIRENT_SIZE);
                let first: Vec<u8> = img[a..b].to_vec();
                img.copy_within(b..b + format::DIRENT_SIZE, a);
                img[b..b + format::DIRENT_SIZE].copy_from_slice(&first);
            }),
        ),
        (
            "duplicate name",
            Box::new(|img| {
                img.copy_within(dirents + 4..dirents + 10, dirents + format::DIRENT_SIZE + 4);
            }),
        ),
        (
            "entry inode past the table",
            Box::new(move |img| put32(img, dirents, inode_count + 1)),
        ),
        (
            "entry inode zero",
            Box::new(move |img| put32(img, dirents, 0)),
        ),
        (
            "name past the blob",
            Box::new(move |img| put32(img, dirents + 4, u32::MAX - 3)),
        ),
        (
            "name with a slash",
            Box::new(move |img| {
                let off =
                    u32::from_le_bytes(img[dirents + 4..dirents + 8].try_into().unwrap()) as usize;
                img[names + off] = b'/';
            }),
        ),
        (
            "file data past the data region",
            Box::new(move |img| put64(img, inode_at(file) + 40, 1 << 40)),
        ),
        (
            "file data at block 0",
            Box::new(move |img| put64(img, inode_at(file) + 40, 0)),
        ),
        (
            "file block count wrong",
            Box::new(move |img| {
                let count = le_u64(img, inode_at(file) + 48);
                put64(img, inode_at(file) + 48, count + 1);
            }),
        ),
        (
            "file size overflows",
            Box::new(move |img| put64(img, inode_at(file) + 16, u64::MAX)),
        ),
        (
            "symlink target too long",
            Box::new(move |img| put64(img, inode_at(link) + 48, 5000)),
        ),
        (
            "symlink target past the blob",
            Box::new(move |img| put64(img, inode_at(link) + 40, u64::MAX)),
        ),
        (
            "directory entries past the table",
            Box::new(move |img| put64(img, inode_at(0) + 40, u64::MAX - 1)),
        ),
        (
            "directories overlap",
            Box::new(move |img| {
                let count = le_u64(img, inode_at(0) + 48);
                put64(img, inode_at(0) + 48, count + 1);
            }),
        ),
        (
            "root is a file",
            Box::new(move |img| put32(img, inode_at(0), 0o100644)),
        ),
        (
            "device node",
            Box::new(move |img| put32(img, inode_at(file), 0o020644)),
        ),
        (
            "superblock file count",
            Box::new(move |img| {
                let n = u32::from_le_bytes(img[124..128].try_into().unwrap());
                put32(img, 124, n + 1);
            }),
        ),
        (
            "inode table past the region",
            Box::new(move |img| put32(img, 80, inode_count + 1000)),
        ),
        (
            "image larger than the device",
            Box::new(|img| {
                let n = le_u64(img, 40);
                put64(img, 40, n + 1);
            }),
        ),
        (
            "metadata offset unaligned",
            Box::new(|img| {
                let n = le_u64(img, 56);
                put64(img, 56, n + 1);
            }),
        ),
    ];
    for (what, damage) in cases {
        let mut bad = image.clone();
        damage(&mut bad);
        reseal(&mut bad);
        assert_eq!(mount(bad).err(), Some(Errno::EIO), "{what}");
    }
}
