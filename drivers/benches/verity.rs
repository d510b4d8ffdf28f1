//! The cost of verifying a 4 KiB block, measured against a plain read of
//! the same bytes in the same run.
//!
//! 1. Sequential: 64 MiB in 1 MiB requests from a `RamDisk` (baseline),
//!    and through a freshly opened `VerityDevice` over the same disk (cold
//!    hash-block cache, every data block hashed).
//! 2. Random 4 KiB reads over the 64 MiB, both ways (the hash-block cache,
//!    32 blocks, covers a quarter of the level-0 blocks here, so some
//!    reads also read and verify a hash block).
//!
//! Each figure is the best of several rounds after a warm-up, the two sides
//! alternating so machine load hits both alike. The hash backend is sha2's
//! default for the host (SHA-NI where the CPU has it); the kernel target
//! always uses the portable one, which `--features verity-soft-hash`
//! measures here:
//!
//! `cargo bench -p drivers --features std,verity --bench verity`
//! `cargo bench -p drivers --features std,verity-soft-hash --bench verity`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drivers::verity::{BLOCK, TreeBuilder, VerityDevice};
use drivers::{BlockDevice, RamDisk};

const DATA: usize = 64 << 20;
const CHUNK: usize = 1 << 20;
const RANDOM_READS: usize = 4096;
const ROUNDS: usize = 5;

fn best_pair(mut a: impl FnMut(), mut b: impl FnMut()) -> (Duration, Duration) {
    a();
    b();
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed()
    };
    let (mut best_a, mut best_b) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        best_a = best_a.min(time(&mut a));
        best_b = best_b.min(time(&mut b));
    }
    (best_a, best_b)
}

fn ns_per(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

fn main() {
    let mut rng = fastrand::Rng::with_seed(42);
    let mut data = vec![0u8; DATA];
    rng.fill(&mut data);
    let build_start = Instant::now();
    let mut builder = TreeBuilder::new(&[0x5a; 32]).expect("builder");
    builder.update(&data).expect("hash");
    let tree = builder.finish().expect("tree");
    let build = build_start.elapsed();
    let mut image = data.clone();
    tree.write_appendix(&mut |part: &[u8]| -> Result<(), ()> {
        image.extend_from_slice(part);
        Ok(())
    })
    .expect("appendix");
    let disk: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(4096, image));
    let blocks = DATA / BLOCK;
    let root = tree.root_hash();
    println!(
        "tree build over 64 MiB: {:.0} MiB/s ({:.0} ns per 4 KiB block)",
        64.0 / build.as_secs_f64(),
        ns_per(build, blocks)
    );

    let mut buf = vec![0u8; CHUNK];
    let (plain, verified) = best_pair(
        || {
            for i in 0..DATA / CHUNK {
                disk.read_blocks((i * CHUNK / BLOCK) as u64, &mut buf)
                    .expect("plain read");
                black_box(&buf);
            }
        },
        || {
            let dev = VerityDevice::open(disk.clone(), root).expect("open");
            let mut buf = vec![0u8; CHUNK];
            for i in 0..DATA / CHUNK {
                dev.read_blocks((i * CHUNK / BLOCK) as u64, &mut buf)
                    .expect("verified read");
                black_box(&buf);
            }
        },
    );
    let (p, v) = (ns_per(plain, blocks), ns_per(verified, blocks));
    println!(
        "sequential 64 MiB in 1 MiB requests: plain RamDisk (baseline) {p:.0} ns/block, verified {v:.0} ns/block"
    );
    println!(
        "RESULT verify cost per 4 KiB block: {:.0} ns ({:.0} MiB/s verified); ratio verified/plain {:.2}",
        v - p,
        64.0 / verified.as_secs_f64(),
        v / p
    );

    let dev = VerityDevice::open(disk.clone(), root).expect("open");
    let offsets: Vec<u64> = (0..RANDOM_READS)
        .map(|_| rng.u64(0..blocks as u64))
        .collect();
    let mut one = vec![0u8; BLOCK];
    let mut one_v = vec![0u8; BLOCK];
    let before = dev.stats();
    let (plain, verified) = best_pair(
        || {
            for &b in &offsets {
                disk.read_blocks(b, &mut one).expect("plain read");
                black_box(&one);
            }
        },
        || {
            for &b in &offsets {
                dev.read_blocks(b, &mut one_v).expect("verified read");
                black_box(&one_v);
            }
        },
    );
    let after = dev.stats();
    let rounds = (ROUNDS + 1) as f64;
    println!(
        "random 4 KiB reads: plain (baseline) {:.0} ns, verified {:.0} ns, ratio {:.2}; {:.2} hash blocks read per 100 reads",
        ns_per(plain, RANDOM_READS),
        ns_per(verified, RANDOM_READS),
        verified.as_secs_f64() / plain.as_secs_f64(),
        (after.hash_blocks_read - before.hash_blocks_read) as f64 * 100.0
            / (rounds * RANDOM_READS as f64)
    );
}
