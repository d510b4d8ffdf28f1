//! Host benchmark of the ROFS reader: mount time, lookup and read
//! throughput, each printed with a baseline measured in the same run.
//!
//! Run: `cargo bench -p fs-rofs --features std --bench rofs`

use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drivers::{BlockDevice, RamDisk};
use fs_rofs::RofsFs;
use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, Format, ImageBuilder};
use vfs::FileSystem;

const ENTRIES: usize = 10_000;
const BIG_FILE: usize = 64 << 20;

fn image(format: Format) -> Vec<u8> {
    let block_size = if format == Format::V1 { 512 } else { 4096 };
    let mut b = ImageBuilder::new(BuildOptions {
        format,
        block_size,
        default_mtime: 0,
    });
    for i in 0..ENTRIES {
        b.add_file(
            &format!("/dir/file-{i:05}.txt"),
            FileSource::Bytes(Vec::new()),
            EntryMeta::default(),
        )
        .unwrap();
    }
    let big: Vec<u8> = (0..BIG_FILE).map(|i| (i * 31 % 251) as u8).collect();
    b.add_file("/big", FileSource::Bytes(big), EntryMeta::default())
        .unwrap();
    let mut out = Cursor::new(Vec::new());
    b.write(&mut out, &mut |_, _| {}).unwrap();
    out.into_inner()
}

/// Best of `rounds` runs of `f`, which does `n` operations.
fn best(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    let v2 = image(Format::V2);
    let v1 = image(Format::V1);
    let dev2: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(512, v2));
    let dev1: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(512, v1));

    // Mount: reads and validates all metadata ({ENTRIES} entries).
    let mount2 = best(20, || {
        drop(black_box(RofsFs::mount(dev2.clone(), "").unwrap()))
    });
    let mount1 = best(20, || {
        drop(black_box(RofsFs::mount(dev1.clone(), "").unwrap()))
    });
    println!("mount, {ENTRIES} entries: v2 {mount2:?}, v1 (OSv, translated) {mount1:?}");

    // Lookup of every name in a pseudo-random order through `Inode::lookup`
    // (binary search; v1 through the index built at mount), against the
    // linear scan OSv does over its in-memory entry array (baseline: the
    // same names in a Vec, compared byte-wise until a match).
    let names: Vec<String> = (0..ENTRIES)
        .map(|i| format!("file-{:05}.txt", i * 7919 % ENTRIES))
        .collect();
    let lookups = |fs: &Arc<RofsFs>| {
        let dir = fs.root().unwrap().lookup("dir").unwrap();
        best(5, || {
            for name in &names {
                black_box(dir.lookup(name).unwrap());
            }
        })
    };
    let fs2 = RofsFs::mount(dev2.clone(), "").unwrap();
    let fs1 = RofsFs::mount(dev1.clone(), "").unwrap();
    if std::env::var_os("ROFS_BENCH_PROFILE_LOOKUP").is_some() {
        // For profiling the v2 lookup path alone.
        for _ in 0..200 {
            lookups(&fs2);
        }
        return;
    }
    let table: Vec<(Vec<u8>, u64)> = (0..ENTRIES)
        .map(|i| (format!("file-{i:05}.txt").into_bytes(), i as u64))
        .collect();
    let scan = best(5, || {
        for name in &names {
            black_box(
                table
                    .iter()
                    .find(|(n, _)| n.as_slice() == name.as_bytes())
                    .unwrap(),
            );
        }
    });
    let (l2, l1) = (lookups(&fs2), lookups(&fs1));
    let per = |d: Duration| d.as_nanos() as f64 / ENTRIES as f64;
    println!(
        "lookup in a {ENTRIES}-entry dir: v2 {:.0} ns, v1 {:.0} ns, linear scan (baseline) {:.0} ns; v2 speedup x{:.1}",
        per(l2),
        per(l1),
        per(scan),
        per(scan) / per(l2)
    );

    // Reads of a 64 MiB file in 1 MiB requests through read_at, against raw
    // device reads of the same blocks (baseline: the best any reader can do).
    let big = fs2.root().unwrap().lookup("big").unwrap();
    let start_byte = {
        // The file's first block: find it by content (block 1 in this image).
        4096u64
    };
    let mut buf = vec![0u8; 1 << 20];
    let file = best(5, || {
        let mut off = 0u64;
        while off < BIG_FILE as u64 {
            off += big.read_at(off, &mut buf).unwrap() as u64;
        }
    });
    let raw = best(5, || {
        let mut off = 0u64;
        while off < BIG_FILE as u64 {
            dev2.read_blocks((start_byte + off) / 512, &mut buf)
                .unwrap();
            off += buf.len() as u64;
        }
    });
    let mib = BIG_FILE as f64 / (1 << 20) as f64;
    println!(
        "read 64 MiB in 1 MiB requests: rofs {:.0} MiB/s, raw device (baseline) {:.0} MiB/s, ratio {:.2}",
        mib / file.as_secs_f64(),
        mib / raw.as_secs_f64(),
        raw.as_secs_f64() / file.as_secs_f64()
    );
    // Unaligned small reads (4 KiB at odd offsets), the bounce-buffer path.
    let small = best(5, || {
        let mut b = [0u8; 4096];
        for i in 0..4096u64 {
            black_box(big.read_at(i * 4099 + 1, &mut b).unwrap());
        }
    });
    println!(
        "4 KiB reads at unaligned offsets: {:.0} ns each",
        small.as_nanos() as f64 / 4096.0
    );
}
