//! The guest's cost of verifying a 4 KiB block: a dm-verity tree over
//! [`BLOCKS`] blocks of pseudo-random data in memory, read in 1 MiB
//! requests through [`VerityDevice`] and straight from the `RamDisk` below
//! it, in the same run. The difference per block is the hash (the portable
//! SHA-256 on the kernel target) plus the digest lookup.
//!
//! | line | what |
//! |---|---|
//! | `RESULT verity-plain` | the data read from the `RamDisk` |
//! | `RESULT verity-verified` | the same read through the verifying device (hash blocks cold) |
//! | `INFO verity-blocks N` | blocks read in each |
//! | `INFO verity-ns-per-block` | (verified - plain) / N |

use alloc::sync::Arc;
use alloc::vec::Vec;

use drivers::verity::{BLOCK, TreeBuilder, VerityDevice};
use drivers::{BlockDevice, RamDisk};
use vfs::Errno;

use super::{print_error, print_ms, timed};
use crate::{Platform, println};

/// 8 MiB: 16 level-0 hash blocks, long enough to swamp the clock's grain.
pub const BLOCKS: usize = 2048;
const REQUEST: usize = 1 << 20;

pub(super) fn run(p: &dyn Platform) {
    let (disk, root) = match build() {
        Ok(built) => built,
        Err(e) => return print_error(p, "verity-verified", e),
    };
    let verified = match VerityDevice::open(disk.clone(), root) {
        Ok(device) => device,
        Err(e) => {
            println!(p, "RESULT-ERROR verity-verified: {e}");
            return;
        }
    };
    let mut buf = Vec::new();
    if buf.try_reserve_exact(REQUEST).is_err() {
        return print_error(p, "verity-verified", Errno::ENOMEM);
    }
    buf.resize(REQUEST, 0);
    let (plain_ns, plain) = timed(p, || read_all(disk.as_ref(), &mut buf));
    let (verified_ns, checked) = timed(p, || read_all(&verified, &mut buf));
    match (plain, checked) {
        (Ok(()), Ok(())) => {
            print_ms(p, "verity-plain", plain_ns);
            print_ms(p, "verity-verified", verified_ns);
            println!(p, "INFO verity-blocks {}", BLOCKS);
            println!(
                p,
                "INFO verity-ns-per-block {}",
                verified_ns.saturating_sub(plain_ns) / BLOCKS as u64
            );
        }
        (Err(e), _) | (_, Err(e)) => print_error(p, "verity-verified", e),
    }
}

/// The data (pseudo-random, so no block hashes like another) with its tree
/// appended, on a RamDisk of 4096-byte blocks; and the root hash.
fn build() -> Result<(Arc<dyn BlockDevice>, [u8; 32]), Errno> {
    let data_bytes = BLOCKS * BLOCK;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(data_bytes + data_bytes / 64 + 4 * BLOCK)
        .map_err(|_| Errno::ENOMEM)?;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    while bytes.len() < data_bytes {
        // xorshift64: cheap, and enough to make the blocks differ.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    let mut builder = TreeBuilder::new(b"bench").map_err(|_| Errno::ENOMEM)?;
    builder.update(&bytes).map_err(|_| Errno::ENOMEM)?;
    let tree = builder.finish().map_err(|_| Errno::ENOMEM)?;
    tree.write_appendix(&mut |part: &[u8]| -> Result<(), Errno> {
        bytes.try_reserve(part.len()).map_err(|_| Errno::ENOMEM)?;
        bytes.extend_from_slice(part);
        Ok(())
    })?;
    Ok((
        Arc::new(RamDisk::from_bytes(BLOCK, bytes)),
        tree.root_hash(),
    ))
}

/// The first [`BLOCKS`] blocks of `device` in `buf`-sized requests.
fn read_all(device: &dyn BlockDevice, buf: &mut [u8]) -> Result<(), Errno> {
    let per_request = (buf.len() / BLOCK).max(1);
    let mut block = 0;
    while block < BLOCKS {
        let n = per_request.min(BLOCKS - block);
        let chunk = buf.get_mut(..n * BLOCK).ok_or(Errno::EINVAL)?;
        device.read_blocks(block as u64, chunk)?;
        block += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::string::String;

    use super::*;
    use crate::tests::platform::TestPlatform;

    fn value<'a>(out: &'a str, prefix: &str) -> Option<&'a str> {
        out.lines().find_map(|l| l.strip_prefix(prefix))
    }

    #[test]
    fn prints_both_reads_and_the_cost_per_block() {
        let platform = TestPlatform::new(64 << 20);
        run(&platform);
        let out: String = platform.take_output();
        assert!(!out.contains("RESULT-ERROR"), "{out}");
        assert!(value(&out, "RESULT verity-plain ").is_some(), "{out}");
        assert!(value(&out, "RESULT verity-verified ").is_some(), "{out}");
        assert_eq!(value(&out, "INFO verity-blocks "), Some("2048"), "{out}");
        // The test clock advances 1 µs per reading: both reads take 1 µs.
        assert_eq!(value(&out, "INFO verity-ns-per-block "), Some("0"), "{out}");
    }

    #[test]
    fn the_bench_data_is_verified_for_real() {
        let (disk, mut root) = build().expect("build");
        let mut buf = [0u8; 2 * BLOCK];
        let device = VerityDevice::open(disk.clone(), root).expect("open");
        read_all(&device, &mut buf).expect("every block verifies");
        assert_eq!(device.stats().blocks_verified, BLOCKS as u64);
        root[0] ^= 1;
        assert!(VerityDevice::open(disk, root).is_err());
    }
}
