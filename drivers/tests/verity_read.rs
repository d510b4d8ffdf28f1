//! Reading whole images back through `VerityDevice`: every size class of
//! tree, 512- and 4096-byte inner blocks, any request size, the cache
//! bound and its counters, concurrent readers.

mod common;

use std::sync::Arc;

use common::{build_image, pattern, ram, read_one};
use drivers::verity::{
    BLOCK, Hex, TreeBuilder, VerityDevice, VerityError, VerityOptions, locate, parse_root_hash,
    probe,
};
use drivers::{BlockDevice, BlockError, RamDisk};

/// Data block counts around every level boundary (128 digests per block).
const SIZES: [usize; 7] = [1, 2, 127, 128, 129, 128 * 3 + 5, 128 * 128 + 1];

fn read_all(dev: &dyn BlockDevice, request_blocks: usize) -> Vec<u8> {
    let total = dev.num_blocks() as usize;
    let mut out = vec![0u8; total * BLOCK];
    for (i, chunk) in out.chunks_mut(request_blocks * BLOCK).enumerate() {
        dev.read_blocks((i * request_blocks) as u64, chunk)
            .unwrap_or_else(|e| panic!("read at request {i}: {e}"));
    }
    out
}

#[test]
fn every_size_reads_back_in_full() {
    for blocks in SIZES {
        let data = pattern(blocks * BLOCK, blocks as u64);
        let (image, tree) = build_image(&data, b"salt for the read test");
        for inner_block in [512, 4096] {
            let dev = VerityDevice::open(ram(&image, inner_block), tree.root_hash())
                .unwrap_or_else(|e| panic!("{blocks} blocks: {e}"));
            assert_eq!(dev.block_size(), BLOCK);
            assert_eq!(dev.num_blocks(), blocks as u64);
            assert!(dev.is_read_only());
            for request in [1, 7, 256, blocks] {
                assert!(
                    read_all(&dev, request) == data,
                    "{blocks} blocks, requests of {request}"
                );
            }
            let stats = dev.stats();
            assert_eq!(stats.blocks_verified, 4 * blocks as u64);
            assert_eq!(stats.failures, 0);
        }
    }
}

#[test]
fn partial_last_block_is_zero_padded() {
    let data = pattern(3 * BLOCK + 100, 7);
    let (image, tree) = build_image(&data, &[]);
    let dev = VerityDevice::open(ram(&image, 512), tree.root_hash()).unwrap();
    assert_eq!(dev.num_blocks(), 4);
    let all = read_all(&dev, 4);
    assert_eq!(&all[..data.len()], &data[..]);
    assert!(all[data.len()..].iter().all(|&b| b == 0));
}

#[test]
fn chunking_of_the_input_does_not_matter() {
    let data = pattern(200 * BLOCK + 1234, 3);
    let (whole_image, whole) = build_image(&data, b"s");
    for seed in 0..4 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut builder = TreeBuilder::new(b"s").unwrap();
        let mut at = 0;
        while at < data.len() {
            let n = match rng.u8(0..4) {
                0 => 1,
                1 => BLOCK - 1,
                2 => BLOCK + 1,
                _ => rng.usize(0..3 * BLOCK),
            }
            .min(data.len() - at);
            builder.update(&data[at..at + n]).unwrap();
            at += n;
        }
        assert_eq!(builder.bytes_hashed(), data.len() as u64);
        let tree = builder.finish().unwrap();
        assert_eq!(tree.root_hash(), whole.root_hash(), "seed {seed}");
        let mut appendix = Vec::new();
        tree.write_appendix(&mut |p: &[u8]| -> Result<(), ()> {
            appendix.extend_from_slice(p);
            Ok(())
        })
        .unwrap();
        assert!(appendix == whole_image[whole.data_bytes() as usize..]);
    }
}

#[test]
fn locate_reports_the_layout() {
    let data = pattern(300 * BLOCK, 11);
    let (image, tree) = build_image(&data, b"abc");
    let info = locate(&RamDisk::from_bytes(512, image.clone())).unwrap();
    assert_eq!(info.data_bytes, 300 * BLOCK as u64);
    assert_eq!(info.hash_offset, info.data_bytes);
    assert_eq!(info.tree_offset, info.hash_offset + BLOCK as u64);
    // 300 blocks: level 0 has 3 blocks, level 1 (the top) one.
    assert_eq!(info.levels(), 2);
    assert_eq!(info.tree_bytes, 4 * BLOCK as u64);
    assert_eq!(info.locator_offset, image.len() as u64 - BLOCK as u64);
    assert_eq!(info.salt.as_bytes(), b"abc");
    assert_eq!(info.stored_root, tree.root_hash());
    assert_eq!(info.uuid, tree.uuid());
    assert_eq!(probe(&RamDisk::from_bytes(4096, image)), Some(info));
    // Plain data carries no tree.
    assert_eq!(
        locate(&RamDisk::from_bytes(512, data.clone())),
        Err(VerityError::NoTree)
    );
    assert_eq!(probe(&RamDisk::from_bytes(512, data)), None);
}

