//! Hostile locators and superblocks: huge sizes, offsets past the end,
//! zero blocks, overflowing level arithmetic, odd device block sizes and
//! random headers give errors — never a panic, an out-of-range request or
//! an allocation sized by the input (the sparse devices here are petabytes
//! and would abort any reader that allocated their size).

mod common;

use std::sync::Arc;

use common::{SparseDisk, Superblock, locator, pattern, read_one};
use drivers::verity::{BLOCK, Geometry, VerityDevice, VerityError, locate, probe};
use drivers::{BlockDevice, BlockError, RamDisk};

const B: u64 = BLOCK as u64;

/// A sparse device of `device_blocks` 4 KiB blocks with `sb` at the hash
/// offset and `loc` as its last block.
fn device(device_blocks: u64, hash_offset: u64, sb: &[u8], loc: &[u8]) -> SparseDisk {
    let mut disk = SparseDisk::new(512, device_blocks * 8);
    if hash_offset.is_multiple_of(512) && hash_offset < device_blocks * B {
        disk.put(hash_offset, sb);
    }
    disk.put((device_blocks - 1) * B, loc);
    disk
}

/// A consistent layout for `data_blocks` with the tree right after the data.
fn layout(data_blocks: u64) -> (u64, u64, u64) {
    let g = Geometry::new(data_blocks).unwrap();
    let hash_offset = data_blocks * B;
    let hash_end = hash_offset + B + g.tree_blocks * B;
    (hash_offset, hash_end, hash_end / B + 1)
}

#[test]
fn small_devices_and_odd_block_sizes() {
    for blocks in 0..3u64 {
        let disk = RamDisk::from_bytes(512, pattern((blocks * B) as usize, blocks));
        assert_eq!(locate(&disk), Err(VerityError::NoTree), "{blocks} blocks");
    }
    for bs in [0usize, 3, 4095, 8192, 65536] {
        let disk = SparseDisk::new(bs, 1 << 20);
        assert_eq!(locate(&disk), Err(VerityError::BlockSize(bs)));
        assert!(VerityDevice::open(Arc::new(disk), [0; 32]).is_err());
    }
    // Garbage everywhere: no locator magic, no tree.
    let disk = RamDisk::from_bytes(4096, pattern(64 * BLOCK, 9));
    assert_eq!(locate(&disk), Err(VerityError::NoTree));
    assert!(probe(&disk).is_none());
}

#[test]
fn hostile_locators_are_refused() {
    let (hash_offset, hash_end, blocks) = layout(1000);
    let sb = Superblock::good(1000).bytes();
    let data = 1000 * B;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("version 2", locator(2, 64, hash_offset, data, hash_end)),
        ("header size", locator(1, 63, hash_offset, data, hash_end)),
        ("zero data", locator(1, 64, hash_offset, 0, hash_end)),
        (
            "unaligned data",
            locator(1, 64, hash_offset, data - 1, hash_end),
        ),
        (
            "huge data",
            locator(1, 64, hash_offset, u64::MAX - 4095, hash_end),
        ),
        (
            "hash offset in data",
            locator(1, 64, data - B, data, hash_end),
        ),
        (
            "hash offset at end",
            locator(1, 64, u64::MAX, data, hash_end),
        ),
        (
            "hash offset past device",
            locator(1, 64, blocks * B, data, hash_end),
        ),
        (
            "hash offset on locator",
            locator(1, 64, (blocks - 1) * B, data, hash_end),
        ),
        (
            "hash end short",
            locator(1, 64, hash_offset, data, hash_end - B),
        ),
        (
            "hash end long",
            locator(1, 64, hash_offset, data, hash_end + B),
        ),
        ("hash end huge", locator(1, 64, hash_offset, data, u64::MAX)),
    ];
    for (what, loc) in cases {
        let disk = device(blocks, hash_offset, &sb, &loc);
        let err = locate(&disk).expect_err(what);
        assert!(!matches!(err, VerityError::NoTree), "{what}: {err}");
        assert!(
            VerityDevice::open(Arc::new(disk), [7; 32]).is_err(),
            "{what}"
        );
    }
    // A bad CRC.
    let mut loc = locator(1, 64, hash_offset, data, hash_end);
    loc[30] ^= 1;
    assert_eq!(
        locate(&device(blocks, hash_offset, &sb, &loc)),
        Err(VerityError::Locator("CRC mismatch"))
    );
    // The same headers, correct: found.
    let loc = locator(1, 64, hash_offset, data, hash_end);
    assert!(locate(&device(blocks, hash_offset, &sb, &loc)).is_ok());
}

