//! The bit-flip sweep: a flipped bit in a data block, in any block of any
//! level of the tree, in the verity superblock or in the locator fails
//! exactly the reads that depend on it (or the open, when the flip is in
//! what open checks), and every other read returns the right data.

mod common;

use std::ops::Range;
use std::sync::Arc;

use common::{build_image, pattern, read_one};
use drivers::verity::{
    BLOCK, Digest, VerityDevice, VerityError, VerityInfo, VerityOptions, locate,
};
use drivers::{BlockDevice, BlockError, RamDisk};

const B: u64 = BLOCK as u64;

/// What a flip should do.
#[derive(Debug)]
enum Expect {
    /// The open fails.
    OpenFails,
    /// Reads of these data blocks fail; all others succeed.
    Bad(Range<u64>),
}

struct Fixture {
    data: Vec<u8>,
    image: Vec<u8>,
    root: Digest,
    info: VerityInfo,
}

impl Fixture {
    fn new(blocks: usize, salt: &[u8]) -> Self {
        let data = pattern(blocks * BLOCK, blocks as u64);
        let (image, tree) = build_image(&data, salt);
        let info = locate(&RamDisk::from_bytes(4096, image.clone())).unwrap();
        Fixture {
            data,
            image,
            root: tree.root_hash(),
            info,
        }
    }

    fn blocks(&self) -> u64 {
        self.info.data_blocks()
    }

    /// Data blocks under hash block `index` of `level`.
    fn covered(&self, level: usize, index: u64) -> Range<u64> {
        let span = 128u64.pow(level as u32 + 1);
        (index * span).min(self.blocks())..((index + 1) * span).min(self.blocks())
    }

    /// Byte offset of hash block `index` of `level`.
    fn hash_block(&self, level: usize, index: u64) -> u64 {
        let g = &self.info.geometry;
        self.info.tree_offset + (g.level_start[level] + index) * B
    }

    /// Whether open reads hash block `index` of `level`: the top block and
    /// the last block of each level (their zero padding is checked).
    fn checked_at_open(&self, level: usize, index: u64) -> bool {
        let g = &self.info.geometry;
        level + 1 == g.levels || index == g.level_blocks[level] - 1
    }
}

/// Flip bit `bit` of byte `offset` of `disk`'s contents.
fn flip(disk: &RamDisk, offset: u64, bit: u8) {
    let bs = disk.block_size() as u64;
    let mut block = vec![0u8; bs as usize];
    disk.read_blocks(offset / bs, &mut block).unwrap();
    block[(offset % bs) as usize] ^= 1 << bit;
    disk.write_blocks(offset / bs, &block).unwrap();
}

/// Open `disk` and check `expect`, reading `sample` blocks one by one (all
/// of them when `None`) and the whole device in one request.
fn check(fx: &Fixture, disk: &Arc<RamDisk>, expect: &Expect, sample: Option<&[u64]>, what: &str) {
    let opened = VerityDevice::open_with(
        disk.clone(),
        fx.root,
        VerityOptions {
            hash_cache_blocks: 2,
        },
    );
    let bad = match (expect, opened) {
        (Expect::OpenFails, Err(e)) => {
            assert!(!e.to_string().contains('\n'), "{what}: {e}");
            return;
        }
        (Expect::OpenFails, Ok(_)) => panic!("{what}: open should fail"),
        (Expect::Bad(_), Err(e)) => panic!("{what}: open failed: {e}"),
        (Expect::Bad(bad), Ok(dev)) => (bad.clone(), dev),
    };
    let (bad, dev) = bad;
    let all: Vec<u64> = (0..fx.blocks()).collect();
    let blocks = sample.unwrap_or(&all);
    for &block in blocks {
        let got = read_one(&dev, block);
        if bad.contains(&block) {
            assert_eq!(
                got,
                Err(BlockError::Corrupt),
                "{what}: block {block} should fail"
            );
        } else {
            let want = &fx.data[(block * B) as usize..][..BLOCK];
            assert!(
                got.as_deref() == Ok(want),
                "{what}: block {block} should read back"
            );
        }
    }
    if sample.is_none() {
        let mut whole = vec![0x5Au8; fx.data.len()];
        let result = dev.read_blocks(0, &mut whole);
        if bad.is_empty() {
            assert_eq!(result, Ok(()), "{what}");
            assert!(whole == fx.data, "{what}: whole read");
        } else {
            assert_eq!(result, Err(BlockError::Corrupt), "{what}: whole read");
            assert!(
                whole.iter().all(|&b| b == 0),
                "{what}: failed read zeroes the buffer"
            );
        }
    }
    assert_eq!(
        dev.stats().failures > 0,
        !bad.is_empty(),
        "{what}: failure counter"
    );
}