#[test]
fn wrong_root_is_refused_with_one_line() {
    let data = pattern(50 * BLOCK, 5);
    let (image, tree) = build_image(&data, b"x");
    let mut wrong = tree.root_hash();
    wrong[31] ^= 1;
    let err = VerityDevice::open(ram(&image, 512), wrong)
        .err()
        .expect("refused");
    assert_eq!(
        err,
        VerityError::RootMismatch {
            expected: wrong,
            found: tree.root_hash()
        }
    );
    let text = err.to_string();
    assert!(!text.contains('\n'));
    assert!(text.contains(&Hex(&wrong).to_string()), "{text}");
    // The hex round trip the kernel command line will use.
    let parsed = parse_root_hash(&Hex(&tree.root_hash()).to_string()).unwrap();
    assert!(VerityDevice::open(ram(&image, 512), parsed).is_ok());
    let missing = VerityDevice::open(ram(&data, 512), parsed)
        .err()
        .expect("no tree");
    assert_eq!(missing, VerityError::NoTree);
}

#[test]
fn requests_outside_the_data_and_writes_are_refused() {
    let data = pattern(10 * BLOCK, 1);
    let (image, tree) = build_image(&data, b"");
    let dev = VerityDevice::open(ram(&image, 512), tree.root_hash()).unwrap();
    let mut buf = vec![0u8; BLOCK];
    assert_eq!(dev.read_blocks(10, &mut buf), Err(BlockError::OutOfRange));
    assert_eq!(
        dev.read_blocks(u64::MAX, &mut buf),
        Err(BlockError::OutOfRange)
    );
    assert_eq!(
        dev.read_blocks(0, &mut buf[..512]),
        Err(BlockError::Misaligned)
    );
    assert_eq!(dev.read_blocks(0, &mut []), Ok(()));
    assert_eq!(dev.write_blocks(0, &buf), Err(BlockError::ReadOnly));
    assert_eq!(dev.size_bytes(), 10 * BLOCK as u64);
    // Byte-offset reads work on top, as filesystems use them.
    let mut bytes = vec![0u8; 5000];
    drivers::read_bytes(&dev, 3000, &mut bytes).unwrap();
    assert_eq!(bytes, data[3000..8000]);
}

#[test]
fn hash_blocks_are_read_once_while_cached() {
    // 300 blocks: 3 level-0 blocks and the top block.
    let data = pattern(300 * BLOCK, 21);
    let (image, tree) = build_image(&data, b"cache");
    let dev = VerityDevice::open(ram(&image, 4096), tree.root_hash()).unwrap();
    // Opening checks the top block and the tail of level 0.
    assert_eq!(dev.stats().hash_blocks_read, 2);
    for _ in 0..3 {
        assert!(read_all(&dev, 16) == data);
    }
    let stats = dev.stats();
    assert_eq!(stats.hash_blocks_read, 4, "each hash block read once");
    assert_eq!(stats.hash_blocks_cached, 4);
    assert_eq!(stats.blocks_verified, 900);

    // A cache of one block still verifies everything, and stays bounded.
    let small = VerityDevice::open_with(
        ram(&image, 512),
        tree.root_hash(),
        VerityOptions {
            hash_cache_blocks: 1,
        },
    )
    .unwrap();
    for block in (0..300).rev() {
        assert_eq!(
            read_one(&small, block).unwrap(),
            data[block as usize * BLOCK..][..BLOCK]
        );
        assert_eq!(small.stats().hash_blocks_cached, 1);
    }
}

#[test]
fn concurrent_readers_see_correct_data() {
    let blocks = 1000;
    let data = Arc::new(pattern(blocks * BLOCK, 99));
    let (image, tree) = build_image(&data, b"threads");
    let dev = Arc::new(
        VerityDevice::open_with(
            ram(&image, 512),
            tree.root_hash(),
            VerityOptions {
                hash_cache_blocks: 3,
            },
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let dev = dev.clone();
            let data = data.clone();
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t);
                for _ in 0..300 {
                    let start = rng.usize(0..blocks);
                    let count = rng.usize(1..=(blocks - start).min(40));
                    let mut buf = vec![0u8; count * BLOCK];
                    dev.read_blocks(start as u64, &mut buf).unwrap();
                    assert!(buf == data[start * BLOCK..(start + count) * BLOCK]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(dev.stats().failures, 0);
}