#[test]
fn hostile_superblocks_are_refused() {
    let (hash_offset, hash_end, blocks) = layout(1000);
    let loc = locator(1, 64, hash_offset, 1000 * B, hash_end);
    let good = Superblock::good(1000);
    let variants: Vec<(&str, Superblock)> = vec![
        (
            "signature",
            Superblock {
                signature: *b"verity\0\x01",
                ..good.clone()
            },
        ),
        (
            "version",
            Superblock {
                version: 2,
                ..good.clone()
            },
        ),
        (
            "hash type 0",
            Superblock {
                hash_type: 0,
                ..good.clone()
            },
        ),
        (
            "hash type 9",
            Superblock {
                hash_type: 9,
                ..good.clone()
            },
        ),
        (
            "sha1",
            Superblock {
                algorithm: b"sha1".to_vec(),
                ..good.clone()
            },
        ),
        (
            "sha256 with junk",
            Superblock {
                algorithm: b"sha256\0x".to_vec(),
                ..good.clone()
            },
        ),
        (
            "no algorithm",
            Superblock {
                algorithm: Vec::new(),
                ..good.clone()
            },
        ),
        (
            "512-byte data blocks",
            Superblock {
                data_block_size: 512,
                ..good.clone()
            },
        ),
        (
            "zero hash blocks",
            Superblock {
                hash_block_size: 0,
                ..good.clone()
            },
        ),
        (
            "zero data blocks",
            Superblock {
                data_blocks: 0,
                ..good.clone()
            },
        ),
        (
            "data blocks disagree",
            Superblock {
                data_blocks: 999,
                ..good.clone()
            },
        ),
        (
            "data blocks overflow",
            Superblock {
                data_blocks: u64::MAX,
                ..good.clone()
            },
        ),
        (
            "salt 257",
            Superblock {
                salt_size: 257,
                ..good.clone()
            },
        ),
        (
            "salt 65535",
            Superblock {
                salt_size: u16::MAX,
                ..good.clone()
            },
        ),
    ];
    for (what, sb) in variants {
        let disk = device(blocks, hash_offset, &sb.bytes(), &loc);
        let err = locate(&disk).expect_err(what);
        assert!(!err.to_string().contains('\n'));
        assert!(
            VerityDevice::open(Arc::new(disk), [7; 32]).is_err(),
            "{what}"
        );
    }
    // No superblock at all where the locator points.
    let disk = device(blocks, hash_offset, &[0; 512], &loc);
    assert!(matches!(locate(&disk), Err(VerityError::Superblock(_))));
}