/// Every block of every level, every data block, every byte of the
/// superblock and of the locator header, on a two-level tree.
#[test]
fn sweep_two_level_tree() {
    let salt = b"tamper sweep salt";
    let fx = Fixture::new(300, salt);
    let disk = Arc::new(RamDisk::from_bytes(512, fx.image.clone()));
    let g = fx.info.geometry;
    assert_eq!(g.levels, 2);
    let mut rng = fastrand::Rng::with_seed(1);

    for block in 0..fx.blocks() {
        let offset = block * B + rng.u64(0..B);
        let bit = rng.u8(0..8);
        flip(&disk, offset, bit);
        check(
            &fx,
            &disk,
            &Expect::Bad(block..block + 1),
            None,
            &format!("data block {block}"),
        );
        flip(&disk, offset, bit);
    }

    for level in 0..g.levels {
        for index in 0..g.level_blocks[level] {
            // A digest byte, the first byte and the last byte of the block
            // (padding in a level's last block).
            for within in [0, rng.u64(0..B), B - 1] {
                let offset = fx.hash_block(level, index) + within;
                flip(&disk, offset, 3);
                let expect = if fx.checked_at_open(level, index) {
                    Expect::OpenFails
                } else {
                    Expect::Bad(fx.covered(level, index))
                };
                let what = format!("level {level} block {index} byte {within}");
                check(&fx, &disk, &expect, None, &what);
                flip(&disk, offset, 3);
            }
        }
    }

    // The superblock: the fields the tree depends on fail the open; the
    // UUID, padding and unused salt bytes are not used by anyone.
    let salt_end = 88 + salt.len() as u64;
    for byte in 0..B {
        let matters = match byte {
            0..16 | 32..82 => true,
            88.. if byte < salt_end => true,
            _ => false,
        };
        let offset = fx.info.hash_offset + byte;
        flip(&disk, offset, 0);
        let expect = if matters {
            Expect::OpenFails
        } else {
            Expect::Bad(0..0)
        };
        let sample: &[u64] = &[0, 299];
        let sample = if matters || byte % 64 == 0 {
            None
        } else {
            Some(sample)
        };
        check(
            &fx,
            &disk,
            &expect,
            sample,
            &format!("superblock byte {byte}"),
        );
        flip(&disk, offset, 0);
    }

    // The locator: its header is covered by its CRC (or is its magic); the
    // rest of its block is ignored.
    for byte in (0..64).chain([64, 100, 4095]) {
        let offset = fx.info.locator_offset + byte;
        flip(&disk, offset, 7);
        let expect = if byte < 64 {
            Expect::OpenFails
        } else {
            Expect::Bad(0..0)
        };
        check(
            &fx,
            &disk,
            &expect,
            Some(&[0, 150]),
            &format!("locator byte {byte}"),
        );
        flip(&disk, offset, 7);
    }
    // The untouched image still reads back in full.
    check(&fx, &disk, &Expect::Bad(0..0), None, "restored image");
}

/// A three-level tree (more than 128 * 128 data blocks): a flip in each
/// level and in data, checked on samples around the affected range.
#[test]
fn sweep_three_level_tree() {
    let fx = Fixture::new(128 * 128 + 300, b"");
    let disk = Arc::new(RamDisk::from_bytes(4096, fx.image.clone()));
    let g = fx.info.geometry;
    assert_eq!(g.levels, 3);
    let n = fx.blocks();
    let mut rng = fastrand::Rng::with_seed(2);
    let mut sample_around = |range: &Range<u64>| {
        let mut s: Vec<u64> = [0, n - 1, range.start, range.end]
            .into_iter()
            .chain(range.start.checked_sub(1))
            .chain(range.end.checked_sub(1))
            .chain((0..20).map(|_| rng.u64(0..n)))
            .filter(|&b| b < n)
            .collect();
        s.sort();
        s.dedup();
        s
    };

    for block in [0, 5000, 16383, 16384, n - 1] {
        let range = block..block + 1;
        let sample = sample_around(&range);
        flip(&disk, block * B + 17, 1);
        check(
            &fx,
            &disk,
            &Expect::Bad(range),
            Some(&sample),
            &format!("data block {block}"),
        );
        flip(&disk, block * B + 17, 1);
    }
    for (level, index) in [
        (0, 0),
        (0, 60),
        (0, 127),
        (0, 128),
        (0, g.level_blocks[0] - 1),
        (1, 0),
        (1, 1),
        (2, 0),
    ] {
        let expect = if fx.checked_at_open(level, index) {
            Expect::OpenFails
        } else {
            Expect::Bad(fx.covered(level, index))
        };
        let sample = match &expect {
            Expect::Bad(range) => sample_around(range),
            Expect::OpenFails => Vec::new(),
        };
        let offset = fx.hash_block(level, index) + 1000;
        flip(&disk, offset, 6);
        check(
            &fx,
            &disk,
            &expect,
            Some(&sample),
            &format!("level {level} block {index}"),
        );
        flip(&disk, offset, 6);
    }
}

/// The device may change after it was opened (a hostile host): data is
/// re-verified on every read; a changed hash block is caught once its
/// verified copy has left the cache.
#[test]
fn changes_after_open_are_caught() {
    let fx = Fixture::new(1000, b"later");
    let disk = Arc::new(RamDisk::from_bytes(512, fx.image.clone()));
    let dev = VerityDevice::open_with(
        disk.clone(),
        fx.root,
        VerityOptions {
            hash_cache_blocks: 1,
        },
    )
    .unwrap();
    assert!(read_one(&dev, 10).is_ok());
    flip(&disk, 10 * B, 0);
    assert_eq!(read_one(&dev, 10), Err(BlockError::Corrupt));
    flip(&disk, 10 * B, 0);
    assert!(read_one(&dev, 10).is_ok());

    // Level-0 block 0 covers data 0..128; cached now, so a change to it on
    // the device is not seen until it is evicted (block 500 needs block 3).
    flip(&disk, fx.hash_block(0, 0) + 5, 2);
    assert!(read_one(&dev, 11).is_ok());
    assert!(read_one(&dev, 500).is_ok());
    assert_eq!(read_one(&dev, 11), Err(BlockError::Corrupt));
    assert!(read_one(&dev, 600).is_ok());
}

/// A superblock claiming fewer data blocks than the tree was built for is
/// caught at open even with a matching locator (re-made with a good CRC):
/// the padding of the tree's last blocks gives it away. (Claiming more makes
/// the data overlap the superblock, refused before any hashing.)
#[test]
fn a_forged_data_size_is_refused() {
    for (blocks, claimed) in [(300u64, 299u64), (1000, 897), (130, 129), (300, 301)] {
        let fx = Fixture::new(blocks as usize, b"size");
        let mut image = fx.image.clone();
        let sb = fx.info.hash_offset as usize;
        image[sb + 72..sb + 80].copy_from_slice(&claimed.to_le_bytes());
        // Rewrite the locator to agree (it is not trusted, anyone can).
        let geometry = drivers::verity::Geometry::new(claimed).unwrap();
        assert_eq!(
            geometry.tree_blocks, fx.info.geometry.tree_blocks,
            "same tree shape"
        );
        let loc = fx.info.locator_offset as usize;
        image[loc + 24..loc + 32].copy_from_slice(&(claimed * B).to_le_bytes());
        let crc = common::crc32(&image[loc..loc + 60]);
        image[loc + 60..loc + 64].copy_from_slice(&crc.to_le_bytes());
        let disk: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(512, image));
        if claimed > blocks {
            assert!(matches!(
                locate(disk.as_ref()),
                Err(VerityError::Geometry(_))
            ));
            continue;
        }
        let info = locate(disk.as_ref()).expect("the forged headers are consistent");
        assert_eq!(info.data_blocks(), claimed);
        match VerityDevice::open(disk, fx.root) {
            Err(VerityError::TreeCorrupt { level: 0, .. }) => {}
            other => panic!(
                "{blocks} blocks claimed as {claimed}: {:?}",
                other.map(|_| ())
            ),
        }
    }
}