/// Geometries of petabytes and the largest block counts a tree can have:
/// the level arithmetic must not overflow or loop, and nothing may be
/// allocated by size. A consistent forged header over zeros opens only
/// with its own (meaningless) root and then fails every read.
#[test]
fn huge_geometries_do_not_allocate() {
    for data_blocks in [1u64 << 30, (1 << 40) - 3, 128u64.pow(5) + 1] {
        let (hash_offset, hash_end, blocks) = layout(data_blocks);
        let sb = Superblock {
            salt_size: 0,
            salt: Vec::new(),
            ..Superblock::good(data_blocks)
        };
        let loc = locator(1, 64, hash_offset, data_blocks * B, hash_end);
        let disk = Arc::new(device(blocks, hash_offset, &sb.bytes(), &loc));
        let info = locate(disk.as_ref()).unwrap();
        assert_eq!(info.data_blocks(), data_blocks);
        assert!(matches!(
            VerityDevice::open(disk.clone(), [1; 32]),
            Err(VerityError::RootMismatch { .. })
        ));
        // The forger's own root passes the root check, but the all-zero top
        // block's digests cannot match the all-zero blocks below it.
        assert!(matches!(
            VerityDevice::open(disk, info.stored_root),
            Err(VerityError::TreeCorrupt { .. })
        ));
    }
    // With a single level the top block holds the data digests: the forged
    // tree opens, and every read fails.
    let (hash_offset, hash_end, blocks) = layout(100);
    let loc = locator(1, 64, hash_offset, 100 * B, hash_end);
    let disk = Arc::new(device(
        blocks,
        hash_offset,
        &Superblock::good(100).bytes(),
        &loc,
    ));
    let root = locate(disk.as_ref()).unwrap().stored_root;
    let dev = VerityDevice::open(disk, root).unwrap();
    for block in [0, 50, 99] {
        assert_eq!(read_one(&dev, block), Err(BlockError::Corrupt));
    }
    assert_eq!(dev.stats().failures, 3);
    // More blocks than nine levels can cover.
    assert!(Geometry::new((1 << 63) + 1).is_err());
    let sb = Superblock::good(1 << 62);
    let loc = locator(1, 64, 1 << 60, u64::MAX, 1 << 61);
    let disk = device(1 << 20, 1 << 30, &sb.bytes(), &loc);
    assert!(locate(&disk).is_err());
}

/// Random headers with valid CRCs: whatever locate accepts must fit the
/// device, and opening never panics.
#[test]
fn random_headers_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0xBAD);
    let device_blocks = 1u64 << 28;
    let pick = |rng: &mut fastrand::Rng| -> u64 {
        match rng.u8(0..8) {
            0 => 0,
            1 => rng.u64(0..16) * B,
            2 => rng.u64(0..device_blocks) * B,
            3 => (device_blocks - rng.u64(1..4)) * B,
            4 => u64::MAX - rng.u64(0..B),
            5 => rng.u64(..),
            6 => rng.u64(0..device_blocks * B),
            _ => 1 << rng.u32(0..64),
        }
    };
    let mut accepted = 0;
    for _ in 0..3000 {
        // Start from a consistent layout and replace some fields.
        let (mut hash_offset, mut hash_end, mut blocks) = layout(rng.u64(1..1 << 20));
        let mut data_bytes = hash_offset;
        let mut sb = Superblock::good(data_bytes / B);
        if rng.u8(0..3) == 0 {
            hash_offset = pick(&mut rng);
        }
        if rng.u8(0..3) == 0 {
            data_bytes = pick(&mut rng);
        }
        if rng.u8(0..3) == 0 {
            hash_end = pick(&mut rng);
        }
        if rng.u8(0..3) == 0 {
            sb.data_blocks = pick(&mut rng);
        }
        if rng.u8(0..3) == 0 {
            blocks = (pick(&mut rng) / B).clamp(1, device_blocks);
        }
        sb.salt_size = rng.u16(0..300);
        let loc = locator(1, 64, hash_offset, data_bytes, hash_end);
        let disk = Arc::new(device(blocks, hash_offset, &sb.bytes(), &loc));
        if let Ok(info) = locate(disk.as_ref()) {
            accepted += 1;
            assert!(info.data_bytes <= info.hash_offset);
            assert!(info.tree_offset + info.tree_bytes <= info.locator_offset);
            assert!(info.locator_offset < disk.size_bytes());
            assert!(VerityDevice::open(disk, [3; 32]).is_err());
        }
    }
    assert!(
        accepted > 50,
        "only {accepted} consistent layouts: the test is not exercising open"
    );
}
